//! The store in the core's decisions: our message is announced and sent only once it is
//! stored, a received one shown only once it is stored and acknowledged only once that is
//! synced to the disk; duplicates are
//! dropped by (author key, seq) before anything else; a failed write loses nothing that
//! was promised; `/history`; what the store held at start.

use natter_protocol::testkit::build::{chat, private_chat};

use super::*;
use crate::node::api::{DeliveryState, HistoryItem, ReceiptState};
use crate::node::core::numbering::RESERVE_AHEAD;
use crate::node::store::{Conversation, Loaded, RangeSet, Unsent};

#[test]
fn our_message_is_announced_only_once_it_is_stored() {
    let mut node = in_a_group();
    node.store.hold = true;
    let out = node.send(1, Target::Group(group("g")), "hi");
    let [
        Write::Own {
            chat, recipients, ..
        },
    ] = &writes(&out)[..]
    else {
        panic!("one write: {out:?}")
    };
    assert_eq!(chat.message.id.seq, 1);
    assert_eq!(recipients.len(), 2);
    // Its number is reserved ahead, in the same batch.
    assert_eq!(reservations(&out), vec![1 + RESERVE_AHEAD]);
    // Nothing is said before the commit; bob's connection opens meanwhile.
    assert!(notices(&out).is_empty(), "{out:?}");
    let [(conn, ..)] = dials(&out)[..] else {
        panic!("bob is dialled at once: {out:?}")
    };
    // The first number after a start was not reserved yet: it waits for its commit.
    let out = node.hello(conn, "bob");
    assert!(chat_ids(&out, conn).is_empty(), "{out:?}");
    let out = node.commit();
    let id = sending_id(&out);
    assert_eq!(notices(&out)[0].req, Some(1));
    assert_eq!(chat_ids(&out, conn), vec![id]);
}

/// Once numbers are reserved, a message goes out while its write is on its way (one
/// fsync fewer on the way to its recipients); what comes back before the commit waits,
/// so `sending` still comes first.
#[test]
fn a_reserved_number_goes_out_before_its_commit_and_sending_still_comes_first() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Group(group("g")), "first");
    let conn = dials(&out)[0].0;
    node.hello(conn, "bob");
    node.store.hold = true;
    let out = node.send(2, Target::Group(group("g")), "second");
    assert!(notices(&out).is_empty(), "{out:?}");
    let id: MessageId = "alice/2".parse().expect("id");
    assert_eq!(chat_ids(&out, conn), vec![id.clone()]);
    // bob's ack comes before our commit: nothing is said yet.
    let out = node.frame(conn, ack(&id));
    assert!(notices(&out).is_empty(), "{out:?}");
    let out = node.commit();
    let said = events(&out);
    assert!(
        matches!(
            &said[..],
            [
                Event::Sending { id: a, .. },
                Event::Sent { id: b, .. },
                Event::Receipt { id: c, state: ReceiptState::Delivered, .. },
            ] if *a == id && *b == id && *c == id
        ),
        "{out:?}"
    );
}

#[test]
fn a_message_that_cannot_be_stored_is_an_error_and_never_announced() {
    let mut node = in_a_group();
    node.store.hold = true;
    let out = node.send(1, Target::Group(group("g")), "lost?");
    assert_eq!(writes(&out).len(), 1);
    let conn = dials(&out)[0].0;
    let out = node.fail_writes("disk full");
    // The store's failure is reported, and the message's: nothing was promised.
    assert_eq!(
        errors(&out),
        vec![
            (ErrorCode::StoreFailed, None),
            (ErrorCode::StoreFailed, Some(1))
        ]
    );
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::Sending { .. } | Event::Sent { .. })),
        "{out:?}"
    );
    // It never goes: bob's hello finds nothing to send.
    let out = node.hello(conn, "bob");
    assert!(chat_ids(&out, conn).is_empty(), "{out:?}");
    // The store still failing: only the message's error this time.
    let out = node.send(2, Target::Peer(name("bob")), "again");
    assert!(notices(&out).is_empty());
    let out = node.fail_writes("disk full");
    assert_eq!(errors(&out), vec![(ErrorCode::StoreFailed, Some(2))]);
    // It works again: the next one goes, on the connection already open.
    node.store.hold = false;
    let out = node.send(3, Target::Peer(name("bob")), "now?");
    let id = sending_id(&out);
    assert!(errors(&out).is_empty());
    assert_eq!(chat_ids(&out, conn), vec![id]);
    assert!(node.core.unstored.is_empty());
}

