//! The accept loop: loads the state and the tracker's key, starts the hub, and serves each
//! connection in its own task, at most `max_connections` at once and
//! `max_connections_per_ip` from one address, until the shutdown token is cancelled.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Settings};
use crate::hub::Hub;
use crate::limits::PerIp;
use crate::registry::Registry;
use crate::{Config, load_identity, state_file};

/// How long connections get to wind down at shutdown.
const DRAIN: Duration = Duration::from_secs(2);
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves until `shutdown` is cancelled. Loads the state file first: a missing file is an
/// empty registry, a corrupt one is an error (nothing is served). The identity is
/// `config.identity`, or else loaded from (or created at) `config.key_file`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let identity = match &config.identity {
        Some(identity) => identity.clone(),
        None => Arc::new(load_identity(&config.key_file)?),
    };
    let state = state_file::load(&config.state_file)?;
    let groups = state.groups.len();
    let heartbeat_secs = config.heartbeat.as_secs_f64().ceil().max(1.0) as u64;
    let registry = Registry::new(state, heartbeat_secs);
    let (hub, handle) = Hub::new(
        registry,
        config.state_file.clone(),
        config.presence_save_delay,
    );
    let hub = hub.exempting_loopback(!config.limit_loopback);
    let hub_task = tokio::spawn(hub.run(shutdown.clone()));
    let key = identity.public_key();
    let settings = Settings {
        heartbeat: config.heartbeat,
        max_frame: config.max_frame,
        handshake_timeout: config.handshake_timeout,
        identity,
    };
    let local = listener.local_addr().context("listener has no address")?;
    tracing::info!(addr = %local, groups, key = %key, state = %config.state_file.display(), "tracker serving");

    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let per_ip = Arc::new(Mutex::new(
        PerIp::new(config.max_connections_per_ip).exempting_loopback(!config.limit_loopback),
    ));
    let tasks = TaskTracker::new();
    let mut next_conn = 0u64;
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        let Some(slot) = IpSlot::acquire(&per_ip, remote.ip()) else {
            tracing::info!(peer = %remote, "too many connections from this address, closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        next_conn += 1;
        let conn = next_conn;
        tracing::debug!(conn, peer = %remote, "accepted");
        let hub = handle.clone();
        let token = shutdown.child_token();
        let settings = settings.clone();
        tasks.spawn(async move {
            connection::serve(stream, remote, conn, hub, settings, token).await;
            drop(slot);
            drop(permit);
        });
    }

    tasks.close();
    if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
        tracing::warn!("connections did not finish in time");
    }
    drop(handle);
    hub_task.await.context("the registry task failed")?;
    tracing::info!("tracker stopped");
    Ok(())
}

/// One connection's place in the per-address count, given back when dropped. The lock is
/// only ever held for a map update, never across an `.await`.
struct IpSlot {
    per_ip: Arc<Mutex<PerIp>>,
    ip: IpAddr,
}

impl IpSlot {
    fn acquire(per_ip: &Arc<Mutex<PerIp>>, ip: IpAddr) -> Option<Self> {
        let mut counts = per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.acquire(ip).then(|| Self {
            per_ip: per_ip.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.release(self.ip);
    }
}
