//! Receiving and keys through the core: every chat frame checked and answered by its id,
//! who may speak as a name (hellos, the tracker's word, key changes, `/trust`), and blocked
//! keys.

use super::*;

#[test]
fn incoming_messages_are_checked_and_answered_by_id() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, out) = node.inbound(1, "bob", bob.public_key());
    assert!(
        out.contains(&Output::Accept { conn }),
        "listed key: {out:?}"
    );
    let good = chat_message("bob", 1, Some("g"), "hello");
    let out = node.frame(conn, chat_frame(&bob, good.clone()));
    assert!(matches!(&events(&out)[..], [Event::Message { text, .. }] if text == "hello"));
    assert_eq!(
        frames(&out, conn),
        vec![PeerFrame::Ack {
            id: good.id.clone()
        }]
    );
    // A replay: acknowledged, not shown again.
    let out = node.frame(conn, chat_frame(&bob, good));
    assert!(events(&out).is_empty());
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Ack { .. }]));
    // A message in someone else's name: refused by its id.
    let spoofed = chat_message("carol", 3, None, "spoofed");
    let out = node.frame(conn, chat_frame(&bob, spoofed.clone()));
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Nack { id, .. }] if id == &spoofed.id));
    assert!(events(&out).is_empty());
    // The next good one still goes through: the connection stays.
    let next = chat_message("bob", 4, Some("g"), "still here");
    let out = node.frame(conn, chat_frame(&bob, next));
    assert_eq!(events(&out).len(), 1);
    assert!(closed(&out).is_empty());
}

/// A message straight from its author is taken on its link's word (Noise proved the
/// author's key): its signature is not checked here, only stored for relaying; whoever is
/// relayed it checks it (`sync.rs` tests: a relayed forgery is refused).
#[test]
fn a_direct_message_is_proven_by_its_link_not_its_signature() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    // bob's message with bob's key, but a signature by someone else: only bob can send
    // on bob's link, so it is bob's, and bob's badly signed copy will not relay.
    let badly_signed = chat_message("bob", 1, Some("g"), "mine");
    let out = node.frame(conn, chat_frame(&identity_for("mallory"), badly_signed));
    assert!(matches!(&events(&out)[..], [Event::Message { text, .. }] if text == "mine"));
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Ack { .. }]));
}

#[test]
fn a_group_message_from_a_non_member_is_refused() {
    let mut node = in_a_group();
    let dave = identity_for("dave");
    // dave is known to the tracker, not to #g.
    let (conn, out) = node.inbound(1, "dave", dave.public_key());
    let id = tracker_req(&to_tracker(&out)[0]);
    let answer = TrackerToPeer::LookupResult {
        name: name("dave"),
        member: Some(listed("dave", 4003, true)),
        req: id,
    };
    let out = node.push(answer);
    assert!(out.contains(&Output::Accept { conn }));
    let msg = chat_message("dave", 1, Some("g"), "let me in");
    let out = node.frame(conn, chat_frame(&dave, msg));
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Nack { .. }]));
    assert!(events(&out).is_empty());
}

#[test]
fn an_unknown_name_is_let_on_only_with_the_key_the_tracker_binds_to_it() {
    let mut node = Node::online("alice", &[]);
    let (first, out) = node.inbound(1, "mallory", key_of("mallory"));
    let asked = to_tracker(&out);
    assert!(matches!(&asked[..], [PeerToTracker::Lookup { name: n, .. }] if n == &name("mallory")));
    assert!(!out.contains(&Output::Accept { conn: first }), "waits");
    // An impostor under the same name waits on the same look-up.
    let (second, out) = node.inbound(2, "mallory", key_of("impostor"));
    assert!(to_tracker(&out).is_empty(), "asked once");
    let answer = TrackerToPeer::LookupResult {
        name: name("mallory"),
        member: Some(listed("mallory", 4005, true)),
        req: tracker_req(&asked[0]),
    };
    let out = node.push(answer);
    assert!(out.contains(&Output::Accept { conn: first }));
    let refused = closed(&out);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, second);
    assert!(matches!(
        refused[0].1,
        Some((natter_protocol::ErrorCode::Unauthorized, _))
    ));
    // No answer in time: refused at the deadline.
    let (third, _) = node.inbound(3, "zed", key_of("zed"));
    assert_eq!(
        node.core.poll_timeout(),
        Some(node.now.at + KEY_CHECK_TIMEOUT)
    );
    let out = node.advance(KEY_CHECK_TIMEOUT);
    assert!(closed(&out).iter().any(|(c, _)| *c == third));
}

