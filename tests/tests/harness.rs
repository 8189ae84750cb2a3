//! The test harness's own tests: the delivery checker must be able to fail (on every kind
//! of fault it claims to find), and the seeded RNG must replay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use serde_json::{Value, json};
use util::checker::{Checker, Conv};
use util::durable::{Rng, outcomes};

fn g() -> Conv {
    Conv::Group("g".into())
}

/// alice announces `n` messages to #g for bob and carol; ids alice/1..=n, texts m1..=mn.
fn announced(n: u64) -> Checker {
    let mut c = Checker::new();
    for i in 1..=n {
        c.announce(
            "alice",
            &format!("alice/{i}"),
            g(),
            &format!("m{i}"),
            &["bob", "carol"],
        );
    }
    c
}

fn msg(i: u64) -> Value {
    json!({"event": "message", "id": format!("alice/{i}"), "from": "alice", "group": "g",
           "text": format!("m{i}"), "sent_at": 1, "verified": true})
}

fn receive(c: &mut Checker, who: &str, seqs: impl IntoIterator<Item = u64>) {
    for i in seqs {
        c.receive_event(who, &msg(i));
    }
}

#[test]
fn a_clean_run_passes() {
    let mut c = announced(10);
    receive(&mut c, "bob", 1..=10);
    receive(&mut c, "carol", 1..=10);
    let report = c.check();
    report.assert_ok("clean");
    let s = report.stream("bob", "alice", &g()).unwrap();
    assert_eq!((s.expected, s.received, s.printed), (10, 10, 10));
    assert_eq!(report.streams.len(), 2, "{report}");
}

#[test]
fn a_lost_message_fails_and_is_named() {
    let mut c = announced(10);
    receive(&mut c, "bob", (1..=10).filter(|i| *i != 4));
    receive(&mut c, "carol", 1..=10);
    let report = c.check();
    assert!(!report.ok());
    assert_eq!(
        report.stream("bob", "alice", &g()).unwrap().lost,
        ["alice/4"]
    );
    assert!(report.stream("carol", "alice", &g()).unwrap().ok());
    let text = report.to_string();
    assert!(text.contains("FAIL bob <- alice #g"), "{text}");
    assert!(text.contains("lost 1: alice/4"), "{text}");
}

#[test]
fn a_receiver_that_got_nothing_loses_everything() {
    let mut c = announced(3);
    receive(&mut c, "bob", 1..=3);
    let report = c.check();
    assert_eq!(
        report.stream("carol", "alice", &g()).unwrap().lost,
        ["alice/1", "alice/2", "alice/3"]
    );
}

#[test]
fn a_loss_reported_failed_is_still_a_loss_but_says_so() {
    let mut c = announced(2);
    c.failed("alice/2", "bob");
    receive(&mut c, "bob", [1]);
    receive(&mut c, "carol", 1..=2);
    let report = c.check();
    assert!(!report.ok());
    assert_eq!(
        report.stream("bob", "alice", &g()).unwrap().lost,
        ["alice/2 (reported failed)"]
    );
}

#[test]
fn a_duplicate_fails() {
    let mut c = announced(5);
    receive(&mut c, "bob", [1, 2, 3, 3, 4, 5, 3]);
    receive(&mut c, "carol", 1..=5);
    let report = c.check();
    assert!(!report.ok());
    let s = report.stream("bob", "alice", &g()).unwrap();
    assert_eq!(
        s.duplicated,
        ["alice/3"],
        "named once however often it came"
    );
    assert_eq!(s.printed, 7);
    assert_eq!(s.received, 5);
    assert!(
        s.reordered.is_empty(),
        "a late copy is a duplicate, not a reorder"
    );
}

#[test]
fn a_reordering_fails() {
    let mut c = announced(5);
    receive(&mut c, "bob", [1, 3, 2, 4, 5]);
    receive(&mut c, "carol", 1..=5);
    let report = c.check();
    assert!(!report.ok());
    assert_eq!(
        report.stream("bob", "alice", &g()).unwrap().reordered,
        ["alice/2"]
    );
}

