//! Parsing one line of user input into a node command or a front-end action.
//!
//! The TUI and the headless mode take the same slash commands; this is the one place that
//! knows their spelling. Plain text (no leading `/`) is a message to the current
//! conversation, which only the TUI has.

use std::net::SocketAddr;

use natter_protocol::govern::Act;
use natter_protocol::names::{bad_chars, bad_chars_message};
use natter_protocol::peer::{MAX_EMOJI_BYTES, MessageId};
use natter_protocol::tracker::MAX_STATUS_CHARS;
use natter_protocol::{GroupName, InvalidName, Name};

use crate::node::{Action, Command, Target};

pub mod json;

/// What a line of input asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Something for the node.
    Node(Command),
    /// `/help`: list commands and keys.
    Help,
    /// `/clear`: empty the current conversation's view.
    Clear,
    /// `/query NAME`: open a private conversation.
    Query(Name),
    /// Text without a leading `/`: a message to the current conversation.
    Text(String),
    /// `/invite-link`: show the invite and copy it to the clipboard (TUI).
    InviteLink,
}

/// Every slash command with its arguments and what it does, for `/help`.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "/join GROUP",
        "join a group (created if new); # is optional",
    ),
    ("/leave GROUP", "leave a group"),
    (
        "/create GROUP [NAME ...]",
        "create a group you own, with these peers in it",
    ),
    ("/add GROUP NAME", "add a peer to a group (admins)"),
    (
        "/invite GROUP NAME",
        "let a peer /join an invite-only group (admins)",
    ),
    ("/invites", "the invites waiting for you"),
    (
        "/kick GROUP NAME [REASON]",
        "remove a member; it cannot rejoin unless added again (admins)",
    ),
    ("/op GROUP NAME", "make a member an admin (owner)"),
    ("/deop GROUP NAME", "make an admin a member again (owner)"),
    (
        "/owner GROUP NAME",
        "hand the group to a member; you become an admin (owner)",
    ),
    ("/topic GROUP [TEXT]", "set or clear the topic (admins)"),
    (
        "/private GROUP on|off",
        "make the group invite-only, or open (admins)",
    ),
    ("/disband GROUP", "end the group for everyone (owner)"),
    (
        "/msg TARGET TEXT",
        "message #group, a peer by name, or IP:PORT",
    ),
    ("/query NAME", "open a private conversation (TUI)"),
    (
        "/reply ID TEXT",
        "answer the message ID (ids look like bob/12)",
    ),
    ("/edit ID TEXT", "change the text of your message ID"),
    (
        "/delete ID",
        "take back your message ID (erased everywhere)",
    ),
    (
        "/react ID EMOJI",
        "react to message ID (again to take it back); :name: works",
    ),
    ("/read TARGET", "mark a conversation read up to now"),
    ("/typing TARGET", "tell a conversation you are typing"),
    (
        "/whois NAME",
        "a peer's key, presence, status and shared groups",
    ),
    ("/status [TEXT]", "set your status line (empty clears it)"),
    ("/receipts on|off", "send read receipts or not"),
    ("/typing-notices on|off", "send typing notices or not"),
    ("/members GROUP", "list a group's members"),
    ("/groups", "list the groups you are in"),
    (
        "/block NAME",
        "drop everything from NAME's key (kept across restarts)",
    ),
    ("/unblock NAME", "stop blocking NAME"),
    (
        "/trust NAME",
        "accept the new key NAME presents after a key change",
    ),
    ("/clear", "clear the current conversation's view (TUI)"),
    ("/help", "this list"),
    ("/quit", "leave natter (your groups stay yours)"),
    (
        "/search TEXT [in TARGET]",
        "find stored messages with these words (\"a phrase\" in quotes)",
    ),
    (
        "/mentions",
        "unread messages that name you or were sent to you privately",
    ),
    (
        "/invite-link",
        "show the invite to your tracker (and this group) and copy it (TUI)",
    ),
    (
        "/history TARGET [N]",
        "the last N (default 50) messages of a conversation",
    ),
    (
        "/doctor",
        "check the tracker, your reachability, clock, members and disk",
    ),
];

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown command {0}; /help lists the commands")]
    Unknown(String),
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("{what} {input:?} is not valid: {reason}")]
    BadName {
        what: &'static str,
        input: String,
        reason: String,
    },
    #[error("nothing to send")]
    Empty,
    #[error("{what} is at most {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{0}")]
    Refused(String),
    /// A name with characters no name may hold, each named.
    #[error("{input:?}: {message}")]
    BadChars { input: String, message: String },
}

