//! The accept loop: loads the state and the tracker's key, starts the hub, and serves each
//! connection in its own task through the shared network shell ([`natter_protocol::net`]):
//! at most `max_connections` registered peers, `max_unauthenticated` connections still in
//! their handshake or hello (a newcomer evicts the oldest of those) and
//! `max_connections_per_ip` from one address, until the shutdown token is cancelled.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use natter_protocol::net::{self, Admission, Limits};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Settings};
use crate::hub::Hub;
use crate::registry::Registry;
use crate::{Config, load_identity, state_file};

/// How long connections get to wind down at shutdown.
const DRAIN: Duration = Duration::from_secs(2);

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
    let settings = Arc::new(Settings {
        heartbeat: config.heartbeat,
        max_frame: config.max_frame,
        handshake_timeout: config.handshake_timeout,
        identity,
        probes: Arc::new(tokio::sync::Semaphore::new(config.max_probes)),
        shutdown: shutdown.clone(),
    });
    let local = listener.local_addr().context("listener has no address")?;
    tracing::info!(addr = %local, groups, key = %key, state = %config.state_file.display(), "tracker serving");

    let limits = Limits::new(
        config.max_connections,
        config.max_unauthenticated,
        config.max_connections_per_ip,
    )
    .exempting_loopback(!config.limit_loopback);
    let tasks = TaskTracker::new();
    net::serve(
        listener,
        Admission::new(limits),
        &tasks,
        shutdown.clone(),
        |stream, ticket| connection::serve(stream, ticket, handle.clone(), settings.clone()),
    )
    .await;

    tasks.close();
    if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
        tracing::warn!("connections did not finish in time");
    }
    drop(handle);
    hub_task.await.context("the registry task failed")?;
    tracing::info!("tracker stopped");
    Ok(())
}
