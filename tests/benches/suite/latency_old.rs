//! Latency benchmark: natter's private-message latency and 1:1 throughput, each with the
//! durable store (`natter.db`, fsynced) and without it (the same store in memory), and its
//! group fan-out latency; reported as ratios against baselines measured in the same run
//! (plain framed JSON ping-pong over TCP, and the same over a Noise link), so the numbers
//! mean something on a noisy machine. The numbers are also written as one JSON object
//! (`target/bench-latency.json`) to compare runs between commits.
//!
//! Run with `cargo bench -p natter-tests --bench latency`. Everything runs in this process
//! on 127.0.0.1, each node in a fresh temporary data directory; every loop is bounded both
//! in count and in time. Nothing here passes or fails on timing; a lost, duplicated or
//! reordered message stops it loudly.
// A benchmark, not product code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use natter::node::{Command, Event, Node, NodeConfig, NodeHandle, Target, start};
use natter_protocol::testkit;
use natter_protocol::{CodecError, FrameCodec, GroupName, Identity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Round trips per baseline.
const BASELINE_TRIPS: usize = 2000;
/// Sequential private messages through the nodes, per store.
const PRIVATE_SENDS: usize = 500;
/// Private messages per throughput round.
const STREAM_MESSAGES: usize = 5000;
/// Bytes of text in each streamed message.
const STREAM_TEXT_BYTES: usize = 100;
/// Messages sent but not yet acknowledged, at most, while streaming.
const STREAM_IN_FLIGHT: usize = 1000;
/// Throughput rounds per store (alternating stores, so a noisy spell hits both).
const STREAM_ROUNDS: usize = 3;
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

/// Where a node keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    /// `natter.db` in the data directory: WAL, `synchronous=FULL`, group commit.
    Durable,
    /// The same store in an in-memory database: the same code path, no disk, no fsync.
    Ephemeral,
}

impl Store {
    fn label(self) -> &'static str {
        match self {
            Self::Durable => "durable",
            Self::Ephemeral => "ephemeral",
        }
    }
}

/// Which of a node's events the bench reads; the rest are drained and dropped.
type Wanted = fn(&Event) -> bool;

/// A sender's events: how its messages went (and any error, which stops the bench).
fn sender_events(ev: &Event) -> bool {
    matches!(
        ev,
        Event::Sent { .. }
            | Event::Delivered { .. }
            | Event::Failed { .. }
            | Event::Members { .. }
            | Event::Error { .. }
    )
}

/// A receiver's events: the messages it shows.
fn receiver_events(ev: &Event) -> bool {
    matches!(ev, Event::Message { .. } | Event::Error { .. })
}

/// A bystander's: none (group members nobody reads).
fn no_events(_: &Event) -> bool {
    false
}

/// A node in its own temporary data directory, whose wanted events are forwarded to
/// `events` (the others drained in the background, so its event queue never fills).
struct BenchNode {
    /// The name it registered: `base-N`, unique in the run (each node has a new key, and
    /// the tracker binds a name to the first key it sees).
    name: String,
    handle: NodeHandle,
    listen: SocketAddr,
    events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
    /// Removed once the node has stopped.
    _dir: tempfile::TempDir,
}

async fn start_node(base: &str, tracker: SocketAddr, store: Store, wanted: Wanted) -> BenchNode {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{base}-{}", STARTED.fetch_add(1, Ordering::Relaxed));
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(
        name.parse().unwrap(),
        tracker.to_string(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join(&name),
    );
    config.ephemeral = store == Store::Ephemeral;
    let Node {
        handle,
        mut events,
        listen,
        task,
        ..
    } = start(config).await.unwrap();
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        while let Some(notice) = events.recv().await {
            let ev = notice.event;
            if wanted(&ev) && tx.send(ev).await.is_err() {
                break;
            }
        }
    });
    BenchNode {
        name,
        handle,
        listen,
        events: rx,
        task,
        _dir: dir,
    }
}