/// Messages `/history` shows when no count is given.
pub const DEFAULT_HISTORY: usize = 50;
/// The most `/history` shows at once.
pub const MAX_HISTORY: usize = 1000;

/// Parses one line of input.
pub fn parse(line: &str) -> Result<Input, ParseError> {
    parse_exact(line.trim_end_matches(['\r', '\n']))
}

/// Parses input as it is, a trailing line break included (the JSON form's last argument
/// is taken verbatim).
pub(crate) fn parse_exact(line: &str) -> Result<Input, ParseError> {
    let Some(rest) = line.strip_prefix('/') else {
        if line.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        return Ok(Input::Text(line.to_owned()));
    };
    let (word, args) = split_word(rest);
    let args = args.trim_start();
    match word {
        "join" | "j" => Ok(Input::Node(Command::Join(group_arg(args, "/join GROUP")?))),
        "leave" | "part" => Ok(Input::Node(Command::Leave(group_arg(
            args,
            "/leave GROUP",
        )?))),
        "members" | "names" => Ok(Input::Node(Command::Members(group_arg(
            args,
            "/members GROUP",
        )?))),
        "groups" => no_args(args, "/groups", Input::Node(Command::Groups)),
        "history" => {
            const USAGE: &str = "/history TARGET [N]";
            let (target, count) = split_word(args);
            if target.is_empty() {
                return Err(ParseError::Usage(USAGE));
            }
            // More than the most is the most (like `tail -n`), not an error.
            let limit = match count.trim() {
                "" => DEFAULT_HISTORY,
                n => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(ParseError::Usage(USAGE))?
                    .min(MAX_HISTORY),
            };
            Ok(Input::Node(Command::History {
                target: parse_target(target)?,
                limit,
            }))
        }
        "quit" | "exit" => no_args(args, "/quit", Input::Node(Command::Quit)),
        "block" => Ok(Input::Node(Command::Block(name_arg(args, "/block NAME")?))),
        "unblock" => Ok(Input::Node(Command::Unblock(name_arg(
            args,
            "/unblock NAME",
        )?))),
        "trust" => Ok(Input::Node(Command::Trust(name_arg(args, "/trust NAME")?))),
        "help" => no_args(args, "/help", Input::Help),
        "clear" => no_args(args, "/clear", Input::Clear),
        "query" | "q" => Ok(Input::Query(name_arg(args, "/query NAME")?)),
        "msg" | "m" => {
            let (target, text) = split_word(args);
            let text = text.strip_prefix(' ').unwrap_or(text);
            if target.is_empty() || text.trim().is_empty() {
                return Err(ParseError::Usage("/msg TARGET TEXT"));
            }
            Ok(Input::Node(Command::Send {
                target: parse_target(target)?,
                text: text.to_owned(),
            }))
        }
        "create" => {
            const USAGE: &str = "/create GROUP [NAME ...]";
            let (group, rest) = split_word(args);
            if group.is_empty() {
                return Err(ParseError::Usage(USAGE));
            }
            let participants = rest
                .split_whitespace()
                .map(peer_name)
                .collect::<Result<Vec<_>, _>>()?;
            govern(group, Act::Create { participants })
        }
        "add" => {
            let (group, name) = group_and_name(args, "/add GROUP NAME")?;
            govern_in(group, Act::Add { name })
        }
        "invite" => {
            let (group, name) = group_and_name(args, "/invite GROUP NAME")?;
            govern_in(group, Act::Invite { name })
        }
        "kick" => {
            const USAGE: &str = "/kick GROUP NAME [REASON]";
            let (group, rest) = split_word(args);
            let (name, reason) = split_word(rest.trim_start());
            if group.is_empty() || name.is_empty() {
                return Err(ParseError::Usage(USAGE));
            }
            let reason = Some(reason.trim())
                .filter(|r| !r.is_empty())
                .map(str::to_owned);
            let name = peer_name(name)?;
            govern(group, Act::Kick { name, reason })
        }
        "op" => {
            let (group, name) = group_and_name(args, "/op GROUP NAME")?;
            govern_in(group, Act::Op { name })
        }
        "deop" => {
            let (group, name) = group_and_name(args, "/deop GROUP NAME")?;
            govern_in(group, Act::Deop { name })
        }
        "owner" => {
            let (group, name) = group_and_name(args, "/owner GROUP NAME")?;
            govern_in(group, Act::Transfer { name })
        }
        "topic" => {
            let (group, topic) = split_word(args);
            if group.is_empty() {
                return Err(ParseError::Usage("/topic GROUP [TEXT]"));
            }
            let topic = Some(topic.trim())
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            govern(group, Act::Topic { topic })
        }
        "private" => {
            const USAGE: &str = "/private GROUP on|off";
            let (group, on) = split_word(args);
            if group.is_empty() {
                return Err(ParseError::Usage(USAGE));
            }
            let on = on_off(on, USAGE)?;
            govern(group, Act::Private { on })
        }
        "disband" => govern_in(group_arg(args, "/disband GROUP")?, Act::Disband),
        "invites" => no_args(args, "/invites", Input::Node(Command::Invites)),
        "reply" => {
            let (id, text) = id_and_text(args, "/reply ID TEXT")?;
            Ok(act(id, Action::Reply(text)))
        }
        "edit" => {
            let (id, text) = id_and_text(args, "/edit ID TEXT")?;
            Ok(act(id, Action::Edit(text)))
        }
        "delete" | "del" => {
            let (id, extra) = split_word(args);
            if id.is_empty() || !extra.trim().is_empty() {
                return Err(ParseError::Usage("/delete ID"));
            }
            Ok(act(message_id(id)?, Action::Delete))
        }
        "react" => {
            const USAGE: &str = "/react ID EMOJI";
            let (id, emoji) = split_word(args);
            let emoji = emoji.trim();
            if id.is_empty() || emoji.is_empty() {
                return Err(ParseError::Usage(USAGE));
            }
            Ok(act(message_id(id)?, Action::React(reaction(emoji)?)))
        }
        "read" => Ok(Input::Node(Command::Read(target_arg(
            args,
            "/read TARGET",
        )?))),
        "typing" => Ok(Input::Node(Command::Typing(target_arg(
            args,
            "/typing TARGET",
        )?))),
        "whois" => Ok(Input::Node(Command::Whois(name_arg(args, "/whois NAME")?))),
        "status" => {
            let status = args.trim();
            if status.chars().count() > MAX_STATUS_CHARS {
                return Err(ParseError::TooLong {
                    what: "a status line",
                    max: MAX_STATUS_CHARS,
                });
            }
            if status.chars().any(char::is_control) {
                return Err(ParseError::Usage("/status [TEXT] (one line)"));
            }
            Ok(Input::Node(Command::Status(status.to_owned())))
        }
        "receipts" => Ok(Input::Node(Command::Receipts(on_off(
            args,
            "/receipts on|off",
        )?))),
        "typing-notices" => Ok(Input::Node(Command::TypingNotices(on_off(
            args,
            "/typing-notices on|off",
        )?))),
        "search" => search(args),
        "mentions" => no_args(args, "/mentions", Input::Node(Command::Mentions)),
        "invite-link" => no_args(args, "/invite-link", Input::InviteLink),
        "doctor" => no_args(args, "/doctor", Input::Node(Command::Doctor)),
        "" => Err(ParseError::Unknown("/".into())),
        other => Err(ParseError::Unknown(format!("/{other}"))),
    }
}

