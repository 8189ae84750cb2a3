//! Validated peer and group names.
//!
//! Names travel in every frame and end up in file names, member lists and the terminal, so
//! they are checked once, at the edge (deserialisation or user input), and are plain
//! strings after that.
//!
//! Names compare case-insensitively (`Bob` and `bob` are one peer, `#Rust` and `#rust` one
//! group, as IRC users expect): `Eq`, `Hash` and `Ord` all use the Unicode case fold
//! ([`unicase`]: CaseFolding.txt, so `STRASSE` is `straße`), and every map keyed by a name
//! follows. The spelling its owner chose is kept for display (`as_str`, `Display`, serde),
//! and is what a signature covers: a signature is over what its author wrote.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The longest peer or group name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name has at most {MAX_NAME_CHARS} characters")]
    TooLong,
    /// The first character a name cannot hold.
    #[error("{}", bad_chars_message(&[*.0], "name"))]
    BadChar(char),
}

/// Whether a name may hold `c`.
fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn validate(s: &str) -> Result<(), InvalidName> {
    if s.is_empty() {
        return Err(InvalidName::Empty);
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(InvalidName::TooLong);
    }
    match s.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(InvalidName::BadChar(c)),
        None => Ok(()),
    }
}

/// The characters of `s` a name cannot hold, each once, in the order they first appear
/// (at most 8: enough to say what is wrong).
pub fn bad_chars(s: &str) -> Vec<char> {
    let mut found: Vec<char> = Vec::new();
    for c in s.chars().filter(|&c| !allowed(c)) {
        if !found.contains(&c) {
            found.push(c);
            if found.len() == 8 {
                break;
            }
        }
    }
    found
}

/// Says which characters a `what` (say "group name") cannot hold and what it may:
/// `'!' is not allowed in a group name; use letters, digits, '-', '_' or '.'`. A space
/// and control characters are named in words, so the message never carries them raw.
pub fn bad_chars_message(chars: &[char], what: &str) -> String {
    let shown: Vec<String> = chars.iter().map(|&c| show_char(c)).collect();
    let (list, verb) = match shown.as_slice() {
        [] => ("that".to_owned(), "is"),
        [one] => (one.clone(), "is"),
        [init @ .., last] => (format!("{} and {last}", init.join(", ")), "are"),
    };
    format!("{list} {verb} not allowed in a {what}; use letters, digits, '-', '_' or '.'")
}

fn show_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        c if c.is_control() || c.is_whitespace() => format!("U+{:04X}", u32::from(c)),
        c => format!("'{c}'"),
    }
}

/// The Unicode case fold of `s`: the form name equality compares.
pub fn fold(s: &str) -> String {
    unicase::UniCase::new(s).to_folded_case()
}