/// A message that went out early and then failed to be stored is an error that says it
/// may have arrived; it is not sent again, and a late ack of it is nothing.
#[test]
fn a_message_sent_early_whose_write_fails_says_it_may_have_arrived() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Group(group("g")), "first");
    let conn = dials(&out)[0].0;
    node.hello(conn, "bob");
    node.store.hold = true;
    let out = node.send(2, Target::Group(group("g")), "early");
    let id: MessageId = "alice/2".parse().expect("id");
    assert_eq!(chat_ids(&out, conn), vec![id.clone()]);
    let out = node.fail_writes("disk full");
    assert!(
        notices(&out).iter().any(|n| n.req == Some(2)
            && matches!(&n.event, Event::Error { message, .. } if message.contains("may have reached"))),
        "{out:?}"
    );
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::Sending { .. }))
    );
    let out = node.frame(conn, ack(&id));
    assert!(notices(&out).is_empty(), "{out:?}");
    // Its number is never given again.
    node.store.hold = false;
    let out = node.send(3, Target::Group(group("g")), "next");
    assert_eq!(sending_id(&out).seq, 3);
}

#[test]
fn a_received_message_is_shown_and_acked_only_once_it_is_stored() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    node.store.hold = true;
    let out = node.frame(conn, PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "hi")));
    assert!(
        matches!(&writes(&out)[..], [Write::Received { verified: true, .. }]),
        "{out:?}"
    );
    assert!(events(&out).is_empty() && frames(&out, conn).is_empty());
    let out = node.commit();
    let id: MessageId = "bob/1".parse().expect("id");
    assert_eq!(shown(&out), vec![(id.clone(), "hi".into(), true)]);
    assert_eq!(frames(&out, conn), vec![ack(&id)]);
}

#[test]
fn a_copy_on_a_second_connection_while_the_first_is_stored_is_acked_after_the_commit_and_shown_once()
 {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (first, _) = node.inbound(1, "bob", bob.public_key());
    // bob reconnects (his first connection may be half-open) and retries.
    let (second, out) = node.inbound(2, "bob", bob.public_key());
    assert!(out.contains(&Output::Accept { conn: second }));
    node.store.hold = true;
    let message = PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "once"));
    let out = node.frame(first, message.clone());
    assert_eq!(writes(&out).len(), 1);
    // The copy: no second write, and no ack before the first copy is stored (an ack is
    // the promise that it is kept).
    let out = node.frame(second, message.clone());
    assert!(out.is_empty(), "{out:?}");
    let out = node.commit();
    let id: MessageId = "bob/1".parse().expect("id");
    assert_eq!(shown(&out).len(), 1);
    assert_eq!(frames(&out, first), vec![ack(&id)]);
    assert_eq!(frames(&out, second), vec![ack(&id)]);
    // Once stored, a copy is acked at once, and nothing else.
    let out = node.frame(second, message);
    assert_eq!(
        out,
        vec![Output::Send {
            conn: second,
            frame: Arc::new(ack(&id))
        }]
    );
    assert_eq!(node.store.stored().len(), 1);
}

/// A commit survives the process being killed, not a power cut: a received message is
/// shown at its commit, but acknowledged (the sender's cue to forget it) only once the
/// store has synced it to the disk. A copy meanwhile waits for the same sync.
#[test]
fn a_received_message_is_shown_at_its_commit_and_acked_once_it_is_synced() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    node.store.hold_sync = true;
    let message = PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "hi"));
    let out = node.frame(conn, message.clone());
    let id: MessageId = "bob/1".parse().expect("id");
    assert_eq!(shown(&out), vec![(id.clone(), "hi".into(), true)]);
    assert!(frames(&out, conn).is_empty(), "{out:?}");
    let out = node.frame(conn, message);
    assert!(out.is_empty(), "{out:?}");
    let out = node.sync(Ok(()));
    assert_eq!(frames(&out, conn), vec![ack(&id), ack(&id)]);
    assert!(shown(&out).is_empty());
}

