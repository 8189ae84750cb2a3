//! History sync between members: we ask a member who comes online for what we lack of a
//! group, keep from its page only what its authors signed (checked against each author's
//! key, never the relay's), and answer only members' asks, from the store.

use natter_protocol::peer::{AuthorRanges, SYNC_PAGE, SignedChat};
use natter_protocol::testkit::build::{chat, signed_chat};

use super::*;

/// alice in #g, bob coming online: she asks him (on a connection she dials) for what she
/// lacks, and his hello is in. Returns the connection.
fn asking_bob(node: &mut Node) -> ConnId {
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Online {
            member: listed("bob", 4001, true),
        },
    });
    let [(conn, to, Some(key))] = dials(&out)[..] else {
        panic!("bob dialled: {out:?}")
    };
    assert_eq!((to, key), (addr(4001), key_of("bob")));
    // What alice holds of #g: nothing yet.
    let ask = PeerFrame::SyncAsk {
        group: group("g"),
        have: vec![],
    };
    assert_eq!(frames(&out, conn), vec![ask]);
    let out = node.hello(conn, "bob");
    assert!(out.contains(&Output::Accept { conn }));
    conn
}

fn page(messages: Vec<SignedChat>, more: bool) -> PeerFrame {
    PeerFrame::SyncPage {
        group: group("g"),
        messages,
        more,
    }
}

#[test]
fn a_sync_page_we_did_not_ask_for_is_ignored() {
    let mut node = in_a_group();
    let (conn, _) = node.inbound(1, "bob", key_of("bob"));
    let carol = identity_for("carol");
    let genuine = chat(&carol, "carol", 1, Some("g"), "unasked");
    let out = node.frame(conn, page(vec![genuine], false));
    assert!(out.is_empty(), "{out:?}");
    assert!(node.store.stored().is_empty());
}

#[test]
fn a_page_keeps_what_its_authors_signed_and_refuses_the_rest() {
    let mut node = in_a_group();
    let conn = asking_bob(&mut node);
    let carol = identity_for("carol");
    let mallory = identity_for("mallory");
    let genuine = chat(&carol, "carol", 1, Some("g"), "said while you were away");
    // carol's message with its text changed by the relay: her signature no longer holds.
    let mut altered = chat(&carol, "carol", 2, Some("g"), "the original");
    altered.message.body = natter_protocol::peer::Body::text_only("altered");
    // In carol's name and with her key, signed by mallory.
    let forged = signed_chat(&mallory, chat_message("carol", 3, Some("g"), "forged"));
    // In carol's name, signed by mallory with mallory's key: not carol's listed key.
    let impostor = chat(&mallory, "carol", 4, Some("g"), "impostor");
    // bob relaying a message of a group it is not for.
    let elsewhere = chat(&carol, "carol", 5, Some("other"), "elsewhere");
    let messages = vec![genuine.clone(), altered, forged, impostor, elsewhere];
    let out = node.frame(conn, page(messages, false));
    // Only the genuine one is stored and shown (verified: checked against carol's key),
    // and nothing is acknowledged (a relayed message is not bob's to retry).
    assert_eq!(
        writes(&out),
        vec![Write::Received {
            chat: genuine,
            conversation: crate::node::store::Conversation::Group(group("g")),
            stored_at: node.now.unix_millis(),
            verified: true,
        }]
    );
    assert_eq!(
        shown(&out),
        vec![(
            "carol/1".parse().expect("id"),
            "said while you were away".into(),
            true
        )]
    );
    assert!(frames(&out, conn).is_empty(), "{out:?}");
    // The ask was answered: a second page is not taken.
    let late = chat(&carol, "carol", 6, Some("g"), "late");
    let out = node.frame(conn, page(vec![late], false));
    assert!(out.is_empty(), "{out:?}");
}

/// A member listed with a key that is not an Ed25519 point: a relayed message in its name
/// and with that key verifies under nothing, so it is refused (and nothing panics).
#[test]
fn a_relayed_message_under_an_invalid_point_key_is_refused() {
    let mut node = in_a_group();
    let conn = asking_bob(&mut node);
    let bogus = natter_protocol::testkit::invalid_point_key();
    node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 3,
        change: MemberChange::Joined {
            member: natter_protocol::testkit::member_at("eve", bogus, addr(4005), true),
        },
    });
    let mut forged = chat(&identity_for("mallory"), "eve", 1, Some("g"), "forged");
    forged.message.key = bogus;
    let out = node.frame(conn, page(vec![forged], false));
    assert!(writes(&out).is_empty() && shown(&out).is_empty(), "{out:?}");
}

