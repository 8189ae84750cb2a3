//! natter through its scripting contract: real `natter --headless` processes (the release
//! binaries) on a real tracker, each with its durable store, driven by this bench as a
//! script would drive them (`script`): `/msg` lines written to one's stdin, the `message`
//! lines timed as the others print them. Compared with the IRC server driven the same way.
//! The data directories are made in the temporary directory: `TMPDIR=/dev/shm` puts the
//! stores on tmpfs, which tells the disk's share (the fsyncs) from the rest.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Child;

use crate::report::{Measure, Report, Row};
use crate::script::{Inbox, Line, last_arrival, write_line};
use crate::stats::sampled_trips;
use crate::stats::{Stats, WAIT, us};
use crate::util::{self, PeerOptions, Tail, Tracker};

/// Untimed one-hop trips first (the first opens the link and looks bob up).
const WARM_UP: usize = 50;
const ONE_HOP_TRIPS: usize = 2_000;
/// Messages written back to back for the sustained rate, and the time they get.
const SUSTAINED: usize = 20_000;
const SUSTAINED_BUDGET: Duration = Duration::from_secs(20);
/// Bytes of text in each sustained message.
const TEXT_BYTES: usize = 100;
/// Group sizes (the sender included), measured one after the other with the same
/// processes: the first 10 form the group of 10.
const GROUPS: [usize; 2] = [10, 30];
const GROUP_WARM_UP: usize = 5;
const GROUP_TRIPS: usize = 200;

pub async fn run(report: &mut Report) {
    let dir = util::temp();
    let tracker = Tracker::start(dir.path()).await;
    if crate::runs("headless", "pair") {
        pair(report, dir.path(), &tracker).await;
    }
    if crate::runs("headless", "groups") {
        groups(report, dir.path(), &tracker).await;
    }
}

/// Alice and bob: one hop, then the sustained rate.
async fn pair(report: &mut Report, root: &Path, tracker: &Tracker) {
    const ALICE: usize = 0;
    const BOB: usize = 1;
    let mut inbox = Inbox::new();
    // Room in alice's outbox for every sustained message at once, so a receiver slower
    // than alice's intake never gets a message refused (`outbox_full`).
    let limit = SUSTAINED.to_string();
    let extra = ["--outbox-limit", limit.as_str()];
    let mut alice = Natter::spawn(root, "alice", tracker, ALICE, &inbox, &extra);
    let bob = Natter::spawn(root, "bob", tracker, BOB, &inbox, &[]);
    wait_ready(&mut inbox, &[ALICE, BOB]).await;

    // One message at a time; each trip also waits for alice's `sent` (bob's ack came back)
    // so no trip overlaps the last one's acknowledgement.
    let stats = sampled_trips(WARM_UP, ONE_HOP_TRIPS, async |i| {
        let text = format!("one hop {i}");
        let (req, t0) = alice.cmd(&format!("/msg bob {text}"));
        let lines = inbox
            .wait_each(&format!("bob to print {text:?}"), &[ALICE, BOB], |l| {
                let v = event(l);
                match l.source {
                    BOB => is_message(&v, l, &text),
                    _ => is_answer(&v, "sent", req),
                }
            })
            .await;
        lines[&BOB].at.duration_since(t0)
    })
    .await;
    one_hop_rows(report, stats);

    report.add(sustained(&mut alice, &mut inbox).await);
    drop((alice, bob));
}

fn one_hop_rows(report: &mut Report, stats: Stats) {
    let (p50, p99) = (us(stats.p50()), us(stats.p99()));
    let irc = report.get("irc", "private").map(Measure::value);
    let row = Row::new(
        "headless",
        "one_hop",
        "headless one hop (A's stdin → B's stdout)",
        Measure::Latency(stats),
    );
    report.add(match irc {
        Some(base) => row
            .versus("IRC private", base)
            .goal("≤ 1.5 × IRC private p50", p50 <= 1.5 * base),
        None => row.note("no IRC figure in this run (the irc section, with ngircd)"),
    });
    let p50_row = Row::new(
        "headless",
        "one_hop_p50",
        "  one hop p50, µs",
        Measure::Count(p50),
    );
    report.add(p50_row.goal("p50 ≤ 150 µs", p50 <= 150.0));
    let p99_row = Row::new(
        "headless",
        "one_hop_p99",
        "  one hop p99, µs",
        Measure::Count(p99),
    );
    report.add(p99_row.goal("p99 ≤ 1 ms", p99 <= 1_000.0));
}

