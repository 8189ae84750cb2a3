//! The JSON form of a command, for scripts: `{"cmd":"msg","target":"#g","text":"a\nb","req":7}`.
//!
//! Nothing here is written per command. Each command's fields come from its usage in
//! [`COMMANDS`] (`/msg TARGET TEXT` has `target` and `text`), the object is turned back
//! into the slash line those fields spell, and that line goes through [`parse_exact`] like
//! a typed one: a command added to `COMMANDS` later has a JSON form the day it is added,
//! with the same checks. The last argument is taken verbatim (it may hold line breaks and
//! spaces), and so is a `TEXT` or `REASON` argument before optional ones; every other
//! argument is one word.

use serde_json::{Map, Value};

use super::{COMMANDS, Input, parse_exact};
use crate::node::Command;
use natter_protocol::RequestId;

/// The fields every JSON command may have besides its arguments.
const RESERVED: [&str; 2] = ["cmd", "req"];

/// One argument of a command, from its usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Its JSON field: the usage's name in lower case (`TARGET` → `target`); a choice
    /// `on|off` is named by its first option.
    pub field: String,
    pub optional: bool,
    pub kind: Kind,
    /// Words the slash form writes before it (`in` in `[in TARGET]`).
    pub literal: Vec<String>,
}

/// What an argument holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// One word.
    Word,
    /// Free text, taken as it is.
    Text,
    /// Any number of words (`[NAME ...]`): a JSON array, or one string.
    List,
    /// One of two words (`on|off`): either word, or `true` for the first and `false` for
    /// the second.
    Choice(String, String),
}

/// A JSON command: the request id it gives (when it could be read) and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonCommand {
    pub req: Option<RequestId>,
    pub input: Result<Input, String>,
}

/// Whether a line is the JSON form of a command.
pub fn is_json(line: &str) -> bool {
    line.trim_start().starts_with('{')
}

/// Reads one JSON command. `req` is taken whenever the line is a JSON object with a
/// numeric `req`, so even a refused command's error carries it.
pub fn parse_json(line: &str) -> JsonCommand {
    let object = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return refused(
                None,
                "a JSON command is an object, e.g. {\"cmd\":\"groups\"}",
            );
        }
        Err(e) => return refused(None, &format!("not a JSON command: {e}")),
    };
    let req = match object.get("req") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(req) => Some(req),
            None => return refused(None, "\"req\" is a whole number of at least 0"),
        },
    };
    let input = to_line(&object).and_then(|line| match search_whole(&object) {
        Some(search) => Ok(search),
        None => parse_exact(&line).map_err(|e| e.to_string()),
    });
    JsonCommand { req, input }
}

/// A `search` without `target`: its whole `text`. The slash line would read a text
/// ending in `in WORD` as narrowed to the conversation WORD (`"flights in paris"` would
/// search for "flights" with paris only, or be refused when WORD is no name); in the
/// JSON form only the `target` field narrows. `None` for anything else.
fn search_whole(object: &Map<String, Value>) -> Option<Input> {
    let cmd = object.get("cmd")?.as_str()?;
    if cmd.strip_prefix('/').unwrap_or(cmd) != "search"
        || !matches!(object.get("target"), None | Some(Value::Null))
    {
        return None;
    }
    let text = match object.get("text")? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(Input::Node(Command::Search { text, target: None }))
}

fn refused(req: Option<RequestId>, message: &str) -> JsonCommand {
    JsonCommand {
        req,
        input: Err(message.to_owned()),
    }
}

/// The usage of command `cmd` (`msg` or `/msg`) in [`COMMANDS`].
fn usage_of(cmd: &str) -> Option<&'static str> {
    let cmd = cmd.strip_prefix('/').unwrap_or(cmd);
    COMMANDS
        .iter()
        .map(|(usage, _)| *usage)
        .find(|usage| usage.split_whitespace().next() == Some(&format!("/{cmd}")[..]))
}

/// The arguments a usage such as `/kick GROUP NAME [REASON]` names; `None` when it has a
/// part this module cannot read (a unit test keeps every entry of `COMMANDS` readable).
pub fn args_of(usage: &str) -> Option<Vec<Arg>> {
    let mut args = Vec::new();
    let mut parts = usage.split_whitespace().skip(1).peekable();
    while let Some(part) = parts.next() {
        let (optional, words) = match part.strip_prefix('[') {
            Some(open) => {
                let mut words = vec![open.to_owned()];
                while !words.last()?.ends_with(']') {
                    words.push(parts.next()?.to_owned());
                }
                let last = words.last_mut()?;
                last.pop();
                (true, words)
            }
            None => (false, vec![part.to_owned()]),
        };
        args.push(arg(optional, &words)?);
    }
    // The last argument takes the rest of the line.
    if let Some(last) = args.last_mut()
        && last.kind == Kind::Word
    {
        last.kind = Kind::Text;
    }
    Some(args)
}

