//! Who may say what: pinned keys, blocked keys and pending key changes, and the
//! checks every received message goes through. Pure state, owned by the node's core.
//!
//! A received chat is shown only if all of these hold (the README's security section): a direct
//! frame's `from` and id sender are the link's hello name ([`check_direct`]); the author's
//! key signed exactly this message ([`verify_author`]; for a direct frame the author's key
//! is the link's); the key is not blocked; a group message's group is one we are in and
//! its member list holds `from` with exactly that key; the key is the one pinned for
//! `from` (a group message's listed key is pinned now if none was; a private message needs
//! the pin its link's hello made, unless the link was let on unverified while the tracker
//! was down). Duplicates never get here: the core drops them by (author key, seq) first.
//! Blocked messages are acknowledged but not shown; anything else is refused with a nack
//! naming the message.

use std::collections::HashMap;

use natter_protocol::identity::verify_chat;
use natter_protocol::peer::{ChatMessage, SignedChat};
use natter_protocol::{Name, PublicKey};

use super::error::NodeError;
use super::keys::{Blocked, PeerPins, PinCheck};
use super::members::MemberCache;

/// A key other than the pinned one, presented for `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub name: Name,
    pub pinned: PublicKey,
    pub presented: PublicKey,
    /// True the first time this key is presented for this name: report it then.
    pub first: bool,
}

impl KeyChange {
    /// The error text shown to the user.
    pub fn message(&self) -> String {
        format!(
            "key changed for {name}: pinned {pinned} ({}), now presented {presented} ({}); \
             messages to and from {name} are refused until you run /trust {name}",
            self.pinned.fingerprint(),
            self.presented.fingerprint(),
            name = self.name,
            pinned = self.pinned,
            presented = self.presented,
        )
    }
}

/// What to do with a received chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Show it and acknowledge it.
    Accept,
    /// For a group we are not in, or from someone not in our list of it: maybe only not
    /// yet (member lists reach members one after another), so the sender retries later.
    NotMember(String),
    /// From a blocked key: acknowledge (so the sender does not retry), do not show.
    Blocked,
    /// Not allowed: answered with a nack, not shown.
    Refused(String),
    /// `from` now has another key than the pinned one: answered with a nack, not shown.
    KeyChanged(KeyChange),
}

#[cfg(test)]
impl Verdict {
    /// Whether the sender gets an acknowledgement (`receiving.rs` decides it in full).
    pub fn acks(&self) -> bool {
        matches!(self, Self::Accept | Self::Blocked)
    }
}

/// Checks a chat frame against the link it came on: the sender named in it is the link's
/// hello name, and the link's authenticated key signed exactly this message.
#[cfg(test)]
pub fn check_signed(hello: &Name, link_key: &PublicKey, chat: &SignedChat) -> Result<(), String> {
    check_direct(hello, &chat.message)?;
    verify_author(link_key, chat)
}

/// A frame sent directly (not relayed) is the link peer's own message: its author and its
/// id's sender are the name the link's hello carried.
pub fn check_direct(hello: &Name, msg: &ChatMessage) -> Result<(), String> {
    if &msg.from != hello || &msg.id.sender != hello {
        return Err(format!(
            "this connection speaks for {hello}, not {} (id {})",
            msg.from, msg.id
        ));
    }
    Ok(())
}