/// A failed sync may have lost the commit, and no later sync is trusted: nothing is
/// acknowledged, the failure is reported once, and a copy (the sender's retry) is neither
/// acknowledged nor shown again.
#[test]
fn a_failed_sync_acks_nothing_then_or_after() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    node.store.hold_sync = true;
    let message = PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "keep me"));
    node.frame(conn, message.clone());
    let out = node.sync(Err("cannot write natter.db: I/O error".into()));
    assert_eq!(errors(&out), vec![(ErrorCode::StoreFailed, None)]);
    assert!(frames(&out, conn).is_empty(), "{out:?}");
    let out = node.frame(conn, message);
    assert!(out.is_empty(), "{out:?}");
    // The next message is shown (it is stored), but its sync fails too: reported no more.
    let out = node.frame(
        conn,
        PeerFrame::Chat(chat(&bob, "bob", 2, Some("g"), "next")),
    );
    assert_eq!(shown(&out).len(), 1);
    let out = node.sync(Err("cannot write natter.db: I/O error".into()));
    assert!(out.is_empty(), "{out:?}");
}

/// A number not reserved yet leaves only once its own write is on the disk: after a power
/// cut, numbering resumes past what the disk holds, and a number that reached a recipient
/// must be among it. `sending` (the promise that it is never lost) waits for the disk too.
#[test]
fn an_unreserved_number_and_sending_wait_for_the_sync() {
    let mut node = in_a_group();
    node.store.hold_sync = true;
    let out = node.send(1, Target::Group(group("g")), "first");
    assert!(notices(&out).is_empty(), "{out:?}");
    let conn = dials(&out)[0].0;
    let out = node.hello(conn, "bob");
    assert!(chat_ids(&out, conn).is_empty(), "{out:?}");
    let out = node.sync(Ok(()));
    let id = sending_id(&out);
    assert_eq!(chat_ids(&out, conn), vec![id]);
}

/// A failed sync of our message is as a failed write: an error saying it may have reached
/// recipients, and it is not retried.
#[test]
fn our_message_whose_sync_fails_is_an_error_and_never_announced() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Group(group("g")), "first");
    let conn = dials(&out)[0].0;
    node.hello(conn, "bob");
    node.store.hold_sync = true;
    let out = node.send(2, Target::Group(group("g")), "unsure");
    assert!(notices(&out).is_empty(), "{out:?}");
    let out = node.sync(Err("cannot write natter.db: I/O error".into()));
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::Sending { .. })),
        "{out:?}"
    );
    assert_eq!(
        errors(&out),
        vec![
            (ErrorCode::StoreFailed, None),
            (ErrorCode::StoreFailed, Some(2))
        ]
    );
    assert!(node.core.unstored.is_empty());
}

#[test]
fn a_duplicate_is_dropped_before_any_check() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    node.frame(conn, PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "hi")));
    // The same id again with another text (and so a bad signature): it is the author's
    // seq we hold, so it is acked and dropped, never checked, stored or shown.
    let PeerFrame::Chat(mut altered) = PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "hi"))
    else {
        unreachable!()
    };
    altered.message.body = natter_protocol::peer::Body::text_only("HI");
    let out = node.frame(conn, PeerFrame::Chat(altered));
    let id: MessageId = "bob/1".parse().expect("id");
    assert_eq!(frames(&out, conn), vec![ack(&id)]);
    assert!(events(&out).is_empty() && writes(&out).is_empty());
}

#[test]
fn a_received_message_that_cannot_be_stored_is_not_acked_and_may_come_again() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    node.store.hold = true;
    let message = PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "keep me"));
    node.frame(conn, message.clone());
    let out = node.fail_writes("disk full");
    assert_eq!(errors(&out), vec![(ErrorCode::StoreFailed, None)]);
    assert!(shown(&out).is_empty() && frames(&out, conn).is_empty());
    // bob retries: it is not taken for a duplicate.
    node.store.hold = false;
    let out = node.frame(conn, message);
    assert_eq!(shown(&out).len(), 1);
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Ack { .. }]));
}

