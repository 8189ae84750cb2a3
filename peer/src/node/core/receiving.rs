//! Receiving: frames on an open connection. A chat message is de-duplicated by (author key,
//! seq) before anything else (a copy of one we hold, or are storing, is acknowledged and
//! dropped), then checked (its author is the link's peer, a private one is addressed to us,
//! the trust rules of `trust`), then stored; only once it is stored is it shown, and only
//! once it is on the disk (synced) acknowledged. A refused one is answered with a nack
//! naming it.
//!
//! The signature of a message that comes straight from its author is not checked: the
//! Noise link already proves who sent it (its static key is bound to the author's identity
//! key by a signature checked in the handshake, and every frame is authenticated), so the
//! check would cost the receiver an Ed25519 verification per message (the largest single
//! cost on the path) and prove nothing more. The signature is stored with the message and
//! matters to third parties: a member who is later sent it by sync checks it (`sync.rs`),
//! so an author who signs badly only keeps its own messages from being relayed.

use std::sync::Arc;

use natter_protocol::ErrorCode;
use natter_protocol::peer::{Body, MessageId, PeerFrame, SignedChat};
use natter_protocol::{Name, PublicKey};

use super::connections::Phase;
use super::storing::AfterWrite;
use super::{ConnId, Core, MAX_TEXT_BYTES, Now, Output};
use crate::node::actions::check_body;
use crate::node::api::Event;
use crate::node::api::{About, ReceiptState};
use crate::node::store::{Conversation, MAX_SEQ, Write};
use crate::node::trust::{Verdict, check_direct};

/// A message on its way to the store: shown once it is stored, acknowledged once that is
/// on the disk.
#[derive(Debug)]
pub(super) struct Incoming {
    id: MessageId,
    /// What to tell the front end once it is stored: a `message`, a read `receipt`, or
    /// nothing (an action is told by its effect, which the store reports).
    event: Option<Event>,
    group: Option<natter_protocol::GroupName>,
    /// Who to acknowledge it to (a copy may come on two connections meanwhile).
    acks: Vec<ConnId>,
}

impl Core {
    pub(super) fn frame(&mut self, now: Now, conn: ConnId, frame: PeerFrame) {
        let Some(c) = self.conns.get(conn) else {
            // Closed already; what was on its way no longer matters.
            return;
        };
        let (Phase::Open | Phase::Draining, Some((name, key))) = (c.phase, c.peer.clone()) else {
            let parting = (ErrorCode::HelloExpected, "a frame before the hellos".into());
            return self.conn_down(conn, "a frame before the hellos", Some(parting));
        };
        self.conns.touch(conn, now.at);
        match frame {
            PeerFrame::Chat(chat) => self.chat(now, conn, &name, &key, chat),
            PeerFrame::Ack { id } => self.acked(now, conn, &key, &id),
            PeerFrame::Nack { id, code, message } => {
                self.nacked(now, conn, &key, &id, code, &message);
            }
            PeerFrame::Error { message, .. } => {
                let reason = format!("the peer refused us: {message}");
                self.conn_down(conn, &reason, None);
            }
            PeerFrame::Hello { .. } => {
                let parting = (ErrorCode::HelloExpected, "hello came twice".into());
                self.conn_down(conn, "second hello", Some(parting));
            }
            PeerFrame::Typing { group } => self.typing_from(now, &name, &key, group),
            PeerFrame::SyncAsk { group, have } => self.sync_asked(now, conn, &key, group, have),
            PeerFrame::SyncPage {
                group,
                messages,
                more,
            } => self.sync_page(now, conn, &key, group, messages, more),
        }
    }

    /// One chat message from the peer on `conn` (authenticated as `link_key`, hello'd as
    /// `link_name`).
    fn chat(
        &mut self,
        now: Now,
        conn: ConnId,
        link_name: &Name,
        link_key: &PublicKey,
        chat: SignedChat,
    ) {
        let id = chat.message.id.clone();
        if let Err(reason) = check_direct(link_name, &chat.message) {
            return self.answer_refused(conn, id, reason);
        }
        if !(1..=MAX_SEQ).contains(&id.seq) {
            let reason = format!("{id}: sequence numbers run from 1 to {MAX_SEQ}");
            return self.answer_refused(conn, id, reason);
        }
        if chat.message.body.text().len() > MAX_TEXT_BYTES {
            let reason = format!("{id} is longer than {MAX_TEXT_BYTES} bytes");
            return self.answer_refused(conn, id, reason);
        }
        if chat.message.key != *link_key {
            let reason = format!("{id} names another key than this connection's");
            return self.answer_refused(conn, id, reason);
        }
        if let Err(reason) = check_body(&chat.message) {
            let reason = format!("{id}: {reason}");
            return self.answer_refused(conn, id, reason);
        }
        // A copy of one we hold (or are storing): acknowledged, and nothing else (not even
        // that once a sync failed: what we hold may not be on the disk).
        if self.held.contains(link_key, id.seq) {
            match self.incoming.get_mut(&(*link_key, id.seq)) {
                Some(incoming) => incoming.acks.push(conn),
                None if self.storing.sync_failed => {}
                None => self.send_ack(conn, id),
            }
            return;
        }
        let own = self.identity.public_key();
        if chat.message.group.is_none() && chat.message.to != Some(own) {
            let reason = format!("{id} is a private message for someone else");
            return self.answer_refused(conn, id, reason);
        }
        let unverified = self.conns.get(conn).is_some_and(|c| c.unverified);
        let verdict = self
            .trust
            .authorize(link_key, &chat.message, &self.cache, unverified);
        match verdict {
            Verdict::Accept => {
                let verified = !unverified || chat.message.group.is_some();
                self.take_in(now, chat, verified, Some(conn));
            }
            // Acknowledged (so the sender does not retry), not shown, not kept.
            Verdict::Blocked => self.send_ack(conn, id),
            Verdict::Refused(reason) => self.answer_refused(conn, id, reason),
            Verdict::NotMember(reason) => {
                self.answer(conn, id, ErrorCode::NotMember, reason);
            }
            Verdict::KeyChanged(change) => {
                tracing::warn!(%id, "refused a message: key changed");
                self.key_changed(&change);
                let reason = format!("{}'s key changed; refused until trusted", change.name);
                self.answer_refused(conn, id, reason);
            }
        }
    }

