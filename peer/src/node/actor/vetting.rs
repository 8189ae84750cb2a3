//! The actor's check of who is on a link, and `/trust NAME`.
//!
//! A hello's name is taken with the handshake's key only when that key is the one pinned
//! for the name, the one a member list holds for it, or the one the tracker binds to it
//! (a look-up, for a name we know nothing about). A hello alone never pins a key: while
//! the look-up is out the link waits (its frames stay unread), and a name the tracker does
//! not know, or a tracker that cannot be asked, refuses the link. `/trust NAME` likewise
//! takes only the key the tracker binds to NAME.

use std::time::{Duration, Instant};

use natter_protocol::tracker::{Member, PeerToTracker};
use natter_protocol::{Name, PublicKey};
use tokio::sync::oneshot;

use super::Actor;
use crate::node::api::{Event, TrackerStatus};
use crate::node::trust::KeyChange;

/// How long a link waits for the tracker to vouch for a name (inside the far side's 5 s
/// wait for our hello).
pub(super) const VET_TIMEOUT: Duration = Duration::from_secs(4);
/// Links waiting for the tracker at once; past it, new ones are refused.
const MAX_VETS: usize = 256;
/// `/trust` requests waiting for the tracker at once.
const MAX_TRUSTS: usize = 64;

/// Where a vet's answer goes: the link task waiting for it.
pub(super) type VetReply = oneshot::Sender<Result<(), String>>;

/// A link waiting for the tracker to say which key `name` is bound to.
pub(super) struct PendingVet {
    key: PublicKey,
    reply: VetReply,
    deadline: Instant,
}

/// The links waiting on one name, and whether the tracker was asked about it yet.
#[derive(Default)]
pub(super) struct VetWait {
    asked: bool,
    waiting: Vec<PendingVet>,
}

/// What can be said about a hello without asking anyone.
enum Vet {
    Accept,
    Refuse(String),
    AskTracker,
}

/// The refusal text for a link whose key is not the pinned one.
fn changed(change: &KeyChange) -> String {
    format!(
        "{}'s key changed (pinned {}, presented {}); refused until trusted",
        change.name, change.pinned, change.presented
    )
}

impl Actor {
    /// May `key` (authenticated by a handshake) speak as `name`? `vouched`: the link was
    /// opened demanding exactly this key for this name. Answers on `reply` now, or once
    /// the tracker has answered a look-up.
    pub(super) async fn vet(&mut self, name: Name, key: PublicKey, vouched: bool, reply: VetReply) {
        match self.vet_now(&name, key, vouched).await {
            Vet::Accept => {
                let _ = reply.send(Ok(()));
            }
            Vet::Refuse(reason) => {
                let _ = reply.send(Err(reason));
            }
            Vet::AskTracker => self.wait_for_tracker(name, key, reply),
        }
    }

    async fn vet_now(&mut self, name: &Name, key: PublicKey, vouched: bool) -> Vet {
        if name == &self.name && key != self.identity.public_key() {
            return Vet::Refuse(format!("{name} is this peer's own name"));
        }
        // A blocked key is let on quietly: what it sends is acknowledged and never shown,
        // and nothing about it is pinned or reported.
        if self.trust.is_blocked(&key) {
            return Vet::Accept;
        }
        let listed = self.cache.find_peer(name).map(|m| m.key);
        let checked = if vouched {
            self.trust.presented(name, key)
        } else if listed.is_some() || self.trust.pinned(name).is_some() {
            self.trust.presented_listed(name, key, listed)
        } else {
            return Vet::AskTracker;
        };
        match checked {
            Ok(()) => Vet::Accept,
            Err(change) => {
                self.key_changed(&change).await;
                Vet::Refuse(changed(&change))
            }
        }
    }

    fn wait_for_tracker(&mut self, name: Name, key: PublicKey, reply: VetReply) {
        let waiting: usize = self.vets.values().map(|w| w.waiting.len()).sum();
        let refusal = if waiting >= MAX_VETS {
            Some("too many connections are waiting for the tracker".to_owned())
        } else if self.tracker_status == Some(TrackerStatus::Disconnected) {
            Some(format!("tracker {} is not connected", self.tracker_addr))
        } else {
            None
        };
        if let Some(why) = refusal {
            let _ = reply.send(Err(format!("cannot verify {name}'s key: {why}")));
            return;
        }
        let deadline = Instant::now() + VET_TIMEOUT;
        let wait = self.vets.entry(name).or_default();
        wait.waiting.push(PendingVet {
            key,
            reply,
            deadline,
        });
        self.ask_vets();
    }

    /// Asks the tracker about every name a link waits on and it was not asked about yet
    /// (once it is connected; until the first attempt settles they wait).
    pub(super) fn ask_vets(&mut self) {
        if !self.tracker_up() {
            return;
        }
        let unasked: Vec<Name> = self
            .vets
            .iter()
            .filter(|(_, w)| !w.asked)
            .map(|(n, _)| n.clone())
            .collect();
        for name in unasked {
            let asked = self.ask_tracker(PeerToTracker::Lookup {
                req: None,
                name: name.clone(),
            });
            match asked {
                Ok(()) => {
                    if let Some(w) = self.vets.get_mut(&name) {
                        w.asked = true;
                    }
                }
                Err(e) => self.refuse_vets(&name, &e),
            }
        }
    }

