//! Ctrl-X Ctrl-E: the input written in `$VISUAL` or `$EDITOR` (else `vi`), as bash and git
//! do it: the text goes in a private temporary file, the editor runs on it through `sh`
//! (so `EDITOR="code --wait"` works), and what it saved comes back into the input.
//!
//! [`edit`] blocks until the editor exits; the TUI runs it on a blocking thread with the
//! terminal handed over (see `mod.rs`).

use std::io::{Read, Write};
use std::process::Command;

use super::input::MAX_INPUT;

/// The editor to run: `$VISUAL`, else `$EDITOR`, else `vi` (empty values skipped).
pub fn editor_command(visual: Option<String>, editor: Option<String>) -> String {
    [visual, editor]
        .into_iter()
        .flatten()
        .map(|e| e.trim().to_owned())
        .find(|e| !e.is_empty())
        .unwrap_or_else(|| "vi".to_owned())
}

/// What an editor saved, as the input takes it: without the line break editors put at
/// the end of a file.
pub fn saved_text(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Runs the editor on `text` and returns what it saved, or why there is nothing (the
/// editor could not start, failed, or saved something that is not text).
pub fn edit(text: &str) -> Result<String, String> {
    let editor = editor_command(std::env::var("VISUAL").ok(), std::env::var("EDITOR").ok());
    let mut file = tempfile::Builder::new()
        .prefix("natter-message-")
        .suffix(".txt")
        .tempfile()
        .map_err(|e| format!("cannot make a file for the editor: {e}"))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write the file for the editor: {e}"))?;
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("natter-editor")
        .arg(file.path())
        .status()
        .map_err(|e| format!("cannot start the editor {editor:?}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the editor {editor:?} failed ({status}); the message is as it was"
        ));
    }
    // Read what is there now (the editor may have replaced the file), at most a little
    // more than the input holds.
    let mut saved = Vec::new();
    std::fs::File::open(file.path())
        .and_then(|f| {
            let limit = u64::try_from(MAX_INPUT * 4).unwrap_or(u64::MAX);
            f.take(limit).read_to_end(&mut saved)
        })
        .map_err(|e| format!("cannot read what the editor saved: {e}"))?;
    String::from_utf8(saved).map(saved_text).map_err(|_| {
        "the editor saved something that is not UTF-8 text; the message is as it was".to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visual_then_editor_then_vi() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(editor_command(s("nvim"), s("nano")), "nvim");
        assert_eq!(editor_command(s(" "), s("nano -R")), "nano -R");
        assert_eq!(editor_command(None, None), "vi");
    }

    #[test]
    fn the_final_line_break_is_not_part_of_the_message() {
        assert_eq!(saved_text("a\nb\n".into()), "a\nb");
        assert_eq!(saved_text("a\r\n".into()), "a");
        assert_eq!(saved_text("a\n\n".into()), "a\n");
        assert_eq!(saved_text(String::new()), "");
    }
}