/// Name equality, order and hashing (`names/caseless.rs`).
mod caseless;

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        ///
        /// Equality, hashing and order ignore case (see the module); `as_str` is the spelling
        /// as written. Clones share the text: a tracker keys several maps by each name.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $ty(Arc<str>);

        /// As the string it is (no copy made to serialise it).
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl $ty {
            /// The name as its owner spelled it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The case-folded form that equality compares: one string for every spelling
            /// of the name (for a store that keys rows by name text).
            pub fn folded(&self) -> String {
                fold(&self.0)
            }
        }

        impl PartialEq for $ty {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                caseless::eq(&self.0, &other.0)
            }
        }

        impl Eq for $ty {}

        impl Hash for $ty {
            fn hash<H: Hasher>(&self, state: &mut H) {
                caseless::hash(&self.0, state)
            }
        }

        impl PartialOrd for $ty {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $ty {
            #[inline]
            fn cmp(&self, other: &Self) -> Ordering {
                caseless::cmp(&self.0, &other.0)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, InvalidName> {
                validate(&s)?;
                Ok(Self(s.into()))
            }
        }

        impl std::str::FromStr for $ty {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, InvalidName> {
                validate(s)?;
                Ok(Self(s.into()))
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0.as_ref().to_owned()
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // No `Borrow<str>`: a map lookup by `&str` would hash and order the raw spelling,
        // not the folded one, and miss.
    };
}

name_type!(
    /// A peer's name: 1 to 32 letters, digits, `-`, `_` or `.`.
    Name
);
name_type!(
    /// A group's name, stored without the `#` users write in front of it.
    GroupName
);

impl GroupName {
    /// Parses user input, where a group may be written with or without a leading `#`.
    pub fn parse_user(s: &str) -> Result<Self, InvalidName> {
        s.strip_prefix('#').unwrap_or(s).parse()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Groups display with their `#`, as users write them.
impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["alice", "Bob-2", "x.y_z", "émile", "李雷"] {
            assert!(ok.parse::<Name>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!("".parse::<Name>(), Err(InvalidName::Empty));
        assert_eq!("a b".parse::<Name>(), Err(InvalidName::BadChar(' ')));
        assert_eq!("a/b".parse::<Name>(), Err(InvalidName::BadChar('/')));
        assert_eq!("1.2.3.4:5".parse::<Name>(), Err(InvalidName::BadChar(':')));
        assert_eq!("a".repeat(33).parse::<Name>(), Err(InvalidName::TooLong));
    }

    #[test]
    fn bad_characters_are_named() {
        assert_eq!(
            InvalidName::BadChar('!').to_string(),
            "'!' is not allowed in a name; use letters, digits, '-', '_' or '.'"
        );
        assert_eq!(bad_chars("bad name!! x"), vec![' ', '!']);
        assert_eq!(
            bad_chars_message(&bad_chars("bad name!"), "group name"),
            "a space and '!' are not allowed in a group name; use letters, digits, '-', '_' or '.'"
        );
        assert_eq!(
            bad_chars_message(&['\u{1b}'], "peer name"),
            "U+001B is not allowed in a peer name; use letters, digits, '-', '_' or '.'"
        );
        assert!(bad_chars("fine-name_1.2").is_empty());
    }

    #[test]
    fn group_accepts_hash_prefix_from_users_only() {
        assert_eq!(
            GroupName::parse_user("#rust").map(String::from),
            Ok("rust".into())
        );
        assert_eq!(
            GroupName::parse_user("rust").map(String::from),
            Ok("rust".into())
        );
        assert!("#rust".parse::<GroupName>().is_err());
        assert_eq!(
            GroupName::parse_user("#rust").map(|g| g.to_string()),
            Ok("#rust".into())
        );
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Name>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<Name>("\"not ok\"").is_err());
    }

    fn name(s: &str) -> Name {
        s.parse().expect("a valid name")
    }

    fn group(s: &str) -> GroupName {
        s.parse().expect("a valid group name")
    }

    fn hash_of<T: Hash>(t: &T) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        t.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn names_compare_case_insensitively_and_keep_their_spelling() {
        assert_eq!(name("Bob"), name("bob"));
        assert_eq!(name("BOB"), name("bob"));
        assert_eq!(hash_of(&name("Bob")), hash_of(&name("bob")));
        assert_eq!(name("Bob").cmp(&name("bOB")), Ordering::Equal);
        assert_ne!(name("bob"), name("bobby"));
        assert_eq!(name("Bob").as_str(), "Bob");
        assert_eq!(name("Bob").to_string(), "Bob");
        assert_eq!(name("Bob").folded(), "bob");
    }

    #[test]
    fn case_folding_is_unicode() {
        assert_eq!(name("ÉMILE"), name("émile"));
        assert_eq!(hash_of(&name("ÉMILE")), hash_of(&name("émile")));
        // Full folding: ß is ss, the Kelvin sign is k (a non-ASCII name equal to an ASCII one).
        assert_eq!(name("STRASSE"), name("straße"));
        assert_eq!(name("\u{212a}im"), name("kim"));
        assert_eq!(hash_of(&name("\u{212a}im")), hash_of(&name("kim")));
    }

    #[test]
    fn order_is_the_folded_order() {
        let mut names = [name("carol"), name("Bob"), name("alice"), name("Dave")];
        names.sort();
        let spelled: Vec<&str> = names.iter().map(Name::as_str).collect();
        assert_eq!(spelled, ["alice", "Bob", "carol", "Dave"]);
    }

    #[test]
    fn maps_find_a_name_by_any_case() {
        let mut map = std::collections::HashMap::new();
        map.insert(name("Bob"), 1);
        assert_eq!(map.get(&name("bob")), Some(&1));
        assert_eq!(map.get(&name("BOB")), Some(&1));
        // Inserting another spelling replaces the value; the first spelling stays the key.
        map.insert(name("bob"), 2);
        assert_eq!(map.len(), 1);
        assert_eq!(map.keys().next().map(Name::as_str), Some("Bob"));

        let mut tree = std::collections::BTreeMap::new();
        tree.insert(group("MixedCase"), ());
        assert!(tree.contains_key(&group("mixedcase")));
    }

    #[test]
    fn groups_compare_case_insensitively_and_keep_their_spelling() {
        assert_eq!(group("MixedCase"), group("mixedcase"));
        assert_eq!(hash_of(&group("MixedCase")), hash_of(&group("mixedcase")));
        assert_eq!(
            GroupName::parse_user("#Rust").expect("valid"),
            group("rust")
        );
        let mut map = std::collections::HashMap::new();
        map.insert(group("Rust"), "x");
        assert_eq!(map.get(&group("RUST")), Some(&"x"));
        assert_eq!(group("Rust").to_string(), "#Rust");
    }

    #[test]
    fn serde_round_trips_the_spelling() {
        let json = serde_json::to_string(&name("Bob")).expect("serialises");
        assert_eq!(json, "\"Bob\"");
        let back: Name = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back.as_str(), "Bob");
        let json = serde_json::to_string(&group("MixedCase")).expect("serialises");
        assert_eq!(json, "\"MixedCase\"");
        let back: GroupName = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back.as_str(), "MixedCase");
    }
}
