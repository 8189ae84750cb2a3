//! `/search` and `/mentions` through the core, answered by the fake store.

use natter_protocol::peer::PeerFrame;
use natter_protocol::testkit::build::{chat, private_chat};

use super::*;
use crate::node::api::FoundItem;
use crate::node::store::{Conversation, Read};

fn ids(messages: &[FoundItem]) -> Vec<String> {
    messages.iter().map(|m| m.id.to_string()).collect()
}

/// alice in `#g` with bob, who wrote to the group twice and to alice once.
fn with_news() -> Node {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    for frame in [
        chat(&bob, "bob", 1, Some("g"), "deploy at noon, alice?"),
        chat(&bob, "bob", 2, Some("g"), "lunch first"),
        private_chat(&bob, "bob", 3, key_of("alice"), "deploy tonight"),
    ] {
        node.frame(conn, PeerFrame::Chat(frame));
    }
    node
}

#[test]
fn a_search_reads_the_store_and_names_each_conversation() {
    let mut node = with_news();
    let text = "deploy".to_owned();
    let out = node.cmd(
        2,
        Command::Search {
            text: text.clone(),
            target: None,
        },
    );
    let read = Read::Search {
        text: text.clone(),
        conversation: None,
        limit: 50,
    };
    assert_eq!(reads(&out), vec![read]);
    let [
        Notice {
            req: Some(2),
            event:
                Event::Search {
                    target: None,
                    messages,
                    ..
                },
        },
    ] = &notices(&out)[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(ids(messages), ["bob/3", "bob/1"]);
    assert_eq!(messages[0].conversation, About::Peer(name("bob")));
    assert_eq!(messages[0].group, None);
    assert_eq!(messages[1].conversation, About::Group(group("g")));

    let target = Some(Target::Peer(name("bob")));
    let out = node.cmd(3, Command::Search { text, target });
    let read = Read::Search {
        text: "deploy".into(),
        conversation: Some(Conversation::Peer(key_of("bob"))),
        limit: 50,
    };
    assert_eq!(reads(&out), vec![read]);
    let [
        Event::Search {
            target, messages, ..
        },
    ] = &events(&out)[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(target, &Some(About::Peer(name("bob"))));
    assert_eq!(ids(messages), ["bob/3"]);
}

#[test]
fn a_search_that_cannot_be_made_is_an_error_and_reads_nothing() {
    let mut node = with_news();
    let out = node.cmd(
        2,
        Command::Search {
            text: " ** ".into(),
            target: None,
        },
    );
    assert!(reads(&out).is_empty());
    assert_eq!(errors(&out), vec![(ErrorCode::BadCommand, Some(2))]);
    let out = node.cmd(
        3,
        Command::Search {
            text: "x".into(),
            target: Some(Target::Peer(name("nobody"))),
        },
    );
    assert!(reads(&out).is_empty());
    assert_eq!(errors(&out), vec![(ErrorCode::UnknownPeer, Some(3))]);
}

#[test]
fn mentions_are_what_is_unread_until_it_is_read() {
    let mut node = with_news();
    let out = node.cmd(2, Command::Mentions);
    let read = Read::Mentions {
        name: name("alice"),
        limit: 50,
    };
    assert_eq!(reads(&out), vec![read]);
    let [
        Notice {
            req: Some(2),
            event: Event::Mentions { messages },
        },
    ] = &notices(&out)[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(ids(messages), ["bob/3", "bob/1"]);
    // Reading the group (receipts on or off) leaves the private message.
    node.cmd(3, Command::Receipts(false));
    node.cmd(4, Command::Read(Target::Group(group("g"))));
    let out = node.cmd(5, Command::Mentions);
    let [Event::Mentions { messages }] = &events(&out)[..] else {
        panic!("{out:?}")
    };
    assert_eq!(ids(messages), ["bob/3"]);
}
