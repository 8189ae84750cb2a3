//! Acting on messages: `/reply`, `/edit`, `/delete`, `/react` (each looks its message up in
//! the store, then goes to that message's conversation as a numbered, signed, stored and
//! retried message of its own), read receipts (`/read`) and typing notices (`/typing`),
//! and what the store reports the actions changed.
//!
//! Actions travel like messages, so the outbox, sync and the store treat them alike; only
//! what a front end hears differs: an action is announced by its effect (`edited`,
//! `deleted`, `reaction`) once it is stored, not by `sending`/`sent`/`delivered`, and a
//! read receipt not at all.

use std::sync::Arc;
use std::time::Duration;

use natter_protocol::peer::{Body, MessageId, PeerFrame};
use natter_protocol::{GroupName, Name, PublicKey, RequestId};

use super::outbox::Dest;
use super::storing::AfterRead;
use super::{Core, MAX_TEXT_BYTES, Now, Output};
use crate::node::actions::{Applied, valid_emoji};
use crate::node::api::{About, Action, Event, NodeError, ReceiptState, Target};
use crate::node::store::{Answer, Conversation, Read, TargetInfo, Write};

/// Typing notices from one peer about one conversation closer together than this are
/// dropped (the front end shows one for a few seconds anyway).
const TYPING_EVERY: Duration = Duration::from_secs(1);
/// The most (peer, conversation) pairs whose last typing notice is remembered.
const MAX_TYPING_SEEN: usize = 4096;

impl Core {
    /// `/reply`, `/edit`, `/delete`, `/react`: first, find the message.
    pub(super) fn act(&mut self, req: Option<RequestId>, id: MessageId, action: Action) {
        match &action {
            Action::Reply(text) | Action::Edit(text) if text.len() > MAX_TEXT_BYTES => {
                let about = About::Message(id);
                return self.fail(
                    req,
                    NodeError::TooLong {
                        about,
                        max: MAX_TEXT_BYTES,
                    },
                );
            }
            Action::React(emoji) => {
                if let Err(why) = valid_emoji(emoji) {
                    return self.fail(req, NodeError::BadCommand(why));
                }
            }
            _ => {}
        }
        let emoji = match &action {
            Action::React(emoji) => Some(emoji.clone()),
            _ => None,
        };
        let read = Read::Target {
            id: id.clone(),
            emoji,
        };
        self.read(read, AfterRead::Act { req, id, action });
    }

    /// The store found (or not) the message an action names: check, then send.
    pub(super) fn act_on(
        &mut self,
        req: Option<RequestId>,
        id: MessageId,
        action: Action,
        found: Result<Answer, String>,
    ) {
        let info = match found {
            Ok(Answer::Target(Some(info))) => info,
            Ok(_) => return self.fail(req, NodeError::UnknownMessage { id }),
            Err(error) => return self.fail(req, NodeError::Store(error)),
        };
        let body = match self.action_body(&id, &info, action) {
            Ok(body) => body,
            Err(error) => return self.fail(req, error),
        };
        let own_target = info.author == self.identity.public_key();
        let Some((about, group, to, dests, failed)) = self.recipients_of(req, &info.conversation)
        else {
            return;
        };
        if own_target && matches!(body, Body::Delete { .. }) {
            // What has not reached someone yet no longer goes: the delete does.
            self.outbox.remove(id.seq);
        }
        let now = self.now;
        self.store_message(now, req, (about, group, to), body, dests, failed);
    }

    fn action_body(
        &self,
        id: &MessageId,
        info: &TargetInfo,
        action: Action,
    ) -> Result<Body, NodeError> {
        let ours = info.author == self.identity.public_key();
        let conversation = self.about_conversation(&info.conversation);
        let target = id.clone();
        let not_author = |what| NodeError::NotAuthor {
            id: id.clone(),
            what,
            about: conversation.clone(),
        };
        let deleted = || NodeError::MessageDeleted {
            id: id.clone(),
            about: conversation.clone(),
        };
        Ok(match action {
            Action::Reply(text) => Body::Text {
                text,
                reply_to: Some(target),
            },
            Action::Edit(_) if !ours => return Err(not_author("edit")),
            Action::Delete if !ours => return Err(not_author("delete")),
            Action::Edit(_) | Action::Delete | Action::React(_) if info.deleted => {
                return Err(deleted());
            }
            Action::Edit(text) => Body::Edit { target, text },
            Action::Delete => Body::Delete { target },
            Action::React(emoji) => Body::React {
                target,
                emoji,
                on: !info.reacted,
            },
        })
    }

    /// A stored conversation as `about` names it.
    fn about_conversation(&self, conversation: &Conversation) -> Option<About> {
        match conversation {
            Conversation::Group(group) => Some(About::Group(group.clone())),
            Conversation::Peer(key) => self.dest_for_key(key).map(|d| About::Peer(d.name)),
        }
    }

    /// Who a message to a stored conversation goes to: the group's other members, or the
    /// one peer. `None` (and an error) when that is nobody we can name.
    #[allow(clippy::type_complexity)]
    fn recipients_of(
        &mut self,
        req: Option<RequestId>,
        conversation: &Conversation,
    ) -> Option<(
        About,
        Option<GroupName>,
        Option<String>,
        Vec<Dest>,
        Vec<String>,
    )> {
        match conversation {
            Conversation::Group(group) => {
                let Some((dests, failed)) = self.group_dests(req, group) else {
                    let group = group.clone();
                    self.fail(req, NodeError::NotMemberToSend { group });
                    return None;
                };
                let about = About::Group(group.clone());
                Some((about, Some(group.clone()), None, dests, failed))
            }
            Conversation::Peer(key) => match self.dest_for_key(key) {
                Some(dest) => {
                    if let Err(error) = self.trust.expected(&dest.name, Some(dest.key)) {
                        self.fail(req, error);
                        return None;
                    }
                    let about = About::Peer(dest.name.clone());
                    Some((
                        about,
                        None,
                        Some(dest.name.to_string()),
                        vec![dest],
                        Vec::new(),
                    ))
                }
                None => {
                    let message = format!(
                        "peer {} is in no member list and not connected; cannot reach it",
                        key.fingerprint()
                    );
                    self.fail(req, NodeError::BadCommand(message));
                    None
                }
            },
        }
    }

