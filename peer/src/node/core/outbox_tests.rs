use super::*;
use natter_protocol::testkit::build::{identity_for, name};

fn key(n: &str) -> PublicKey {
    identity_for(n).public_key()
}

fn dest(n: &str, online: bool) -> Dest {
    Dest {
        key: key(n),
        name: name(n),
        addr: Some(([127, 0, 0, 1], 9).into()),
        online,
    }
}

fn frame() -> Arc<PeerFrame> {
    Arc::new(PeerFrame::Ack {
        id: "me/1".parse().expect("id"),
    })
}

fn id(seq: u64) -> MessageId {
    MessageId {
        sender: name("me"),
        seq,
    }
}

/// Adds message `seq` for `dests` as a new message.
fn add(out: &mut Outbox, seq: u64, dests: &[Dest]) -> Option<Progress> {
    out.add((seq, id(seq), None), frame(), u64::MAX, dests, Some(vec![]))
}

fn sent(p: &Progress) -> (Vec<String>, Vec<String>, Vec<String>) {
    match p {
        Progress::Sent {
            delivered,
            failed,
            pending,
            ..
        } => (delivered.clone(), failed.clone(), pending.clone()),
        other => panic!("not a sent event: {other:?}"),
    }
}

const C1: ConnId = ConnId::Dialed(1);

#[test]
fn messages_go_in_order_and_settle_on_acks() {
    let now = Instant::now();
    let mut out = Outbox::new(Limits::default());
    let bob = dest("bob", true);
    for seq in 1..=3 {
        assert_eq!(add(&mut out, seq, std::slice::from_ref(&bob)), None);
    }
    assert_eq!(out.dials(now).len(), 1, "one dial for bob");
    out.dialling(&bob.key, C1);
    assert!(out.dials(now).is_empty(), "no second dial while one is out");
    out.connected(&bob.key, C1, now);
    let (conn, frames) = out.to_send(&bob.key, now).expect("open");
    assert_eq!((conn, frames.len()), (C1, 3));
    assert!(
        out.to_send(&bob.key, now).expect("open").1.is_empty(),
        "sent once"
    );
    let effects = out.acked(C1, &bob.key, 2);
    assert_eq!(
        effects.records,
        vec![Record::Delivered {
            seq: 2,
            to: bob.key
        }]
    );
    assert_eq!(sent(&effects.progress[0]).0, vec!["bob".to_string()]);
    // An ack on another connection settles nothing.
    assert_eq!(
        out.acked(ConnId::Dialed(9), &bob.key, 1),
        Effects::default()
    );
    out.acked(C1, &bob.key, 1);
    out.acked(C1, &bob.key, 3);
    assert!(out.is_empty());
}

#[test]
fn a_lost_connection_makes_recipients_pending_and_resends_in_order() {
    let now = Instant::now();
    let mut out = Outbox::new(Limits::default());
    let (bob, carol) = (dest("bob", true), dest("carol", false));
    let done = add(&mut out, 1, &[bob.clone(), carol.clone()]);
    assert_eq!(done, None);
    // Carol is offline: her first round ends at once, as pending.
    out.dialling(&bob.key, C1);
    let effects = out.unreachable_now(now);
    assert!(effects.progress.is_empty(), "bob's attempt is still out");
    out.connected(&bob.key, C1, now);
    out.to_send(&bob.key, now);
    add(&mut out, 2, std::slice::from_ref(&bob));
    let effects = out.conn_down(C1, now, 7);
    let ends: Vec<_> = effects.progress.iter().map(sent).collect();
    assert_eq!(
        ends[0],
        (vec![], vec![], vec!["bob".to_string(), "carol".to_string()])
    );
    assert_eq!(ends[1], (vec![], vec![], vec!["bob".to_string()]));
    // Not before the backoff; then everything again, in order.
    assert!(out.dials(now).is_empty());
    let later = now + RETRY_MAX;
    assert_eq!(out.dials(later).len(), 1, "bob again; carol is offline");
    out.connected(&bob.key, ConnId::Dialed(2), later);
    let (_, frames) = out.to_send(&bob.key, later).expect("open");
    assert_eq!(frames.len(), 2);
    let effects = out.acked(ConnId::Dialed(2), &bob.key, 1);
    assert_eq!(
        effects.progress,
        vec![Progress::Delivered {
            id: id(1),
            to: name("bob")
        }]
    );
    // Carol comes online: dialled at once.
    out.presence(&carol.key, None, true);
    assert!(out.dials(later).iter().any(|d| d.key == carol.key));
}

#[test]
fn refusals_expiry_and_limits() {
    let now = Instant::now();
    let mut out = Outbox::new(Limits {
        per_recipient: 2,
        total: 3,
    });
    let bob = dest("bob", true);
    out.add(
        (1, id(1), None),
        frame(),
        1_000,
        std::slice::from_ref(&bob),
        Some(vec![]),
    );
    add(&mut out, 2, std::slice::from_ref(&bob));
    assert!(out.refusal(&[bob.key]).expect("full").contains("full"));
    assert!(out.refusal(&[key("carol")]).is_none());
    assert!(out.refusal(&[key("carol"), key("dave")]).is_some(), "total");
    out.connected(&bob.key, C1, now);
    out.to_send(&bob.key, now);
    let effects = out.refused(C1, &bob.key, 2, "no");
    assert!(matches!(
        &effects.progress[0],
        Progress::Failed {
            in_first_round: true,
            ..
        }
    ));
    let effects = out.expire(1_000);
    assert_eq!(
        effects.records,
        vec![Record::Failed {
            seq: 1,
            to: bob.key,
            reason: "not delivered before it expired".into()
        }]
    );
    assert!(out.is_empty());
}

