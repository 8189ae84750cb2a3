//! The accept loop: loads the state, starts the hub, and serves each connection in its own
//! task, at most `max_connections` at once, until the shutdown token is cancelled.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Settings};
use crate::hub::Hub;
use crate::registry::Registry;
use crate::{Config, state_file};

/// How long connections get to wind down at shutdown.
const DRAIN: Duration = Duration::from_secs(2);
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves until `shutdown` is cancelled. Loads the state file first: a missing file is an
/// empty registry, a corrupt one is an error (nothing is served).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = state_file::load(&config.state_file)?;
    let groups = state.groups.len();
    let heartbeat_secs = config.heartbeat.as_secs_f64().ceil().max(1.0) as u64;
    let registry = Registry::new(state, heartbeat_secs);
    let (hub, handle) = Hub::new(registry, config.state_file.clone());
    let hub_task = tokio::spawn(hub.run(shutdown.clone()));
    let settings = Settings {
        heartbeat: config.heartbeat,
        max_frame: config.max_frame,
    };
    let local = listener.local_addr().context("listener has no address")?;
    tracing::info!(addr = %local, groups, state = %config.state_file.display(), "tracker serving");

    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
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
        let _ = stream.set_nodelay(true);
        next_conn += 1;
        let conn = next_conn;
        tracing::debug!(conn, peer = %remote, "accepted");
        let hub = handle.clone();
        let token = shutdown.child_token();
        tasks.spawn(async move {
            connection::serve(stream, remote, conn, hub, settings, token).await;
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
