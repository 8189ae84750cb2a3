//! `noise_link_baseline`: resident memory per idle Noise link alone, the floor under both
//! figures of this section. A child process (`suite --child memory-noise`) accepts links
//! with the protocol's own handshake and codec (`natter_protocol::secure`), echoes one
//! frame on each and then holds it idle; nothing else is kept per link. The parent opens
//! them in two steps and reads the child's VmRSS, as for the tracker.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::secure::{self, SecureFramed};
use natter_protocol::testkit;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use super::{SECTION, SETTLE, kib, mib, rss};
use crate::report::{Measure, Report, Row};

/// Idle links measured, opened in two equal steps (as many as the tracker's peers).
const K: usize = 1000;
/// Links opened (and not counted) before the first reading.
const WARM_UP: usize = 8;
/// Handshakes in flight at once.
const CONNECTING: usize = 32;
/// Bytes of text in the frame each link carries each way: about a small member list.
const FRAME_TEXT: usize = 1024;
const HANDSHAKE: Duration = Duration::from_secs(5);

type Link = SecureFramed<TcpStream, Value, Value>;

/// What the section's other rows are compared with.
pub const BASELINE: &str = "idle Noise link";

/// Opens one link to `addr`, sends a frame and waits for its echo.
async fn open(addr: SocketAddr) -> Link {
    let stream = TcpStream::connect(addr).await.unwrap();
    let me = testkit::identity();
    let (mut link, _) = secure::initiate(stream, &me, None, HANDSHAKE)
        .await
        .unwrap();
    let frame = json!({ "type": "hello", "text": "x".repeat(FRAME_TEXT) });
    link.send(frame.clone()).await.unwrap();
    let echo = testkit::within("an echo", link.next()).await;
    assert_eq!(echo.map(Result::ok), Some(Some(frame)), "the echo");
    link
}

async fn open_many(addr: SocketAddr, n: usize, links: &mut Vec<Link>) {
    let opened: Vec<Link> = futures::stream::iter(0..n)
        .map(|_| open(addr))
        .buffer_unordered(CONNECTING)
        .collect()
        .await;
    links.extend(opened);
}

/// Measures the floor; returns it (bytes per link) for the other rows to compare with.
pub async fn run(report: &mut Report) -> f64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--child", "memory-noise"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(crate::util::WAIT, stdout.next_line())
        .await
        .expect("the memory-noise child reports its address")
        .unwrap()
        .expect("the memory-noise child's first line");
    let addr: SocketAddr = line.strip_prefix("listening ").unwrap().parse().unwrap();

    let mut links = Vec::with_capacity(WARM_UP + K);
    open_many(addr, WARM_UP, &mut links).await;
    tokio::time::sleep(SETTLE).await;
    let before = rss(pid);
    open_many(addr, K / 2, &mut links).await;
    tokio::time::sleep(SETTLE).await;
    let half = rss(pid);
    open_many(addr, K / 2, &mut links).await;
    tokio::time::sleep(SETTLE).await;
    let after = rss(pid);
    drop(links);
    let _ = child.kill().await;

    let per = after.saturating_sub(before) as f64 / K as f64;
    let second = after.saturating_sub(half) as f64 / (K / 2) as f64;
    report.add(
        Row::new(
            SECTION,
            "noise_link_baseline",
            "per idle Noise link (the protocol's codec alone)",
            Measure::Bytes(per),
        )
        .note(format!(
            "{K} links, a {FRAME_TEXT}-byte frame each way, then idle; VmRSS {} → {} → {}; \
             second half alone {} each",
            mib(before),
            mib(half),
            mib(after),
            kib(second)
        )),
    );
    per
}

/// `memory-noise`: accepts Noise links, echoes the first frame on each, then holds it
/// until it closes.
pub async fn child() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening {}", listener.local_addr().unwrap());
    let me = std::sync::Arc::new(testkit::identity());
    while let Ok((stream, _)) = listener.accept().await {
        let me = me.clone();
        tokio::spawn(async move {
            let Ok((mut link, _)) = secure::accept::<_, Value, Value>(stream, &me, HANDSHAKE).await
            else {
                return;
            };
            if let Some(Ok(frame)) = link.next().await
                && link.send(frame).await.is_ok()
            {
                while let Some(Ok(_)) = link.next().await {}
            }
        });
    }
}
