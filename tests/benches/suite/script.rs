//! The script that drives real processes the way a user's script would: lines written to
//! one process's stdin (or socket), lines read from the others. Each source is read by a
//! thread of its own that stamps every line with the time it was read, so what the bench
//! then does with a line (parsing, matching) is never counted; a sample runs from just
//! before the write to that stamp. Used alike for `natter --headless` and for the IRC
//! server, so both are timed the same way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::stats::WAIT;

/// One line read from a source, without its line end, and when it was read.
pub struct Line {
    pub source: usize,
    pub at: Instant,
    pub text: String,
}

/// The lines of many sources (processes' stdout, sockets), in the order they were read.
pub struct Inbox {
    tx: mpsc::UnboundedSender<Line>,
    rx: mpsc::UnboundedReceiver<Line>,
}

impl Inbox {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx }
    }

    /// Reads `input` line by line, as `source`, on a thread of its own until the input
    /// ends or the inbox is gone.
    pub fn read_from(&self, source: usize, input: impl Read + Send + 'static) {
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name(format!("lines-{source}"))
            .spawn(move || {
                let mut input = BufReader::with_capacity(1 << 16, input);
                let mut bytes = Vec::with_capacity(512);
                loop {
                    bytes.clear();
                    match input.read_until(b'\n', &mut bytes) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let at = Instant::now();
                    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                        bytes.pop();
                    }
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if tx.send(Line { source, at, text }).is_err() {
                        return;
                    }
                }
            })
            .expect("spawn a reader thread");
    }

    /// The next line, or `None` once `deadline` has passed.
    pub async fn next(&mut self, deadline: Instant) -> Option<Line> {
        tokio::time::timeout_at(deadline.into(), self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Reads until each of `sources` has given a line `pred` accepts, skipping the others;
    /// returns those lines by source. `pred` may panic on a line that must not come (a
    /// duplicate, an error). Panics, naming `what` and who is missing, after [`WAIT`].
    pub async fn wait_each(
        &mut self,
        what: &str,
        sources: &[usize],
        mut pred: impl FnMut(&Line) -> bool,
    ) -> HashMap<usize, Line> {
        let deadline = Instant::now() + WAIT;
        let mut found = HashMap::with_capacity(sources.len());
        while found.len() < sources.len() {
            let Some(line) = self.next(deadline).await else {
                let missing: Vec<_> = sources.iter().filter(|s| !found.contains_key(*s)).collect();
                panic!("timed out waiting for {what}; still missing from sources {missing:?}");
            };
            if sources.contains(&line.source) && !found.contains_key(&line.source) && pred(&line) {
                found.insert(line.source, line);
            }
        }
        found
    }

    /// [`Inbox::wait_each`] for one source.
    pub async fn wait_one(
        &mut self,
        what: &str,
        source: usize,
        pred: impl FnMut(&Line) -> bool,
    ) -> Line {
        let mut found = self.wait_each(what, &[source], pred).await;
        found.remove(&source).expect("the line waited for")
    }
}

/// Writes `line` (its line end included) in one call; returns the time just before it.
pub fn write_line(to: &mut impl Write, line: &str) -> Instant {
    let at = Instant::now();
    to.write_all(line.as_bytes())
        .expect("write a line to the driven process");
    at
}

/// The time from `t0` to the last of `lines`.
pub fn last_arrival<'a>(lines: impl Iterator<Item = &'a Line>, t0: Instant) -> Duration {
    lines
        .map(|l| l.at.duration_since(t0))
        .max()
        .expect("at least one receiver")
}