#[test]
fn a_private_message_for_another_key_is_refused() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    let nacked = |out: &[Output], seq: u64| {
        matches!(&frames(out, conn)[..],
            [PeerFrame::Nack { id, code: natter_protocol::ErrorCode::Unauthorized, .. }]
                if id.seq == seq)
    };
    // For carol: signed over carol's key, so bob cannot pass it off as ours.
    let for_carol = private_chat(&bob, "bob", 1, key_of("carol"), "psst");
    let out = node.frame(conn, PeerFrame::Chat(for_carol));
    assert!(nacked(&out, 1), "{out:?}");
    // For nobody in particular.
    let for_nobody = chat(&bob, "bob", 2, None, "psst");
    let out = node.frame(conn, PeerFrame::Chat(for_nobody));
    assert!(nacked(&out, 2), "{out:?}");
    // Neither was kept; one for us is.
    assert!(node.store.stored().is_empty());
    let for_us = private_chat(&bob, "bob", 3, key_of("alice"), "hi alice");
    let out = node.frame(conn, PeerFrame::Chat(for_us));
    assert_eq!(
        shown(&out),
        vec![("bob/3".parse().expect("id"), "hi alice".into(), true)]
    );
    assert!(matches!(
        &writes(&out)[..],
        [Write::Received { conversation: Conversation::Peer(k), .. }] if *k == key_of("bob")
    ));
}

#[test]
fn history_answers_from_the_store_with_each_recipients_state() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, _) = node.inbound(1, "bob", bob.public_key());
    node.frame(
        conn,
        PeerFrame::Chat(chat(&bob, "bob", 1, Some("g"), "first")),
    );
    let out = node.send(1, Target::Group(group("g")), "second");
    let id = sending_id(&out);
    node.frame(conn, ack(&id));
    let private = private_chat(&bob, "bob", 2, key_of("alice"), "just you");
    node.frame(conn, PeerFrame::Chat(private));

    let target = Target::Group(group("g"));
    let out = node.cmd(2, Command::History { target, limit: 50 });
    let read = Read::History {
        conversation: Conversation::Group(group("g")),
        limit: 50,
    };
    assert_eq!(reads(&out), vec![read]);
    let [
        Notice {
            req: Some(2),
            event: Event::History { target, messages },
        },
    ] = &notices(&out)[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(target, &About::Group(group("g")));
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["first", "second"]);
    assert_eq!(
        (messages[0].to.as_ref(), messages[0].delivery.as_ref()),
        (None, None)
    );
    let state = DeliveryState {
        delivered: vec!["bob".into()],
        pending: vec!["carol".into()],
        failed: vec![],
        read: Vec::new(),
    };
    assert_eq!(messages[1].delivery, Some(state));
    // The last N only; a peer's conversation by name.
    let target = Target::Peer(name("bob"));
    let out = node.cmd(3, Command::History { target, limit: 1 });
    let Some(Event::History { messages, .. }) = events(&out).into_iter().next() else {
        panic!("{out:?}")
    };
    let item = HistoryItem {
        id: "bob/2".parse().expect("id"),
        from: name("bob"),
        group: None,
        text: "just you".into(),
        sent_at: messages[0].sent_at,
        verified: true,
        to: None,
        delivery: None,
        reply_to: None,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
    };
    assert_eq!(messages, vec![item]);
    // A name nobody knows a key for.
    let target = Target::Peer(name("nobody"));
    let out = node.cmd(4, Command::History { target, limit: 5 });
    assert_eq!(errors(&out), vec![(ErrorCode::UnknownPeer, Some(4))]);
    assert!(reads(&out).is_empty());
}

/// `/history` answers after every write that came before it (the store's promise for a
/// read); the delivery records the core holds back are such writes, so a `/history` right
/// after a `sent` names the recipient delivered, as `sent` did.
#[test]
fn history_right_after_an_ack_shows_it_delivered() {
    let mut node = in_a_group();
    let out = node.send(1, Target::Peer(name("bob")), "hi");
    let (conn, id) = (dials(&out)[0].0, sending_id(&out));
    node.hello(conn, "bob");
    let out = node.frame(conn, ack(&id));
    assert_eq!(sent(&out), vec![Sent::of(1, &["bob"], &[], &[])]);
    let target = Target::Peer(name("bob"));
    let out = node.cmd(2, Command::History { target, limit: 5 });
    let Some(Event::History { messages, .. }) = events(&out).into_iter().next() else {
        panic!("{out:?}")
    };
    let state = messages[0].delivery.clone().expect("own");
    assert_eq!(state.delivered, ["bob"], "{state:?}");
}

