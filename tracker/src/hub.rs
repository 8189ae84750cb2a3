//! The one task that owns the registry: connections talk to it over a bounded channel.
//!
//! It charges each hello, join, leave, status change and governance action to the rate budgets ([`Rates`], per key and per
//! address, so reconnecting or cycling keys refills nothing), applies it to the
//! [`Registry`], and hands the resulting frames to the connections' outgoing queues. A
//! join, a leave or a new name binding is written to the state file before its frames go
//! out (so a membership change a peer has seen is never lost by a crash); presence changes
//! (online, offline) are written at most [`crate::limits::PRESENCE_SAVE_DELAY`] later, at once after
//! [`MAX_UNSAVED_CHANGES`] of them, and at shutdown, so that peers coming and going do not
//! rewrite the whole file each time. It never waits on a connection: a peer whose queue is
//! full is dropped.
//!
//! It is also where the registry's clock comes from: a peer going offline is stamped with
//! the wall clock here ([`unix_millis`]), as its `last_seen`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, GroupName, Name, PublicKey};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::limits::{MAX_UNSAVED_CHANGES, PROBE_COST};
use crate::outbox::{self, Refused};
use crate::queued::Queued;
use crate::rates::Rates;
use crate::registry::{ConnId, Outcome, Registry, Save};
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
    /// authenticated; `addr` is the peer's IP (as the connection came from) and listen
    /// port.
    Hello {
        conn: ConnId,
        name: Name,
        key: PublicKey,
        addr: SocketAddr,
        groups: Vec<GroupName>,
        queue: outbox::Sender,
        kill: CancellationToken,
    },
    /// A request after the hello.
    Request {
        conn: ConnId,
        request: PeerToTracker,
    },
    /// The connection ended.
    Gone { conn: ConnId },
    /// May `conn` have the tracker dial it back (a `probe`)? Charged to its join and
    /// leave budgets; `reply` gets `None` to go ahead, or why not.
    Probe {
        conn: ConnId,
        reply: oneshot::Sender<Option<String>>,
    },
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
    queue: outbox::Sender,
    kill: CancellationToken,
    /// Whom the connection's budgets are charged to.
    key: PublicKey,
    ip: IpAddr,
}

/// The registry's owner.
pub struct Hub {
    registry: Registry,
    rates: Rates,
    links: HashMap<ConnId, Link>,
    state_file: PathBuf,
    rx: mpsc::Receiver<HubCommand>,
    /// When the unsaved presence changes are due to be written (`None`: nothing unsaved).
    save_due: Option<Instant>,
    /// Version bumps not yet written.
    unsaved: usize,
    /// How long presence changes may wait ([`crate::limits::PRESENCE_SAVE_DELAY`] by
    /// default).
    save_delay: Duration,
}

impl Hub {
    pub fn new(registry: Registry, state_file: PathBuf, save_delay: Duration) -> (Self, HubHandle) {
        let (tx, rx) = mpsc::channel(HUB_QUEUE);
        let hub = Self {
            registry,
            rates: Rates::new(),
            links: HashMap::new(),
            state_file,
            rx,
            save_due: None,
            unsaved: 0,
            save_delay,
        };
        (hub, HubHandle { tx })
    }

    /// Leaves loopback peers out of the per-address budgets (see `Config::limit_loopback`).
    pub fn exempting_loopback(mut self, exempt_loopback: bool) -> Self {
        self.rates = std::mem::take(&mut self.rates).exempting_loopback(exempt_loopback);
        self
    }