/// `/search TEXT [in TARGET]`: `in TARGET` at the end (outside a quoted phrase) narrows
/// the search to one conversation.
fn search(args: &str) -> Result<Input, ParseError> {
    const USAGE: &str = "/search TEXT [in TARGET]";
    let args = args.trim();
    let narrowed = args
        .rsplit_once(char::is_whitespace)
        .filter(|_| !args.ends_with('"'))
        .and_then(|(head, target)| {
            let text = head.trim_end().strip_suffix("in")?;
            (text.ends_with(char::is_whitespace) && !text.trim().is_empty())
                .then(|| (text.trim(), target))
        });
    let (text, target) = match narrowed {
        Some((text, target)) => (text, Some(parse_target(target)?)),
        None => (args, None),
    };
    // `in` and one word, nothing before them: the words were forgotten, most likely.
    if let Some(("in", word)) = text.split_once(char::is_whitespace)
        && !word.trim().contains(char::is_whitespace)
    {
        return Err(ParseError::Refused(format!(
            "nothing to search for before \"{text}\": give the words first \
             (/search WORDS {text}), or put them in double quotes to search for them"
        )));
    }
    if text.is_empty() {
        return Err(ParseError::Usage(USAGE));
    }
    Ok(Input::Node(Command::Search {
        text: text.to_owned(),
        target,
    }))
}

