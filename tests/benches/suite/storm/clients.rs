//! `node_api_1000`: 1,000 peers join one group at a tracker running in this process.
//!
//! The peers are protocol-level tracker clients (the Noise handshake, a hello, then a
//! `join`), each in its own task, keeping its list from the tracker's frames with the
//! front ends' `apply_change`. Not 1,000 full `natter::node` nodes: a node that sees a
//! member join dials it for a history-sync ask, so a storm of N nodes opens about N²/2
//! peer-to-peer connections (500,000 Noise handshakes and a million sockets in one
//! process for N = 1,000; the `real_300` storm shows that cost at 300). This measures
//! what the tracker and the member-list pushes cost, which is what the target is about.
//!
//! Bytes are counted where the peers read them: every client's TCP stream is wrapped in a
//! counter, so the figure is the tracker's encrypted wire bytes (Noise framing included)
//! from the first join until every list is complete, per join.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::secure::{self, SecureFramed};
use natter_protocol::testkit;
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{List, SECTION, differing, in_process, quantile, secs, time_row};
use crate::report::{Measure, Report, Row};

/// Peers in the storm.
const N: usize = 1000;
const GROUP: &str = "storm";
/// The storm's bound, from the first join.
const BOUND: Duration = Duration::from_secs(60);
/// Handshakes and hellos in flight at once while the peers connect.
const CONNECTING: usize = 32;
const GOAL: (&str, Duration) = ("< 2 s", Duration::from_secs(2));
/// The tracker's heartbeat: a peer is dropped after three without a frame from it.
const HEARTBEAT: Duration = Duration::from_secs(60);

/// A TCP stream that counts the bytes read from it.
struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = (buf.filled().len() - before) as u64;
            self.read.fetch_add(n, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Link = SecureFramed<Counted, TrackerToPeer, PeerToTracker>;

/// Connects, handshakes and says hello as `s{i}`; returns the link once welcomed.
async fn register(addr: SocketAddr, i: usize, read: Arc<AtomicU64>) -> Link {
    let inner = TcpStream::connect(addr).await.unwrap();
    let me = testkit::identity();
    let counted = Counted { inner, read };
    let (mut link, _) = secure::initiate(counted, &me, None, testkit::HANDSHAKE)
        .await
        .unwrap();
    let port = 10_000 + u16::try_from(i).unwrap();
    let hello = testkit::tracker_hello(&format!("s{i}"), port, &[] as &[&str]);
    link.send(hello).await.unwrap();
    match testkit::within("a welcome", link.next()).await {
        Some(Ok(TrackerToPeer::Welcome { .. })) => link,
        other => panic!("s{i}: expected a welcome, got {other:?}"),
    }
}

/// What one peer saw of the storm.
#[derive(Debug, Default)]
struct Tally {
    /// `members` and `member_update` frames.
    frames: u64,
    /// Of those, how many came after its list was complete.
    after: u64,
    /// Error frames.
    errors: u64,
    /// The tracker closed the link.
    closed: bool,
    /// Its list when it was told to stop (every link still open).
    last: List,
}

/// One peer: waits for the signal, joins, follows its list; reports when it is complete,
/// then keeps reading until `stop`. Returns the link with the tally, so that no link
/// closes (which every other peer would hear of) before every list has been taken.
async fn follow(
    mut link: Link,
    mut go: watch::Receiver<bool>,
    done: mpsc::UnboundedSender<Instant>,
    stop: CancellationToken,
) -> (Tally, Link) {
    let mut tally = Tally::default();
    if go.wait_for(|go| *go).await.is_err() {
        return (tally, link);
    }
    let join = PeerToTracker::Join {
        group: testkit::group(GROUP),
        req: Some(1),
    };
    if link.send(join).await.is_err() {
        tally.closed = true;
        return (tally, link);
    }
    let mut list = List::default();
    let mut complete = false;
    loop {
        let frame = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            frame = link.next() => frame,
        };
        match frame {
            Some(Ok(TrackerToPeer::Members {
                version, members, ..
            })) => list.full(version, members),
            Some(Ok(TrackerToPeer::MemberUpdate {
                version, change, ..
            })) => list.change(version, &change),
            Some(Ok(TrackerToPeer::Ping { nonce })) => {
                let _ = link.send(PeerToTracker::Pong { nonce }).await;
                continue;
            }
            Some(Ok(TrackerToPeer::Error { .. })) => {
                tally.errors += 1;
                continue;
            }
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => {
                tally.closed = true;
                break;
            }
        }
        tally.frames += 1;
        if complete {
            tally.after += 1;
        } else if list.complete(N) {
            complete = true;
            let _ = done.send(Instant::now());
        }
    }
    tally.last = list;
    (tally, link)
}