/// `SUSTAINED` numbered messages written to alice as fast as her stdin takes them, until
/// bob has printed them all, each once and in order (or the time bound passes).
async fn sustained(alice: &mut Natter, inbox: &mut Inbox) -> Row {
    const BOB: usize = 1;
    let lines: Vec<String> = (0..SUSTAINED)
        .map(|i| format!("/msg bob {}\n", numbered(i)))
        .collect();
    let mut stdin = alice.stdin.try_clone().expect("alice's stdin");
    alice.lines += SUSTAINED as u64;
    let t0 = Instant::now();
    // A thread of its own: the pipe blocks it whenever alice is behind. It ends with an
    // error (not a hang) if alice is killed first.
    let writer = std::thread::spawn(move || {
        let mut out = BufWriter::with_capacity(1 << 16, &mut stdin);
        for line in &lines {
            out.write_all(line.as_bytes()).ok()?;
        }
        out.flush().ok()?;
        Some(Instant::now())
    });
    let deadline = t0 + SUSTAINED_BUDGET;
    let (mut received, mut last) = (0, t0);
    let (mut sending, mut last_sending) = (0, t0);
    while received < SUSTAINED || sending < SUSTAINED {
        let Some(line) = inbox.next(deadline).await else {
            break;
        };
        if line.source == BOB {
            let v = event(&line);
            if v["event"] == "message" {
                let text = v["text"].as_str().unwrap_or_default();
                assert_eq!(
                    text,
                    numbered(received),
                    "bob printed message {} out of turn: lost, duplicated or reordered",
                    received + 1
                );
                (received, last) = (received + 1, line.at);
            }
        } else if line.text.contains(r#""event":"sending""#) {
            (sending, last_sending) = (sending + 1, line.at);
        } else {
            event(&line); // panics on an error event
        }
    }
    let ms = |at: Instant| at.duration_since(t0).as_secs_f64() * 1e3;
    let mut note = format!("bob's last message at {:.0} ms", ms(last));
    if sending == SUSTAINED {
        note += &format!(", alice's last `sending` at {:.0} ms", ms(last_sending));
    }
    if received < SUSTAINED {
        // The writer may still be blocked on alice's pipe: it ends when she is killed.
        note += &format!("; time bound: {received} of {SUSTAINED} arrived");
    } else if let Some(written) = writer.join().expect("the writer thread") {
        note += &format!(", all written by {:.0} ms", ms(written));
    }
    let per_s = received as f64 / last.duration_since(t0).as_secs_f64().max(1e-9);
    Row::new(
        "headless",
        "sustained",
        "headless 1:1 sustained (100 B, durable)",
        Measure::Rate { per_s, n: received },
    )
    .goal("≥ 30 k msg/s through the headless pipes", per_s >= 30_000.0)
    .note(note)
}

/// Message `i` of the sustained run: its number, padded to [`TEXT_BYTES`].
fn numbered(i: usize) -> String {
    format!("{i:08} {}", "x".repeat(TEXT_BYTES - 9))
}

/// Groups of real processes: one `/msg #g` from the first member, timed until the last
/// of the others prints it.
async fn groups(report: &mut Report, root: &Path, tracker: &Tracker) {
    let size = GROUPS[GROUPS.len() - 1];
    let mut inbox = Inbox::new();
    let mut peers: Vec<Natter> = (0..size)
        .map(|i| Natter::spawn(root, &format!("m{i:02}"), tracker, i, &inbox, &[]))
        .collect();
    let everyone: Vec<usize> = (0..size).collect();
    wait_ready(&mut inbox, &everyone).await;
    for n in GROUPS {
        let group = format!("g{n}");
        join(&mut peers[..n], &mut inbox, &group).await;
        let others: Vec<usize> = (1..n).collect();
        let stats = sampled_trips(GROUP_WARM_UP, GROUP_TRIPS, async |i| {
            let text = format!("{group} {i}");
            let (req, t0) = peers[0].cmd(&format!("/msg #{group} {text}"));
            let lines = inbox
                .wait_each(
                    &format!("#{group} to print {text:?}"),
                    &everyone[..n],
                    |l| {
                        let v = event(l);
                        match l.source {
                            0 => is_answer(&v, "sent", req),
                            _ => is_message(&v, l, &text),
                        }
                    },
                )
                .await;
            last_arrival(others.iter().map(|s| &lines[s]), t0)
        })
        .await;
        let row = Row::new(
            "headless",
            if n == 30 { "group_30" } else { "group_10" },
            &format!("headless group of {n} (last of {} printed)", n - 1),
            Measure::Latency(stats),
        );
        let irc = report.get("irc", "channel_30").map(Measure::value);
        report.add(match irc {
            Some(base) if n == 30 => {
                let ratio = row.measure.value() / base;
                row.versus("IRC channel of 30", base)
                    .goal("≤ 2 × IRC channel of 30", ratio <= 2.0)
            }
            None if n == 30 => row.note("no IRC figure in this run (the irc section, with ngircd)"),
            _ => row,
        });
    }
}

