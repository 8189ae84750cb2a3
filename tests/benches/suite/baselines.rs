//! The baselines every ratio of the run is taken against, all between two processes on
//! 127.0.0.1 with Nagle off (as the node sets its links): a length-framed JSON round trip,
//! plain (`plain_rtt`) and over a Noise XX link (`noise_rtt`, and halved, `noise_one_way`:
//! the raw one-hop time); Ed25519 sign + verify (`sign_verify`, CPU only); and the raw
//! fan-out of one Noise frame to N sockets, each answered by a small ack (`fanout_N`).
//!
//! The far side is `suite --child baselines-echo plain|noise` (echoes every frame) or
//! `suite --child baselines-fanout N` (accepts N Noise links, acks every frame).

use std::net::SocketAddr;

use futures::{Sink, SinkExt, Stream, StreamExt};
use natter_protocol::secure::{self, DEFAULT_HANDSHAKE_TIMEOUT, SecureFramed};
use natter_protocol::{FrameCodec, Identity, testkit};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::codec::Framed;

use crate::child::{ChildProc, say};
use crate::report::{Measure, Report, Row};
use crate::stats::{Stats, time_trips};

const SECTION: &str = "baselines";
/// Round trips per echo baseline (and sign + verify rounds), after [`WARM_UP`].
const TRIPS: usize = 2000;
const WARM_UP: usize = 100;
/// Fan-out widths, each reported as `fanout_N`.
pub const FANOUTS: [usize; 3] = [10, 100, 500];

/// The text of a ~100-byte frame, shaped like a small chat message.
pub const TEXT: &str = "the quick brown fox jumps over the lazy dog, twice";

/// A ~100-byte frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ping {
    id: u64,
    from: String,
    text: String,
    sent_at: u64,
}

fn ping(id: u64) -> Ping {
    Ping {
        id,
        from: "alice".into(),
        text: TEXT.into(),
        sent_at: 1_700_000_000_000,
    }
}

/// What a fan-out receiver answers to each frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ack {
    id: u64,
}

pub async fn run(report: &mut Report) {
    let plain = echo_trips("plain").await;
    let plain_p50 = Measure::Latency(plain.clone()).value();
    let row = Row::new(
        SECTION,
        "plain_rtt",
        "plain framed JSON round trip",
        m(plain),
    );
    report.add(row);
    let noise = echo_trips("noise").await;
    let one_way = noise.halved();
    let row = Row::new(
        SECTION,
        "noise_rtt",
        "Noise framed JSON round trip",
        m(noise),
    );
    report.add(row.versus("plain round trip", plain_p50));
    let row = Row::new(
        SECTION,
        "noise_one_way",
        "Noise one-way (round trip / 2)",
        m(one_way),
    );
    report.add(row.note("what one hop's targets compare with"));
    let row = Row::new(
        SECTION,
        "sign_verify",
        "Ed25519 sign + verify, 100 B (CPU)",
        m(sign_verify().await),
    );
    report.add(row);
    for n in FANOUTS {
        let label = format!("raw Noise fan-out to {n} sockets, all acked");
        let row = Row::new(SECTION, &format!("fanout_{n}"), &label, m(fanout(n).await));
        report.add(row.note(format!(
            "one task: {n} encrypted writes, then {n} acks read"
        )));
    }
}

fn m(stats: Stats) -> Measure {
    Measure::Latency(stats)
}

/// The far side: `baselines-echo plain|noise` or `baselines-fanout N`.
pub async fn child(mode: &str, args: &[String]) {
    match (mode, args) {
        ("baselines-echo", [kind]) => echo_child(kind).await,
        ("baselines-fanout", [n]) => fanout_child(n.parse().expect("baselines-fanout N")).await,
        _ => panic!("no child mode {mode:?} with {args:?}"),
    }
}

/// Round trips to a `baselines-echo KIND` child.
async fn echo_trips(kind: &str) -> Stats {
    let mut echo = ChildProc::spawn("baselines-echo", &[kind.to_owned()]);
    let addr: SocketAddr = echo.parse().await;
    let stream = connect(addr).await;
    let stats = if kind == "plain" {
        ping_pong(Framed::new(stream, FrameCodec::<Ping, Ping>::default())).await
    } else {
        ping_pong(noise_link::<Ping>(stream, &testkit::identity()).await).await
    };
    echo.finish().await;
    stats
}