/// One argument from its words: `NAME`, `NAME ...`, `on|off`, `in TARGET`.
fn arg(optional: bool, words: &[String]) -> Option<Arg> {
    let (name, rest) = words
        .iter()
        .position(|w| is_name(w) || w.contains('|'))
        .map(|i| (&words[i], &words[i + 1..]))?;
    let literal = words[..words.len() - rest.len() - 1].to_vec();
    let (field, kind) = match (name.split_once('|'), rest) {
        (Some((a, b)), []) => (a.to_owned(), Kind::Choice(a.to_owned(), b.to_owned())),
        (None, []) if matches!(name.as_str(), "TEXT" | "REASON") => {
            (name.to_lowercase(), Kind::Text)
        }
        (None, []) => (name.to_lowercase(), Kind::Word),
        (None, [dots]) if dots == "..." => (name.to_lowercase(), Kind::List),
        _ => return None,
    };
    Some(Arg {
        field,
        optional,
        kind,
        literal,
    })
}

/// An argument's name in a usage: upper-case letters, digits, `-` or `_`.
fn is_name(word: &str) -> bool {
    !word.is_empty()
        && word.chars().any(|c| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
}

/// The slash line a JSON command spells.
fn to_line(object: &Map<String, Value>) -> Result<String, String> {
    let cmd = match object.get("cmd") {
        Some(Value::String(cmd)) => cmd,
        Some(_) => return Err("\"cmd\" is a string, e.g. \"msg\"".to_owned()),
        None => return Err("a JSON command needs \"cmd\", e.g. {\"cmd\":\"groups\"}".to_owned()),
    };
    let usage = usage_of(cmd).ok_or_else(|| {
        format!("unknown command {cmd:?}; {{\"cmd\":\"help\"}} lists the commands")
    })?;
    let args = args_of(usage).ok_or_else(|| format!("{cmd:?} has no JSON form"))?;
    let fields: Vec<&str> = args.iter().map(|a| a.field.as_str()).collect();
    if let Some(unknown) = object
        .keys()
        .find(|k| !RESERVED.contains(&k.as_str()) && !fields.contains(&k.as_str()))
    {
        let takes = match fields.as_slice() {
            [] => "no fields".to_owned(),
            f => format!("the fields {}", f.join(", ")),
        };
        return Err(format!(
            "unknown field {unknown:?} for {cmd:?}, which takes {takes} (usage: {usage})"
        ));
    }
    let mut line = usage
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    for arg in &args {
        let value = match object.get(&arg.field) {
            None | Some(Value::Null) if arg.optional => continue,
            None | Some(Value::Null) => {
                return Err(format!("missing field {:?} (usage: {usage})", arg.field));
            }
            Some(value) => value,
        };
        let text = value_text(arg, value).map_err(|why| format!("{why} (usage: {usage})"))?;
        for word in &arg.literal {
            line.push(' ');
            line.push_str(word);
        }
        line.push(' ');
        // The slash form takes one more space after the separator as part of it
        // (`/msg bob  hi` sends "hi"): a text that starts with a space keeps it so.
        if arg.kind == Kind::Text && text.starts_with(' ') {
            line.push(' ');
        }
        line.push_str(&text);
    }
    Ok(line)
}

/// One argument's value as the slash form writes it.
fn value_text(arg: &Arg, value: &Value) -> Result<String, String> {
    let field = &arg.field;
    let word = |value: &Value| -> Result<String, String> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("{field:?} is a string")),
        };
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err(format!("{field:?} is one word, without spaces"));
        }
        Ok(text)
    };
    match (&arg.kind, value) {
        (Kind::Word, value) => word(value),
        (Kind::Text, Value::String(s)) => Ok(s.clone()),
        (Kind::Text, Value::Number(n)) => Ok(n.to_string()),
        (Kind::Text, _) => Err(format!("{field:?} is a string")),
        (Kind::List, Value::Array(items)) => {
            let words = items.iter().map(word).collect::<Result<Vec<_>, _>>()?;
            Ok(words.join(" "))
        }
        (Kind::List, value) => word(value),
        (Kind::Choice(yes, _), Value::Bool(true)) => Ok(yes.clone()),
        (Kind::Choice(_, no), Value::Bool(false)) => Ok(no.clone()),
        (Kind::Choice(yes, no), Value::String(s)) if s == yes || s == no => Ok(s.clone()),
        (Kind::Choice(yes, no), _) => {
            Err(format!("{field:?} is true or false (or {yes:?} or {no:?})"))
        }
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
