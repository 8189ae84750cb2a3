//! What the TUI tells the user: the first-start welcome and the `/help` text.

use super::UiInfo;
use super::keys::KEYS;
use crate::command::COMMANDS;

/// The first lines of the status conversation.
pub fn welcome(info: &UiInfo) -> Vec<String> {
    let mut lines = vec![
        format!("Welcome to natter, {}!", info.name),
        "Join a group:      /join #room".to_owned(),
        "Message someone:   /msg NAME text   (or /query NAME)".to_owned(),
        "Commands and keys: /help".to_owned(),
        "Switch with Tab or Alt-1..9; F2 shows members; Ctrl-C quits.".to_owned(),
    ];
    let local_only = info.join_hint.as_ref().and_then(|h| h.local_only.as_ref());
    if let Some(ip) = local_only {
        lines.push(format!(
            "Your tracker listens on {ip} only: other machines cannot reach it \
             (host it on every interface, --tracker 0.0.0.0:PORT, to let them in)."
        ));
    }
    if info.invite.is_some() {
        // The invite itself is on the band at the top, unwrapped (`invite_band.rs`).
        let who = if local_only.is_some() {
            "On this machine, others join"
        } else {
            "Others join you"
        };
        lines.push(format!(
            "{who} with the invite at the top of this screen (/invite-link copies it): \
             natter --join INVITE --name THEIR-NAME"
        ));
    } else if let Some(hint) = &info.join_hint {
        match &hint.local_only {
            None => lines.push("Others join you with:".to_owned()),
            Some(_) => lines.push("On this machine, join with:".to_owned()),
        }
        lines.push(format!("  {}", hint.command));
    }
    lines
}

/// What /help prints.
pub fn help_lines() -> Vec<String> {
    // Each list's first column as wide as its widest entry, so descriptions line up.
    let column = |list: &[(&str, &str)]| list.iter().map(|(k, _)| k.chars().count()).max();
    let c_w = column(COMMANDS).unwrap_or(0);
    let k_w = column(KEYS).unwrap_or(0);
    let mut lines = vec!["Commands:".to_owned()];
    lines.extend(
        COMMANDS
            .iter()
            .map(|(c, what)| format!("  {c:<c_w$}  {what}")),
    );
    lines.push("Keys:".to_owned());
    lines.extend(KEYS.iter().map(|(k, what)| format!("  {k:<k_w$}  {what}")));
    lines.push("Plain text goes to the selected conversation.".to_owned());
    lines
}