/// Parses a message target: `#group`, `IP:PORT` or a peer's name.
pub fn parse_target(s: &str) -> Result<Target, ParseError> {
    if s.starts_with('#') {
        return GroupName::parse_user(s)
            .map(Target::Group)
            .map_err(|e| bad_name("group name", s, e));
    }
    if s.contains(':') {
        return s
            .parse::<SocketAddr>()
            .map(Target::Addr)
            .map_err(|e| bad("address", s, e));
    }
    peer_name(s).map(Target::Peer)
}

/// A governance command on the group named `group` (as typed).
fn govern(group: &str, act: Act) -> Result<Input, ParseError> {
    let group = GroupName::parse_user(group).map_err(|e| bad_name("group name", group, e))?;
    govern_in(group, act)
}

fn govern_in(group: GroupName, act: Act) -> Result<Input, ParseError> {
    if let Some(why) = act.refusal() {
        return Err(ParseError::Refused(why));
    }
    Ok(Input::Node(Command::Govern { group, act }))
}

fn group_and_name(args: &str, usage: &'static str) -> Result<(GroupName, Name), ParseError> {
    let (group, rest) = split_word(args);
    let (name, extra) = split_word(rest.trim_start());
    if group.is_empty() || name.is_empty() || !extra.trim().is_empty() {
        return Err(ParseError::Usage(usage));
    }
    let group = GroupName::parse_user(group).map_err(|e| bad_name("group name", group, e))?;
    Ok((group, peer_name(name)?))
}

fn act(id: MessageId, action: Action) -> Input {
    Input::Node(Command::Act { id, action })
}

fn message_id(s: &str) -> Result<MessageId, ParseError> {
    s.parse().map_err(|e| bad("message id", s, e))
}

fn id_and_text(args: &str, usage: &'static str) -> Result<(MessageId, String), ParseError> {
    let (id, text) = split_word(args);
    let text = text.strip_prefix(' ').unwrap_or(text);
    if id.is_empty() || text.trim().is_empty() {
        return Err(ParseError::Usage(usage));
    }
    Ok((message_id(id)?, text.to_owned()))
}

fn target_arg(args: &str, usage: &'static str) -> Result<Target, ParseError> {
    let (target, extra) = split_word(args);
    if target.is_empty() || !extra.trim().is_empty() {
        return Err(ParseError::Usage(usage));
    }
    parse_target(target)
}

fn on_off(args: &str, usage: &'static str) -> Result<bool, ParseError> {
    match args.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(ParseError::Usage(usage)),
    }
}

/// A reaction as typed: an emoji, or a `:name:` shortcode for one.
pub fn reaction(typed: &str) -> Result<String, ParseError> {
    let emoji = match typed.strip_prefix(':').and_then(|s| s.strip_suffix(':')) {
        Some(code) => emojis::get_by_shortcode(code)
            .map(emojis::Emoji::as_str)
            .ok_or_else(|| bad("emoji shortcode", typed, "no emoji has that name"))?
            .to_owned(),
        None => typed.to_owned(),
    };
    if emoji.len() > MAX_EMOJI_BYTES || emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let reason = format!("a reaction is one emoji (at most {MAX_EMOJI_BYTES} bytes)");
        return Err(bad("reaction", typed, reason));
    }
    Ok(emoji)
}

fn split_word(s: &str) -> (&str, &str) {
    s.split_once(char::is_whitespace).unwrap_or((s, ""))
}

