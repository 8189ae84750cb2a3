//! The outbox through the core: a recipient that cannot be reached now is pending, not
//! failed, and gets the message when it connects or comes online, or after a backoff;
//! what was in flight on a lost connection goes again, in order; a message expires; the
//! outbox is bounded.

use super::*;
use crate::node::core::outbox::Limits;

#[test]
fn a_recipient_offline_at_send_time_is_pending_and_gets_it_when_it_connects() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Peer(name("carol")), "when you're back");
    let id = sending_id(&out);
    assert!(dials(&out).is_empty(), "carol is offline: {out:?}");
    assert_eq!(sent(&out), vec![Sent::of(1, &[], &[], &["carol"])]);
    assert!(errors(&out).is_empty());
    // No retry while she is offline (only her coming back retries).
    assert_eq!(
        node.core
            .poll_timeout()
            .map(|at| at > node.now.at + ACK_TIMEOUT),
        Some(true)
    );
    // She connects to us: once her hello is accepted, the message goes on that connection.
    let (conn, out) = node.inbound(1, "carol", key_of("carol"));
    assert!(out.contains(&Output::Accept { conn }));
    assert_eq!(chat_ids(&out, conn), vec![id.clone()]);
    // Her ack is a `delivered` (the `sent` is long gone), recorded in the store.
    let out = node.frame(conn, ack(&id));
    assert_eq!(delivered(&out), vec![(id, "carol".into())]);
    assert!(sent(&out).is_empty());
    assert!(
        matches!(&node.records()[..], [Write::Delivered { seq: 1, to }] if *to == key_of("carol"))
    );
    assert!(node.core.outbox.is_empty());
}

#[test]
fn a_recipient_coming_online_is_dialled_at_once() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Group(group("g")), "all of you");
    let id = sending_id(&out);
    let bob = dials(&out)[0].0;
    node.hello(bob, "bob");
    let out = node.frame(bob, ack(&id));
    assert_eq!(sent(&out), vec![Sent::of(1, &["bob"], &[], &["carol"])]);
    // The tracker says carol is back (at a new address): she is dialled now.
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Online {
            member: listed("carol", 4012, true),
        },
    });
    let carol = dials(&out)
        .into_iter()
        .find(|(_, addr, _)| addr.port() == 4012)
        .map(|(conn, _, _)| conn)
        .expect("carol dialled");
    let out = node.hello(carol, "carol");
    assert_eq!(chat_ids(&out, carol), vec![id.clone()]);
    let out = node.frame(carol, ack(&id));
    assert_eq!(delivered(&out), vec![(id, "carol".into())]);
}

#[test]
fn a_connection_lost_mid_flight_resends_in_order_after_the_backoff() {
    let mut node = in_a_group();
    let mut ids = Vec::new();
    for (req, text) in [(1, "one"), (2, "two"), (3, "three")] {
        let out = node.send(req, Target::Peer(name("bob")), text);
        ids.push(sending_id(&out));
    }
    let conn = ConnId::Dialed(1);
    let out = node.hello(conn, "bob");
    assert_eq!(chat_ids(&out, conn), ids);
    let out = node.frame(conn, ack(&ids[0]));
    assert_eq!(sent(&out), vec![Sent::of(1, &["bob"], &[], &[])]);
    assert_eq!(node.records().len(), 1);
    // The connection goes with two messages unanswered: they are pending, not failed.
    let out = node.ended(conn, "connection reset");
    assert!(errors(&out).is_empty(), "{out:?}");
    assert_eq!(
        sent(&out),
        vec![
            Sent::of(2, &[], &[], &["bob"]),
            Sent::of(3, &[], &[], &["bob"])
        ]
    );
    // Not at once: after a backoff of between half of RETRY_MIN and RETRY_MIN.
    let due = node.core.poll_timeout().expect("a retry");
    let wait = due - node.now.at;
    assert!(wait >= RETRY_MIN / 2 && wait <= RETRY_MIN, "{wait:?}");
    let out = node.advance(wait - Duration::from_millis(1));
    assert!(dials(&out).is_empty());
    let out = node.advance(Duration::from_millis(1));
    let [(again, to, Some(key))] = dials(&out)[..] else {
        panic!("redialled: {out:?}")
    };
    assert_eq!((to, key), (addr(4001), key_of("bob")));
    let out = node.hello(again, "bob");
    assert_eq!(chat_ids(&out, again), ids[1..]);
    // Lost again before any answer: the next wait is longer (doubling).
    node.ended(again, "connection reset");
    let wait = node.core.poll_timeout().expect("a retry") - node.now.at;
    assert!(wait >= RETRY_MIN && wait <= 2 * RETRY_MIN, "{wait:?}");
    let out = node.advance(wait);
    let again = dials(&out)[0].0;
    let out = node.hello(again, "bob");
    assert_eq!(chat_ids(&out, again), ids[1..]);
    let mut out = node.frame(again, ack(&ids[1]));
    out.extend(node.frame(again, ack(&ids[2])));
    let want: Vec<(MessageId, String)> =
        ids[1..].iter().map(|i| (i.clone(), "bob".into())).collect();
    assert_eq!(delivered(&out), want);
    assert!(node.core.outbox.is_empty());
}