/// A TCP connection to `addr` with Nagle off.
async fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the child");
    stream.set_nodelay(true).unwrap();
    stream
}

/// The initiator's side of a Noise link on `stream`, sending [`Ping`]s.
async fn noise_link<In>(stream: TcpStream, me: &Identity) -> SecureFramed<TcpStream, In, Ping>
where
    In: serde::de::DeserializeOwned,
{
    let (link, _) = secure::initiate(stream, me, None, DEFAULT_HANDSHAKE_TIMEOUT)
        .await
        .expect("the Noise handshake with the child");
    link
}

/// Times [`TRIPS`] round trips on an echoing link (after [`WARM_UP`]), then closes it.
async fn ping_pong<L>(mut link: L) -> Stats
where
    L: Sink<Ping> + Stream + Unpin,
    <L as Sink<Ping>>::Error: std::fmt::Debug,
{
    time_trips(WARM_UP, TRIPS, async |i| {
        link.send(ping(i)).await.unwrap();
        link.next().await.expect("the echo");
    })
    .await
}

/// Ed25519 sign + verify of a ~100-byte message, CPU only (the node signs each message
/// once and each recipient verifies it).
async fn sign_verify() -> Stats {
    let id = Identity::generate().unwrap();
    let key = id.public_key();
    let body = serde_json::to_vec(&ping(0)).unwrap();
    time_trips(WARM_UP, TRIPS, async |_| {
        let sig = id.sign(&body);
        assert!(key.verify(&body, &sig));
    })
    .await
}

/// One frame written to `n` Noise links of a `baselines-fanout n` child, until all `n`
/// acks are back.
async fn fanout(n: usize) -> Stats {
    let mut acker = ChildProc::spawn("baselines-fanout", &[n.to_string()]);
    let addr: SocketAddr = acker.parse().await;
    let me = testkit::identity();
    let mut links = Vec::with_capacity(n);
    for _ in 0..n {
        links.push(noise_link::<Ack>(connect(addr).await, &me).await);
    }
    let trips = (20_000 / n).clamp(50, 1000);
    let stats = time_trips(10, trips, async |i| {
        for link in &mut links {
            link.send(ping(i)).await.unwrap();
        }
        for link in &mut links {
            let ack = link.next().await.expect("an ack").unwrap();
            assert_eq!(ack.id, i, "an ack for another frame");
        }
    })
    .await;
    drop(links);
    acker.finish().await;
    stats
}

/// Binds 127.0.0.1:0 and tells the bench where.
async fn listen() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    say(listener.local_addr().unwrap());
    listener
}

/// `baselines-echo KIND`: echoes every frame of one connection until it closes.
async fn echo_child(kind: &str) {
    let listener = listen().await;
    let (stream, _) = listener.accept().await.unwrap();
    stream.set_nodelay(true).unwrap();
    match kind {
        "plain" => echo(Framed::new(stream, FrameCodec::<Ping, Ping>::default())).await,
        "noise" => {
            let me = testkit::identity();
            let (link, _) = secure::accept::<_, Ping, Ping>(stream, &me, DEFAULT_HANDSHAKE_TIMEOUT)
                .await
                .unwrap();
            echo(link).await;
        }
        other => panic!("baselines-echo plain|noise, not {other:?}"),
    }
}

async fn echo<L, E>(mut link: L)
where
    L: Sink<Ping> + Stream<Item = Result<Ping, E>> + Unpin,
{
    while let Some(Ok(p)) = link.next().await {
        if link.send(p).await.is_err() {
            break;
        }
    }
}

/// `baselines-fanout N`: accepts `n` Noise links and acks every frame on each, until they
/// close.
async fn fanout_child(n: usize) {
    let listener = listen().await;
    let me = std::sync::Arc::new(testkit::identity());
    let mut links = JoinSet::new();
    for _ in 0..n {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let me = me.clone();
        links.spawn(async move {
            let (mut link, _) =
                secure::accept::<_, Ping, Ack>(stream, &me, DEFAULT_HANDSHAKE_TIMEOUT)
                    .await
                    .unwrap();
            while let Some(Ok(p)) = link.next().await {
                if link.send(Ack { id: p.id }).await.is_err() {
                    break;
                }
            }
        });
    }
    while links.join_next().await.is_some() {}
}