impl BenchNode {
    /// The next forwarded event matching `want` within [`WAIT`]; an error event stops the
    /// bench.
    async fn next(&mut self, want: impl Fn(&Event) -> bool) -> Event {
        tokio::time::timeout(WAIT, async {
            loop {
                let ev = self.events.recv().await.expect("node stopped");
                if let Event::Error { message, .. } = &ev {
                    panic!("the node reported an error: {message}");
                }
                if want(&ev) {
                    return ev;
                }
            }
        })
        .await
        .expect("no matching event in time")
    }

    /// Sends `text` to `target` and waits for its `Sent`; returns (delivered, failed,
    /// pending).
    async fn send_and_wait(&mut self, target: Target, text: String) -> (usize, usize, usize) {
        self.handle
            .send(Command::Send { target, text })
            .await
            .unwrap();
        // Sends are sequential, so the next Sent is this message's.
        match self.next(|e| matches!(e, Event::Sent { .. })).await {
            Event::Sent {
                delivered,
                failed,
                pending,
                ..
            } => (delivered.len(), failed.len(), pending.len()),
            _ => unreachable!(),
        }
    }

    /// Stops the node and waits (bounded) until it has, store included.
    async fn quit(self) {
        let Self {
            handle,
            events,
            task,
            _dir,
            ..
        } = self;
        drop(events);
        let _ = handle.send(Command::Quit).await;
        if tokio::time::timeout(WAIT, task).await.is_err() {
            eprintln!("  (a node did not stop in time)");
        }
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

/// Two nodes, `alice` sending to `bob` by address, with the link between them open (one
/// warm-up message, delivered). When `bob_reads`, his `message` events are forwarded (and
/// the warm-up one read).
struct Pair {
    alice: BenchNode,
    bob: BenchNode,
    to: Target,
}

async fn pair(tracker: SocketAddr, store: Store, bob_reads: bool) -> Pair {
    let bob_events = if bob_reads {
        receiver_events
    } else {
        no_events
    };
    let mut alice = start_node(
        &format!("alice-{}", store.label()),
        tracker,
        store,
        sender_events,
    )
    .await;
    let mut bob = start_node(
        &format!("bob-{}", store.label()),
        tracker,
        store,
        bob_events,
    )
    .await;
    let to = Target::Addr(bob.listen);
    let got = alice.send_and_wait(to.clone(), "hello".into()).await;
    assert_eq!(got, (1, 0, 0), "warm-up message not delivered");
    if bob_reads {
        bob.next(|e| matches!(e, Event::Message { .. })).await;
    }
    Pair { alice, bob, to }
}

impl Pair {
    async fn quit(self) {
        self.alice.quit().await;
        self.bob.quit().await;
    }
}

/// Private messages: send → ack round trips, durable and ephemeral interleaved one by one
/// (a noisy spell on the machine hits both alike). Returns (durable, ephemeral).
async fn private_messages(tracker: SocketAddr) -> (Stats, Stats) {
    let mut durable = pair(tracker, Store::Durable, false).await;
    let mut ephemeral = pair(tracker, Store::Ephemeral, false).await;
    let text = ping(0).text;
    let started = Instant::now();
    let mut samples = (Vec::new(), Vec::new());
    for i in 0..PRIVATE_SENDS {
        if started.elapsed() > 2 * LOOP_BUDGET {
            eprintln!("  (loop budget reached after {i} of {PRIVATE_SENDS})");
            break;
        }
        for (p, out) in [
            (&mut durable, &mut samples.0),
            (&mut ephemeral, &mut samples.1),
        ] {
            let t = Instant::now();
            let got = p.alice.send_and_wait(p.to.clone(), text.clone()).await;
            out.push(t.elapsed());
            assert_eq!(got, (1, 0, 0), "private message not delivered at once");
        }
    }
    durable.quit().await;
    ephemeral.quit().await;
    (Stats::new(samples.0), Stats::new(samples.1))
}

/// The text of streamed message `i`: its number, padded to [`STREAM_TEXT_BYTES`].
fn numbered(i: usize) -> String {
    format!("{i:0width$}", width = STREAM_TEXT_BYTES)
}

/// One throughput round.
struct Round {
    store: Store,
    messages: usize,
    elapsed: Duration,
}

impl Round {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

/// 1:1 throughput: `alice` streams [`STREAM_MESSAGES`] private messages to `bob` as fast
/// as her node takes them, with at most [`STREAM_IN_FLIGHT`] unacknowledged; timed from
/// the first send until every one is acknowledged and `bob` has shown every one. Checks
/// that `bob` showed each exactly once and in order, and that none failed.
async fn stream(tracker: SocketAddr, store: Store) -> Round {
    let Pair {
        mut alice,
        mut bob,
        to,
    } = pair(tracker, store, true).await;
    let (mut issued, mut acked, mut shown) = (0, 0, 0);
    let mut ids = HashSet::new();
    let started = Instant::now();
    while acked < issued || shown < issued || issued == 0 {
        let may_send = issued < STREAM_MESSAGES
            && issued - acked < STREAM_IN_FLIGHT
            && started.elapsed() < LOOP_BUDGET;
        let command = Command::Send {
            target: to.clone(),
            text: numbered(issued),
        };
        tokio::select! {
            biased;
            ev = alice.events.recv() => {
                let ev = ev.expect("alice stopped");
                acked += acknowledged(&ev, &mut ids, store);
            }
            ev = bob.events.recv() => {
                let ev = ev.expect("bob stopped");
                check_shown(&ev, &alice.name, shown, store);
                shown += 1;
            }
            sent = alice.handle.send(command), if may_send => {
                sent.expect("alice stopped");
                issued += 1;
            }
            () = tokio::time::sleep(WAIT) => panic!(
                "{}: stalled: {issued} sent, {acked} acknowledged, {shown} shown by bob",
                store.label()
            ),
        }
    }
    let elapsed = started.elapsed();
    // A copy shown after the last would be a duplicate.
    if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), bob.events.recv()).await
    {
        panic!("{}: bob showed more than was sent: {ev:?}", store.label());
    }
    alice.quit().await;
    bob.quit().await;
    Round {
        store,
        messages: issued,
        elapsed,
    }
}

/// How many of alice's messages `ev` says were acknowledged (a `Sent` to bob, or a later
/// `Delivered`); a failure or a repeated id stops the bench.
fn acknowledged(ev: &Event, ids: &mut HashSet<String>, store: Store) -> usize {
    let label = store.label();
    match ev {
        Event::Sent {
            id,
            delivered,
            failed,
            pending,
        } => {
            assert!(failed.is_empty(), "{label}: {id} failed: {failed:?}");
            assert!(
                ids.insert(id.to_string()),
                "{label}: a second `sent` for {id}"
            );
            assert_eq!(delivered.len() + pending.len(), 1, "{label}: {ev:?}");
            delivered.len()
        }
        Event::Delivered { .. } => 1,
        Event::Members { .. } => 0,
        other => panic!("{label}: alice: {other:?}"),
    }
}

/// Checks that `ev` is bob showing alice's message number `expected`.
fn check_shown(ev: &Event, alice: &str, expected: usize, store: Store) {
    let label = store.label();
    let Event::Message { from, text, .. } = ev else {
        panic!("{label}: bob: {ev:?}");
    };
    assert_eq!(from.as_str(), alice, "{label}: a message from {from}");
    let number: usize = text.parse().expect("a streamed message's text");
    match number.cmp(&expected) {
        std::cmp::Ordering::Equal => {}
        std::cmp::Ordering::Less => panic!("{label}: bob showed #{number} again (duplicate)"),
        std::cmp::Ordering::Greater => {
            panic!("{label}: bob showed #{number} before #{expected} (lost or reordered)")
        }
    }
}

/// What one group-size run measured.
struct Fanout {
    members: usize,
    startup: Duration,
    first_send: Duration,
    stats: Stats,
}

/// Group fan-out (durable stores): one sender and `m` members; times Send → Sent (every
/// member acked).
async fn group_fanout(m: usize, tracker: SocketAddr) -> Fanout {
    let group: GroupName = format!("bench{m}").parse().unwrap();
    let t = Instant::now();
    let mut sender = start_node(&format!("s{m}"), tracker, Store::Durable, sender_events).await;
    sender
        .handle
        .send(Command::Join(group.clone()))
        .await
        .unwrap();
    let mut members = Vec::with_capacity(m);
    for i in 0..m {
        let node = start_node(&format!("m{m}x{i}"), tracker, Store::Durable, no_events).await;
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
        (m, 0, 0),
        "warm-up group message not delivered to everyone"
    );
    let first_send = t.elapsed();
    let text = ping(0).text;
    let stats = time_trips(GROUP_SENDS, async |_| {
        let got = sender.send_and_wait(target.clone(), text.clone()).await;
        assert_eq!(got, (m, 0, 0), "group message not delivered to everyone");
    })
    .await;
    sender.quit().await;
    for node in members {
        node.quit().await;
    }
    Fanout {
        members: m,
        startup,
        first_send,
        stats,
    }
}

/// Everything one run measured.
struct Results {
    plain: Stats,
    noise: Stats,
    crypto: Stats,
    private_durable: Stats,
    private_ephemeral: Stats,
    rounds: Vec<Round>,
    fanouts: Vec<Fanout>,
    total: Duration,
}

impl Results {
    /// The best round's rate for `store` (noise only ever slows a round down).
    fn best_rate(&self, store: Store) -> f64 {
        self.rounds
            .iter()
            .filter(|r| r.store == store)
            .map(Round::rate)
            .fold(0.0, f64::max)
    }

