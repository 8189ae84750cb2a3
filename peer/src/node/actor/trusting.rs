//! The actor's trust side: inbound hellos and messages, key changes, and the `/block` and
//! `/unblock` commands (vetting and `/trust` are in `vetting`).

use natter_protocol::tracker::Member;
use natter_protocol::{Name, PublicKey};

use super::Actor;
use crate::node::api::Event;
use crate::node::listener::Inbound;
use crate::node::trust::{KeyChange, Verdict};

impl Actor {
    pub(super) async fn inbound(&mut self, req: Inbound) {
        match req {
            Inbound::Hello { name, key, reply } => self.vet(name, key, false, reply).await,
            Inbound::Chat {
                key,
                message,
                reply,
            } => {
                let verdict = self.trust.authorize(&key, &message, &self.cache);
                match &verdict {
                    Verdict::Accept => {
                        self.emit(Event::Message {
                            id: message.id,
                            from: message.from,
                            group: message.group,
                            text: message.body.text().to_owned(),
                            sent_at: message.sent_at,
                        })
                        .await;
                    }
                    Verdict::Duplicate | Verdict::Blocked => {}
                    Verdict::Refused(reason) => {
                        tracing::warn!(id = %message.id, %reason, "dropped a message");
                    }
                    Verdict::KeyChanged(change) => {
                        tracing::warn!(id = %message.id, "dropped a message: key changed");
                        self.key_changed(change).await;
                    }
                }
                let _ = reply.send(verdict);
            }
        }
    }

    /// Reports a key change the first time this key is presented for the name.
    pub(super) async fn key_changed(&self, change: &KeyChange) {
        if !change.first {
            return;
        }
        tracing::warn!(name = %change.name, pinned = %change.pinned, presented = %change.presented, "key changed");
        self.emit(Event::KeyChanged {
            name: change.name.clone(),
            pinned: change.pinned,
            presented: change.presented,
        })
        .await;
        self.emit(Event::error(change.message())).await;
    }

    /// Checks a key the tracker binds to `name` (a member list, a look-up) against the
    /// pin: a mismatch is a key change like any other, reported and waiting for `/trust`.
    /// Nothing is reported about a blocked key.
    pub(super) async fn check_listed(&mut self, name: &Name, key: PublicKey) {
        if self.trust.is_blocked(&key) {
            return;
        }
        if let Err(change) = self.trust.listed(name, key) {
            self.key_changed(&change).await;
        }
    }

    /// Pins (or checks against the pins) the keys in a member list the tracker pushed.
    /// Blocked keys are skipped: nothing about them reaches the user.
    pub(super) async fn observe_members(&mut self, members: &[Member]) {
        for m in members {
            if m.name == self.name || self.trust.is_blocked(&m.key) {
                continue;
            }
            if let Err(change) = self.trust.presented(&m.name, m.key) {
                self.key_changed(&change).await;
            }
        }
    }

    /// At start: the cached member lists against the pins.
    pub(super) async fn check_cached_keys(&mut self) {
        let members: Vec<Member> = self
            .cache
            .groups()
            .values()
            .flat_map(|g| g.members.iter().cloned())
            .collect();
        self.observe_members(&members).await;
    }

    pub(super) fn listed_keys(&self, name: &Name) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = self
            .cache
            .groups()
            .values()
            .flat_map(|g| &g.members)
            .filter(|m| &m.name == name)
            .map(|m| m.key)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    pub(super) async fn block(&mut self, name: Name) {
        if name == self.name {
            return self.emit(Event::error("you cannot block yourself")).await;
        }
        let listed = self.listed_keys(&name);
        if self.trust.block(&name, &listed) {
            self.emit(Event::Blocked {
                name,
                blocked: true,
            })
            .await;
        } else {
            let message =
                format!("unknown peer {name}: no key is known for it, so it cannot be blocked");
            self.emit(Event::error(message)).await;
        }
    }

    pub(super) async fn unblock(&mut self, name: Name) {
        if self.trust.unblock(&name) {
            self.emit(Event::Blocked {
                name,
                blocked: false,
            })
            .await;
        } else {
            self.emit(Event::error(format!("{name} is not blocked")))
                .await;
        }
    }
}
