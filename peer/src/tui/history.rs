//! History and the fate of our own messages: a conversation that opens asks the node for
//! its recent past and shows it above what is already there, and each own message's mark
//! follows the node's news (`sent`, then `delivered` or `failed` per pending recipient),
//! for messages from history too.

use natter_protocol::peer::MessageId;
use natter_protocol::{Name, RequestId};

use super::{App, Effect, MAX_PENDING, conv_of, target_of, unverified_note};
use crate::node::api::{DeliveryState, HistoryItem};
use crate::node::{About, Command, ErrorCode};
use crate::tui::conversation::{ConvId, Conversation, Delivery, Line, LineKind, Own};
use crate::tui::message::{Extra, Quote};
use crate::tui::wrap::truncate;

/// How many of its last messages a conversation shows when it opens.
pub const HISTORY_ON_OPEN: usize = 200;

/// The most columns of a message quoted when it could not be delivered.
const QUOTE: usize = 40;

impl App {
    /// Asks for the history of each conversation opened since the last call.
    pub(super) fn load_history(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for conv in std::mem::take(&mut self.opened) {
            // It may have closed again in the same update.
            if self.find(&conv).is_none() {
                continue;
            }
            let Some(target) = target_of(&conv) else {
                continue;
            };
            let (req, effect) = self.request(Command::History {
                target,
                limit: HISTORY_ON_OPEN,
            });
            self.loading.insert(req);
            effects.push(effect);
        }
        effects
    }

    /// Whether an error answers one of our own history requests and is not worth showing:
    /// someone we have no key for yet has no history with us.
    pub(super) fn quiet_history_error(&mut self, req: Option<RequestId>, code: ErrorCode) -> bool {
        req.is_some_and(|req| self.loading.remove(&req))
            && matches!(code, ErrorCode::UnknownPeer | ErrorCode::BadCommand)
    }

    /// A conversation's last messages, oldest first: shown above what it already shows.
    /// The answer to a typed `/history` also selects the conversation and says what came.
    pub(super) fn on_history(
        &mut self,
        req: Option<RequestId>,
        target: &About,
        messages: Vec<HistoryItem>,
    ) {
        let typed = !req.is_some_and(|req| self.loading.remove(&req));
        let id = conv_of(target);
        let i = match self.find(&id) {
            Some(i) => i,
            // Closed (left) before its history came.
            None if !typed => return,
            None => {
                self.convs.push(Conversation::new(id.clone()));
                self.convs.len() - 1
            }
        };
        let total = messages.len();
        let mut noted = self.convs[i].unverified_noted;
        let mut lines = Vec::with_capacity(total);
        let from_others = messages.iter().any(|m| m.delivery.is_none());
        for item in messages {
            let note = (!item.verified && !noted)
                .then(|| unverified_note(Some(item.sent_at), item.from.as_str()));
            let line = history_line(item);
            if let (Some(msg), LineKind::Message { own: Some(own), .. }) = (line.id(), &line.kind)
                && own.delivery.is_open()
            {
                self.track(msg.clone(), &id);
            }
            lines.push(line);
            if let Some(note) = note {
                noted = true;
                lines.push(note);
            }
        }
        let conv = &mut self.convs[i];
        conv.unverified_noted = noted;
        let added = conv.insert_history(lines);
        conv.requote(None);
        // What others wrote is read once it is on screen.
        conv.unmarked |= from_others && added > 0;
        if typed {
            let new = conv
                .lines()
                .iter()
                .take(added)
                .filter(|l| l.id().is_some())
                .count();
            let plural = if total == 1 { "" } else { "s" };
            let line = match total {
                0 => format!("history of {target}: no messages"),
                _ => format!("history of {target}: {total} message{plural}, {new} new above"),
            };
            conv.push(Line::system(Some(self.now), line));
            self.select(i);
        }
    }

    /// The first attempt to send our message `id` is over.
    pub(super) fn on_sent(&mut self, id: &MessageId, state: DeliveryState) {
        let recipients = state.delivered.len() + state.pending.len() + state.failed.len();
        let delivery = Delivery::from_state(state);
        let open = delivery.is_open();
        if let Some(i) = self.conv_with(id) {
            self.convs[i].mark(id, delivery, recipients);
        }
        if !open {
            self.pending.remove(id);
        }
    }

    /// A pending recipient acknowledged our message `id`.
    pub(super) fn on_delivered(&mut self, id: &MessageId, to: &Name) {
        let Some(i) = self.conv_with(id) else {
            return;
        };
        if let Some((delivery, _)) = self.convs[i].own_mut(id) {
            delivery.reached(to.as_str());
            if !delivery.is_open() {
                self.pending.remove(id);
            }
        }
    }

    /// A pending recipient will never get our message `id`: its mark says so, and an error
    /// line where it was sent tells why (the message may be long scrolled away).
    pub(super) fn on_failed(&mut self, id: &MessageId, to: &Name, reason: &str) {
        let now = Some(self.now);
        let found = self.conv_with(id).and_then(|i| {
            let (delivery, text) = self.convs[i].own_mut(id)?;
            delivery.gave_up(to.as_str());
            Some((i, delivery.is_open(), quote(text)))
        });
        match found {
            Some((i, open, quote)) => {
                if !open {
                    self.pending.remove(id);
                }
                let line = format!("\"{quote}\" was not delivered to {to}: {reason}");
                self.convs[i].push(Line::error(now, line));
            }
            None => {
                let line =
                    format!("one of your earlier messages was not delivered to {to}: {reason}");
                self.push_to(ConvId::Status, Line::error(now, line));
            }
        }
    }

    /// Remembers which conversation our message `id`, still waiting for news, is in.
    pub(super) fn track(&mut self, id: MessageId, conv: &ConvId) {
        if self.pending.len() < MAX_PENDING || self.pending.contains_key(&id) {
            self.pending.insert(id, conv.clone());
        }
    }

    /// The conversation that shows our message `id`.
    fn conv_with(&self, id: &MessageId) -> Option<usize> {
        let tracked = self.pending.get(id).and_then(|conv| self.find(conv));
        tracked.or_else(|| self.convs.iter().position(|c| c.contains(id)))
    }
}

/// One message from history as a line, as it stands now (its current text, edited or
/// deleted, its reactions), ours with its delivery and read marks.
fn history_line(item: HistoryItem) -> Line {
    let group = item.group.is_some();
    let own = item.delivery.map(|state| {
        let recipients = state.delivered.len() + state.pending.len() + state.failed.len();
        let read = state.read.clone();
        Own {
            req: None,
            delivery: Delivery::from_state(state),
            group,
            read,
            recipients,
        }
    });
    let kind = LineKind::Message {
        from: item.from.to_string(),
        id: Some(item.id),
        own,
        verified: item.verified,
        extra: Extra {
            reply: item.reply_to.map(|to| Box::new(Quote::unresolved(to))),
            edited: item.edited_at.is_some() && !item.deleted,
            deleted: item.deleted,
            reactions: item.reactions,
        },
    };
    let text = if item.deleted {
        String::new()
    } else {
        item.text
    };
    Line::new(Some(item.sent_at), kind, text)
}

/// The start of a message, to name it in one line.
fn quote(text: &str) -> String {
    let mut lines = text.lines();
    let first = truncate(lines.next().unwrap_or_default(), QUOTE);
    if lines.next().is_some() && !first.ends_with('…') {
        format!("{first}…")
    } else {
        first
    }
}