/// Every peer joins `group`; returns once the first (the sender) lists them all online.
async fn join(peers: &mut [Natter], inbox: &mut Inbox, group: &str) {
    let mut reqs = Vec::with_capacity(peers.len());
    for peer in peers.iter_mut() {
        reqs.push(peer.cmd(&format!("/join #{group}")).0);
    }
    let sources: Vec<usize> = (0..peers.len()).collect();
    inbox
        .wait_each(&format!("every join of #{group}"), &sources, |l| {
            is_answer(&event(l), "members", reqs[l.source])
        })
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (req, _) = peers[0].cmd(&format!("/members #{group}"));
        let list = inbox
            .wait_one(&format!("the members of #{group}"), 0, |l| {
                is_answer(&event(l), "members", req)
            })
            .await;
        let list = event(&list);
        let online = list["members"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["online"] == true).count());
        if online == peers.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of #{group} online after {WAIT:?}: {list}",
            online
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `natter --headless` whose stdout the inbox reads as its source number; killed when
/// dropped.
struct Natter {
    child: Child,
    stdin: File,
    stderr: Tail,
    /// Lines written so far: the last one's request id.
    lines: u64,
}

/// A `natter --headless` with its three pipes, logging at natter's own default level (the
/// tests' `info` would put log lines on the measured path); its stderr goes to the tail.
pub fn spawn_quiet(name: &str, opts: &PeerOptions<'_>) -> (Child, Tail) {
    let mut child = util::natter_command(name, opts)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn natter");
    let stderr = Tail::default();
    util::spawn_stderr_tail(child.stderr.take().unwrap(), stderr.clone());
    (child, stderr)
}

impl Natter {
    fn spawn(
        root: &Path,
        name: &str,
        tracker: &Tracker,
        source: usize,
        inbox: &Inbox,
        extra: &[&str],
    ) -> Natter {
        let opts = PeerOptions {
            tracker: tracker.addr.to_string(),
            data_dir: root.join(name),
            extra: extra.to_vec(),
        };
        let (mut child, stderr) = spawn_quiet(name, &opts);
        // Plain blocking files: the reader thread and the bench write to them directly.
        let stdout = child.stdout.take().unwrap().into_owned_fd().unwrap();
        inbox.read_from(source, File::from(stdout));
        let stdin = child.stdin.take().unwrap().into_owned_fd().unwrap();
        Natter {
            child,
            stdin: File::from(stdin),
            stderr,
            lines: 0,
        }
    }

    /// Writes one command line; returns its request id and the time just before the write.
    fn cmd(&mut self, line: &str) -> (u64, Instant) {
        let at = write_line(&mut self.stdin, &format!("{line}\n"));
        self.lines += 1;
        (self.lines, at)
    }
}

impl Drop for Natter {
    fn drop(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            eprintln!("  natter exited early ({status}):\n{}", self.stderr.text());
        }
    }
}

/// Waits until the tracker has welcomed each peer (`ready` comes before that): then the
/// others' lookups find it.
async fn wait_ready(inbox: &mut Inbox, sources: &[usize]) {
    inbox
        .wait_each("every peer at the tracker", sources, |l| {
            let v = event(l);
            v["event"] == "tracker" && v["status"] == "connected"
        })
        .await;
}

/// A line of the contract as JSON; panics on one that is not, and on an `error` event
/// (nothing here should cause one).
fn event(line: &Line) -> Value {
    let v: Value = serde_json::from_str(&line.text)
        .unwrap_or_else(|_| panic!("peer {} printed a non-event: {}", line.source, line.text));
    assert!(v["event"] != "error", "peer {}: {}", line.source, line.text);
    v
}

/// True for the answer `event` to request `req`.
fn is_answer(v: &Value, event: &str, req: u64) -> bool {
    v["event"] == event && v["req"] == req
}

/// True when `v` is the `message` carrying `expected`; panics on any other message (a
/// lost, duplicated or reordered one).
fn is_message(v: &Value, line: &Line, expected: &str) -> bool {
    if v["event"] != "message" {
        return false;
    }
    assert!(
        v["text"] == expected,
        "peer {} printed {} while {expected:?} was due: lost, duplicated or reordered",
        line.source,
        line.text
    );
    true
}
