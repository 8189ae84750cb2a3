//! The hotlist: the conversations with news, as the status bar lists them
//! (`Act: 3!,5,2`, by their sidebar numbers): those that mention you or are private
//! (marked `!`) first, then by their latest message, newest first.

use super::app::App;
use super::conversation::Conversation;

/// The indices of the conversations with news, in hotlist order.
pub fn hotlist(app: &App) -> Vec<usize> {
    let mut hot: Vec<(usize, &Conversation)> = app
        .convs
        .iter()
        .enumerate()
        .filter(|(i, c)| *i != app.selected && (c.unread > 0 || c.mention))
        .collect();
    hot.sort_by_key(|(i, c)| (!c.mention, std::cmp::Reverse(latest(c)), *i));
    hot.into_iter().map(|(i, _)| i).collect()
}

/// The status bar's hotlist, e.g. `Act: 3!,5,2`; `None` when nothing has news.
pub fn hotlist_text(app: &App) -> Option<String> {
    let entries: Vec<String> = hotlist(app)
        .into_iter()
        .map(|i| {
            let mark = if app.convs[i].mention { "!" } else { "" };
            format!("{}{mark}", i + 1)
        })
        .collect();
    (!entries.is_empty()).then(|| format!("Act: {}", entries.join(",")))
}

/// The time of the conversation's newest line (a message's is when it was sent; 0 when
/// it holds none).
fn latest(conv: &Conversation) -> u64 {
    conv.lines().iter().rev().find_map(|l| l.at).unwrap_or(0)
}