#[test]
fn a_stranger_claiming_a_members_name_is_refused_and_changes_nothing() {
    let mut node = in_a_group();
    let (conn, out) = node.inbound(1, "bob", key_of("mallory"));
    assert!(!out.contains(&Output::Accept { conn }));
    assert_eq!(closed(&out)[0].0, conn);
    assert_eq!(errors(&out), vec![(ErrorCode::WrongKey, None)]);
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::KeyChanged { .. }))
    );
    // Reported once per name and key.
    let (_, out) = node.inbound(2, "bob", key_of("mallory"));
    assert!(errors(&out).is_empty());
    // Nobody answering at bob's address with another key changes anything either: that
    // connection goes, and bob stays pending.
    let out = node.send(1, Target::Peer(name("bob")), "hi");
    let dialled = dials(&out)[0].0;
    let mismatch = ConnEvent::KeyMismatch {
        presented: key_of("mallory"),
    };
    let out = node.conn(dialled, mismatch);
    assert!(errors(&out).is_empty(), "{out:?}");
    assert_eq!(sent(&out), vec![Sent::of(1, &[], &[], &["bob"])]);
    // The real bob is still reachable: after the backoff he is dialled again, with both
    // messages.
    let out = node.send(2, Target::Peer(name("bob")), "still you?");
    assert!(errors(&out).is_empty());
    assert_eq!(sent(&out), vec![Sent::of(2, &[], &[], &["bob"])]);
    let out = node.run_deadline(RETRY_MIN);
    let [(conn, _, Some(key))] = dials(&out)[..] else {
        panic!("dialled again: {out:?}")
    };
    assert_eq!(key, key_of("bob"));
    let out = node.hello(conn, "bob");
    assert_eq!(chat_ids(&out, conn).len(), 2);
}

#[test]
fn a_changed_key_is_reported_once_and_refused_until_trusted() {
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    node.send(1, target, "hi");
    // The tracker now binds bob to another key (bob on a new machine, or a rogue tracker).
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Online {
            member: member_at("bob", key_of("new-bob"), addr(4001), true),
        },
    });
    let changes = events(&out)
        .into_iter()
        .filter(|e| matches!(e, Event::KeyChanged { .. }))
        .count();
    assert_eq!(changes, 1, "{out:?}");
    // bob with the new key is refused until trusted.
    let (conn, out) = node.inbound(1, "bob", key_of("new-bob"));
    assert!(!out.contains(&Output::Accept { conn }));
    assert!(errors(&out).is_empty(), "reported once: {out:?}");
    // Sending again is refused before any dial.
    let target = Target::Peer(name("bob"));
    let out = node.send(2, target, "hi");
    assert!(dials(&out).is_empty());
    assert!(errors(&out).contains(&(ErrorCode::KeyChanged, Some(2))));
    // /trust takes the key the member list (the tracker) binds to bob.
    let out = node.cmd(3, Command::Trust(name("bob")));
    assert!(to_tracker(&out).is_empty(), "the list vouches already");
    let trusted = notices(&out);
    assert!(
        trusted
            .iter()
            .any(|n| n.req == Some(3) && matches!(n.event, Event::Trusted { .. }))
    );
    // The new pin is written on the pins' schedule (within the save interval).
    let out = node.run_until(Duration::from_millis(500));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Save(Save::PeerPins(_))))
    );
}

