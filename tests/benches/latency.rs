//! Latency benchmark: natter's private-message and group fan-out latency, reported as ratios
//! against baselines measured in the same run (plain framed JSON ping-pong over TCP, and
//! the same over a Noise link), so the numbers mean something on a noisy machine.
//!
//! Run with `cargo bench -p natter-tests --bench latency`. Everything runs in this process
//! on 127.0.0.1; every loop is bounded both in count and in time.
// A benchmark, not product code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use natter::node::{Command, Event, Node, NodeConfig, NodeHandle, Target, start};
use natter_protocol::testkit;
use natter_protocol::{CodecError, FrameCodec, GroupName, Identity};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Round trips per baseline.
const BASELINE_TRIPS: usize = 2000;
/// Sequential private messages through the nodes.
const PRIVATE_SENDS: usize = 500;
/// Group messages per group size (after one warm-up send that opens the links).
const GROUP_SENDS: usize = 30;
/// Group sizes (members besides the sender).
const GROUP_SIZES: [usize; 2] = [20, 50];
/// Time cap for any one measured loop.
const LOOP_BUDGET: Duration = Duration::from_secs(15);
/// Time cap for any one wait (an event, a round trip, a setup step).
const WAIT: Duration = Duration::from_secs(15);

/// A ~100-byte frame, shaped like a small chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ping {
    id: u64,
    from: String,
    text: String,
    sent_at: u64,
}

fn ping(id: u64) -> Ping {
    Ping {
        id,
        from: "alice".into(),
        text: "the quick brown fox jumps over the lazy dog, twice".into(),
        sent_at: 1_700_000_000_000,
    }
}

/// Sorted samples and their summary.
struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    fn new(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort();
        Self { samples }
    }

    fn quantile(&self, q: f64) -> Duration {
        let last = self.samples.len() - 1;
        self.samples[((last as f64) * q).round() as usize]
    }

    fn median(&self) -> Duration {
        self.quantile(0.5)
    }

    fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs `trip` up to `count` times (stopping early when the loop budget runs out) and
/// times each call.
async fn time_trips(count: usize, mut trip: impl AsyncFnMut(u64)) -> Stats {
    let started = Instant::now();
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        if started.elapsed() > LOOP_BUDGET {
            eprintln!("  (loop budget reached after {i} of {count})");
            break;
        }
        let t = Instant::now();
        tokio::time::timeout(WAIT, trip(i as u64))
            .await
            .expect("round trip timed out");
        samples.push(t.elapsed());
    }
    Stats::new(samples)
}

/// Two ends of a TCP connection on 127.0.0.1 with Nagle off, as the node sets its links.
async fn nodelay_pair() -> (TcpStream, TcpStream) {
    let (client, server) = testkit::tcp_pair().await;
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// Echoes every frame back until the link closes.
async fn echo<L>(mut link: L)
where
    L: futures::Sink<Ping> + futures::Stream<Item = Result<Ping, CodecError>> + Unpin,
{
    while let Some(Ok(p)) = link.next().await {
        if link.send(p).await.is_err() {
            break;
        }
    }
}

/// Baseline A: framed JSON ping-pong over plain TCP (the test-only `FrameCodec`).
async fn baseline_plain() -> Stats {
    let (client, server) = nodelay_pair().await;
    let server = tokio::spawn(echo(Framed::new(
        server,
        FrameCodec::<Ping, Ping>::default(),
    )));
    let mut link = Framed::new(client, FrameCodec::<Ping, Ping>::default());
    let stats = ping_pong(&mut link).await;
    drop(link);
    server.await.unwrap();
    stats
}

/// Baseline B: the same over a Noise XX link.
async fn baseline_noise() -> Stats {
    let (client, server) = nodelay_pair().await;
    let (client_id, server_id) = (testkit::identity(), testkit::identity());
    let (mut link, server) =
        testkit::handshake_pair::<_, _, Ping, Ping>(client, server, &client_id, &server_id).await;
    let server = tokio::spawn(echo(server));
    let stats = ping_pong(&mut link).await;
    drop(link);
    server.await.unwrap();
    stats
}

/// Warms up, then times `BASELINE_TRIPS` round trips on an echoing link.
async fn ping_pong<L>(link: &mut L) -> Stats
where
    L: futures::Sink<Ping> + futures::Stream + Unpin,
    <L as futures::Sink<Ping>>::Error: std::fmt::Debug,
{
    for i in 0..100 {
        link.send(ping(i)).await.unwrap();
        link.next().await.expect("echo");
    }
    time_trips(BASELINE_TRIPS, async |i| {
        link.send(ping(i)).await.unwrap();
        link.next().await.expect("echo");
    })
    .await
}

/// Reference C: Ed25519 sign + verify of a ~100-byte message, CPU only (the node signs
/// every message once and each recipient verifies it).
async fn sign_verify() -> Stats {
    let id = Identity::generate().unwrap();
    let key = id.public_key();
    let body = serde_json::to_vec(&ping(0)).unwrap();
    time_trips(BASELINE_TRIPS, async |_| {
        let sig = id.sign(&body);
        assert!(key.verify(&body, &sig));
    })
    .await
}

/// A node whose events (other than the ones the bench waits on) are drained in the
/// background, so its event queue never fills.
struct BenchNode {
    handle: NodeHandle,
    listen: SocketAddr,
    /// Only `Sent` and `Members` events are forwarded here.
    events: mpsc::Receiver<Event>,
}

async fn start_node(name: &str, tracker: SocketAddr, dir: &tempfile::TempDir) -> BenchNode {
    let config = NodeConfig::new(
        name.parse().unwrap(),
        tracker.to_string(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join(name),
    );
    let Node {
        handle,
        mut events,
        listen,
        ..
    } = start(config).await.unwrap();
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        while let Some(notice) = events.recv().await {
            let ev = notice.event;
            if matches!(ev, Event::Sent { .. } | Event::Members { .. })
                && tx.send(ev).await.is_err()
            {
                break;
            }
        }
    });
    BenchNode {
        handle,
        listen,
        events: rx,
    }
}