#[test]
fn order_is_per_conversation() {
    let mut c = Checker::new();
    c.announce("alice", "alice/1", g(), "g1", &["bob"]);
    c.announce("alice", "alice/2", Conv::Private, "p1", &["bob"]);
    c.announce("alice", "alice/3", g(), "g2", &["bob"]);
    let private = json!({"event": "message", "id": "alice/2", "from": "alice",
                         "group": null, "text": "p1"});
    let group = |i: u64, t: &str| {
        json!({"event": "message", "id": format!("alice/{i}"), "from": "alice",
               "group": "g", "text": t})
    };
    // The private message overtaking the group ones is no reordering; 3 before 1 is.
    c.receive_event("bob", &private);
    c.receive_event("bob", &group(3, "g2"));
    c.receive_event("bob", &group(1, "g1"));
    let report = c.check();
    assert!(report.stream("bob", "alice", &Conv::Private).unwrap().ok());
    assert_eq!(
        report.stream("bob", "alice", &g()).unwrap().reordered,
        ["alice/1"]
    );
}

#[test]
fn unexpected_messages_fail_unless_the_author_was_killed() {
    for killed in [false, true] {
        let mut c = announced(2);
        if killed {
            c.author_killed("alice");
        }
        // alice/3 was stored and sent, but its `sending` was never printed.
        receive(&mut c, "bob", 1..=3);
        receive(&mut c, "carol", 1..=3);
        let report = c.check();
        let s = report.stream("bob", "alice", &g()).unwrap();
        assert_eq!(s.unexpected, ["alice/3"]);
        assert_eq!(report.ok(), killed, "{report}");
        let line = match killed {
            true => "unexpected (author killed: allowed) 1: alice/3",
            false => "unexpected 1: alice/3",
        };
        assert!(report.to_string().contains(line), "{report}");
    }
}

#[test]
fn a_message_for_someone_else_fails() {
    let mut c = Checker::new();
    c.announce("alice", "alice/1", Conv::Private, "for bob", &["bob"]);
    let m = json!({"event": "message", "id": "alice/1", "from": "alice", "group": null,
                   "text": "for bob"});
    c.receive_event("bob", &m);
    c.receive_event("carol", &m);
    let report = c.check();
    assert!(!report.ok());
    let s = report.stream("carol", "alice", &Conv::Private).unwrap();
    assert_eq!(s.misdelivered, ["alice/1"]);
}

#[test]
fn an_altered_or_misattributed_message_fails() {
    let mut c = announced(2);
    receive(&mut c, "carol", 1..=2);
    c.receive_event("bob", &msg(1));
    // A relay that marks alice's message as its own, or changes the text.
    let mut relayed = msg(2);
    relayed["from"] = json!("dave");
    relayed["text"] = json!("forged");
    c.receive_event("bob", &relayed);
    let report = c.check();
    assert!(!report.ok());
    let s = report.stream("bob", "alice", &g()).unwrap();
    assert_eq!(s.mismatched.len(), 1, "{report}");
    assert!(
        s.mismatched[0].starts_with("alice/2 (from dave"),
        "{report}"
    );
    assert!(s.lost.is_empty(), "it came, only wrong");
}

#[test]
fn ids_announced_twice_or_backwards_fail() {
    let mut c = announced(3);
    c.announce("alice", "alice/2", g(), "again", &["bob"]);
    c.announce("alice", "alice/2b", g(), "odd id", &["bob"]);
    let report = c.check();
    assert!(!report.ok());
    assert_eq!(report.bad_ids, ["alice/2 announced twice"]);

    let mut c = announced(3);
    c.announce("alice", "alice/1000", g(), "jump", &["bob"]);
    c.announce("alice", "alice/999", g(), "back", &["bob"]);
    assert_eq!(c.check().bad_ids, ["alice/999 announced after alice/1000"]);
}

#[test]
fn history_counts_what_was_stored_but_never_printed() {
    let mut c = announced(4);
    c.author_killed("alice");
    // Killed after storing 3 and before printing it; after the restart it is not printed
    // again (a duplicate), but it is in the history.
    receive(&mut c, "bob", [1, 2, 4]);
    receive(&mut c, "carol", 1..=4);
    let before = c.check();
    assert_eq!(
        before.stream("bob", "alice", &g()).unwrap().lost,
        ["alice/3"]
    );
    let history: Vec<Value> = (1..=4).map(msg).collect();
    c.stored("bob", "#g", &history);
    let report = c.check();
    report.assert_ok("history");
    let s = report.stream("bob", "alice", &g()).unwrap();
    assert_eq!(s.unprinted, ["alice/3"]);
    assert!(
        report
            .to_string()
            .contains("stored, never printed (allowed) 1: alice/3")
    );
}