    /// Stores a message that passed every check; it is shown (and acknowledged on `ack_on`)
    /// once stored.
    pub(super) fn take_in(
        &mut self,
        now: Now,
        chat: SignedChat,
        verified: bool,
        ack_on: Option<ConnId>,
    ) {
        let m = &chat.message;
        let (key, seq) = (m.key, m.id.seq);
        self.held.insert(key, m.group.as_ref(), seq);
        let conversation = match &m.group {
            Some(group) => Conversation::Group(group.clone()),
            None => Conversation::Peer(key),
        };
        let event = match &m.body {
            Body::Text { text, reply_to } => {
                if m.group.is_none() {
                    let last = self.last_private.entry(key).or_default();
                    *last = (*last).max(seq);
                }
                Some(Event::Message {
                    id: m.id.clone(),
                    from: m.from.clone(),
                    group: m.group.clone(),
                    text: text.clone(),
                    sent_at: m.sent_at,
                    verified,
                    reply_to: reply_to.clone(),
                })
            }
            Body::Read { group, up_to } => Some(Event::Receipt {
                id: MessageId {
                    sender: self.name.clone(),
                    seq: *up_to,
                },
                from: m.from.clone(),
                state: ReceiptState::Read,
                target: Some(match group {
                    Some(group) => About::Group(group.clone()),
                    None => About::Peer(m.from.clone()),
                }),
            }),
            Body::Delete { target } => {
                // The message it deletes is as good as held: should it come later, it is a
                // duplicate, never shown (the store keeps its place).
                self.held.insert(key, m.group.as_ref(), target.seq);
                None
            }
            Body::Edit { .. } | Body::React { .. } => None,
        };
        let incoming = Incoming {
            id: m.id.clone(),
            event,
            group: m.group.clone(),
            acks: ack_on.into_iter().collect(),
        };
        self.incoming.insert((key, seq), incoming);
        let write = Write::Received {
            chat,
            conversation,
            stored_at: now.unix_millis(),
            verified,
        };
        self.write(write, AfterWrite::Received(key, seq));
    }

    /// A received message is stored: show it. (A killed process keeps it; a power cut may
    /// not, so it is acknowledged only once it is on the disk.)
    pub(super) fn received_stored(&mut self, key: PublicKey, seq: u64) {
        if let Some(event) = self
            .incoming
            .get_mut(&(key, seq))
            .and_then(|incoming| incoming.event.take())
        {
            self.emit(event);
        }
    }

    /// A received message is on the disk: acknowledge it.
    pub(super) fn received_synced(&mut self, key: PublicKey, seq: u64) {
        let Some(incoming) = self.incoming.remove(&(key, seq)) else {
            return;
        };
        for conn in incoming.acks {
            self.send_ack(conn, incoming.id.clone());
            self.close_when_acked(conn);
        }
    }

    /// A received message could not be stored: not shown, not acknowledged (its sender
    /// retries), and not counted as held.
    pub(super) fn received_not_stored(&mut self, key: PublicKey, seq: u64) {
        if let Some(incoming) = self.incoming.remove(&(key, seq)) {
            self.held.forget(&key, incoming.group.as_ref(), seq);
            for conn in incoming.acks {
                self.close_when_acked(conn);
            }
        }
    }

    /// A received message's sync failed: it stays held (it is in the store, maybe not on
    /// the disk), unacknowledged, and so are copies of it (see `chat`).
    pub(super) fn received_not_synced(&mut self, key: PublicKey, seq: u64) {
        if let Some(incoming) = self.incoming.remove(&(key, seq)) {
            for conn in incoming.acks {
                self.close_when_acked(conn);
            }
        }
    }

    /// Whether a message from `conn` is still being stored (its ack is still to go).
    pub(super) fn awaits_acks(&self, conn: ConnId) -> bool {
        self.incoming.values().any(|i| i.acks.contains(&conn))
    }

    /// A connection that went away while what it brought was being stored closes once
    /// the last of it is answered.
    fn close_when_acked(&mut self, conn: ConnId) {
        if self.closing.contains_key(&conn) && !self.awaits_acks(conn) {
            let parting = self.closing.remove(&conn).flatten();
            self.out.push_back(Output::Close { conn, parting });
        }
    }

    fn send_ack(&mut self, conn: ConnId, id: MessageId) {
        if self.conns.get(conn).is_some() || self.closing.contains_key(&conn) {
            let frame = Arc::new(PeerFrame::Ack { id });
            self.out.push_back(Output::Send { conn, frame });
        }
    }

    fn answer_refused(&mut self, conn: ConnId, id: MessageId, message: String) {
        self.answer(conn, id, ErrorCode::Unauthorized, message);
    }

    fn answer(&mut self, conn: ConnId, id: MessageId, code: ErrorCode, message: String) {
        tracing::warn!(%id, %conn, reason = %message, "refused a message");
        let frame = Arc::new(PeerFrame::Nack { id, code, message });
        self.out.push_back(Output::Send { conn, frame });
    }
}
