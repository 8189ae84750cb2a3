//! Talking while the tracker is down: a name we cannot check is let on unverified (its
//! private messages shown with `verified: false`, nothing pinned on its word), checked
//! once the tracker is back (another key is a key change and the connection goes); a key
//! pinned earlier still holds.

use natter_protocol::testkit::build::private_chat;

use super::*;

/// alice with no groups, the tracker down.
fn alone() -> Node {
    let mut node = Node::new("alice", &[]);
    node.drain();
    let reason = "connection refused".into();
    node.tracker(TrackerInput::Disconnected { reason });
    node
}

/// Whether each message shown was verified.
fn verified(out: &[Output]) -> Vec<bool> {
    shown(out)
        .into_iter()
        .map(|(_, _, verified)| verified)
        .collect()
}

/// A private message from `who` (with `key_of(signer)`) to alice.
fn to_alice(signer: &str, who: &str, seq: u64, text: &str) -> PeerFrame {
    let chat = private_chat(&identity_for(signer), who, seq, key_of("alice"), text);
    PeerFrame::Chat(chat)
}

#[test]
fn an_unknown_name_is_let_on_unverified_while_the_tracker_is_down() {
    let mut node = alone();
    let (conn, out) = node.inbound(1, "bob", key_of("bob"));
    assert!(out.contains(&Output::Accept { conn }), "{out:?}");
    assert!(to_tracker(&out).is_empty() && closed(&out).is_empty());
    let out = node.frame(conn, to_alice("bob", "bob", 1, "first contact"));
    let id: MessageId = "bob/1".parse().expect("id");
    assert_eq!(
        shown(&out),
        vec![(id.clone(), "first contact".into(), false)]
    );
    assert!(matches!(
        &writes(&out)[..],
        [Write::Received {
            verified: false,
            ..
        }]
    ));
    assert_eq!(frames(&out, conn), vec![ack(&id)]);
    // Nothing was pinned on its word.
    assert!(node.core.trust.pinned(&name("bob")).is_none());
    // The reply goes back on that connection (bob was met directly).
    let out = node.send(1, Target::Peer(name("bob")), "hello bob");
    assert!(dials(&out).is_empty() && errors(&out).is_empty(), "{out:?}");
    assert_eq!(chat_ids(&out, conn).len(), 1);
}

#[test]
fn a_connection_waiting_for_the_first_tracker_attempt_is_let_on_when_it_fails() {
    let mut node = Node::new("alice", &[]);
    node.drain();
    let (conn, out) = node.inbound(1, "bob", key_of("bob"));
    assert!(out.is_empty(), "waits for the first attempt: {out:?}");
    let reason = "connection refused".into();
    let out = node.tracker(TrackerInput::Disconnected { reason });
    assert!(out.contains(&Output::Accept { conn }), "{out:?}");
    let out = node.frame(conn, to_alice("bob", "bob", 1, "hi"));
    assert_eq!(verified(&out), [false]);
}

#[test]
fn once_the_tracker_is_back_the_same_key_is_pinned_and_verified() {
    let mut node = alone();
    let (conn, _) = node.inbound(1, "bob", key_of("bob"));
    let out = node.tracker(TrackerInput::Connected);
    let [PeerToTracker::Lookup { name: asked, req }] = &to_tracker(&out)[..] else {
        panic!("bob is looked up: {out:?}")
    };
    assert_eq!(asked, &name("bob"));
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("bob"),
        member: Some(listed("bob", 4001, true)),
        req: *req,
    });
    assert!(
        closed(&out).is_empty() && errors(&out).is_empty(),
        "{out:?}"
    );
    assert_eq!(node.core.trust.pinned(&name("bob")), Some(key_of("bob")));
    let out = node.frame(conn, to_alice("bob", "bob", 1, "now checked"));
    assert_eq!(verified(&out), [true]);
}

#[test]
fn once_the_tracker_is_back_another_key_is_a_key_change_and_the_connection_goes() {
    let mut node = alone();
    // mallory's key, saying hello as bob.
    let (conn, out) = node.inbound(1, "bob", key_of("mallory"));
    assert!(out.contains(&Output::Accept { conn }));
    let out = node.frame(conn, to_alice("mallory", "bob", 1, "it's bob, honest"));
    assert_eq!(verified(&out), [false], "shown, but marked");
    let out = node.tracker(TrackerInput::Connected);
    let req = tracker_req(&to_tracker(&out)[0]);
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("bob"),
        member: Some(listed("bob", 4001, true)),
        req,
    });
    assert!(
        events(&out).contains(&Event::KeyChanged {
            name: name("bob"),
            pinned: key_of("bob"),
            presented: key_of("mallory"),
        }),
        "{out:?}"
    );
    assert_eq!(closed(&out).len(), 1);
    assert_eq!(closed(&out)[0].0, conn);
    // Nothing of it was pinned.
    assert_ne!(
        node.core.trust.pinned(&name("bob")),
        Some(key_of("mallory"))
    );
}

#[test]
fn a_name_the_tracker_does_not_know_is_reported_and_its_connection_goes() {
    let mut node = alone();
    let (conn, _) = node.inbound(1, "zed", key_of("zed"));
    let out = node.tracker(TrackerInput::Connected);
    let req = tracker_req(&to_tracker(&out)[0]);
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("zed"),
        member: None,
        req,
    });
    assert!(!errors(&out).is_empty(), "{out:?}");
    assert_eq!(closed(&out).len(), 1);
    assert_eq!(closed(&out)[0].0, conn);
}

#[test]
fn a_pinned_key_is_enforced_with_the_tracker_down() {
    // bob's key is pinned from the cached list of #g.
    let members = vec![listed("alice", 4000, true), listed("bob", 4001, true)];
    let mut node = Node::new("alice", &[("g", members)]);
    node.drain();
    let reason = "connection refused".into();
    node.tracker(TrackerInput::Disconnected { reason });
    // Another key saying hello as bob: refused, not let on unverified.
    let (conn, out) = node.inbound(1, "bob", key_of("mallory"));
    assert!(!out.contains(&Output::Accept { conn }));
    assert!(matches!(
        &closed(&out)[..],
        [(c, Some((natter_protocol::ErrorCode::Unauthorized, _)))] if *c == conn
    ));
    // The real bob is let on and verified.
    let (conn, out) = node.inbound(2, "bob", key_of("bob"));
    assert!(out.contains(&Output::Accept { conn }));
    let out = node.frame(conn, to_alice("bob", "bob", 1, "it's me"));
    assert_eq!(verified(&out), [true]);
}

#[test]
fn a_second_unverified_key_for_a_name_is_refused() {
    let mut node = alone();
    let (first, out) = node.inbound(1, "bob", key_of("bob"));
    assert!(out.contains(&Output::Accept { conn: first }), "{out:?}");
    let (second, out) = node.inbound(2, "bob", key_of("mallory"));
    assert!(!out.contains(&Output::Accept { conn: second }), "{out:?}");
    let closed: Vec<ConnId> = closed(&out).into_iter().map(|(c, _)| c).collect();
    assert_eq!(closed, vec![second]);
}
