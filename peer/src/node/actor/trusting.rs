//! The actor's trust side: vetting inbound hellos and messages, key changes, and the
//! `/block`, `/unblock` and `/trust` commands.

use natter_protocol::tracker::Member;
use natter_protocol::{Name, PublicKey};

use super::Actor;
use crate::node::api::Event;
use crate::node::listener::Inbound;
use crate::node::trust::{KeyChange, Verdict};

impl Actor {
    pub(super) async fn inbound(&mut self, req: Inbound) {
        match req {
            Inbound::Hello { name, key, reply } => {
                let verdict = self.vet(&name, key).await;
                let _ = reply.send(verdict);
            }
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
                            text: message.text,
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

    /// May `key` (authenticated by a handshake) speak as `name`? Checked against the pin
    /// for `name`, else the member lists' key (then pinned); a new name is pinned.
    pub(super) async fn vet(&mut self, name: &Name, key: PublicKey) -> Result<(), String> {
        if name == &self.name && key != self.identity.public_key() {
            return Err(format!("{name} is this peer's own name"));
        }
        let listed = self.cache.find_peer(name).map(|m| m.key);
        match self.trust.presented_listed(name, key, listed) {
            Ok(()) => Ok(()),
            Err(change) => {
                self.key_changed(&change).await;
                Err(format!(
                    "{name}'s key changed (pinned {}, presented {}); refused until trusted",
                    change.pinned, change.presented
                ))
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

    /// Pins (or checks against the pins) the keys in a member list the tracker pushed.
    pub(super) async fn observe_members(&mut self, members: &[Member]) {
        for m in members.iter().filter(|m| m.name != self.name) {
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

    fn listed_keys(&self, name: &Name) -> Vec<PublicKey> {
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

    pub(super) async fn trust_key(&mut self, name: Name) {
        let Some(key) = self.trust.trust(&name) else {
            let message = format!("no key change is waiting for {name}; nothing to trust");
            return self.emit(Event::error(message)).await;
        };
        // Links opened (or vetted) under the old key go; the next message opens a new one.
        self.links
            .retain(|_, link| link.name.as_ref() != Some(&name) || link.key == Some(key));
        self.emit(Event::Trusted { name, key }).await;
    }
}