/// A look-up that binds a pinned name to another key is a key change like any other:
/// reported (`key_changed`), and waiting for `/trust`, which then takes that key.
#[test]
fn a_changed_key_in_a_look_up_is_reported_and_can_be_trusted() {
    let mut node = in_a_group();
    // bob (pinned from the list) leaves #g: no list holds him now.
    node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Left { name: name("bob") },
    });
    let out = node.send(1, Target::Peer(name("bob")), "hi");
    let req = tracker_req(&to_tracker(&out)[0]);
    let moved = member_at("bob", key_of("new-bob"), addr(4001), true);
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("bob"),
        member: Some(moved),
        req,
    });
    assert!(
        events(&out).contains(&Event::KeyChanged {
            name: name("bob"),
            pinned: key_of("bob"),
            presented: key_of("new-bob"),
        }),
        "{out:?}"
    );
    assert!(errors(&out).contains(&(ErrorCode::KeyChanged, Some(1))));
    assert!(writes(&out).is_empty() && dials(&out).is_empty());
    let out = node.cmd(2, Command::Trust(name("bob")));
    let req = tracker_req(&to_tracker(&out)[0]);
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("bob"),
        member: Some(member_at("bob", key_of("new-bob"), addr(4001), true)),
        req,
    });
    assert!(
        events(&out).contains(&Event::Trusted {
            name: name("bob"),
            key: key_of("new-bob"),
        }),
        "{out:?}"
    );
}

/// Messages waiting for a key that is no longer the name's (a key change, then `/trust` of
/// the new key) can never be delivered: the README counts "its key change waits for
/// /trust" as a reason to report a recipient failed. `Outbox::give_up` exists for this
/// ("a key change, a block") but nothing calls it.
#[test]
fn messages_waiting_for_a_replaced_key_are_given_up() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Peer(name("bob")), "hi");
    let id = sending_id(&out);
    // bob's dial fails; he is pending.
    let conn = dials(&out)[0].0;
    node.ended(conn, "connection refused");
    // The tracker now binds bob to another key, and the user trusts it.
    node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Online {
            member: member_at("bob", key_of("new-bob"), addr(4001), true),
        },
    });
    let mut out = node.cmd(2, Command::Trust(name("bob")));
    out.extend(node.run_until(Duration::from_secs(60)));
    let failed: Vec<MessageId> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Failed { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![id]);
}

#[test]
fn blocked_peers_are_acked_quietly() {
    let mut node = in_a_group();
    let out = node.cmd(1, Command::Block(name("bob")));
    assert!(matches!(
        &events(&out)[..],
        [Event::Blocked { blocked: true, .. }]
    ));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Save(Save::Blocked(_))))
    );
    let bob = identity_for("bob");
    let (conn, out) = node.inbound(1, "bob", bob.public_key());
    assert!(out.contains(&Output::Accept { conn }));
    let msg = chat_message("bob", 1, Some("g"), "spam");
    let out = node.frame(conn, chat_frame(&bob, msg));
    assert!(events(&out).is_empty());
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Ack { .. }]));
    // Bob going offline is not announced, but the list a script keeps stays right.
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Offline {
            name: name("bob"),
            last_seen: None,
        },
    });
    let [
        Event::Members {
            members: Some(list),
            change: None,
            ..
        },
    ] = &events(&out)[..]
    else {
        panic!("{out:?}")
    };
    assert!(list.iter().any(|m| m.name == name("bob") && !m.online));
    let out = node.cmd(2, Command::Unblock(name("bob")));
    assert!(matches!(
        &events(&out)[..],
        [Event::Blocked { blocked: false, .. }]
    ));
    let out = node.cmd(3, Command::Unblock(name("bob")));
    assert_eq!(errors(&out), vec![(ErrorCode::NotBlocked, Some(3))]);
}