/// The one group a command takes. More than one word is a name with a space in it (as
/// `/join #bad name!` is), so the error names the characters no name may hold.
fn group_arg(args: &str, usage: &'static str) -> Result<GroupName, ParseError> {
    let group = args.trim();
    if group.is_empty() {
        return Err(ParseError::Usage(usage));
    }
    GroupName::parse_user(group).map_err(|e| bad_name("group name", group, e))
}

/// The one peer name a command takes; as [`group_arg`].
fn name_arg(args: &str, usage: &'static str) -> Result<Name, ParseError> {
    let name = args.trim();
    if name.is_empty() {
        return Err(ParseError::Usage(usage));
    }
    peer_name(name)
}

fn no_args(args: &str, usage: &'static str, input: Input) -> Result<Input, ParseError> {
    if args.trim().is_empty() {
        Ok(input)
    } else {
        Err(ParseError::Usage(usage))
    }
}

fn peer_name(s: &str) -> Result<Name, ParseError> {
    s.parse().map_err(|e| bad_name("peer name", s, e))
}

/// Why `input` is not a `what` ("group name", "peer name"): a bad character is named, with
/// every other bad one in it.
fn bad_name(what: &'static str, input: &str, e: InvalidName) -> ParseError {
    match e {
        InvalidName::BadChar(_) => {
            let name = if what == "group name" {
                input.strip_prefix('#').unwrap_or(input)
            } else {
                input
            };
            ParseError::BadChars {
                input: input.to_owned(),
                message: bad_chars_message(&bad_chars(name), what),
            }
        }
        e => bad(what, input, e),
    }
}

