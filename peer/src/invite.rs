//! The invite: one line that gets a friend in. It holds the tracker's address and key
//! (and optionally a group to join), as a link:
//!
//! ```text
//! natter://192.168.1.20:7700?key=KEY&group=room
//! ```
//!
//! A link rather than an opaque compact token: it is one unbroken word that chat apps
//! and terminals keep whole (and many make clickable), a reader can see which tracker it
//! points at before trusting it, and the key, already URL-safe base64, needs no escaping.
//! A group name outside ASCII is percent-encoded (UTF-8), as in any URL. In a shell it
//! goes in quotes (`&` and `?` mean something there), which `natter invite` says.
//!
//! Pure: [`Invite::parse`] never panics and says what is wrong with a bad line; unknown
//! query fields are ignored, so a later natter may add some.

use std::fmt;
use std::net::SocketAddr;

use natter_protocol::{GroupName, PublicKey};

/// The scheme every invite starts with.
pub const SCHEME: &str = "natter://";

/// What an invite holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The tracker's address, `HOST:PORT` (a name or an IP; an IPv6 literal in brackets).
    pub tracker: String,
    /// The tracker's public key: the peer refuses a tracker that presents another one.
    pub key: PublicKey,
    /// A group to join once connected.
    pub group: Option<GroupName>,
}

/// Why a line is not an invite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("an invite starts with {SCHEME} (it looks like natter://HOST:PORT?key=KEY)")]
    NoScheme,
    #[error("the invite's tracker address {0:?} is not HOST:PORT")]
    BadAddress(String),
    #[error("the invite holds no key=; ask for the whole line again")]
    NoKey,
    #[error(
        "the invite's key {0:?} is not a key (43 characters of URL-safe base64); \
         was the line cut short?"
    )]
    BadKey(String),
    #[error("the invite's group is not valid: {0}")]
    BadGroup(String),
    #[error("the invite holds {0}= twice")]
    Twice(&'static str),
    #[error("the invite holds spaces or control characters; paste it as one line")]
    Broken,
}

impl Invite {
    /// Reads an invite. Surrounding whitespace is ignored; whitespace inside (a line
    /// broken by a mail client, say) is an error rather than a guess.
    pub fn parse(line: &str) -> Result<Invite, InviteError> {
        let line = line.trim();
        if line.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InviteError::Broken);
        }
        let rest = strip_scheme(line).ok_or(InviteError::NoScheme)?;
        let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
        // A trailing slash, as some apps add to links, changes nothing.
        let addr = addr.strip_suffix('/').unwrap_or(addr);
        let tracker =
            check_host_port(addr).map_err(|_| InviteError::BadAddress(addr.to_owned()))?;
        let mut key = None;
        let mut group = None;
        for field in query.split('&').filter(|f| !f.is_empty()) {
            let (name, value) = field.split_once('=').unwrap_or((field, ""));
            match name {
                "key" => {
                    let parsed = value
                        .parse::<PublicKey>()
                        .map_err(|_| InviteError::BadKey(value.to_owned()))?;
                    if key.replace(parsed).is_some() {
                        return Err(InviteError::Twice("key"));
                    }
                }
                "group" => {
                    let text = percent_decode(value)
                        .ok_or_else(|| InviteError::BadGroup(format!("{value:?} is garbled")))?;
                    let parsed = GroupName::parse_user(&text)
                        .map_err(|e| InviteError::BadGroup(format!("{text:?}: {e}")))?;
                    if group.replace(parsed).is_some() {
                        return Err(InviteError::Twice("group"));
                    }
                }
                // Fields of a later natter.
                _ => {}
            }
        }
        Ok(Invite {
            tracker,
            key: key.ok_or(InviteError::NoKey)?,
            group,
        })
    }
}

impl fmt::Display for Invite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}?key={}", self.tracker, self.key)?;
        if let Some(group) = &self.group {
            write!(f, "&group={}", percent_encode(group.as_str()))?;
        }
        Ok(())
    }
}

/// `line` after the scheme, which is matched without regard to case (as URL schemes are).
fn strip_scheme(line: &str) -> Option<&str> {
    let head = line.get(..SCHEME.len())?;
    head.eq_ignore_ascii_case(SCHEME)
        .then(|| &line[SCHEME.len()..])
}

/// Checks that an address is `HOST:PORT` (a name or an IP, then a port number); the name is
/// resolved when connecting.
pub fn check_host_port(s: &str) -> Result<String, String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(s.to_owned());
    }
    let bad = || format!("{s:?} is not HOST:PORT (for example 192.168.1.20:7700)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !host_ok || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(s.to_owned())
}