impl BenchNode {
    /// The next forwarded event matching `want` within [`WAIT`].
    async fn next(&mut self, want: impl Fn(&Event) -> bool) -> Event {
        tokio::time::timeout(WAIT, async {
            loop {
                let ev = self.events.recv().await.expect("node stopped");
                if want(&ev) {
                    return ev;
                }
            }
        })
        .await
        .expect("no matching event in time")
    }

    /// Sends `text` to `target` and waits for its `Sent`; returns (delivered, failed).
    async fn send_and_wait(&mut self, target: Target, text: String) -> (usize, usize) {
        self.handle
            .send(Command::Send { target, text })
            .await
            .unwrap();
        // Sends are sequential, so the next Sent is this message's.
        match self.next(|e| matches!(e, Event::Sent { .. })).await {
            Event::Sent {
                delivered, failed, ..
            } => (delivered.len(), failed.len()),
            _ => unreachable!(),
        }
    }

    async fn quit(&self) {
        let _ = self.handle.send(Command::Quit).await;
    }
}

/// Starts a tracker in this process; returns its address and the token that stops it.
async fn start_tracker(dir: &tempfile::TempDir) -> (SocketAddr, CancellationToken) {
    let listener = natter_tracker::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = natter_tracker::Config::new(dir.path().join("tracker.json"));
    config.max_connections_per_ip = 1024;
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        if let Err(e) = natter_tracker::run(listener, config, stop).await {
            eprintln!("tracker failed: {e:#}");
        }
    });
    (addr, token)
}

/// Private messages: send → ack round trips between two nodes.
async fn private_messages(tracker: SocketAddr, dir: &tempfile::TempDir) -> Stats {
    let mut alice = start_node("alice", tracker, dir).await;
    let bob = start_node("bob", tracker, dir).await;
    // The first send opens (and handshakes) the pooled link: not measured.
    let to = Target::Addr(bob.listen);
    assert_eq!(
        alice.send_and_wait(to.clone(), "hello".into()).await,
        (1, 0)
    );
    let text = ping(0).text;
    let stats = time_trips(PRIVATE_SENDS, async |_| {
        let got = alice.send_and_wait(to.clone(), text.clone()).await;
        assert_eq!(got, (1, 0), "private message not delivered");
    })
    .await;
    alice.quit().await;
    bob.quit().await;
    stats
}

/// What one group-size run measured.
struct Fanout {
    members: usize,
    startup: Duration,
    first_send: Duration,
    stats: Stats,
}