#[test]
fn a_page_with_more_is_followed_by_another_ask_with_what_we_now_hold() {
    let mut node = in_a_group();
    let conn = asking_bob(&mut node);
    let carol = identity_for("carol");
    let first: Vec<SignedChat> = (1..=2)
        .map(|seq| chat(&carol, "carol", seq, Some("g"), "x"))
        .collect();
    let out = node.frame(conn, page(first, true));
    assert_eq!(shown(&out).len(), 2);
    let ask = PeerFrame::SyncAsk {
        group: group("g"),
        have: vec![AuthorRanges {
            key: key_of("carol"),
            ranges: vec![(1, 2)],
        }],
    };
    assert_eq!(frames(&out, conn), vec![ask]);
    // An empty page ends it, more or not.
    let out = node.frame(conn, page(vec![], true));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_page_longer_than_allowed_is_ignored() {
    let mut node = in_a_group();
    let conn = asking_bob(&mut node);
    let carol = identity_for("carol");
    let too_many: Vec<SignedChat> = (1..=u64::try_from(SYNC_PAGE).expect("small") + 1)
        .map(|seq| chat(&carol, "carol", seq, Some("g"), "x"))
        .collect();
    let out = node.frame(conn, page(too_many, false));
    assert!(writes(&out).is_empty() && shown(&out).is_empty(), "{out:?}");
}

#[test]
fn our_own_message_relayed_back_is_not_stored_but_never_renumbered() {
    let mut node = in_a_group();
    let conn = asking_bob(&mut node);
    // The store lost alice/7, which bob still has; a number on our key that we did not
    // sign moves nothing.
    let ours = chat(&identity_for("alice"), "alice", 7, Some("g"), "lost");
    let mut forged = chat(&identity_for("bob"), "alice", 1000, Some("g"), "forged");
    forged.message.key = key_of("alice");
    let out = node.frame(conn, page(vec![forged, ours], false));
    assert!(writes(&out).is_empty() && shown(&out).is_empty(), "{out:?}");
    let out = node.send(1, Target::Group(group("g")), "next");
    assert_eq!(sending_id(&out).seq, 8);
}

#[test]
fn a_sync_ask_from_a_non_member_is_ignored_and_a_members_is_answered_from_the_store() {
    let mut node = in_a_group();
    // dave is known to the tracker, not a member of #g.
    let (dave, out) = node.inbound(1, "dave", key_of("dave"));
    let answer = TrackerToPeer::LookupResult {
        name: name("dave"),
        member: Some(listed("dave", 4003, true)),
        req: tracker_req(&to_tracker(&out)[0]),
    };
    node.push(answer);
    let ask = PeerFrame::SyncAsk {
        group: group("g"),
        have: vec![],
    };
    let out = node.frame(dave, ask.clone());
    assert!(out.is_empty(), "{out:?}");
    // bob is: the store is asked for a page of what he lacks (from when we first saw
    // him in the group on).
    node.push(TrackerToPeer::Members {
        group: group("g"),
        version: 2,
        members: vec![
            listed("alice", 4000, true),
            listed("bob", 4001, true),
            listed("carol", 4002, false),
        ],
        req: None,
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
    });
    let out = node.send(1, Target::Group(group("g")), "for the record");
    let id = sending_id(&out);
    let (bob, _) = node.inbound(2, "bob", key_of("bob"));
    let out = node.frame(bob, ask);
    assert_eq!(
        reads(&out),
        vec![Read::SyncPage {
            group: group("g"),
            requester: key_of("bob"),
            have: vec![],
            limit: SYNC_PAGE,
        }]
    );
    let [
        PeerFrame::SyncPage {
            group: g,
            messages,
            more: false,
        },
    ] = &frames(&out, bob)[..]
    else {
        panic!("a page for bob: {out:?}")
    };
    assert_eq!(g, &group("g"));
    let ids: Vec<&MessageId> = messages.iter().map(|m| &m.message.id).collect();
    assert_eq!(ids, vec![&id]);
}

#[test]
fn asks_from_one_connection_are_bounded() {
    let mut node = in_a_group();
    let (bob, _) = node.inbound(1, "bob", key_of("bob"));
    node.store.hold = true;
    let ask = PeerFrame::SyncAsk {
        group: group("g"),
        have: vec![],
    };
    let mut asked = 0;
    for _ in 0..5 {
        asked += reads(&node.frame(bob, ask.clone())).len();
    }
    // A few pages being read at once; the rest are dropped (the member asks again).
    assert_eq!(asked, 2);
    node.commit();
    assert_eq!(reads(&node.frame(bob, ask)).len(), 1);
}

#[test]
fn asks_from_one_connection_are_limited_per_window() {
    let mut node = in_a_group();
    let (bob, _) = node.inbound(1, "bob", key_of("bob"));
    let ask = PeerFrame::SyncAsk {
        group: group("g"),
        have: vec![],
    };
    // Answered one after another (the fake store answers at once), up to the limit.
    let answered = (0..100)
        .filter(|_| !reads(&node.frame(bob, ask.clone())).is_empty())
        .count();
    assert_eq!(answered, 64);
    // A window later, bob may ask again.
    node.advance(Duration::from_secs(11));
    assert_eq!(reads(&node.frame(bob, ask)).len(), 1);
}

/// In a big group an arrival is asked by a few members, not by all: each asks with
/// probability `SYNC_FANOUT / (members but the arrival)`. In a small one, always.
#[test]
fn an_arrival_in_a_big_group_is_asked_by_a_few_members_not_all() {
    use crate::node::core::sync::SYNC_FANOUT;
    let count_asks = |size: usize| {
        let names: Vec<String> = (0..size).map(|i| format!("m{i}")).collect();
        let mut members = vec![listed("alice", 4000, true)];
        members.extend(names.iter().map(|n| listed(n, 5000, false)));
        let mut node = Node::online("alice", &[("g", members)]);
        let mut asks = 0;
        for (i, n) in names.iter().enumerate() {
            let out = node.push(TrackerToPeer::MemberUpdate {
                group: group("g"),
                version: 2 + i as u64,
                change: MemberChange::Online {
                    member: listed(n, 5000 + i as u16, true),
                },
            });
            asks += out
                .iter()
                .filter(|o| matches!(o, Output::Send { frame, .. } if matches!(**frame, PeerFrame::SyncAsk { .. })))
                .count();
        }
        asks
    };
    // alice and three others: each arrival is asked.
    assert_eq!(count_asks(SYNC_FANOUT), SYNC_FANOUT);
    // alice and 200 others: about 3 in 200 arrivals (each chance 3/200), far from all.
    let asked = count_asks(200);
    assert!((1..=20).contains(&asked), "{asked} of 200 arrivals asked");
}