#[test]
fn a_failed_history_read_is_an_error_for_it() {
    let mut node = in_a_group();
    node.store.hold = true;
    let target = Target::Group(group("g"));
    node.cmd(1, Command::History { target, limit: 5 });
    let [Job::Read(token, _)] = node.store.queued[..] else {
        panic!("{:?}", node.store.queued)
    };
    let reply = crate::node::store::Reply::Answered {
        token,
        result: Err("cannot read natter.db: damaged".into()),
    };
    node.store.queued.clear();
    let out = node.input(Input::Stored(reply));
    assert_eq!(errors(&out), vec![(ErrorCode::StoreFailed, Some(1))]);
}

/// What a store holds after alice sent `alice/1..=3` to #g (bob got them, carol did not),
/// and `alice/4` to bob privately (not acknowledged).
fn stored_before() -> Loaded {
    let alice = identity_for("alice");
    let to_group = |seq: u64| chat(&alice, "alice", seq, Some("g"), &format!("g{seq}"));
    let carol = (key_of("carol"), name("carol"));
    let bob = (key_of("bob"), name("bob"));
    let mut unsent: Vec<Unsent> = (1..=3)
        .map(|seq| Unsent {
            chat: to_group(seq),
            conversation: Conversation::Group(group("g")),
            pending: vec![carol.clone()],
            expires_at: u64::MAX,
        })
        .collect();
    unsent.push(Unsent {
        chat: private_chat(&alice, "alice", 4, key_of("bob"), "p"),
        conversation: Conversation::Peer(key_of("bob")),
        pending: vec![bob],
        expires_at: u64::MAX,
    });
    let mut held = std::collections::HashMap::new();
    held.insert(
        (key_of("alice"), Some(group("g"))),
        RangeSet::from_ranges([(1, 3)]),
    );
    held.insert((key_of("alice"), None), RangeSet::from_ranges([(4, 4)]));
    Loaded {
        last_seq: 4,
        held,
        unsent,
        listen_port: None,
        peers: vec![name("bob")],
    }
}

#[test]
fn messages_found_unsent_at_start_go_again_in_order_and_end_delivered() {
    let members = vec![
        listed("alice", 4000, true),
        listed("bob", 4001, true),
        listed("carol", 4002, true),
    ];
    let mut node = Node::with("alice", &[("g", members)], |setup| {
        setup.stored = stored_before();
    });
    let out = node.drain();
    // The cached group opens at once, and so do the private conversations; nothing is
    // announced again.
    assert!(events(&out).iter().any(|e| matches!(e,
        Event::Members { group: g, members: Some(m), .. } if *g == group("g") && m.len() == 3)));
    assert!(events(&out).contains(&Event::Conversations {
        peers: vec![name("bob")]
    }));
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::Sending { .. } | Event::Sent { .. }))
    );
    // carol and bob are dialled at once, each gets what it lacks, in order.
    let conns: HashMap<u16, ConnId> = dials(&out)
        .into_iter()
        .map(|(conn, addr, _)| (addr.port(), conn))
        .collect();
    let carol = conns[&4002];
    let out = node.hello(carol, "carol");
    let ids = chat_ids(&out, carol);
    let seqs: Vec<u64> = ids.iter().map(|i| i.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let out = node.hello(conns[&4001], "bob");
    assert_eq!(chat_ids(&out, conns[&4001]).len(), 1);
    // Each ack is a `delivered` (the `sent` was the last run's), and is recorded.
    let out = node.frame(carol, ack(&ids[0]));
    assert_eq!(delivered(&out), vec![(ids[0].clone(), "carol".into())]);
    assert!(sent(&out).is_empty());
    assert!(
        matches!(&node.records()[..], [Write::Delivered { seq: 1, to }] if *to == key_of("carol"))
    );
    // Our next message is numbered after the stored ones.
    let out = node.send(1, Target::Group(group("g")), "next");
    assert_eq!(sending_id(&out).seq, 5);
}

#[test]
fn cached_groups_open_at_start_with_their_members() {
    let members = vec![listed("alice", 4000, true), listed("bob", 4001, false)];
    let mut node = Node::new("alice", &[("g", members.clone())]);
    let out = node.drain();
    let got: Vec<Event> = events(&out)
        .into_iter()
        .filter(|e| matches!(e, Event::Members { .. }))
        .collect();
    assert_eq!(
        got,
        vec![Event::Members {
            group: group("g"),
            version: 1,
            members: Some(members),
            change: None,
            owner: None,
            topic: None,
            private: false,
            by: None,
        }]
    );
}

use std::collections::HashMap;