#[test]
fn nobody_to_send_to_is_sent_at_once() {
    let mut out = Outbox::new(Limits::default());
    let p = out.add(
        (1, id(1), None),
        frame(),
        u64::MAX,
        &[],
        Some(vec!["x".into()]),
    );
    assert_eq!(
        sent(&p.expect("sent")),
        (vec![], vec!["x".to_string()], vec![])
    );
    assert!(out.is_empty());
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter() {
    assert!(backoff(1, 0) >= RETRY_MIN / 2 && backoff(1, 0) <= RETRY_MIN);
    assert!(backoff(3, 0) >= RETRY_MIN * 2);
    assert!(backoff(40, u64::MAX) <= RETRY_MAX);
    assert_ne!(backoff(5, 1), backoff(5, 2));
}

#[test]
fn seqs_above_the_sendable_bound_wait_in_order() {
    let now = Instant::now();
    let mut out = Outbox::new(Limits::default());
    let bob = dest("bob", true);
    out.set_sendable(1);
    for seq in 1..=3 {
        add(&mut out, seq, std::slice::from_ref(&bob));
    }
    out.connected(&bob.key, C1, now);
    let (_, frames) = out.to_send(&bob.key, now).expect("open");
    assert_eq!(frames.len(), 1, "only seq 1 may go");
    assert_eq!(out.to_send(&bob.key, now).expect("open").1.len(), 0);
    out.set_sendable(3);
    assert_eq!(out.to_send(&bob.key, now).expect("open").1.len(), 2);
}

#[test]
fn a_removed_message_is_forgotten_without_a_word() {
    let now = Instant::now();
    let mut out = Outbox::new(Limits::default());
    let bob = dest("bob", true);
    add(&mut out, 1, std::slice::from_ref(&bob));
    out.connected(&bob.key, C1, now);
    out.to_send(&bob.key, now);
    out.remove(1);
    assert!(out.is_empty());
    // A late ack of it settles nothing.
    let effects = out.acked(C1, &bob.key, 1);
    assert!(effects.progress.is_empty() && effects.records.is_empty());
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn the_deadline_is_never_late_and_exact_after_a_refresh() {
    let t0 = Instant::now();
    let mut out = Outbox::new(Limits::default());
    let (bob, carol) = (dest("bob", true), dest("carol", true));
    let expires_ms = 1_000_000;
    let both = [bob.clone(), carol.clone()];
    out.add((1, id(1), None), frame(), expires_ms, &both, Some(vec![]));
    let expiry = |now: Instant, now_ms: u64| now + Duration::from_millis(expires_ms - now_ms);
    assert_eq!(out.next_deadline(t0, 0, TIMEOUT), Some(expiry(t0, 0)));
    out.connected(&bob.key, C1, t0);
    let c2 = ConnId::Dialed(2);
    out.connected(&carol.key, c2, t0);
    assert_eq!(out.to_send(&bob.key, t0).map(|(_, f)| f.len()), Some(1));
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(out.to_send(&carol.key, t1).map(|(_, f)| f.len()), Some(1));
    assert_eq!(out.next_deadline(t1, 1_000, TIMEOUT), Some(t0 + TIMEOUT));
    // Bob's ack leaves carol's send the oldest: the bound stays earlier until a refresh.
    out.acked(C1, &bob.key, 1);
    assert_eq!(out.next_deadline(t1, 1_000, TIMEOUT), Some(t0 + TIMEOUT));
    out.refresh_deadlines(t1);
    assert_eq!(out.next_deadline(t1, 1_000, TIMEOUT), Some(t1 + TIMEOUT));
    // Carol's connection fails: her retry comes first.
    out.conn_down(c2, t1, 0);
    let retry = out.next_deadline(t1, 1_000, TIMEOUT).expect("a retry");
    assert!(retry > t1 && retry <= t1 + backoff(1, 0), "{retry:?}");
    out.refresh_deadlines(t1);
    assert_eq!(out.next_deadline(t1, 1_000, TIMEOUT), Some(retry));
}

#[test]
fn a_due_retry_that_cannot_dial_is_no_deadline_after_a_refresh() {
    let t0 = Instant::now();
    let mut out = Outbox::new(Limits::default());
    let bob = dest("bob", true);
    let expires_ms = 1_000_000;
    let dests = std::slice::from_ref(&bob);
    out.add((1, id(1), None), frame(), expires_ms, dests, Some(vec![]));
    out.dialling(&bob.key, C1);
    out.conn_down(C1, t0, 0);
    out.presence(&bob.key, None, false);
    let later = t0 + RETRY_MAX;
    // Due, so the timer fires; the refresh then drops it (it waits for bob to come back).
    assert!(
        out.next_deadline(later, 0, TIMEOUT)
            .is_some_and(|at| at <= later)
    );
    out.refresh_deadlines(later);
    let expiry = later + Duration::from_millis(expires_ms);
    assert_eq!(out.next_deadline(later, 0, TIMEOUT), Some(expiry));
}
