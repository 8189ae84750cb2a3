//! The JSON form of commands: every command has one, and it means what the slash form does.

use super::*;
use crate::command::parse;
use crate::node::{Command, Target};

fn json(line: &str) -> JsonCommand {
    parse_json(line)
}

/// A value for an argument that its command takes, by the argument's field name.
fn sample(arg: &Arg) -> Value {
    match &arg.kind {
        Kind::Choice(..) => Value::Bool(true),
        Kind::List => serde_json::json!(["bob", "carol"]),
        Kind::Word | Kind::Text => Value::String(
            match arg.field.as_str() {
                "group" => "#g",
                "name" => "bob",
                "target" => "#g",
                "id" => "bob/1",
                "emoji" => "👍",
                "n" => "5",
                "text" => "one\ntwo",
                _ => "x",
            }
            .to_owned(),
        ),
    }
}

#[test]
fn every_command_has_a_json_form() {
    for (usage, _) in COMMANDS {
        let args = args_of(usage).unwrap_or_else(|| panic!("{usage} has no JSON form"));
        let cmd = usage
            .split_whitespace()
            .next()
            .and_then(|w| w.strip_prefix('/'))
            .expect("a command word");
        let mut object = Map::new();
        object.insert("cmd".into(), Value::String(cmd.into()));
        for arg in &args {
            object.insert(arg.field.clone(), sample(arg));
        }
        // The line it spells starts with the command, and carries every field given.
        let line = to_line(&object).unwrap_or_else(|e| panic!("{usage}: {e}"));
        assert!(
            line.split_whitespace().next() == Some(&format!("/{cmd}")[..]),
            "{usage}: {line}"
        );
        // A field the command does not take is refused, by name.
        object.insert("bogus".into(), Value::Bool(true));
        let err = to_line(&object).expect_err("unknown field");
        assert!(err.contains("\"bogus\""), "{usage}: {err}");
    }
}

#[test]
fn usages_read_as_fields() {
    let fields = |usage| {
        args_of(usage)
            .expect("readable")
            .into_iter()
            .map(|a| (a.field, a.optional, a.kind))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fields("/msg TARGET TEXT"),
        vec![
            ("target".into(), false, Kind::Word),
            ("text".into(), false, Kind::Text)
        ]
    );
    assert_eq!(
        fields("/kick GROUP NAME [REASON]"),
        vec![
            ("group".into(), false, Kind::Word),
            ("name".into(), false, Kind::Word),
            ("reason".into(), true, Kind::Text)
        ]
    );
    assert_eq!(
        fields("/create GROUP [NAME ...]")[1],
        ("name".into(), true, Kind::List)
    );
    assert_eq!(
        fields("/private GROUP on|off")[1],
        ("on".into(), false, Kind::Choice("on".into(), "off".into()))
    );
    // A text before optional words (a later command's usage might read so).
    let search = args_of("/search TEXT [in TARGET]").expect("readable");
    assert_eq!(search[0].kind, Kind::Text);
    assert_eq!(search[1].literal, vec!["in".to_owned()]);
    assert_eq!(fields("/groups"), vec![]);
    assert_eq!(args_of("/odd [UNCLOSED"), None);
}

