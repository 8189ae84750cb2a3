//! Text that others wrote (a sender's name and message, a tracker's or a peer's error),
//! made safe to put on a terminal line, into an escape sequence or a process argument.

/// `text` as one printable line: line breaks and tabs become spaces, other control
/// characters (C0, DEL, C1) and Unicode's bidirectional controls (they can make a text
/// read as another) are dropped, and it is cut to `max` characters, the last of them `…`
/// when something was cut.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut chars = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() || is_bidi_control(c) => None,
            c => Some(c),
        })
        .peekable();
    while let Some(c) = chars.next() {
        if count + 1 == max && chars.peek().is_some() {
            out.push('…');
            break;
        }
        out.push(c);
        count += 1;
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn controls_go_breaks_become_spaces_and_long_text_is_cut() {
        assert_eq!(
            one_line("a\nb\tc\x1b]0;x\x07\u{202e}d\u{9b}", 100),
            "a b c]0;xd"
        );
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("abcd", 4), "abcd");
    }
}
