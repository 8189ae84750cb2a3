//! A bounded loopback connection flood against a running tracker, to measure what it
//! costs (see the README's "Memory under a connection flood").
//!
//! `flood ADDR silent N HOLD_SECS`: opens N TCP connections that never send a byte, holds
//! them HOLD_SECS, then closes them all. `flood ADDR handshake N CONCURRENCY`: N Noise
//! handshakes (as a fresh identity each time), at most CONCURRENCY at once, each closed
//! right after the handshake. Every connect and handshake has a timeout, so the run is
//! bounded in count and in time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use natter_protocol::Identity;
use natter_protocol::secure;
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: flood ADDR (silent N HOLD_SECS | handshake N CONCURRENCY)";
    let [_, addr, mode, n, extra] = args.as_slice() else {
        anyhow::bail!(usage);
    };
    let addr: SocketAddr = addr.parse().context("ADDR")?;
    let n: usize = n.parse().context("N")?;
    let extra: u64 = extra.parse().context(usage)?;
    match mode.as_str() {
        "silent" => silent(addr, n, Duration::from_secs(extra)).await,
        "handshake" => handshakes(addr, n, usize::try_from(extra)?.max(1)).await,
        _ => anyhow::bail!(usage),
    }
}

async fn silent(addr: SocketAddr, n: usize, hold: Duration) -> anyhow::Result<()> {
    let mut held = Vec::with_capacity(n);
    let mut failed = 0usize;
    for _ in 0..n {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => held.push(stream),
            _ => failed += 1,
        }
    }
    println!("silent: {} connected, {failed} failed", held.len());
    tokio::time::sleep(hold).await;
    drop(held);
    Ok(())
}

async fn handshakes(addr: SocketAddr, n: usize, concurrency: usize) -> anyhow::Result<()> {
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let permit = limit.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let _permit = permit;
            let identity = Identity::generate().ok()?;
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                .await
                .ok()?
                .ok()?;
            let done = secure::initiate::<_, TrackerToPeer, PeerToTracker>(
                stream,
                &identity,
                None,
                secure::DEFAULT_HANDSHAKE_TIMEOUT,
            )
            .await;
            done.ok().map(|_| ())
        });
    }
    let mut ok = 0usize;
    let mut failed = 0usize;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some(())) => ok += 1,
            _ => failed += 1,
        }
    }
    println!("handshake: {ok} done, {failed} failed");
    Ok(())
}