/// Bytes that stand for themselves in a query value (RFC 3986's unreserved set).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// `s` with every byte outside the unreserved set as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` with each `%XX` decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key()
    }

    fn invite(tracker: &str, group: Option<&str>) -> Invite {
        Invite {
            tracker: tracker.to_owned(),
            key: key(),
            group: group.map(|g| GroupName::parse_user(g).expect("group")),
        }
    }

    #[test]
    fn an_invite_is_one_link() {
        let k = key();
        assert_eq!(
            invite("192.168.1.20:7700", None).to_string(),
            format!("natter://192.168.1.20:7700?key={k}")
        );
        assert_eq!(
            invite("my-box:7700", Some("#room")).to_string(),
            format!("natter://my-box:7700?key={k}&group=room")
        );
        let line = invite("[fd00::2]:7700", Some("Grüße")).to_string();
        assert!(line.ends_with("&group=Gr%C3%BC%C3%9Fe"), "{line}");
        assert!(!line.chars().any(char::is_whitespace), "{line}");
    }

    #[test]
    fn every_invite_reads_back_as_itself() {
        for (tracker, group) in [
            ("127.0.0.1:1", None),
            ("192.168.1.20:7700", Some("room")),
            ("[::1]:7700", Some("a.b-c_d")),
            ("example.org:80", Some("Grüße")),
            ("host:65535", Some("日本")),
        ] {
            let original = invite(tracker, group);
            assert_eq!(Invite::parse(&original.to_string()), Ok(original));
        }
    }

    #[test]
    fn reading_forgives_what_pasting_adds() {
        let k = key();
        let expected = invite("10.0.0.2:7700", Some("room"));
        for line in [
            format!("  natter://10.0.0.2:7700?key={k}&group=room\n"),
            format!("NATTER://10.0.0.2:7700/?key={k}&group=room"),
            format!("natter://10.0.0.2:7700?group=room&key={k}&later=field"),
            format!("natter://10.0.0.2:7700?key={k}&&group=%72oom"),
        ] {
            assert_eq!(Invite::parse(&line), Ok(expected.clone()), "{line}");
        }
    }

    #[test]
    fn bad_invites_say_what_is_wrong() {
        let k = key().to_string();
        let short = &k[..30];
        let cases: Vec<(String, InviteError)> = vec![
            (String::new(), InviteError::NoScheme),
            ("10.0.0.2:7700".into(), InviteError::NoScheme),
            (format!("http://h:1?key={k}"), InviteError::NoScheme),
            (
                format!("natter://h?key={k}"),
                InviteError::BadAddress("h".into()),
            ),
            (
                format!("natter://h:99999?key={k}"),
                InviteError::BadAddress("h:99999".into()),
            ),
            (
                format!("natter://:1?key={k}"),
                InviteError::BadAddress(":1".into()),
            ),
            ("natter://h:1".into(), InviteError::NoKey),
            ("natter://h:1?group=g".into(), InviteError::NoKey),
            (
                format!("natter://h:1?key={short}"),
                InviteError::BadKey(short.into()),
            ),
            (
                format!("natter://h:1?key={k}&key={k}"),
                InviteError::Twice("key"),
            ),
            (
                format!("natter://h:1?key={k}&group=a&group=b"),
                InviteError::Twice("group"),
            ),
            (format!("natter://h:1?key=\n{k}"), InviteError::Broken),
            (format!("natter://h:1?key={k} x"), InviteError::Broken),
        ];
        for (line, expected) in cases {
            assert_eq!(Invite::parse(&line), Err(expected), "{line:?}");
        }
        for group in ["bad%zz", "%FF%FE", "a%2", "no%20space", ""] {
            let line = format!("natter://h:1?key={k}&group={group}");
            assert!(
                matches!(Invite::parse(&line), Err(InviteError::BadGroup(_))),
                "{line}"
            );
        }
    }

    #[test]
    fn messages_of_bad_invites_are_plain_sentences() {
        let err = Invite::parse("natter://h:1?key=abc").expect_err("bad key");
        assert!(err.to_string().contains("cut short"), "{err}");
        let err = Invite::parse("hello").expect_err("no scheme");
        assert!(err.to_string().contains("natter://HOST:PORT"), "{err}");
    }

    #[test]
    fn any_text_is_read_without_panicking() {
        for line in [
            "natter://",
            "natter://?",
            "natter://h:1?=",
            "natter://h:1?key",
            "natter://h:1?group=%",
            "natter://h:1?group=%é",
            "natter://h:1?group=é%",
            "natterx",
            "natter:/",
            "ñatter://h:1",
        ] {
            assert!(Invite::parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn tracker_addresses_must_be_host_port() {
        for ok in ["127.0.0.1:7700", "[::1]:7700", "example.org:80", "my-box:1"] {
            assert_eq!(check_host_port(ok), Ok(ok.to_owned()));
        }
        for bad in [
            "not-an-address",
            ":7700",
            "host:",
            "host:99999",
            "a b:1",
            "h:x",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }
}