#[test]
fn a_message_keeps_its_line_breaks_and_its_req() {
    let got = json(r##"{"cmd":"msg","target":"#g","text":"a\nb\n","req":7}"##);
    assert_eq!(got.req, Some(7));
    assert_eq!(
        got.input,
        Ok(Input::Node(Command::Send {
            target: Target::Group("g".parse().expect("group")),
            text: "a\nb\n".into(),
        }))
    );
    // Spaces stay as they are, leading ones too (an indented first line of code).
    let got = json(r#"{"cmd":"msg","target":"bob","text":"  fn main() {}\n"}"#);
    assert_eq!(
        got.input,
        Ok(Input::Node(Command::Send {
            target: Target::Peer("bob".parse().expect("name")),
            text: "  fn main() {}\n".into(),
        }))
    );
    let got = json(r#"{"cmd":"edit","id":"alice/3","text":" x"}"#);
    assert_eq!(
        got.input,
        Ok(Input::Node(Command::Act {
            id: "alice/3".parse().expect("id"),
            action: crate::node::Action::Edit(" x".into()),
        }))
    );
    let got = json(r#"{"cmd":"/msg","target":"bob","text":"x  y "}"#);
    assert_eq!(got.req, None);
    assert_eq!(
        got.input,
        Ok(Input::Node(Command::Send {
            target: Target::Peer("bob".parse().expect("name")),
            text: "x  y ".into(),
        }))
    );
}

#[test]
fn the_json_form_means_what_the_slash_form_does() {
    let same = |object: &str, slash: &str| {
        assert_eq!(
            json(object).input,
            parse(slash).map_err(|e| e.to_string()),
            "{object}"
        );
    };
    same(r##"{"cmd":"join","group":"#g"}"##, "/join #g");
    same(r#"{"cmd":"groups"}"#, "/groups");
    same(r#"{"cmd":"help"}"#, "/help");
    same(
        r#"{"cmd":"create","group":"g","name":["bob","carol"]}"#,
        "/create g bob carol",
    );
    same(r#"{"cmd":"create","group":"g"}"#, "/create g");
    same(
        r#"{"cmd":"kick","group":"g","name":"bob","reason":"too loud"}"#,
        "/kick g bob too loud",
    );
    same(
        r#"{"cmd":"private","group":"g","on":false}"#,
        "/private g off",
    );
    same(r#"{"cmd":"receipts","on":"on"}"#, "/receipts on");
    same(
        r#"{"cmd":"history","target":"bob","n":3}"#,
        "/history bob 3",
    );
    same(r#"{"cmd":"status"}"#, "/status");
    same(
        r#"{"cmd":"react","id":"bob/2","emoji":":tada:"}"#,
        "/react bob/2 :tada:",
    );
    same(r#"{"cmd":"quit"}"#, "/quit");
}

#[test]
fn bad_json_commands_say_what_is_wrong() {
    let err = |line: &str| json(line).input.expect_err(line);
    assert!(err("{not json").contains("not a JSON command"));
    assert!(err("[1]").contains("is an object"));
    assert!(err(r##"{"target":"#g"}"##).contains("needs \"cmd\""));
    assert!(err(r#"{"cmd":"dance"}"#).contains("unknown command \"dance\""));
    assert!(err(r##"{"cmd":"msg","target":"#g"}"##).contains("missing field \"text\""));
    assert!(err(r##"{"cmd":"msg","target":"#g x","text":"hi"}"##).contains("one word"));
    assert!(err(r#"{"cmd":"msg","to":"bob","text":"hi"}"#).contains("unknown field \"to\""));
    assert!(err(r#"{"cmd":"private","group":"g","on":3}"#).contains("true or false"));
    // The slash form's own checks still apply.
    assert!(err(r#"{"cmd":"join","group":"bad!"}"#).contains("'!' is not allowed"));
    // A refused command still carries its req; a bad req is refused.
    assert_eq!(json(r#"{"cmd":"dance","req":4}"#).req, Some(4));
    assert!(err(r#"{"cmd":"groups","req":"x"}"#).contains("\"req\""));
    assert!(is_json("  {\"cmd\":\"groups\"}"));
    assert!(!is_json("/groups"));
}

#[test]
fn a_search_text_is_never_read_as_its_conversation() {
    let search = |text: &str, target: Option<Target>| {
        Ok(Input::Node(Command::Search {
            text: text.into(),
            target,
        }))
    };
    // Only the target field narrows: "in WORD" at the end of the text is text.
    assert_eq!(
        json(r#"{"cmd":"search","text":"flights in paris"}"#).input,
        search("flights in paris", None)
    );
    assert_eq!(
        json(r#"{"cmd":"search","text":" meet in paris! "}"#).input,
        search("meet in paris!", None)
    );
    assert_eq!(
        json(r##"{"cmd":"search","text":"a in b","target":"#ops"}"##).input,
        search("a in b", Some(Target::Group("ops".parse().expect("group"))))
    );
    assert_eq!(
        json(r#"{"cmd":"search","text":"deploy","target":null}"#).input,
        search("deploy", None)
    );
    assert!(json(r#"{"cmd":"search","text":"  "}"#).input.is_err());
    assert!(
        json(r#"{"cmd":"search","text":"x","in":"bob"}"#)
            .input
            .is_err()
    );
}