    /// `/read TARGET`: a read receipt to each author with messages we have not said we
    /// read, covering everything of theirs we hold in that conversation.
    pub(super) fn mark_read(&mut self, req: Option<RequestId>, target: Target) {
        let conversation = match self.conversation_of(&target) {
            Ok(conversation) => conversation,
            Err(error) => return self.fail(req, error),
        };
        // Our own read position (for `/mentions`), whether receipts go out or not.
        self.record(Write::ReadMark(conversation.clone()), self.now.at);
        if !self.receipts {
            return;
        }
        let own = self.identity.public_key();
        let (group, latest) = match &conversation {
            Conversation::Group(group) => (Some(group.clone()), self.held.latest_in(group)),
            Conversation::Peer(key) => {
                let latest = self.last_private.get(key).map(|seq| vec![(*key, *seq)]);
                (None, latest.unwrap_or_default())
            }
        };
        for (author, up_to) in latest {
            let said = self.read_sent.get(&(author, group.clone())).copied();
            if author == own || said.is_some_and(|s| s >= up_to) {
                continue;
            }
            let Some(dest) = self.dest_for_key(&author) else {
                continue;
            };
            self.read_sent.insert((author, group.clone()), up_to);
            let about = About::Peer(dest.name.clone());
            let to = Some(dest.name.to_string());
            let body = Body::Read {
                group: group.clone(),
                up_to,
            };
            let now = self.now;
            self.store_message(now, req, (about, None, to), body, vec![dest], Vec::new());
        }
    }

    /// `/typing TARGET`: a typing notice to whoever of the conversation we have an open
    /// connection to (it only matters now: nothing is dialled, stored or retried).
    pub(super) fn typing(&mut self, req: Option<RequestId>, target: Target) {
        if !self.typing_notices {
            return;
        }
        let (group, keys) = match &target {
            Target::Group(group) => {
                let Some(list) = self.cache.get(group) else {
                    let group = group.clone();
                    return self.fail(req, NodeError::NotMember { group });
                };
                let own = self.identity.public_key();
                let keys = list
                    .members
                    .iter()
                    .filter(|m| m.key != own)
                    .map(|m| m.key)
                    .collect();
                (Some(group.clone()), keys)
            }
            Target::Peer(_) | Target::Addr(_) => match self.conversation_of(&target) {
                Ok(Conversation::Peer(key)) => (None, vec![key]),
                Ok(Conversation::Group(_)) => return,
                Err(error) => return self.fail(req, error),
            },
        };
        let frame = Arc::new(PeerFrame::Typing { group });
        for key in keys {
            if let Some(conn) = self.conns.open_for(&key) {
                let frame = Arc::clone(&frame);
                self.out.push_back(Output::Send { conn, frame });
            }
        }
    }

    /// A typing notice from `name` (authenticated as `key`) about `group`, or about our
    /// private conversation.
    pub(super) fn typing_from(
        &mut self,
        now: Now,
        name: &Name,
        key: &PublicKey,
        group: Option<GroupName>,
    ) {
        if self.trust.is_blocked(key) {
            return;
        }
        if let Some(g) = &group
            && self.cache.member_with_key(g, key).is_none()
        {
            return;
        }
        let seen = (*key, group.clone());
        if self
            .typing_seen
            .get(&seen)
            .is_some_and(|at| now.at.saturating_duration_since(*at) < TYPING_EVERY)
        {
            return;
        }
        if self.typing_seen.len() >= MAX_TYPING_SEEN {
            self.typing_seen
                .retain(|_, at| now.at.saturating_duration_since(*at) < TYPING_EVERY);
        }
        self.typing_seen.insert(seen, now.at);
        let target = match group {
            Some(group) => About::Group(group),
            None => About::Peer(name.clone()),
        };
        let from = name.clone();
        self.emit(Event::Typing { from, target });
    }

    /// `/receipts on|off`, `/typing-notices on|off`.
    pub(super) fn setting(&mut self, req: Option<RequestId>, name: &str, on: bool) {
        match name {
            "receipts" => self.receipts = on,
            _ => self.typing_notices = on,
        }
        let name = name.to_owned();
        self.emit_for(req, Event::Setting { name, on });
    }

    /// What the store says a batch's actions changed: told to the front end (with the
    /// request of ours that caused it, if one did).
    pub(super) fn actions_applied(&mut self, applied: Vec<Applied>) {
        let own = self.identity.public_key();
        for a in applied {
            let req = if a.author == own {
                self.acted.remove(&a.seq).flatten()
            } else {
                None
            };
            let event = Event::from(a.effect);
            self.emit_for(req, event);
        }
        self.acted.clear();
    }

    /// A recipient acknowledged our message `id` (not an action): a delivered receipt.
    pub(super) fn receipt_delivered(&mut self, id: &MessageId, to: &str) {
        if let Ok(from) = to.parse::<Name>() {
            let id = id.clone();
            let state = ReceiptState::Delivered;
            self.emit(Event::Receipt {
                id,
                from,
                state,
                target: None,
            });
        }
    }
}