    fn refuse_vets(&mut self, name: &Name, why: &str) {
        for v in self
            .vets
            .remove(name)
            .map(|w| w.waiting)
            .unwrap_or_default()
        {
            let _ = v
                .reply
                .send(Err(format!("cannot verify {name}'s key: {why}")));
        }
    }

    /// Refuses every waiting link (the tracker went away, or cannot be reached).
    pub(super) fn refuse_all_vets(&mut self, why: &str) {
        let names: Vec<Name> = self.vets.keys().cloned().collect();
        for name in names {
            self.refuse_vets(&name, why);
        }
    }

    /// The tracker answered a look-up about `name`: the links waiting on it are let on
    /// (and the key pinned) only if it is the key the tracker binds to `name`.
    pub(super) async fn vetted(&mut self, name: &Name, member: Option<&Member>) {
        let waiting = self
            .vets
            .remove(name)
            .map(|w| w.waiting)
            .unwrap_or_default();
        for v in waiting {
            let verdict = match member {
                Some(m) if m.key == v.key => match self.trust.presented(name, v.key) {
                    Ok(()) => Ok(()),
                    Err(change) => {
                        self.key_changed(&change).await;
                        Err(changed(&change))
                    }
                },
                Some(_) => Err(format!(
                    "cannot verify {name}'s key: the tracker binds {name} to another key"
                )),
                None => Err(format!(
                    "cannot verify {name}'s key: the tracker does not know {name}"
                )),
            };
            if let Err(reason) = &verdict {
                tracing::warn!(%name, key = %v.key, %reason, "refused a link");
            }
            let _ = v.reply.send(verdict);
        }
    }

    /// Refuses the links and `/trust` requests whose look-up is overdue.
    pub(super) async fn expire_vets(&mut self, now: Instant) {
        for wait in self.vets.values_mut() {
            let (late, kept) = std::mem::take(&mut wait.waiting)
                .into_iter()
                .partition(|v| v.deadline <= now);
            wait.waiting = kept;
            for v in late {
                let reason = "cannot verify the key: no answer from the tracker".to_owned();
                let _ = v.reply.send(Err(reason));
            }
        }
        self.vets.retain(|_, w| !w.waiting.is_empty());
        let late: Vec<Name> = self
            .trusts
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in late {
            self.trusts.remove(&name);
            let message = format!("cannot trust {name}'s new key: no answer from the tracker");
            self.emit(Event::error(message)).await;
        }
    }

    /// The tracker went away: whatever waited on it is refused.
    pub(super) async fn tracker_gone(&mut self) {
        self.refuse_all_vets("the tracker went away before answering");
        for name in std::mem::take(&mut self.trusts).into_keys() {
            let message =
                format!("cannot trust {name}'s new key: the tracker went away before answering");
            self.emit(Event::error(message)).await;
        }
    }

    /// `/trust NAME`: takes the key waiting for NAME only if the tracker binds it to NAME
    /// (in a member list, or in the answer to a look-up).
    pub(super) async fn trust_key(&mut self, name: Name) {
        let Some(pending) = self.trust.pending(&name) else {
            let message = format!("no key change is waiting for {name}; nothing to trust");
            return self.emit(Event::error(message)).await;
        };
        if self.listed_keys(&name).contains(&pending) {
            return self.trusted(name, pending).await;
        }
        if self.trusts.contains_key(&name) {
            return;
        }
        let asked = if self.trusts.len() >= MAX_TRUSTS {
            Err("too many /trust requests are waiting for the tracker".to_owned())
        } else {
            self.ask_tracker(PeerToTracker::Lookup {
                req: None,
                name: name.clone(),
            })
        };
        match asked {
            Ok(()) => {
                self.trusts.insert(name, Instant::now() + self.ack_timeout);
            }
            Err(e) => {
                let message = format!(
                    "cannot trust {name}'s new key: no member list binds it to {name}, and {e}"
                );
                self.emit(Event::error(message)).await;
            }
        }
    }

    /// The tracker answered a look-up a `/trust NAME` waits on.
    pub(super) async fn trust_answered(&mut self, name: &Name, member: Option<&Member>) {
        if self.trusts.remove(name).is_none() {
            return;
        }
        let message = match (member, self.trust.pending(name)) {
            (_, None) => format!("no key change is waiting for {name}; nothing to trust"),
            (Some(m), Some(pending)) if m.key == pending => {
                return self.trusted(name.clone(), pending).await;
            }
            (Some(m), Some(pending)) => format!(
                "cannot trust {name}'s new key {pending} ({}): the tracker binds {name} to {} ({}); refused",
                pending.fingerprint(),
                m.key,
                m.key.fingerprint()
            ),
            (None, Some(_)) => {
                format!("cannot trust {name}'s new key: the tracker does not know {name}; refused")
            }
        };
        self.emit(Event::error(message)).await;
    }

    async fn trusted(&mut self, name: Name, key: PublicKey) {
        if !self.trust.trust(&name, key) {
            let message = format!("no key change is waiting for {name}; nothing to trust");
            return self.emit(Event::error(message)).await;
        }
        // Links opened (or vetted) under the old key go; the next message opens a new one.
        self.links
            .retain(|_, link| link.name.as_ref() != Some(&name) || link.key == Some(key));
        self.emit(Event::Trusted { name, key }).await;
    }
}