#[test]
fn the_backoff_is_capped() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Peer(name("bob")), "persistent");
    let mut conn = dials(&out)[0].0;
    let mut longest = Duration::ZERO;
    for _ in 0..12 {
        node.ended(conn, "connection refused");
        let wait = node.core.poll_timeout().expect("a retry") - node.now.at;
        assert!(wait <= RETRY_MAX, "{wait:?}");
        longest = longest.max(wait);
        let out = node.advance(wait);
        conn = dials(&out).first().expect("redialled").0;
    }
    assert!(longest >= RETRY_MAX / 2, "{longest:?}");
}

#[test]
fn a_message_that_never_reaches_its_recipient_fails_at_its_expiry() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Peer(name("carol")), "are you there?");
    let id = sending_id(&out);
    let out = node.advance(EXPIRE_AFTER - Duration::from_secs(1));
    assert!(events(&out).is_empty(), "{out:?}");
    let out = node.advance(Duration::from_secs(1));
    let failed: Vec<(MessageId, String)> = events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Failed { id, to, reason } => {
                assert!(reason.contains("expired"), "{reason}");
                Some((id, to.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![(id, "carol".into())]);
    assert!(matches!(
        &node.records()[..],
        [Write::Failed { seq: 1, .. }]
    ));
    assert!(node.core.outbox.is_empty());
}

#[test]
fn a_full_outbox_is_a_clear_error_on_send() {
    let limits = Limits {
        per_recipient: 2,
        total: 3,
    };
    let members = vec![
        listed("alice", 4000, true),
        listed("bob", 4001, false),
        listed("carol", 4002, false),
    ];
    let mut node = Node::with("alice", &[("g", members)], |setup| setup.limits = limits);
    node.drain();
    for req in 1..=2 {
        let out = node.send(req, Target::Peer(name("carol")), "x");
        assert!(errors(&out).is_empty(), "{out:?}");
    }
    // carol's queue is full; bob's is not.
    let out = node.send(3, Target::Peer(name("carol")), "x");
    assert_eq!(errors(&out), vec![(ErrorCode::OutboxFull, Some(3))]);
    assert!(writes(&out).is_empty(), "nothing stored");
    let out = node.send(4, Target::Peer(name("bob")), "x");
    assert!(errors(&out).is_empty());
    // Three wait in all: a group message to both would make five.
    let out = node.send(5, Target::Group(group("g")), "x");
    assert_eq!(errors(&out), vec![(ErrorCode::OutboxFull, Some(5))]);
}

#[test]
fn a_not_member_answer_is_retried_not_final() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Group(group("g")), "hi");
    let id = sending_id(&out);
    let conn = dials(&out)[0].0;
    node.hello(conn, "bob");
    // bob's list of #g does not hold us yet.
    let nack = PeerFrame::Nack {
        id: id.clone(),
        code: natter_protocol::ErrorCode::NotMember,
        message: "alice is not a member of #g".into(),
    };
    let out = node.frame(conn, nack);
    assert!(errors(&out).is_empty(), "{out:?}");
    assert_eq!(sent(&out), vec![Sent::of(1, &[], &[], &["bob", "carol"])]);
    // After the backoff it goes again on the same connection.
    let out = node.run_until(RETRY_MIN);
    assert_eq!(chat_ids(&out, conn), vec![id.clone()]);
    let out = node.frame(conn, ack(&id));
    assert_eq!(delivered(&out), vec![(id, "bob".into())]);
}

/// A recipient found pending while the first round of its message is still open (another
/// recipient has not answered yet) and then reached: the `sent` event still lists it as
/// pending, after its `delivered` (or `failed`) came. `sent` should report what is known
/// when it goes out, and `delivered`/`failed` should follow `sent`.
#[test]
fn a_recipient_that_settles_before_the_sent_event_is_not_reported_pending() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Group(group("g")), "hi");
    let id = sending_id(&out);
    let bob = dials(&out)[0].0;
    // carol (offline, so pending) connects before bob answers, and acknowledges.
    let (carol, out) = node.inbound(1, "carol", key_of("carol"));
    assert_eq!(chat_ids(&out, carol), vec![id.clone()]);
    let out = node.frame(carol, ack(&id));
    assert!(
        delivered(&out).is_empty(),
        "no `delivered` before `sent`: {out:?}"
    );
    node.hello(bob, "bob");
    let out = node.frame(bob, ack(&id));
    assert_eq!(sent(&out), vec![Sent::of(1, &["bob", "carol"], &[], &[])]);
}

/// The recipient can dial us but cannot be dialled (say, behind NAT). Our dial to it and
/// its dial to us cross; our message must end up on its open connection whichever of the
/// two the table keeps (the one dialled by the smaller key) and though ours fails.
#[test]
fn an_open_connection_from_the_recipient_is_used_when_our_dial_fails() {
    for (me, them) in [("alice", "bob"), ("bob", "alice")] {
        let members = vec![listed(me, 4000, true), listed(them, 4001, true)];
        let mut node = Node::online(me, &[("g", members)]);
        let out = node.send(1, Target::Peer(name(them)), "through your door");
        let id = sending_id(&out);
        let ours = dials(&out)[0].0;
        let (theirs, mut out) = node.inbound(1, them, key_of(them));
        assert!(out.contains(&Output::Accept { conn: theirs }));
        out.extend(node.ended(ours, "connection timed out"));
        out.extend(node.run_until(RETRY_MAX));
        let smaller = if key_of(me) < key_of(them) { me } else { them };
        assert!(
            chat_ids(&out, theirs).contains(&id),
            "{me} to {them} ({smaller}'s key is the smaller): {out:?}"
        );
    }
}
