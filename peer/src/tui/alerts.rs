//! Getting the user's attention for a message that is for them (private, or mentioning
//! them): the bell, and a desktop notification while the terminal does not have focus,
//! as `--notify` says (the decision is `notify::alert`).

use super::{App, Effect};
use crate::tui::conversation::ConvId;
use crate::tui::notify::{self, Note};
use natter_protocol::Name;

/// The notification for `text` from `from` in `conv`.
pub(super) fn note_of(from: &Name, conv: &ConvId, text: &str) -> Note {
    let group = match conv {
        ConvId::Group(g) => Some(g.to_string()),
        _ => None,
    };
    Note::message(from.as_str(), group.as_deref(), text)
}

impl App {
    /// The effects for a message that wants attention.
    pub(super) fn attention(&self, note: Note) -> Vec<Effect> {
        let alert = notify::alert(self.notify, self.focused);
        let mut effects = Vec::new();
        if alert.bell {
            effects.push(Effect::Bell);
        }
        if alert.desktop {
            effects.push(Effect::Notify(note));
        }
        effects
    }
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
