//! The node API (`natter::node`) between processes, against the baselines of the run: one
//! hop (`one_hop_durable`, `one_hop_ephemeral`), 1:1 sustained throughput
//! (`sustained_*`, in `node_stream.rs`) and group fan-out (`fanout_M`, in
//! `node_fanout.rs`). A tracker runs in this process; the far nodes run in children:
//!
//! * `node-echo TRACKER durable|ephemeral`: one node that answers each private message it
//!   shows with the same text, privately, to its author;
//! * `node-sink TRACKER durable|ephemeral`: one node that checks the messages it shows;
//! * `node-members TRACKER GROUP M`: `M` nodes (in-memory stores) in group `GROUP`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use natter::node::{Event, Target};

use crate::child::{ChildProc, Orders, say};
use crate::node_fanout;
use crate::node_stream;
use crate::nodes::{BenchNode, Store, numbered, start_node, start_tracker};
use crate::report::{Measure, Report, Row};
use crate::stats::{LOOP_BUDGET, Stats, us};

pub const SECTION: &str = "node";
/// Timed round trips per store, after [`HOP_WARM_UP`].
const HOPS: usize = 500;
const HOP_WARM_UP: usize = 20;
/// The bound on one hop at the node API, over the raw Noise one-way time.
const HOP_TARGET: f64 = 1.3;

pub async fn run(report: &mut Report) {
    let dir = tempfile::tempdir().unwrap();
    let (tracker, stop_tracker) = start_tracker(&dir).await;
    let tracker = tracker.to_string();
    if crate::runs(SECTION, "hop") {
        one_hop(report, &tracker).await;
    }
    if crate::runs(SECTION, "stream") {
        node_stream::run(report, &tracker).await;
    }
    if crate::runs(SECTION, "fanout") {
        node_fanout::run(report, &tracker).await;
    }
    stop_tracker.cancel();
}

/// The far side: `node-echo`, `node-sink` or `node-members`.
pub async fn child(mode: &str, args: &[String]) {
    match (mode, args) {
        ("node-echo", [tracker, store]) => echo_child(tracker, store.parse().unwrap()).await,
        ("node-sink", [tracker, store]) => {
            node_stream::sink_child(tracker, store.parse().unwrap()).await;
        }
        ("node-members", [tracker, group, m]) => {
            node_fanout::members_child(tracker, group, m.parse().unwrap()).await;
        }
        _ => panic!("no child mode {mode:?} with {args:?}"),
    }
}

/// One hop: private round trips to an echoing node in a child process, durable and
/// ephemeral interleaved one by one (a noisy spell on the machine hits both alike),
/// halved.
async fn one_hop(report: &mut Report, tracker: &str) {
    let mut durable = EchoPair::start(tracker, Store::Durable).await;
    let mut ephemeral = EchoPair::start(tracker, Store::Ephemeral).await;
    let mut hops = [Hops::default(), Hops::default()];
    let started = Instant::now();
    for i in 0..HOPS {
        if started.elapsed() > LOOP_BUDGET {
            eprintln!("  (loop budget reached after {i} of {HOPS})");
            break;
        }
        for (pair, hops) in [&mut durable, &mut ephemeral].into_iter().zip(&mut hops) {
            hops.add(pair.trip().await);
        }
    }
    durable.finish().await;
    ephemeral.finish().await;
    let noise = report.get("baselines", "noise_one_way").map(Measure::value);
    let noise = noise.expect("the baselines ran first");
    for (store, hops) in [Store::Durable, Store::Ephemeral].into_iter().zip(hops) {
        report.add(hop_row(store, hops, noise));
    }
}

/// One store's round trips, and how long of each the sender took to sign and store its
/// message (`send` → its `sending` event).
#[derive(Default)]
struct Hops {
    round_trips: Vec<Duration>,
    stored: Vec<Duration>,
}

impl Hops {
    fn add(&mut self, (stored, round_trip): (Duration, Duration)) {
        self.stored.push(stored);
        self.round_trips.push(round_trip);
    }
}

fn hop_row(store: Store, hops: Hops, noise_one_way: f64) -> Row {
    let label = format!("one hop, {} (round trip / 2)", store.label());
    let key = format!("one_hop_{}", store.label());
    let one_way = Stats::new(hops.round_trips).halved();
    let row = Row::new(SECTION, &key, &label, Measure::Latency(one_way));
    let row = row.versus("Noise one-way", noise_one_way);
    let met = row.versus.as_ref().is_some_and(|v| v.ratio <= HOP_TARGET);
    let stored = us(Stats::new(hops.stored).p50());
    let note = format!(
        "send → the echo's message, far node in a child process; of it, send → own \
         `sending` (sign, store, fsync) p50 {stored:.0} µs"
    );
    match store {
        Store::Durable => row.goal("p50 ≤ 1.3 × raw Noise one-way", met).note(note),
        Store::Ephemeral => row.note(note + "; stores in memory: what the disk costs"),
    }
}

/// This process's node talking to a `node-echo` child.
struct EchoPair {
    alice: BenchNode,
    echo: ChildProc,
    to: Target,
    /// Messages sent so far: the next one's number.
    sent: usize,
}

impl EchoPair {
    async fn start(tracker: &str, store: Store) -> Self {
        let args = [tracker.to_owned(), store.label().to_owned()];
        let mut echo = ChildProc::spawn("node-echo", &args);
        let addr: SocketAddr = echo.parse().await;
        let name = format!("alice-hop-{}", store.label());
        let alice = start_node(&name, tracker, store).await;
        let mut pair = Self {
            alice,
            echo,
            to: Target::Addr(addr),
            sent: 0,
        };
        for _ in 0..HOP_WARM_UP {
            pair.trip().await;
        }
        pair
    }

    /// One round trip: the next numbered message out, until the echo shows here; returns
    /// (send → its `sending`, the round trip). Each must come back before the next goes,
    /// so a lost, repeated or reordered one stops the bench.
    async fn trip(&mut self) -> (Duration, Duration) {
        let text = numbered(self.sent);
        self.sent += 1;
        let t = Instant::now();
        self.alice.send(self.to.clone(), text.clone()).await;
        // Either may come first: `sending` waits for our write's fsync, the echo's
        // message only for the echo and our commit of its reply.
        let (mut stored, mut round_trip) = (None, None);
        while stored.is_none() || round_trip.is_none() {
            let event = self
                .alice
                .next(|e| matches!(e, Event::Sending { .. } | Event::Message { .. }))
                .await;
            match event {
                Event::Message { text: got, .. } => {
                    assert_eq!(got, text, "the echo sent back another message");
                    round_trip = Some(t.elapsed());
                }
                _ => stored = Some(t.elapsed()),
            }
        }
        (stored.unwrap_or_default(), round_trip.unwrap_or_default())
    }

    async fn finish(self) {
        self.alice.quit().await;
        self.echo.finish().await;
    }
}

/// `node-echo TRACKER STORE`: says its address, then answers every private message it
/// shows with the same text to its author, until the bench closes our stdin.
async fn echo_child(tracker: &str, store: Store) {
    let name = format!("echo-{}-{}", store.label(), std::process::id());
    let mut node = start_node(&name, tracker, store).await;
    say(node.listen);
    let mut orders = Orders::new();
    loop {
        tokio::select! {
            notice = node.events.recv() => match notice.expect("node stopped").event {
                Event::Message { from, group: None, text, .. } => {
                    node.send(Target::Peer(from), text).await;
                }
                Event::Error { message, .. } => panic!("{name}: {message}"),
                _ => {}
            },
            order = orders.next() => if order.is_none() { break },
        }
    }
    node.quit().await;
}
