//! Validated peer and group names.
//!
//! Names travel in every frame and end up in file names, member lists and the terminal, so
//! they are checked once, at the edge (deserialisation or user input), and are plain
//! strings after that.

use std::fmt;

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
    #[error("a name may hold only letters, digits, '-', '_' and '.' (found {0:?})")]
    BadChar(char),
}

fn validate(s: &str) -> Result<(), InvalidName> {
    if s.is_empty() {
        return Err(InvalidName::Empty);
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(InvalidName::TooLong);
    }
    match s
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(c) => Err(InvalidName::BadChar(c)),
        None => Ok(()),
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, InvalidName> {
                validate(&s)?;
                Ok(Self(s))
            }
        }

        impl std::str::FromStr for $ty {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, InvalidName> {
                Self::try_from(s.to_owned())
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
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
}