#[test]
fn history_that_misses_or_repeats_or_reorders_fails() {
    let mut c = announced(4);
    receive(&mut c, "bob", 1..=4);
    receive(&mut c, "carol", 1..=4);
    // bob's own message in the history is not his to receive: ignored.
    let own = json!({"id": "bob/1", "from": "bob", "group": "g", "text": "mine"});
    let history = vec![msg(1), own, msg(3), msg(2), msg(3)];
    c.stored("bob", "#g", &history);
    let report = c.check();
    assert!(!report.ok());
    let s = report.stream("bob", "alice", &g()).unwrap();
    assert_eq!(s.not_stored, ["alice/4"]);
    assert_eq!(s.duplicated, ["alice/3 (stored twice)"]);
    assert_eq!(s.reordered, ["alice/2 (in history)"]);
    assert!(report.stream("bob", "bob", &g()).is_none());
}

#[test]
fn an_empty_history_of_the_right_target_is_a_failure_of_another_does_not_count() {
    let mut c = announced(1);
    receive(&mut c, "bob", [1]);
    receive(&mut c, "carol", [1]);
    c.stored("carol", "#other", &[]);
    c.stored("carol", "alice", &[]);
    c.check().assert_ok("histories of other conversations");
    c.stored("bob", "#g", &[]);
    let report = c.check();
    assert_eq!(
        report.stream("bob", "alice", &g()).unwrap().not_stored,
        ["alice/1"]
    );
}

#[test]
fn the_report_shows_only_the_first_few_ids() {
    let mut c = announced(20);
    receive(&mut c, "carol", 1..=20);
    let report = c.check();
    let line = report.to_string();
    assert!(
        line.contains("lost 20: alice/1, alice/2, alice/3, alice/4, alice/5 … and 15 more"),
        "{line}"
    );
    assert!(!line.contains("alice/6"), "{line}");
}

#[test]
fn announcements_and_receipts_can_come_as_events() {
    let mut c = Checker::new();
    let events = [
        json!({"event": "ready", "name": "alice"}),
        json!({"event": "sending", "id": "alice/1", "to": null, "group": "g", "text": "hi", "req": 1}),
        json!({"event": "sent", "id": "alice/1", "delivered": ["bob"], "failed": [], "pending": []}),
        json!({"event": "sending", "id": "alice/2", "to": "bob", "group": null, "text": "psst", "req": 2}),
    ];
    c.announce_events("alice", &events, &["bob"]);
    assert_eq!(c.announced("alice"), 2);
    let got = [
        json!({"event": "message", "id": "alice/1", "from": "alice", "group": "g", "text": "hi"}),
        json!({"event": "members", "group": "g"}),
        json!({"event": "message", "id": "alice/2", "from": "alice", "group": null, "text": "psst"}),
    ];
    c.receive_events("bob", &got);
    c.check().assert_ok("events");
}

#[test]
fn outcomes_read_sent_delivered_and_failed() {
    let sent = json!({"event": "sent", "id": "a/1", "delivered": ["b"], "failed": ["c"], "pending": ["d"]});
    assert_eq!(
        outcomes(&sent),
        [
            ("a/1".into(), "b".into(), true),
            ("a/1".into(), "c".into(), false)
        ]
    );
    let later = json!({"event": "delivered", "id": "a/1", "to": "d"});
    assert_eq!(outcomes(&later), [("a/1".into(), "d".into(), true)]);
    let gone = json!({"event": "failed", "id": "a/1", "to": "d", "reason": "expired"});
    assert_eq!(outcomes(&gone), [("a/1".into(), "d".into(), false)]);
    assert!(outcomes(&json!({"event": "message"})).is_empty());
}

#[test]
fn the_rng_replays_a_seed_and_stays_in_range() {
    let draw = |seed| {
        let mut r = Rng::new(seed);
        (0..100).map(|_| r.between(3, 9)).collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
    assert!(draw(7).iter().all(|x| (3..=9).contains(x)));
    assert!(
        (3..=9).all(|x| draw(7).contains(&x)),
        "every value comes up"
    );
    let mut r = Rng::new(1);
    assert!(r.delay(5) <= std::time::Duration::from_millis(5));
}
