//! 1:1 sustained throughput at the node API (`sustained_durable`, `sustained_ephemeral`):
//! this process's node streams numbered private messages to a `node-sink` child as fast
//! as its node takes them, with a bounded number unacknowledged; timed from the first
//! send until every one is acknowledged and the sink has shown every one. The sink checks
//! that each is shown once and in order; none may fail.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use natter::node::{Command, Event, Target};

use crate::child::{ChildProc, Orders, say};
use crate::node_api::SECTION;
use crate::nodes::{BenchNode, Store, TEXT_BYTES, numbered, start_node};
use crate::report::{Measure, Report, Row};
use crate::stats::{LOOP_BUDGET, WAIT};

/// Messages per round (besides the one that opens the link).
const MESSAGES: usize = 10_000;
/// Messages sent but not yet acknowledged, at most.
const IN_FLIGHT: usize = 1000;
/// Rounds per store, alternating stores so a noisy spell hits both.
const ROUNDS: usize = 3;
/// The target for the durable store, messages per second.
const TARGET: f64 = 100_000.0;

pub async fn run(report: &mut Report, tracker: &str) {
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        for store in [Store::Ephemeral, Store::Durable] {
            rounds.push((store, round(tracker, store).await));
        }
    }
    for store in [Store::Durable, Store::Ephemeral] {
        let mine: Vec<Round> = rounds
            .iter()
            .filter(|r| r.0 == store)
            .map(|r| r.1)
            .collect();
        report.add(row(store, &mine));
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy)]
struct Round {
    messages: usize,
    elapsed: Duration,
}

