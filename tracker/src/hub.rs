//! The one task that owns the registry: connections talk to it over a bounded channel.
//!
//! It applies each command to the [`Registry`], writes the state file when membership
//! changed and only then hands the resulting frames to the connections' outgoing queues
//! (so a frame a peer has seen is never lost by a crash). It never waits on a connection:
//! a peer whose queue is full is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{GroupName, Name, PublicKey};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use crate::registry::{ConnId, Outcome, Registry};
use crate::state_file;

/// Commands queued to the hub before connections wait for room.
const HUB_QUEUE: usize = 1024;
/// Commands applied together before one state-file write.
const BATCH: usize = 64;

/// What a connection tells the hub.
#[derive(Debug)]
pub enum HubCommand {
    /// A hello with the right version. `queue` is where this connection's frames go; the
    /// hub drops it (ending the connection after its queued frames) to close the link, and
    /// cancels `kill` to end it at once. `key` is the identity the connection's handshake
    /// authenticated.
    Hello {
        conn: ConnId,
        name: Name,
        key: PublicKey,
        addr: SocketAddr,
        groups: Vec<GroupName>,
        queue: mpsc::Sender<TrackerToPeer>,
        kill: CancellationToken,
    },
    /// A request after the hello.
    Request {
        conn: ConnId,
        request: PeerToTracker,
    },
    /// The connection ended.
    Gone { conn: ConnId },
}

/// A cloneable sender to the hub.
#[derive(Debug, Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<HubCommand>,
}

impl HubHandle {
    /// Queues `command`; false when the hub has stopped.
    pub async fn send(&self, command: HubCommand) -> bool {
        self.tx.send(command).await.is_ok()
    }
}

struct Link {
    queue: mpsc::Sender<TrackerToPeer>,
    kill: CancellationToken,
}

/// The registry's owner.
pub struct Hub {
    registry: Registry,
    links: HashMap<ConnId, Link>,
    state_file: PathBuf,
    rx: mpsc::Receiver<HubCommand>,
}

impl Hub {
    pub fn new(registry: Registry, state_file: PathBuf) -> (Self, HubHandle) {
        let (tx, rx) = mpsc::channel(HUB_QUEUE);
        let hub = Self {
            registry,
            links: HashMap::new(),
            state_file,
            rx,
        };
        (hub, HubHandle { tx })
    }

    /// Serves commands until `shutdown` is cancelled or every handle is dropped.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.apply_batch(batch.drain(..)).await;
                }
            }
        }
        tracing::debug!("hub stopped");
    }

    async fn apply_batch(&mut self, commands: impl Iterator<Item = HubCommand>) {
        let mut outcomes = Vec::new();
        let mut changed = false;
        for command in commands {
            let outcome = self.apply(command);
            changed |= outcome.changed;
            outcomes.push(outcome);
        }
        if changed {
            self.persist().await;
        }
        for outcome in outcomes {
            self.deliver(outcome);
        }
    }

    fn apply(&mut self, command: HubCommand) -> Outcome {
        match command {
            HubCommand::Hello {
                conn,
                name,
                key,
                addr,
                groups,
                queue,
                kill,
            } => {
                self.links.insert(conn, Link { queue, kill });
                let outcome = self.registry.hello(conn, name.clone(), key, addr, groups);
                if outcome.close.is_none() {
                    tracing::info!(conn, name = %name, key = %key, addr = %addr, "peer online");
                } else {
                    tracing::info!(conn, name = %name, key = %key, addr = %addr, "hello refused");
                }
                outcome
            }
            HubCommand::Request { conn, request } => {
                match (&request, self.registry.name_of(conn)) {
                    (PeerToTracker::Join { group }, Some(name)) => {
                        tracing::info!(conn, name = %name, group = %group, "join");
                    }
                    (PeerToTracker::Leave { group }, Some(name)) => {
                        tracing::info!(conn, name = %name, group = %group, "leave");
                    }
                    _ => {}
                }
                self.registry.apply(conn, request)
            }
            HubCommand::Gone { conn } => {
                self.links.remove(&conn);
                if let Some(name) = self.registry.name_of(conn) {
                    tracing::info!(conn, name = %name, "peer offline");
                }
                self.registry.disconnect(conn)
            }
        }
    }

    /// Writes the state file; a failure is logged and the tracker goes on in memory.
    async fn persist(&self) {
        let bytes = match state_file::encode(self.registry.groups(), self.registry.keys()) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the state");
                return;
            }
        };
        let path = self.state_file.clone();
        match tokio::task::spawn_blocking(move || state_file::write_atomic(&path, &bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "membership not saved"),
            Err(e) => tracing::error!(error = %e, "state writer failed"),
        }
    }

    fn deliver(&mut self, outcome: Outcome) {
        for (conn, frame) in outcome.pushes {
            let Some(link) = self.links.get(&conn) else {
                continue;
            };
            match link.queue.try_send(frame) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(conn, "outgoing queue full, dropping slow peer");
                    if let Some(link) = self.links.remove(&conn) {
                        link.kill.cancel();
                    }
                }
                Err(TrySendError::Closed(_)) => {
                    self.links.remove(&conn);
                }
            }
        }
        if let Some(conn) = outcome.close {
            // Dropping the only sender lets the connection send what is queued, then close.
            self.links.remove(&conn);
        }
    }
}
