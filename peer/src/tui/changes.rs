//! What happens to messages already shown: edits, deletes, reactions and receipts, found
//! by message id in whichever conversation holds them; and the answers of `/whois`,
//! `/status`, `/receipts` and `/typing-notices`, shown as system lines.

use natter_protocol::peer::MessageId;
use natter_protocol::{GroupName, Name, PublicKey};

use super::{App, conv_of};
use crate::node::About;
use crate::node::api::ReceiptState;
use crate::tui::conversation::{ConvId, Line, LineKind, Own};
use crate::tui::message::react;
use crate::tui::ui::ago;

impl App {
    /// The index of the conversation showing message `id`, and the line's index there.
    fn locate(&self, id: &MessageId) -> Option<(usize, usize)> {
        self.convs
            .iter()
            .enumerate()
            .find_map(|(c, conv)| Some((c, conv.position(id)?)))
    }

    /// Message `id` (ours too) now reads `text`; replies quoting it follow.
    pub(super) fn on_edited(&mut self, id: &MessageId, text: String) {
        let Some((c, _)) = self.locate(id) else {
            return;
        };
        let conv = &mut self.convs[c];
        if let Some(line) = conv.message_mut(id) {
            if let Some(extra) = line.extra_mut()
                && extra.deleted
            {
                return;
            }
            line.text = text;
            if let Some(extra) = line.extra_mut() {
                extra.edited = true;
            }
        }
        conv.requote(Some(id));
    }

    /// Message `id` was taken back: a tombstone stays in its place.
    pub(super) fn on_deleted(&mut self, id: &MessageId) {
        let Some((c, _)) = self.locate(id) else {
            return;
        };
        let conv = &mut self.convs[c];
        if let Some(line) = conv.message_mut(id) {
            line.text.clear();
            if let Some(extra) = line.extra_mut() {
                extra.deleted = true;
                extra.edited = false;
                extra.reactions.clear();
            }
        }
        conv.requote(Some(id));
        if self.mode.selected() == Some(id) {
            self.mode = super::select::Mode::Normal;
        }
    }

    /// `from` put `emoji` on message `id` or took it back.
    pub(super) fn on_reaction(&mut self, id: &MessageId, from: &Name, emoji: &str, on: bool) {
        let Some((c, _)) = self.locate(id) else {
            return;
        };
        if let Some(extra) = self.convs[c].message_mut(id).and_then(Line::extra_mut) {
            react(&mut extra.reactions, emoji, from, on);
        }
    }

    /// How far our message `id` got with `from`: delivered, or read with everything of
    /// ours before it in conversation `target`.
    pub(super) fn on_receipt(
        &mut self,
        id: &MessageId,
        from: &Name,
        state: ReceiptState,
        target: Option<About>,
    ) {
        if state == ReceiptState::Delivered {
            return self.on_delivered(id, from);
        }
        let conv = match target {
            Some(about) => conv_of(&about),
            None => ConvId::Peer(from.to_string()),
        };
        let Some(c) = self.find(&conv) else {
            return;
        };
        let me = self.name.clone();
        let reader = from.to_string();
        for line in self.convs[c].lines_mut() {
            let LineKind::Message {
                id: Some(line_id),
                own: Some(Own { delivery, read, .. }),
                ..
            } = &mut line.kind
            else {
                continue;
            };
            if line_id.sender == me && line_id.seq <= id.seq && !read.contains(&reader) {
                read.push(reader.clone());
                // Read is delivered too, whatever news of that got lost.
                delivery.reached(&reader);
            }
        }
    }

    /// The answer to `/whois`.
    pub(super) fn on_whois(
        &mut self,
        name: &Name,
        key: &PublicKey,
        presence: (bool, Option<u64>),
        status: Option<String>,
        groups: &[GroupName],
    ) {
        let seen = match presence {
            (true, _) => "online".to_owned(),
            (false, Some(at)) => format!("offline, last seen {}", ago(self.now, at)),
            (false, None) => "offline".to_owned(),
        };
        let mut line = format!("{name}: {seen}, key fingerprint {}", key.fingerprint());
        if let Some(status) = status.filter(|s| !s.is_empty()) {
            line.push_str(&format!(", status \"{status}\""));
        }
        if !groups.is_empty() {
            let list: Vec<String> = groups.iter().map(ToString::to_string).collect();
            line.push_str(&format!(", groups in common: {}", list.join(", ")));
        }
        self.push_selected(Line::system(Some(self.now), line));
    }

    /// The answer to `/status`.
    pub(super) fn on_status(&mut self, status: Option<String>) {
        let line = match status.filter(|s| !s.is_empty()) {
            Some(status) => format!("your status is now \"{status}\""),
            None => "your status is cleared".to_owned(),
        };
        self.push_selected(Line::system(Some(self.now), line));
    }

    /// The answer to `/receipts` and `/typing-notices`.
    pub(super) fn on_setting(&mut self, name: &str, on: bool) {
        let what = match name {
            "receipts" => "read receipts",
            "typing_notices" | "typing-notices" => "typing notices",
            other => other,
        };
        let state = if on { "on" } else { "off" };
        self.push_selected(Line::system(Some(self.now), format!("{what}: {state}")));
    }
}