pub async fn run(report: &mut Report) {
    let dir = tempfile::tempdir().unwrap();
    let tracker = in_process::start(&dir, |config| {
        config.max_connections_per_ip = 4 * N;
        // 1,000 peers share this process's two cores, so each reads its pushes far slower
        // than a peer on a machine of its own: with the default heartbeat (10 s, dropped
        // after 30 s without a frame) a peer still working through its backlog would be
        // dropped.
        config.heartbeat = HEARTBEAT;
    })
    .await;
    let addr = tracker.addr;
    let read = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let links: Vec<Link> = futures::stream::iter(0..N)
        .map(|i| register(addr, i, read.clone()))
        .buffered(CONNECTING)
        .collect()
        .await;
    let up = started.elapsed();

    let (go, go_rx) = watch::channel(false);
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let tasks: Vec<_> = links
        .into_iter()
        .map(|link| tokio::spawn(follow(link, go_rx.clone(), done_tx.clone(), stop.clone())))
        .collect();
    drop(done_tx);
    // Every task is parked on the signal before it is given.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = read.load(Ordering::Relaxed);
    let cpu_before = in_process::cpu(in_process::THREADS);
    let joined = Instant::now();
    go.send(true).unwrap();
    let deadline = joined + BOUND;
    let mut at = Vec::with_capacity(N);
    while at.len() < N {
        match tokio::time::timeout_at(deadline, done.recv()).await {
            Ok(Some(t)) => at.push(t.duration_since(joined)),
            Ok(None) | Err(_) => break,
        }
    }
    let bytes = read.load(Ordering::Relaxed) - before;
    let cpu_after = in_process::cpu(in_process::THREADS);
    // Anything still coming after the last list was complete shows up in the tallies.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let mut tallies = Vec::with_capacity(N);
    let mut links = Vec::with_capacity(N);
    for task in tasks {
        if let Ok(Ok((tally, link))) = tokio::time::timeout(Duration::from_secs(5), task).await {
            tallies.push(tally);
            links.push(link);
        }
    }
    drop(links);
    tracker.stop().await;

    let finished = at.len() == N;
    let lists: Vec<List> = tallies.iter().map(|t| t.last.clone()).collect();
    let differ = differing(&lists);
    let same = finished && lists.len() == N && differ == 0;
    let done_in = if finished { Ok(at[N - 1]) } else { Err(BOUND) };
    let frames: u64 = tallies.iter().map(|t| t.frames).sum();
    let after: u64 = tallies.iter().map(|t| t.after).sum();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let closed = tallies.iter().filter(|t| t.closed).count();
    let gaps: u32 = lists.iter().map(|l| l.gaps).sum();
    let mut note = format!(
        "{N} protocol-level tracker clients, not full nodes (see storm/clients.rs); {} complete",
        at.len()
    );
    if !at.is_empty() {
        at.sort();
        note += &format!(
            " (first {}, median {}); start-up {}",
            secs(at[0]),
            secs(quantile(&at, 0.5)),
            secs(up)
        );
    }
    let tracker_cpu = cpu_after.1.saturating_sub(cpu_before.1);
    let all_cpu = cpu_after.0.saturating_sub(cpu_before.0);
    note += &format!(
        "; CPU until done: tracker {}, clients {}",
        secs(tracker_cpu),
        secs(all_cpu.saturating_sub(tracker_cpu))
    );
    note += &format!(
        "; final lists identical: {}",
        if same {
            "yes".to_owned()
        } else {
            format!("NO ({differ} differ)")
        }
    );
    if gaps + (after as u32) + (errors as u32) > 0 || closed > 0 {
        note += &format!(
            "; {gaps} version gaps, {after} changes after completion, {errors} errors, {closed} links closed"
        );
    }
    let row = time_row(
        "node_api_1000",
        "join storm, 1,000 at the tracker (in process)",
        done_in,
        GOAL,
        same,
    );
    report.add(row.note(note));
    let joins = N as f64;
    let bytes_row = Row::new(
        SECTION,
        "node_api_1000_bytes_per_join",
        "  tracker wire bytes pushed per join",
        Measure::Bytes(bytes as f64 / joins),
    )
    .note(format!(
        "read by the clients (Noise framing included); {:.0} frames per join, {:.1} MiB in all",
        frames as f64 / joins,
        bytes as f64 / (1024.0 * 1024.0)
    ));
    report.add(bytes_row);
}