impl Round {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

fn row(store: Store, rounds: &[Round]) -> Row {
    let best = rounds
        .iter()
        .max_by(|a, b| a.rate().total_cmp(&b.rate()))
        .expect("a round");
    let all: Vec<String> = rounds.iter().map(|r| format!("{:.0}", r.rate())).collect();
    let label = format!("1:1 sustained, {}, in order", store.label());
    let measure = Measure::Rate {
        per_s: best.rate(),
        n: best.messages,
    };
    let note = format!(
        "best of {} rounds ({} msg/s); {TEXT_BYTES} B each, ≤ {IN_FLIGHT} unacknowledged, \
         receiver in a child process",
        rounds.len(),
        all.join(", ")
    );
    let row = Row::new(
        SECTION,
        &format!("sustained_{}", store.label()),
        &label,
        measure,
    );
    match store {
        Store::Durable => row
            .goal("≥ 100 k msg/s at the node API", best.rate() >= TARGET)
            .note(note),
        Store::Ephemeral => row.note(note),
    }
}

/// One round with a fresh pair of nodes.
async fn round(tracker: &str, store: Store) -> Round {
    let args = [tracker.to_owned(), store.label().to_owned()];
    let mut sink = ChildProc::spawn("node-sink", &args);
    let addr: SocketAddr = sink.parse().await;
    let mut alice = start_node(&format!("alice-stream-{}", store.label()), tracker, store).await;
    let to = Target::Addr(addr);
    let opened = alice.send_and_wait(to.clone(), numbered(0)).await;
    assert_eq!(
        opened,
        (1, 0, 0),
        "the first message was not delivered at once"
    );
    let mut acks = Acks::default();
    let started = Instant::now();
    let issued = stream(&mut alice, &to, &mut acks, store).await;
    // The sink has shown message 0 too.
    sink.tell(&format!("expect {}", issued + 1)).await;
    while acks.acked < issued {
        let ev = alice.next(|_| true).await;
        acks.count(&ev, store);
    }
    let shown = sink.line().await;
    let elapsed = started.elapsed();
    assert_eq!(shown, format!("shown {}", issued + 1), "{}", store.label());
    alice.quit().await;
    sink.finish().await;
    Round {
        messages: issued,
        elapsed,
    }
}

/// Sends messages 1..=[`MESSAGES`] (fewer if the loop budget runs out) with at most
/// [`IN_FLIGHT`] unacknowledged; returns how many it sent.
async fn stream(alice: &mut BenchNode, to: &Target, acks: &mut Acks, store: Store) -> usize {
    let started = Instant::now();
    let mut issued = 0;
    while issued < MESSAGES && started.elapsed() < LOOP_BUDGET {
        let command = Command::Send {
            target: to.clone(),
            text: numbered(issued + 1),
        };
        let may_send = issued - acks.acked < IN_FLIGHT;
        tokio::select! {
            biased;
            notice = alice.events.recv() => {
                acks.count(&notice.expect("alice stopped").event, store);
            }
            sent = alice.handle.send(command), if may_send => {
                sent.expect("alice stopped");
                issued += 1;
            }
            () = tokio::time::sleep(WAIT) => panic!(
                "{}: stalled: {issued} sent, {} acknowledged", store.label(), acks.acked
            ),
        }
    }
    if issued < MESSAGES {
        eprintln!("  (loop budget reached after {issued} of {MESSAGES})");
    }
    issued
}

/// The sender's acknowledgements: each message's `sent`, once, and none failed.
#[derive(Default)]
struct Acks {
    acked: usize,
    ids: HashSet<String>,
}

impl Acks {
    /// Counts what `ev` acknowledges (a `sent` that says delivered, or a later
    /// `delivered`); a failure, an error or a repeated `sent` stops the bench.
    fn count(&mut self, ev: &Event, store: Store) {
        let label = store.label();
        match ev {
            Event::Sent {
                id,
                delivered,
                failed,
                pending,
            } => {
                assert!(failed.is_empty(), "{label}: {id} failed: {failed:?}");
                let fresh = self.ids.insert(id.to_string());
                assert!(fresh, "{label}: a second `sent` for {id}");
                assert_eq!(delivered.len() + pending.len(), 1, "{label}: {ev:?}");
                self.acked += delivered.len();
            }
            Event::Delivered { .. } => self.acked += 1,
            Event::Failed { .. } | Event::Error { .. } => panic!("{label}: alice: {ev:?}"),
            _ => {}
        }
    }
}

/// `node-sink TRACKER STORE`: says its address, then checks that the messages it shows
/// are numbered 0, 1, 2… from one author. Told `expect N`, it says `shown N` once it has
/// shown N; when the bench closes our stdin it watches a moment longer for a copy too
/// many, then stops.
pub async fn sink_child(tracker: &str, store: Store) {
    let name = format!("bob-{}-{}", store.label(), std::process::id());
    let mut node = start_node(&name, tracker, store).await;
    say(node.listen);
    let mut orders = Orders::new();
    let mut shown = Shown::default();
    loop {
        tokio::select! {
            notice = node.events.recv() => shown.take(notice.expect("node stopped").event),
            order = orders.next() => match order {
                Some(line) => shown.expect(&line),
                None => break,
            },
        }
    }
    let extra = tokio::time::timeout(Duration::from_millis(200), async {
        loop {
            shown.take(node.events.recv().await.expect("node stopped").event);
        }
    });
    let _ = extra.await;
    node.quit().await;
}

/// What the sink has shown, and how many the bench said to expect.
#[derive(Default)]
struct Shown {
    author: Option<String>,
    count: usize,
    expected: Option<usize>,
}

impl Shown {
    fn take(&mut self, ev: Event) {
        match ev {
            Event::Message { from, text, .. } => self.check(from.as_str(), &text),
            Event::Error { message, .. } => panic!("sink: {message}"),
            _ => {}
        }
    }

    fn check(&mut self, from: &str, text: &str) {
        let author = self.author.get_or_insert_with(|| from.to_owned());
        assert_eq!(author, from, "sink: a message from {from}");
        let number: usize = text.parse().expect("a streamed message's text");
        let expected = self.count;
        match number.cmp(&expected) {
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Less => panic!("sink: #{number} shown again (duplicate)"),
            std::cmp::Ordering::Greater => {
                panic!("sink: #{number} shown before #{expected} (lost or reordered)")
            }
        }
        self.count += 1;
        if let Some(n) = self.expected {
            assert!(self.count <= n, "sink: more shown than the {n} sent");
        }
        self.say_when_done();
    }

    fn expect(&mut self, line: &str) {
        let n = line.strip_prefix("expect ").and_then(|n| n.parse().ok());
        self.expected = Some(n.unwrap_or_else(|| panic!("sink: order {line:?}")));
        self.say_when_done();
    }

    fn say_when_done(&self) {
        if self.expected == Some(self.count) {
            say(format!("shown {}", self.count));
        }
    }
}