    /// Serves commands until `shutdown` is cancelled or every handle is dropped; writes
    /// whatever is unsaved before it returns.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let save_due = self.save_due;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.apply_batch(batch.drain(..)).await;
                }
                () = sleep_until(save_due), if save_due.is_some() => self.persist().await,
            }
        }
        if self.save_due.is_some() {
            self.persist().await;
        }
        tracing::debug!("hub stopped");
    }

    async fn apply_batch(&mut self, commands: impl Iterator<Item = HubCommand>) {
        let mut outcomes = Vec::new();
        let mut save = Save::Nothing;
        for command in commands {
            let outcome = self.apply(command);
            save = save.max(outcome.save);
            self.unsaved = self.unsaved.saturating_add(outcome.bumps);
            outcomes.push(outcome);
        }
        if save == Save::Now || self.unsaved >= MAX_UNSAVED_CHANGES {
            self.persist().await;
        } else if save == Save::Soon && self.save_due.is_none() {
            self.save_due = Some(Instant::now() + self.save_delay);
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
                let ip = addr.ip();
                self.links.insert(
                    conn,
                    Link {
                        queue,
                        kill,
                        key,
                        ip,
                    },
                );
                if let Some(cost) = self.registry.hello_cost(conn, &name, &key, &groups) {
                    let joins = u32::try_from(cost.new_joins).unwrap_or(u32::MAX);
                    let charged = self.rates.hello(
                        key,
                        ip,
                        joins.saturating_add(1),
                        cost.new_name,
                        Instant::now().into_std(),
                    );
                    if let Err(refusal) = charged {
                        tracing::warn!(conn, name = %name, key = %key, addr = %addr, ?refusal, "hello refused: rate limited");
                        return rate_limited(conn, None, refusal);
                    }
                }
                let outcome = self.registry.hello(conn, name.clone(), key, addr, groups);
                if outcome.close.is_none() {
                    tracing::info!(conn, name = %name, key = %key, addr = %addr, "peer online");
                } else {
                    tracing::info!(conn, name = %name, key = %key, addr = %addr, "hello refused");
                }
                outcome
            }
            HubCommand::Request { conn, request } => {
                // A status change or a governance action costs what a join does: each is
                // pushed to every member of a group (a `create` costs one join more per
                // participant it adds).
                if let Some((cost, req)) = join_cost(&request)
                    && let Some(link) = self.links.get(&conn)
                    && let Err(refusal) =
                        self.rates
                            .joins(link.key, link.ip, cost, Instant::now().into_std())
                {
                    tracing::warn!(conn, key = %link.key, ip = %link.ip, "too many joins and leaves, connection closed");
                    return rate_limited(conn, req, refusal);
                }
                match (&request, self.registry.name_of(conn)) {
                    (PeerToTracker::Join { group, .. }, Some(name)) => {
                        tracing::info!(conn, name = %name, group = %group, "join");
                    }
                    (PeerToTracker::Leave { group, .. }, Some(name)) => {
                        tracing::info!(conn, name = %name, group = %group, "leave");
                    }
                    (PeerToTracker::Govern { action, .. }, Some(name)) => {
                        let (group, act) = (&action.action.group, action.action.act.kind());
                        tracing::info!(conn, name = %name, group = %group, act, "govern");
                    }
                    (PeerToTracker::SetStatus { status, .. }, Some(name)) => {
                        let set = status.as_ref().is_some_and(|s| !s.is_empty());
                        tracing::info!(conn, name = %name, set, "status");
                    }
                    _ => {}
                }
                self.registry.apply(conn, request)
            }
            HubCommand::Probe { conn, reply } => {
                let refusal = match self.links.get(&conn) {
                    Some(link) => self
                        .rates
                        .joins(link.key, link.ip, PROBE_COST, Instant::now().into_std())
                        .err()
                        .map(|refusal| {
                            tracing::warn!(conn, key = %link.key, ip = %link.ip, "probe refused: rate limited");
                            refusal.message()
                        }),
                    None => Some("the connection is not registered".to_owned()),
                };
                // The connection may have gone meanwhile: nobody to tell.
                let _ = reply.send(refusal);
                Outcome::default()
            }
            HubCommand::Gone { conn } => {
                self.links.remove(&conn);
                if let Some(name) = self.registry.name_of(conn) {
                    tracing::info!(conn, name = %name, "peer offline");
                }
                self.registry.disconnect(conn, unix_millis())
            }
        }
    }

    /// Writes the state file. A failure is logged, the tracker goes on in memory and tries
    /// again after the save delay (or with the next membership change).
    async fn persist(&mut self) {
        let saved = match state_file::encode(self.registry.durable()) {
            Ok(bytes) => {
                let path = self.state_file.clone();
                match tokio::task::spawn_blocking(move || state_file::write_atomic(&path, &bytes))
                    .await
                {
                    Ok(Ok(())) => true,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "membership not saved");
                        false
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "state writer failed");
                        false
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the state");
                false
            }
        };
        if saved {
            self.save_due = None;
            self.unsaved = 0;
        } else {
            self.save_due = Some(Instant::now() + self.save_delay);
        }
    }

    fn deliver(&mut self, outcome: Outcome) {
        // A frame the outcome shares among connections stays one queued frame, so it is
        // serialised once (see `Queued`).
        let mut queued: HashMap<*const TrackerToPeer, Arc<Queued>> = HashMap::new();
        for (conn, frame) in outcome.pushes {
            let Some(link) = self.links.get(&conn) else {
                continue;
            };
            let frame = queued
                .entry(Arc::as_ptr(&frame))
                .or_insert_with(|| Queued::shared(frame))
                .clone();
            match link.queue.try_send(frame) {
                Ok(()) => {}
                Err(Refused::Full) => {
                    tracing::warn!(conn, "outgoing queue full, dropping slow peer");
                    if let Some(link) = self.links.remove(&conn) {
                        link.kill.cancel();
                    }
                }
                Err(Refused::Closed) => {
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

/// What `request` costs the join/leave budgets (in joins), with the request id to echo if
/// it is refused; `None` for a request they do not charge.
fn join_cost(request: &PeerToTracker) -> Option<(u32, Option<natter_protocol::RequestId>)> {
    match request {
        PeerToTracker::Join { req, .. }
        | PeerToTracker::Leave { req, .. }
        | PeerToTracker::SetStatus { req, .. } => Some((1, *req)),
        PeerToTracker::Govern { action, req } => {
            let added = match &action.action.act {
                natter_protocol::govern::Act::Create { participants } => participants.len(),
                _ => 0,
            };
            let cost = u32::try_from(added).unwrap_or(u32::MAX).saturating_add(1);
            Some((cost, *req))
        }
        _ => None,
    }
}

/// Refuses `conn` for running out of a rate budget (in answer to request `req`, if one),
/// and closes it.
fn rate_limited(
    conn: ConnId,
    req: Option<natter_protocol::RequestId>,
    refusal: crate::rates::Refusal,
) -> Outcome {
    Outcome {
        pushes: vec![(
            conn,
            Arc::new(TrackerToPeer::Error {
                code: ErrorCode::RateLimited,
                message: refusal.message(),
                req,
            }),
        )],
        close: Some(conn),
        ..Outcome::default()
    }
}

/// The wall clock as Unix milliseconds (0 for a clock set before 1970).
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sleeps until `due` (never called without one).
async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use natter_protocol::govern::{Act, GroupAction, sign};
    use natter_protocol::testkit::build::identity_for;

    use super::*;

    fn govern(act: Act) -> PeerToTracker {
        let me = identity_for("alice");
        let action = GroupAction {
            group: "g".parse().expect("group"),
            version: 0,
            by: "alice".parse().expect("name"),
            key: me.public_key(),
            act,
        };
        PeerToTracker::Govern {
            action: Box::new(sign(&me, action)),
            req: Some(5),
        }
    }

    #[test]
    fn governance_costs_what_joins_do_and_create_one_more_per_participant() {
        assert_eq!(join_cost(&govern(Act::Disband)), Some((1, Some(5))));
        let participants = ["bob", "carol", "dave"]
            .iter()
            .map(|s| s.parse().expect("name"))
            .collect();
        assert_eq!(
            join_cost(&govern(Act::Create { participants })),
            Some((4, Some(5)))
        );
        let join = PeerToTracker::Join {
            group: "g".parse().expect("group"),
            req: None,
        };
        assert_eq!(join_cost(&join), Some((1, None)));
        assert_eq!(join_cost(&PeerToTracker::Invites { req: None }), None);
    }
}
