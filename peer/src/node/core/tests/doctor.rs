//! `/doctor` in the core: what it asks (the tracker's probe, the store's health, a dial to
//! each online member without a connection), and one `doctor` event per request once the
//! answers are in or the time is up.

use super::*;
use crate::node::api::Check;

fn doctor_of(out: &[Output]) -> Vec<(Option<RequestId>, Vec<Check>)> {
    notices(out)
        .into_iter()
        .filter_map(|n| match n.event {
            Event::Doctor { checks } => Some((n.req, checks)),
            _ => None,
        })
        .collect()
}

fn probe_id(out: &[Output]) -> Option<RequestId> {
    to_tracker(out).into_iter().find_map(|r| match r {
        PeerToTracker::Probe { req } => req,
        _ => None,
    })
}

fn ok_of(checks: &[Check], name: &str) -> bool {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:?}"))
        .ok
}

/// alice in #g with bob (online) and carol (offline).
fn alice() -> Node {
    let g = vec![
        listed("alice", 4000, true),
        listed("bob", 4001, true),
        listed("carol", 4002, false),
    ];
    Node::online("alice", &[("g", g)])
}

#[test]
fn doctor_asks_the_probe_the_store_and_the_members_then_answers_once() {
    let mut node = alice();
    let out = node.cmd(1, Command::Doctor);
    let id = probe_id(&out).expect("a probe");
    assert!(reads(&out).contains(&Read::Health), "{out:?}");
    // Bob is online without a connection: dialled, demanding his key. Carol is offline.
    let dialled = dials(&out);
    assert_eq!(dialled.len(), 1, "{out:?}");
    let (bob_conn, at, expect) = dialled[0];
    assert_eq!((at, expect), (addr(4001), Some(key_of("bob"))));
    assert!(
        doctor_of(&out).is_empty(),
        "not before the answers: {out:?}"
    );
    // A second /doctor meanwhile shares the run.
    let out = node.cmd(2, Command::Doctor);
    assert!(
        probe_id(&out).is_none() && dials(&out).is_empty(),
        "{out:?}"
    );

    let clock = node.now.unix_micros / 1000;
    let answer = TrackerToPeer::ProbeResult {
        addr: addr(4000),
        reachable: true,
        error: None,
        clock,
        req: Some(id),
    };
    assert!(
        doctor_of(&node.push(answer)).is_empty(),
        "bob has not answered"
    );
    let out = node.ended(bob_conn, "connection refused");
    let answers = doctor_of(&out);
    assert_eq!(
        answers.iter().map(|(req, _)| *req).collect::<Vec<_>>(),
        vec![Some(1), Some(2)]
    );
    let checks = &answers[0].1;
    for ok in ["tracker", "reachable", "clock", "database"] {
        assert!(ok_of(checks, ok), "{ok}: {checks:#?}");
    }
    assert!(!ok_of(checks, "member:bob"));
    // Carol is offline: said, but nothing to fix here.
    assert!(ok_of(checks, "member:carol"));
    let bob = checks.iter().find(|c| c.name == "member:bob").expect("bob");
    assert!(bob.detail.contains("connection refused"), "{bob:?}");
    // Nothing more comes of it.
    assert!(doctor_of(&node.advance(Duration::from_secs(10))).is_empty());
}

#[test]
fn without_answers_the_doctor_answers_at_its_deadline() {
    let mut node = alice();
    node.cmd(1, Command::Doctor);
    let out = node.run_until(Duration::from_secs(6));
    let answers = doctor_of(&out);
    assert_eq!(answers.len(), 1, "{out:?}");
    let checks = &answers[0].1;
    assert!(ok_of(checks, "tracker"));
    assert!(
        !ok_of(checks, "reachable"),
        "the probe never answered: {checks:#?}"
    );
    assert!(!ok_of(checks, "clock"));
    assert!(!ok_of(checks, "member:bob"));
}

#[test]
fn with_the_tracker_down_the_doctor_says_so_without_asking_it() {
    let g = vec![listed("alice", 4000, true), listed("bob", 4001, false)];
    let mut node = Node::new("alice", &[("g", g)]);
    node.drain();
    node.tracker(TrackerInput::Disconnected {
        reason: "connection refused".into(),
    });
    let out = node.cmd(1, Command::Doctor);
    assert!(probe_id(&out).is_none(), "{out:?}");
    let answers = doctor_of(&out);
    assert_eq!(answers.len(), 1, "only the store to wait for: {out:?}");
    let tracker = answers[0]
        .1
        .iter()
        .find(|c| c.name == "tracker")
        .expect("tracker");
    assert!(
        !tracker.ok && tracker.detail.contains("connection refused"),
        "{tracker:?}"
    );
}

#[test]
fn a_refused_probe_or_a_dropped_link_ends_the_wait_for_it() {
    let mut node = Node::online("alice", &[]);
    let out = node.cmd(1, Command::Doctor);
    let id = probe_id(&out).expect("a probe");
    let refusal = TrackerToPeer::Error {
        code: natter_protocol::ErrorCode::RateLimited,
        message: "too many".into(),
        req: Some(id),
    };
    let out = node.push(refusal);
    assert!(
        errors(&out).is_empty(),
        "the refusal is the doctor's: {out:?}"
    );
    let answers = doctor_of(&out);
    let reachable = answers[0]
        .1
        .iter()
        .find(|c| c.name == "reachable")
        .expect("check");
    assert!(reachable.detail.contains("too many"), "{reachable:?}");

    node.cmd(2, Command::Doctor);
    let out = node.tracker(TrackerInput::Disconnected {
        reason: "reset".into(),
    });
    assert_eq!(doctor_of(&out).len(), 1, "{out:?}");
}