fn bad(what: &'static str, input: &str, reason: impl ToString) -> ParseError {
    ParseError::BadName {
        what,
        input: input.to_owned(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(s: &str) -> GroupName {
        s.parse().expect("group")
    }

    #[test]
    fn parses_group_commands_with_or_without_hash() {
        assert_eq!(
            parse("/join #rust"),
            Ok(Input::Node(Command::Join(group("rust"))))
        );
        assert_eq!(
            parse("/join rust"),
            Ok(Input::Node(Command::Join(group("rust"))))
        );
        assert_eq!(
            parse("/leave #rust"),
            Ok(Input::Node(Command::Leave(group("rust"))))
        );
        assert_eq!(
            parse("/members rust"),
            Ok(Input::Node(Command::Members(group("rust"))))
        );
        assert_eq!(parse("/groups"), Ok(Input::Node(Command::Groups)));
        assert_eq!(parse("/quit"), Ok(Input::Node(Command::Quit)));
    }

    #[test]
    fn parses_msg_targets_and_keeps_text_spacing() {
        assert_eq!(
            parse("/msg #g hello  world "),
            Ok(Input::Node(Command::Send {
                target: Target::Group(group("g")),
                text: "hello  world ".into()
            }))
        );
        assert_eq!(
            parse("/msg bob hi"),
            Ok(Input::Node(Command::Send {
                target: Target::Peer("bob".parse().expect("name")),
                text: "hi".into()
            }))
        );
        assert_eq!(
            parse("/msg 127.0.0.1:4000 hi"),
            Ok(Input::Node(Command::Send {
                target: Target::Addr("127.0.0.1:4000".parse().expect("addr")),
                text: "hi".into()
            }))
        );
        assert_eq!(
            parse("/msg [::1]:4000 hi"),
            Ok(Input::Node(Command::Send {
                target: Target::Addr("[::1]:4000".parse().expect("addr")),
                text: "hi".into()
            }))
        );
    }

    #[test]
    fn reports_bad_input() {
        assert!(matches!(parse("/dance"), Err(ParseError::Unknown(_))));
        assert!(matches!(parse("/join"), Err(ParseError::Usage(_))));
        assert!(matches!(
            parse("/join a b"),
            Err(ParseError::BadChars { .. })
        ));
        assert!(matches!(parse("/msg bob"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("/msg"), Err(ParseError::Usage(_))));
        assert!(matches!(
            parse("/msg 300.1.1.1:80 hi"),
            Err(ParseError::BadName {
                what: "address",
                ..
            })
        ));
        assert!(matches!(
            parse("/msg bo$b hi"),
            Err(ParseError::BadChars { .. })
        ));
        assert!(matches!(parse("/join #"), Err(ParseError::BadName { .. })));
        assert_eq!(parse("   "), Err(ParseError::Empty));
        // Commands without arguments take none, alike.
        for extra in [
            "/quit now",
            "/exit 1",
            "/groups x",
            "/clear all",
            "/help join",
        ] {
            assert!(
                matches!(parse(extra), Err(ParseError::Usage(_))),
                "{extra}: {:?}",
                parse(extra)
            );
        }
        assert_eq!(parse("/quit  "), Ok(Input::Node(Command::Quit)));
    }

    #[test]
    fn search_takes_text_and_an_optional_conversation_at_the_end() {
        let search = |text: &str, target: Option<Target>| {
            Ok(Input::Node(Command::Search {
                text: text.into(),
                target,
            }))
        };
        assert_eq!(
            parse("/search deploy  friday "),
            search("deploy  friday", None)
        );
        assert_eq!(
            parse("/search deploy in #ops"),
            search("deploy", Some(Target::Group(group("ops"))))
        );
        assert_eq!(
            parse("/search a b in bob"),
            search("a b", Some(Target::Peer("bob".parse().expect("name"))))
        );
        // In a quoted phrase, `in` is a word like any other.
        assert_eq!(
            parse("/search \"meet me in paris\""),
            search("\"meet me in paris\"", None)
        );
        assert_eq!(parse("/search in"), search("in", None));
        // `in TARGET` alone: the words were forgotten (quoted, they are searched for).
        assert_eq!(
            parse("/search in #ops").map_err(|e| e.to_string()),
            Err(
                "nothing to search for before \"in #ops\": give the words first \
                 (/search WORDS in #ops), or put them in double quotes to search for them"
                    .to_owned()
            )
        );
        assert!(matches!(
            parse("/search in bob"),
            Err(ParseError::Refused(_))
        ));
        assert_eq!(parse("/search \"in #ops\""), search("\"in #ops\"", None));
        assert!(matches!(
            parse("/search in #bad!"),
            Err(ParseError::Refused(_))
        ));
        assert_eq!(parse("/search in the end"), search("in the end", None));
        assert!(matches!(parse("/search"), Err(ParseError::Usage(_))));
        assert!(matches!(
            parse("/search x in #bad!"),
            Err(ParseError::BadChars { .. })
        ));
        assert_eq!(parse("/mentions"), Ok(Input::Node(Command::Mentions)));
        assert!(matches!(parse("/mentions x"), Err(ParseError::Usage(_))));
    }

    #[test]
    fn bad_characters_in_names_are_named() {
        let message = |line: &str| parse(line).map_err(|e| e.to_string()).err();
        assert_eq!(
            message("/join #bad name!").as_deref(),
            Some(
                "\"#bad name!\": a space and '!' are not allowed in a group name; \
                 use letters, digits, '-', '_' or '.'"
            )
        );
        assert_eq!(
            message("/join #a!").as_deref(),
            Some(
                "\"#a!\": '!' is not allowed in a group name; use letters, digits, '-', '_' or '.'"
            )
        );
        assert_eq!(
            message("/whois bo b").as_deref(),
            Some(
                "\"bo b\": a space is not allowed in a peer name; use letters, digits, '-', '_' or '.'"
            )
        );
        assert_eq!(
            message("/msg bo$b hi").as_deref(),
            Some(
                "\"bo$b\": '$' is not allowed in a peer name; use letters, digits, '-', '_' or '.'"
            )
        );
    }

    #[test]
    fn plain_text_and_front_end_commands() {
        assert_eq!(parse("hello"), Ok(Input::Text("hello".into())));
        assert_eq!(parse("/help"), Ok(Input::Help));
        assert_eq!(parse("/clear"), Ok(Input::Clear));
        assert_eq!(
            parse("/query bob"),
            Ok(Input::Query("bob".parse().expect("name")))
        );
    }

    #[test]
    fn doctor_takes_no_arguments() {
        assert_eq!(parse("/doctor"), Ok(Input::Node(Command::Doctor)));
        assert!(matches!(parse("/doctor now"), Err(ParseError::Usage(_))));
        assert!(COMMANDS.iter().any(|(c, _)| *c == "/doctor"));
    }
}
