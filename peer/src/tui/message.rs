//! What happens to a message after it arrives: the message it answers, edits, a delete,
//! reactions, and who read it. Pure data kept in its scrollback line, so that a change
//! makes the line unequal to the rows memoised for it and it is laid out again.

use natter_protocol::Name;
use natter_protocol::peer::MessageId;

use crate::node::api::Reactions;
use crate::tui::wrap::truncate;

/// The most columns of an original message a reply quotes.
pub const QUOTE_WIDTH: usize = 40;

/// A message's life after it was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// The message this one answers, and what it said (boxed: few messages are replies,
    /// and every line pays for the largest kind of line).
    pub reply: Option<Box<Quote>>,
    /// Its author changed its text (the line's text is the newest).
    pub edited: bool,
    /// Its author took it back: its text is gone.
    pub deleted: bool,
    /// Reactions by emoji, in the order they first came.
    pub reactions: Vec<Reactions>,
}

/// The original of a reply, as a reply quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub to: MessageId,
    /// The original's author and first words; `None` while it is not in scrollback.
    pub original: Option<(String, String)>,
}

impl Quote {
    /// A quote of `to`, whose original is not known yet.
    pub fn unresolved(to: MessageId) -> Self {
        Self { to, original: None }
    }

    /// How a reply shows its original: `↳ bob: first words…`.
    pub fn show(&self) -> String {
        match &self.original {
            Some((from, words)) => format!("↳ {from}: {words}"),
            None => "↳ original not available".to_owned(),
        }
    }
}

/// The first words of a message as a quote shows them (`message deleted` once taken back).
pub fn first_words(text: &str, deleted: bool) -> String {
    if deleted {
        return "message deleted".to_owned();
    }
    let mut lines = text.lines();
    let first = truncate(lines.next().unwrap_or_default(), QUOTE_WIDTH);
    if lines.next().is_some() && !first.ends_with('…') {
        format!("{first}…")
    } else {
        first
    }
}

/// Puts `from`'s reaction `emoji` on (`on`) or takes it back. False when nothing changed.
pub fn react(reactions: &mut Vec<Reactions>, emoji: &str, from: &Name, on: bool) -> bool {
    let at = reactions.iter().position(|r| r.emoji == emoji);
    match (at, on) {
        (Some(i), true) => {
            let who = &mut reactions[i].from;
            if who.contains(from) {
                return false;
            }
            who.push(from.clone());
        }
        (None, true) => reactions.push(Reactions {
            emoji: emoji.to_owned(),
            from: vec![from.clone()],
        }),
        (Some(i), false) => {
            let who = &mut reactions[i].from;
            let before = who.len();
            who.retain(|n| n != from);
            if who.len() == before {
                return false;
            }
            if who.is_empty() {
                reactions.remove(i);
            }
        }
        (None, false) => return false,
    }
    true
}

/// Reactions as a message shows them: `👍 2  🎉 1`.
pub fn reactions_text(reactions: &[Reactions]) -> String {
    let parts: Vec<String> = reactions
        .iter()
        .map(|r| format!("{} {}", r.emoji, r.from.len()))
        .collect();
    parts.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        s.parse().expect("name")
    }

    #[test]
    fn reactions_toggle_per_person_and_keep_their_order() {
        let mut r = Vec::new();
        assert!(react(&mut r, "👍", &name("bob"), true));
        assert!(react(&mut r, "🎉", &name("carol"), true));
        assert!(react(&mut r, "👍", &name("carol"), true));
        assert!(!react(&mut r, "👍", &name("bob"), true), "already there");
        assert_eq!(reactions_text(&r), "👍 2  🎉 1");
        assert!(react(&mut r, "🎉", &name("carol"), false));
        assert!(!react(&mut r, "🎉", &name("carol"), false));
        assert_eq!(reactions_text(&r), "👍 2");
    }

    #[test]
    fn quotes_show_first_words_or_say_the_original_is_missing() {
        assert_eq!(first_words("one\ntwo", false), "one…");
        assert_eq!(first_words("secret", true), "message deleted");
        let id: MessageId = "bob/3".parse().expect("id");
        assert_eq!(Quote::unresolved(id).show(), "↳ original not available");
    }
}
