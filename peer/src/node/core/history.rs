//! `/history TARGET [N]`: the last messages of a conversation, read from the store.

use natter_protocol::RequestId;

use super::Core;
use super::storing::AfterRead;
use crate::node::api::{About, DeliveryState, Event, HistoryItem, NodeError, Reactions, Target};
use crate::node::store::{Answer, Conversation, Delivery, HistoryEntry, Read};

impl Core {
    pub(super) fn history(&mut self, req: Option<RequestId>, target: Target, limit: usize) {
        let about = About::from(&target);
        let conversation = match self.conversation_of(&target) {
            Ok(conversation) => conversation,
            Err(error) => return self.fail(req, error),
        };
        let read = Read::History {
            conversation,
            limit,
        };
        self.read(read, AfterRead::History { req, target: about });
    }

    /// The stored conversation a target names: a group, or the peer's key (pinned, listed
    /// or met).
    pub(super) fn conversation_of(&self, target: &Target) -> Result<Conversation, NodeError> {
        Ok(match target {
            Target::Group(group) => Conversation::Group(group.clone()),
            Target::Peer(name) => {
                let listed = self.cache.find_peer(name).map(|m| m.key);
                let met = self.conns.open_named(name).map(|(key, _)| key);
                match self.trust.pinned(name).or(listed).or(met) {
                    Some(key) => Conversation::Peer(key),
                    None => {
                        let detail = " (no key is known for it)".to_owned();
                        let name = name.clone();
                        return Err(NodeError::UnknownPeer { name, detail });
                    }
                }
            }
            Target::Addr(addr) => {
                let listed = self
                    .cache
                    .groups()
                    .values()
                    .flat_map(|g| &g.members)
                    .find(|m| m.addr == *addr)
                    .map(|m| m.key);
                let met = self.conns.listening_at(*addr);
                match self
                    .conns
                    .open_at(*addr)
                    .map(|(_, key)| key)
                    .or(listed)
                    .or(met)
                {
                    Some(key) => Conversation::Peer(key),
                    None => {
                        let message = format!("no peer is known at {addr}");
                        return Err(NodeError::BadCommand(message));
                    }
                }
            }
        })
    }

    pub(super) fn history_read(
        &mut self,
        req: Option<RequestId>,
        target: About,
        result: Result<Answer, String>,
    ) {
        match result {
            Ok(Answer::History(entries)) => {
                let messages = entries.into_iter().map(item).collect();
                self.emit_for(req, Event::History { target, messages });
            }
            Ok(_) => {}
            Err(error) => self.fail(req, NodeError::Store(error)),
        }
    }
}

fn item(entry: HistoryEntry) -> HistoryItem {
    let m = entry.chat.message;
    let (to, delivery) = if entry.own {
        let mut state = DeliveryState::default();
        for r in &entry.recipients {
            let name = r.name.to_string();
            if r.read {
                state.read.push(name.clone());
            }
            match &r.delivery {
                Delivery::Delivered => state.delivered.push(name),
                Delivery::Pending => state.pending.push(name),
                Delivery::Failed(_) => state.failed.push(name),
            }
        }
        let to = match &m.group {
            None => entry.recipients.first().map(|r| r.name.to_string()),
            Some(_) => None,
        };
        (to, Some(state))
    } else {
        (None, None)
    };
    let reply_to = match &m.body {
        natter_protocol::peer::Body::Text { reply_to, .. } => reply_to.clone(),
        _ => None,
    };
    HistoryItem {
        text: entry.text,
        id: m.id,
        from: m.from,
        group: m.group,
        sent_at: m.sent_at,
        verified: entry.verified,
        reply_to,
        edited_at: entry.edited_at,
        deleted: entry.deleted,
        reactions: entry
            .reactions
            .into_iter()
            .map(|(emoji, from)| Reactions { emoji, from })
            .collect(),
        to,
        delivery,
    }
}