/// Group fan-out: one sender and `m` members; times Send → Sent (every member acked).
async fn group_fanout(m: usize, tracker: SocketAddr, dir: &tempfile::TempDir) -> Fanout {
    let group: GroupName = format!("bench{m}").parse().unwrap();
    let t = Instant::now();
    let mut sender = start_node(&format!("s{m}"), tracker, dir).await;
    sender
        .handle
        .send(Command::Join(group.clone()))
        .await
        .unwrap();
    let mut members = Vec::with_capacity(m);
    for i in 0..m {
        let node = start_node(&format!("m{m}x{i}"), tracker, dir).await;
        node.handle
            .send(Command::Join(group.clone()))
            .await
            .unwrap();
        members.push(node);
    }
    // Wait until the sender sees everyone online.
    let deadline = Instant::now() + WAIT;
    // The list as the events build it: a full list, then changes.
    let mut list = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(remaining, sender.events.recv())
            .await
            .expect("sender never saw every member")
            .expect("sender stopped");
        if let Event::Members {
            group: g,
            members,
            change,
            ..
        } = ev
            && g == group
        {
            match (members, change) {
                (Some(full), _) => list = full,
                (None, Some(change)) => natter::node::members::apply_change(&mut list, &change),
                (None, None) => {}
            }
            let online: HashSet<_> = list.iter().filter(|x| x.online).map(|x| &x.name).collect();
            if online.len() > m {
                break;
            }
        }
    }
    let startup = t.elapsed();
    let target = Target::Group(group);
    let t = Instant::now();
    assert_eq!(
        sender.send_and_wait(target.clone(), "warm-up".into()).await,
        (m, 0),
        "warm-up group message not delivered to everyone"
    );
    let first_send = t.elapsed();
    let text = ping(0).text;
    let stats = time_trips(GROUP_SENDS, async |_| {
        let got = sender.send_and_wait(target.clone(), text.clone()).await;
        assert_eq!(got, (m, 0), "group message not delivered to everyone");
    })
    .await;
    sender.quit().await;
    for node in &members {
        node.quit().await;
    }
    Fanout {
        members: m,
        startup,
        first_send,
        stats,
    }
}

fn row(name: &str, stats: &Stats, ratios: &str) {
    println!(
        "{name:<34} {:>6} {:>10.1} {:>10.1}  {ratios}",
        stats.samples.len(),
        us(stats.median()),
        us(stats.p99()),
    );
}

async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();

    let plain = baseline_plain().await;
    let noise = baseline_noise().await;
    let crypto = sign_verify().await;
    let (tracker, stop_tracker) = start_tracker(&dir).await;
    let private = private_messages(tracker, &dir).await;
    let mut fanouts = Vec::new();
    for m in GROUP_SIZES {
        fanouts.push(group_fanout(m, tracker, &dir).await);
    }
    stop_tracker.cancel();

    let a = us(plain.median());
    let b = us(noise.median());
    println!();
    println!("natter latency (one process, 127.0.0.1; ratios are of medians, same run)");
    println!(
        "{:<34} {:>6} {:>10} {:>10}  ratios",
        "measurement", "n", "median µs", "p99 µs"
    );
    row("A: plain framed JSON round trip", &plain, "1.0 × A");
    row(
        "B: Noise framed JSON round trip",
        &noise,
        &format!("{:.2} × A", b / a),
    );
    row(
        "C: Ed25519 sign + verify (CPU)",
        &crypto,
        &format!("{:.2} × A", us(crypto.median()) / a),
    );
    row(
        "private message send → Sent",
        &private,
        &format!(
            "{:.1} × A, {:.1} × B",
            us(private.median()) / a,
            us(private.median()) / b
        ),
    );
    for f in &fanouts {
        let med = us(f.stats.median());
        let m = f.members as f64;
        row(
            &format!("group of {} send → all acked", f.members),
            &f.stats,
            &format!(
                "{:.1} µs/member; {:.2} × (A × M), {:.2} × (B × M)",
                med / m,
                med / (a * m),
                med / (b * m)
            ),
        );
    }
    for f in &fanouts {
        println!(
            "  group of {}: startup + join {:.0} ms, first send (opens {} links) {:.1} ms",
            f.members,
            f.startup.as_secs_f64() * 1e3,
            f.members,
            f.first_send.as_secs_f64() * 1e3
        );
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(110), bench())
            .await
            .expect("benchmark over its two-minute budget");
    });
}
