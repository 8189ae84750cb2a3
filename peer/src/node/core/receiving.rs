//! Receiving: frames on an open connection. Each chat message is checked (its author is
//! the link's peer, its signature is the author's, the trust rules of `trust`) and
//! answered at once, by id: an ack when we have it, a nack with the reason when we refuse
//! it. Acks and nacks for our own messages settle them.

use std::sync::Arc;

use natter_protocol::ErrorCode;
use natter_protocol::peer::{PeerFrame, SignedChat};
use natter_protocol::{Name, PublicKey};

use super::connections::Phase;
use super::{ConnId, Core, Now, Output};
use crate::node::api::Event;
use crate::node::trust::{Verdict, check_direct, verify_author};

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
            PeerFrame::Chat(chat) => self.chat(conn, &name, &key, chat),
            PeerFrame::Ack { id } => self.acked(now, conn, &id),
            PeerFrame::Nack { id, message, .. } => self.nacked(conn, &id, &message),
            PeerFrame::Error { message, .. } => {
                let reason = format!("the peer refused us: {message}");
                self.conn_down(conn, &reason, None);
            }
            // History sync comes with the store.
            PeerFrame::SyncAsk { .. } | PeerFrame::SyncPage { .. } => {}
            PeerFrame::Hello { .. } => {
                let parting = (ErrorCode::HelloExpected, "hello came twice".into());
                self.conn_down(conn, "second hello", Some(parting));
            }
        }
    }

    /// One chat message from the peer on `conn` (authenticated as `link_key`, hello'd as
    /// `link_name`).
    fn chat(&mut self, conn: ConnId, link_name: &Name, link_key: &PublicKey, chat: SignedChat) {
        let checked =
            check_direct(link_name, &chat.message).and_then(|()| verify_author(link_key, &chat));
        let SignedChat { message, .. } = chat;
        let verdict = match checked {
            Err(reason) => Verdict::Refused(reason),
            Ok(()) => self.trust.authorize(link_key, &message, &self.cache),
        };
        let id = message.id.clone();
        match &verdict {
            Verdict::Accept => {
                let event = Event::Message {
                    id: message.id,
                    from: message.from,
                    group: message.group,
                    text: message.body.text().to_owned(),
                    sent_at: message.sent_at,
                };
                self.emit(event);
            }
            Verdict::Duplicate | Verdict::Blocked => {}
            Verdict::Refused(reason) => {
                tracing::warn!(%id, peer = %link_name, %reason, "refused a message");
            }
            Verdict::KeyChanged(change) => {
                tracing::warn!(%id, "refused a message: key changed");
                let change = change.clone();
                self.key_changed(&change);
            }
        }
        let frame = match verdict {
            Verdict::Accept | Verdict::Duplicate | Verdict::Blocked => PeerFrame::Ack { id },
            Verdict::Refused(message) => PeerFrame::Nack {
                id,
                code: ErrorCode::Unauthorized,
                message,
            },
            Verdict::KeyChanged(change) => PeerFrame::Nack {
                id,
                code: ErrorCode::Unauthorized,
                message: format!("{}'s key changed; refused until trusted", change.name),
            },
        };
        let frame = Arc::new(frame);
        self.out.push_back(Output::Send { conn, frame });
    }
}