/// The author's key signed exactly this message. Checked for a relayed message (sync),
/// against its author's key, never the relay's; a direct one is proven by its link.
pub fn verify_author(author_key: &PublicKey, chat: &SignedChat) -> Result<(), String> {
    let msg = &chat.message;
    if !verify_chat(author_key, msg, &chat.sig) {
        return Err(format!("bad signature on {} from {}", msg.id, msg.from));
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct Trust {
    pins: PeerPins,
    blocked: Blocked,
    /// Keys presented for a name in place of its pinned one, waiting for `/trust NAME`.
    pending: HashMap<Name, PublicKey>,
    pins_dirty: bool,
    blocked_dirty: bool,
}

impl Trust {
    pub fn new(pins: PeerPins, blocked: Blocked) -> Self {
        Self {
            pins,
            blocked,
            pending: HashMap::new(),
            pins_dirty: false,
            blocked_dirty: false,
        }
    }

    /// Checks a key presented for `name` (in a member list, a handshake or a hello),
    /// pinning it if nothing is pinned yet.
    pub fn presented(&mut self, name: &Name, key: PublicKey) -> Result<(), KeyChange> {
        match self.pins.check(name, key) {
            PinCheck::Known => Ok(()),
            PinCheck::New => {
                self.pins_dirty = true;
                Ok(())
            }
            PinCheck::Changed { pinned } => {
                let first = self.pending.insert(name.clone(), key) != Some(key);
                Err(KeyChange {
                    name: name.clone(),
                    pinned,
                    presented: key,
                    first,
                })
            }
        }
    }

    /// Like [`Self::presented`], but when nothing is pinned for `name` yet and a member
    /// list holds `listed` for it, that key (vouched for by the tracker) is pinned first.
    pub fn presented_pinning_listed(
        &mut self,
        name: &Name,
        key: PublicKey,
        listed: Option<PublicKey>,
    ) -> Result<(), KeyChange> {
        if let Some(listed) = listed
            && self.pins.get(name).is_none()
        {
            self.presented(name, listed)?;
        }
        self.presented(name, key)
    }

    /// The key pinned for `name`, if any.
    pub fn pinned(&self, name: &Name) -> Option<PublicKey> {
        self.pins.get(name)
    }

    /// The key waiting for `/trust NAME` in place of the pinned one, if any.
    pub fn pending(&self, name: &Name) -> Option<PublicKey> {
        self.pending.get(name).copied()
    }

    /// Checks a key the tracker binds to `name` (a member list, a look-up) against the pin,
    /// so a mismatch is recorded (and reported) like any other key change. Nothing is
    /// pinned here: a tracker-bound key is pinned when the peer presents it.
    pub fn listed(&mut self, name: &Name, listed: PublicKey) -> Result<(), KeyChange> {
        match self.pins.get(name) {
            Some(pinned) if pinned != listed => self.presented(name, listed),
            _ => Ok(()),
        }
    }

    /// The key to demand from `name` when connecting to it: its pin, else the member
    /// list's key. Refused while a key change for `name` waits for `/trust`.
    pub fn expected(&self, name: &Name, listed: Option<PublicKey>) -> Result<PublicKey, NodeError> {
        let changed = |why: String| NodeError::KeyNotTrusted {
            name: name.clone(),
            why,
        };
        if let Some(presented) = self.pending.get(name) {
            let pinned = self.pins.get(name).unwrap_or(*presented);
            return Err(changed(format!("pinned {pinned}, presented {presented}")));
        }
        match (self.pins.get(name), listed) {
            (Some(pinned), Some(listed)) if pinned != listed => Err(changed(format!(
                "pinned {pinned}, the member list says {listed}"
            ))),
            (Some(key), _) | (None, Some(key)) => Ok(key),
            (None, None) => Err(NodeError::CannotSend {
                to: name.to_string(),
                why: format!("no key known for {name}"),
            }),
        }
    }

    /// Decides about a chat message that passed [`check_signed`] on a link authenticated
    /// as `link_key`.
    pub fn authorize(
        &mut self,
        link_key: &PublicKey,
        msg: &ChatMessage,
        cache: &MemberCache,
        unverified_link: bool,
    ) -> Verdict {
        if self.blocked.contains(link_key) {
            return Verdict::Blocked;
        }
        if let Some(group) = &msg.group {
            let Some(list) = cache.get(group) else {
                return Verdict::NotMember(format!("a message for {group}, which we are not in"));
            };
            let Some(member) = list.members.iter().find(|m| m.name == msg.from) else {
                return Verdict::NotMember(format!("{} is not a member of {group}", msg.from));
            };
            if member.key != *link_key {
                return Verdict::Refused(format!(
                    "{}'s key in the member list of {group} is not the key that sent this",
                    msg.from
                ));
            }
        }
        // A private message comes on a link whose key was checked (and pinned) at its
        // hello; a name with no pin here was never verified (say, a link let on while
        // its key was blocked), and is not pinned on its word now.
        if msg.group.is_none() && unverified_link {
            // Nothing to check against yet; shown as unverified, and nothing is pinned on
            // its word. A pin for the name, though, still holds.
            return match self.pins.get(&msg.from) {
                Some(pinned) if pinned != *link_key => Verdict::Refused(format!(
                    "{}'s pinned key is not the key that sent this",
                    msg.from
                )),
                _ => Verdict::Accept,
            };
        }
        if msg.group.is_none() && self.pins.get(&msg.from).is_none() {
            return Verdict::Refused(format!("{}'s key was never verified", msg.from));
        }
        if let Err(change) = self.presented(&msg.from, *link_key) {
            return Verdict::KeyChanged(change);
        }
        Verdict::Accept
    }

    /// Accepts `key` for `name` in place of its pin, if it is the key waiting for
    /// `/trust NAME` (the caller has checked that the tracker binds it to `name`). Returns
    /// whether it was.
    pub fn trust(&mut self, name: &Name, key: PublicKey) -> bool {
        if self.pending.get(name) != Some(&key) {
            return false;
        }
        self.pending.remove(name);
        self.pins.set(name.clone(), key);
        self.pins_dirty = true;
        true
    }

    /// Blocks every key known for `name`: its pin, a key change waiting for it and the
    /// keys `listed` for it in member lists. Returns false when no key is known.
    pub fn block(&mut self, name: &Name, listed: &[PublicKey]) -> bool {
        let mut keys: Vec<PublicKey> = listed.to_vec();
        keys.extend(self.pins.get(name));
        keys.extend(self.pending.get(name).copied());
        for key in &keys {
            self.blocked_dirty |= self.blocked.block(*key, name.clone());
        }
        !keys.is_empty()
    }

    /// Unblocks `name` (its pinned key and every key blocked under that name). Returns
    /// false when it was not blocked.
    pub fn unblock(&mut self, name: &Name) -> bool {
        let changed = self.blocked.unblock(self.pins.get(name), name);
        self.blocked_dirty |= changed;
        changed
    }

    pub fn is_blocked(&self, key: &PublicKey) -> bool {
        self.blocked.contains(key)
    }

    /// The pins to save, if they changed since the last call.
    pub fn take_dirty_pins(&mut self) -> Option<&PeerPins> {
        std::mem::take(&mut self.pins_dirty).then_some(&self.pins)
    }

    /// The blocked keys to save, if they changed since the last call.
    pub fn take_dirty_blocked(&mut self) -> Option<&Blocked> {
        std::mem::take(&mut self.blocked_dirty).then_some(&self.blocked)
    }

    /// Whether the pins changed since they were last taken for saving.
    pub fn pins_dirty(&self) -> bool {
        self.pins_dirty
    }

    /// Whether the blocked keys changed since they were last taken for saving.
    pub fn blocked_dirty(&self) -> bool {
        self.blocked_dirty
    }
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;