#[test]
fn a_tracker_key_unlike_the_given_one_is_a_mismatch_not_a_change() {
    let mut node = Node::new("alice", &[]);
    let (given, presented) = (key_of("given"), key_of("presented"));
    let out = node.tracker(TrackerInput::KeyMismatch { given, presented });
    let messages: Vec<String> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Error { code, message, .. } => {
                assert_eq!(code, ErrorCode::TrackerKeyMismatch);
                Some(message)
            }
            _ => None,
        })
        .collect();
    let [message] = &messages[..] else {
        panic!("one error: {out:?}");
    };
    assert!(message.contains("not the key you were given"), "{message}");
    assert!(!message.contains("changed"), "{message}");
    // Never a hint to take the key presented.
    assert!(
        !message.contains(&format!("--tracker-key {presented}")),
        "{message}"
    );
    // Said once per key presented.
    let again = node.tracker(TrackerInput::KeyMismatch { given, presented });
    assert!(errors(&again).is_empty(), "{again:?}");

    // A pinned key that changed is still a key change.
    let other = key_of("other");
    let out = node.tracker(TrackerInput::KeyChanged {
        pinned: given,
        presented: other,
    });
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerKeyChanged, None)]);
}

#[test]
fn a_given_tracker_key_that_replaces_a_pin_is_taken_and_said() {
    let mut node = Node::new("alice", &[]);
    let addr = "127.0.0.1:7000".to_owned();
    let (first, given) = (key_of("first"), key_of("given"));
    // First contact: pinned, nothing to say.
    let out = node.tracker(TrackerInput::Pinned {
        addr: addr.clone(),
        key: first,
    });
    assert!(errors(&out).is_empty(), "{out:?}");
    // The same key again is no news either.
    let out = node.tracker(TrackerInput::Pinned {
        addr: addr.clone(),
        key: first,
    });
    assert!(errors(&out).is_empty(), "{out:?}");
    // A key given by an invite replaces it: taken, and the user told, with both keys.
    let out = node.tracker(TrackerInput::Pinned {
        addr: addr.clone(),
        key: given,
    });
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerKeyReplaced, None)]);
    let message = events(&out)
        .into_iter()
        .find_map(|e| match e {
            Event::Error { message, .. } => Some(message),
            _ => None,
        })
        .expect("the warning");
    assert!(
        message.contains(&first.to_string()) && message.contains(&given.to_string()),
        "{message}"
    );
    assert_eq!(node.core.tracker_pins().get(&addr), Some(given));
}

/// A member record may carry a key that is not an Ed25519 point (decoding keeps it; only
/// a use checks the point): it is kept like any other, but never trusted.
#[test]
fn an_invalid_point_key_in_a_member_record_is_kept_but_never_trusted() {
    let mut node = in_a_group();
    let bogus = natter_protocol::testkit::invalid_point_key();
    // A new member listed with it: taken without a panic.
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Joined {
            member: member_at("eve", bogus, addr(4005), true),
        },
    });
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, Event::Members { .. })),
        "{out:?}"
    );
    // bob's listed key replaced by it: a key change, and /trust refuses it.
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 3,
        change: MemberChange::Online {
            member: member_at("bob", bogus, addr(4001), true),
        },
    });
    assert!(
        events(&out).contains(&Event::KeyChanged {
            name: name("bob"),
            pinned: key_of("bob"),
            presented: bogus,
        }),
        "{out:?}"
    );
    let out = node.cmd(2, Command::Trust(name("bob")));
    assert!(
        errors(&out).contains(&(ErrorCode::TrustRefused, Some(2))),
        "{out:?}"
    );
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::Trusted { .. })),
        "{out:?}"
    );
    // bob's pinned key is still the one that works.
    let bob = identity_for("bob");
    let (conn, out) = node.inbound(1, "bob", bob.public_key());
    assert!(out.contains(&Output::Accept { conn }), "{out:?}");
}