    fn rates(&self, store: Store) -> Vec<f64> {
        let rounds = self.rounds.iter().filter(|r| r.store == store);
        rounds.map(Round::rate).collect()
    }
}

async fn bench() -> Results {
    let tracker_dir = tempfile::tempdir().unwrap();
    let started = Instant::now();

    let plain = baseline_plain().await;
    let noise = baseline_noise().await;
    let crypto = sign_verify().await;
    let (tracker, stop_tracker) = start_tracker(&tracker_dir).await;
    let (private_durable, private_ephemeral) = private_messages(tracker).await;
    let mut rounds = Vec::new();
    for _ in 0..STREAM_ROUNDS {
        for store in [Store::Ephemeral, Store::Durable] {
            rounds.push(stream(tracker, store).await);
        }
    }
    let mut fanouts = Vec::new();
    for m in GROUP_SIZES {
        fanouts.push(group_fanout(m, tracker).await);
    }
    stop_tracker.cancel();
    Results {
        plain,
        noise,
        crypto,
        private_durable,
        private_ephemeral,
        rounds,
        fanouts,
        total: started.elapsed(),
    }
}

fn row(name: &str, stats: &Stats, ratios: &str) {
    println!(
        "{name:<36} {:>6} {:>10.1} {:>10.1}  {ratios}",
        stats.samples.len(),
        us(stats.median()),
        us(stats.p99()),
    );
}

fn print_table(r: &Results) {
    let a = us(r.plain.median());
    let b = us(r.noise.median());
    println!();
    println!("natter latency (one process, 127.0.0.1; ratios are of medians, same run)");
    println!(
        "{:<36} {:>6} {:>10} {:>10}  ratios",
        "measurement", "n", "median µs", "p99 µs"
    );
    row("A: plain framed JSON round trip", &r.plain, "1.0 × A");
    row(
        "B: Noise framed JSON round trip",
        &r.noise,
        &format!("{:.2} × A", b / a),
    );
    row(
        "C: Ed25519 sign + verify (CPU)",
        &r.crypto,
        &format!("{:.2} × A", us(r.crypto.median()) / a),
    );
    for (store, stats) in [
        (Store::Durable, &r.private_durable),
        (Store::Ephemeral, &r.private_ephemeral),
    ] {
        row(
            &format!("private send → Sent, {}", store.label()),
            stats,
            &format!(
                "{:.1} × B (p99 {:.1} × B's p99)",
                us(stats.median()) / b,
                us(stats.p99()) / us(r.noise.p99())
            ),
        );
    }
    println!(
        "  durable / ephemeral: median {:.2} ×, p99 {:.2} ×",
        us(r.private_durable.median()) / us(r.private_ephemeral.median()),
        us(r.private_durable.p99()) / us(r.private_ephemeral.p99())
    );
    for f in &r.fanouts {
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
    for f in &r.fanouts {
        println!(
            "  group of {}: startup + join {:.0} ms, first send (opens {} links) {:.1} ms",
            f.members,
            f.startup.as_secs_f64() * 1e3,
            f.members,
            f.first_send.as_secs_f64() * 1e3
        );
    }
    println!();
    println!(
        "1:1 throughput ({} × {}-byte private messages per round, ≤{} unacknowledged; \
         every one shown once, in order)",
        STREAM_MESSAGES, STREAM_TEXT_BYTES, STREAM_IN_FLIGHT
    );
    for store in [Store::Durable, Store::Ephemeral] {
        let rounds: Vec<String> = r.rates(store).iter().map(|x| format!("{x:.0}")).collect();
        println!(
            "  {:<10} best {:>8.0} msg/s   rounds: {}",
            store.label(),
            r.best_rate(store),
            rounds.join(", ")
        );
    }
    println!(
        "  durable / ephemeral (best rounds): {:.2} ×",
        r.best_rate(Store::Durable) / r.best_rate(Store::Ephemeral)
    );
    println!("total {:.1} s", r.total.as_secs_f64());
}

fn stats_json(stats: &Stats) -> Value {
    json!({
        "n": stats.samples.len(),
        "p50_us": us(stats.median()),
        "p99_us": us(stats.p99()),
    })
}

fn to_json(r: &Results) -> Value {
    let b = r.noise.median();
    let private = |stats: &Stats| {
        let mut v = stats_json(stats);
        v["p50_over_noise"] = json!(us(stats.median()) / us(b));
        v["p99_over_noise_p99"] = json!(us(stats.p99()) / us(r.noise.p99()));
        v
    };
    let throughput = |store| {
        json!({
            "best_msg_per_s": r.best_rate(store),
            "rounds_msg_per_s": r.rates(store),
        })
    };
    let fanouts: Vec<Value> = r
        .fanouts
        .iter()
        .map(|f| {
            let mut v = stats_json(&f.stats);
            v["members"] = json!(f.members);
            v["startup_ms"] = json!(f.startup.as_secs_f64() * 1e3);
            v["first_send_ms"] = json!(f.first_send.as_secs_f64() * 1e3);
            v
        })
        .collect();
    json!({
        "commit": git(&["rev-parse", "HEAD"]),
        "dirty": git(&["status", "--porcelain"]).map(|s| !s.is_empty()),
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "cores": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "baselines": {
            "plain_round_trip": stats_json(&r.plain),
            "noise_round_trip": stats_json(&r.noise),
            "sign_verify": stats_json(&r.crypto),
        },
        "private_latency": {
            "durable": private(&r.private_durable),
            "ephemeral": private(&r.private_ephemeral),
            "durable_over_ephemeral_p50":
                us(r.private_durable.median()) / us(r.private_ephemeral.median()),
            "durable_over_ephemeral_p99":
                us(r.private_durable.p99()) / us(r.private_ephemeral.p99()),
        },
        "throughput": {
            "messages_per_round": STREAM_MESSAGES,
            "text_bytes": STREAM_TEXT_BYTES,
            "max_in_flight": STREAM_IN_FLIGHT,
            "durable": throughput(Store::Durable),
            "ephemeral": throughput(Store::Ephemeral),
            "durable_over_ephemeral":
                r.best_rate(Store::Durable) / r.best_rate(Store::Ephemeral),
        },
        "group_fanout": fanouts,
        "total_s": r.total.as_secs_f64(),
    })
}

/// `git args` in this checkout, trimmed; `None` when git is not there to ask.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `bench-latency.json` in the target directory this bench was built in.
fn json_path() -> PathBuf {
    // The bench runs as <target>/<profile>/deps/latency-<hash>.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).map(PathBuf::from);
    let target =
        target.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("bench-latency.json")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(170), bench())
            .await
            .expect("benchmark over its three-minute budget")
    });
    print_table(&results);
    let path = json_path();
    let text = serde_json::to_string_pretty(&to_json(&results)).unwrap();
    std::fs::write(&path, text + "\n").unwrap();
    println!("wrote {}", path.display());
}
