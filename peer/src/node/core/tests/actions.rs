//! Replies, edits, deletes, reactions, read receipts and typing, at the core.

use natter_protocol::peer::{Body, ChatMessage, SignedChat};
use natter_protocol::testkit::build::{chat, chat_message, signed_chat};

use super::*;
use crate::node::api::{Action, ReceiptState};

/// A chat from `who` (signed by its own key) with `body`.
fn from(who: &str, seq: u64, group: Option<&str>, body: Body) -> PeerFrame {
    let author = identity_for(who);
    let mut message: ChatMessage = chat_message(who, seq, group, "");
    message.key = author.public_key();
    message.body = body;
    PeerFrame::Chat(signed_chat(&author, message))
}

fn id(s: &str) -> MessageId {
    s.parse().expect("id")
}

fn act(node: &mut Node, req: RequestId, on: &str, action: Action) -> Vec<Output> {
    node.cmd(req, Command::Act { id: id(on), action })
}

/// alice in #g with bob, a connection from bob open, and bob's "hi" (bob/1) received.
fn with_bobs_message() -> (Node, ConnId) {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    node.frame(conn, PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "hi")));
    (node, conn)
}

/// The chats among `out` sent on `conn`.
fn chats(out: &[Output], conn: ConnId) -> Vec<SignedChat> {
    frames(out, conn)
        .into_iter()
        .filter_map(|f| match f {
            PeerFrame::Chat(chat) => Some(chat),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reply_is_a_message_to_the_original_conversation_carrying_its_id() {
    let (mut node, conn) = with_bobs_message();
    let out = act(&mut node, 5, "bob/1", Action::Reply("hello bob".into()));
    let sent = chats(&out, conn);
    assert_eq!(sent.len(), 1, "{out:?}");
    let m = &sent[0].message;
    assert_eq!(m.group, Some(group("g")));
    assert_eq!(
        m.body,
        Body::Text {
            text: "hello bob".into(),
            reply_to: Some(id("bob/1"))
        }
    );
    let said = notices(&out);
    assert!(
        matches!(&said[..], [Notice { req: Some(5), event: Event::Sending { reply_to: Some(r), .. } }, ..] if *r == id("bob/1")),
        "{said:?}"
    );
}

#[test]
fn an_action_on_an_unknown_id_or_on_someone_elses_message_is_refused_with_a_code() {
    let (mut node, conn) = with_bobs_message();
    let out = act(&mut node, 1, "bob/9", Action::React("👍".into()));
    assert_eq!(errors(&out), vec![(ErrorCode::UnknownMessage, Some(1))]);
    let out = act(&mut node, 2, "bob/1", Action::Edit("mine now".into()));
    assert_eq!(errors(&out), vec![(ErrorCode::NotAuthor, Some(2))]);
    let out = act(&mut node, 3, "bob/1", Action::Delete);
    assert_eq!(errors(&out), vec![(ErrorCode::NotAuthor, Some(3))]);
    assert!(chats(&out, conn).is_empty());
    let Event::Error { about, .. } = &events(&out)[0] else {
        panic!("{out:?}")
    };
    assert_eq!(about, &Some(About::Group(group("g"))));
}

#[test]
fn our_edit_and_delete_reach_the_group_and_are_told_by_their_effect_not_as_messages() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Group(group("g")), "helo");
    let conn = dials(&out)[0].0;
    node.hello(conn, "bob");
    node.frame(conn, ack(&id("alice/1")));
    let out = act(&mut node, 2, "alice/1", Action::Edit("hello".into()));
    let sent = chats(&out, conn);
    assert_eq!(
        sent.iter()
            .map(|c| c.message.body.clone())
            .collect::<Vec<_>>(),
        vec![Body::Edit {
            target: id("alice/1"),
            text: "hello".into()
        }]
    );
    let said = notices(&out);
    assert!(
        matches!(&said[..], [Notice { req: Some(2), event: Event::Edited { id: i, text, .. } }] if *i == id("alice/1") && text == "hello"),
        "only the effect is told: {said:?}"
    );
    // bob's ack of the edit says nothing either.
    let out = node.frame(conn, ack(&sent[0].message.id));
    assert!(notices(&out).is_empty(), "{out:?}");
    let out = act(&mut node, 3, "alice/1", Action::Delete);
    assert!(
        matches!(&events(&out)[..], [Event::Deleted { id: i, .. }] if *i == id("alice/1")),
        "{out:?}"
    );
    let out = act(&mut node, 4, "alice/1", Action::Edit("back".into()));
    assert_eq!(errors(&out), vec![(ErrorCode::MessageDeleted, Some(4))]);
}

#[test]
fn react_again_takes_the_reaction_back() {
    let (mut node, conn) = with_bobs_message();
    let mut ons = Vec::new();
    for req in 1..=3 {
        let out = act(&mut node, req, "bob/1", Action::React("👍".into()));
        for c in chats(&out, conn) {
            if let Body::React { on, .. } = c.message.body {
                ons.push(on);
            }
        }
        let told = events(&out);
        assert!(matches!(&told[..], [Event::Reaction { .. }]), "{told:?}");
    }
    assert_eq!(ons, vec![true, false, true]);
}

#[test]
fn an_edit_before_its_message_applies_when_the_message_comes() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    let edit = Body::Edit {
        target: id("bob/1"),
        text: "second thoughts".into(),
    };
    let out = node.frame(conn, from("bob", 2, Some("g"), edit));
    assert!(events(&out).is_empty(), "nothing to show yet: {out:?}");
    assert_eq!(frames(&out, conn), vec![ack(&id("bob/2"))]);
    let out = node.frame(
        conn,
        PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "first")),
    );
    let told = events(&out);
    assert!(
        matches!(&told[..], [Event::Message { .. }, Event::Edited { text, .. }] if text == "second thoughts"),
        "{told:?}"
    );
}

#[test]
fn a_forged_edit_or_a_delete_of_another_authors_message_is_refused() {
    let (mut node, conn) = with_bobs_message();
    // carol's key on bob's link cannot pass; bob cannot edit carol's message.
    let edit = Body::Edit {
        target: id("carol/1"),
        text: "forged".into(),
    };
    let out = node.frame(conn, from("bob", 2, Some("g"), edit));
    assert!(
        matches!(
            &frames(&out, conn)[..],
            [PeerFrame::Nack {
                code: natter_protocol::ErrorCode::Unauthorized,
                ..
            }]
        ),
        "{out:?}"
    );
    assert!(events(&out).is_empty());
}

#[test]
fn a_delete_before_its_message_means_the_message_is_never_shown() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    let delete = Body::Delete {
        target: id("bob/1"),
    };
    node.frame(conn, from("bob", 2, Some("g"), delete));
    let out = node.frame(
        conn,
        PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "oops")),
    );
    assert!(events(&out).is_empty(), "{out:?}");
    assert_eq!(
        frames(&out, conn),
        vec![ack(&id("bob/1"))],
        "acked as a duplicate"
    );
}

#[test]
fn read_receipts_go_privately_to_each_author_once_and_come_back_as_receipts() {
    let (mut node, conn) = with_bobs_message();
    let out = node.cmd(7, Command::Read(Target::Group(group("g"))));
    let sent = chats(&out, conn);
    assert_eq!(sent.len(), 1, "{out:?}");
    let m = &sent[0].message;
    assert_eq!((m.group.clone(), m.to), (None, Some(key_of("bob"))));
    assert_eq!(
        m.body,
        Body::Read {
            group: Some(group("g")),
            up_to: 1
        }
    );
    assert!(
        notices(&out).is_empty(),
        "a receipt is not announced: {out:?}"
    );
    // Nothing new: nothing goes.
    let out = node.cmd(8, Command::Read(Target::Group(group("g"))));
    assert!(chats(&out, conn).is_empty(), "{out:?}");
    // Off: nothing goes either.
    node.cmd(9, Command::Receipts(false));
    let bob = identity_for("bob");
    node.frame(
        conn,
        PeerFrame::Chat(chat(&bob, "bob", 2, Some("g"), "more")),
    );
    let out = node.cmd(10, Command::Read(Target::Group(group("g"))));
    assert!(chats(&out, conn).is_empty(), "{out:?}");
    // bob's receipt for our message.
    let mut receipt = chat_message("bob", 3, None, "");
    receipt.key = bob.public_key();
    receipt.to = Some(key_of("alice"));
    receipt.body = Body::Read {
        group: Some(group("g")),
        up_to: 4,
    };
    let out = node.frame(conn, PeerFrame::Chat(signed_chat(&bob, receipt)));
    let told = events(&out);
    assert!(
        matches!(&told[..], [Event::Receipt { id: i, state: ReceiptState::Read, target: Some(About::Group(_)), .. }] if *i == id("alice/4")),
        "{told:?}"
    );
}

#[test]
fn typing_goes_over_open_connections_only_and_is_shown_at_most_once_a_second() {
    let (mut node, conn) = with_bobs_message();
    let out = node.cmd(1, Command::Typing(Target::Group(group("g"))));
    assert_eq!(
        frames(&out, conn),
        vec![PeerFrame::Typing {
            group: Some(group("g"))
        }]
    );
    assert!(dials(&out).is_empty(), "carol is not dialled for it");
    let typing = PeerFrame::Typing {
        group: Some(group("g")),
    };
    let out = node.frame(conn, typing.clone());
    assert_eq!(
        events(&out),
        vec![Event::Typing {
            from: name("bob"),
            target: About::Group(group("g"))
        }]
    );
    assert!(events(&node.frame(conn, typing.clone())).is_empty());
    node.advance(Duration::from_secs(2));
    assert_eq!(events(&node.frame(conn, typing.clone())).len(), 1);
    node.cmd(2, Command::Block(name("bob")));
    node.advance(Duration::from_secs(2));
    assert!(events(&node.frame(conn, typing)).is_empty(), "blocked");
}
