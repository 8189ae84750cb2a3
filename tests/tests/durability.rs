//! No message is lost (issue 8), through the real binaries: senders, receivers and the
//! tracker killed with SIGKILL at random points mid-stream and restarted on their data;
//! recipients and authors offline; no tracker at all, or a member restarting while it is
//! down; the outbox's limits; one process per data directory and a corrupt database. What
//! arrived is judged by the delivery checker (`util::checker`): every message `sending`
//! announced reaches each recipient exactly once, in its author's order.
//!
//! Kill points are random: each test prints its seed, and `NATTER_TEST_SEED=N` replays it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use util::checker::Checker;
use util::durable::{Member, Rng, closed_addr, flags, run_to_exit};
use util::{Tracker, WAIT, has_member, names, temp};

/// Messages per stream, sent in `ROUNDS` rounds with a kill after each but the last.
const STREAM: usize = 200;
const ROUNDS: usize = 4;
const PER_ROUND: usize = STREAM / ROUNDS;

/// "Exits at once": well under the tests' usual wait.
const AT_ONCE: Duration = Duration::from_secs(5);

/// Starts `names` (each with `extra`) on `tracker`.
async fn start_all(root: &Path, tracker: &str, names: &[&str], extra: &[&str]) -> Vec<Member> {
    let mut members = Vec::new();
    for name in names {
        members.push(Member::start(root, name, tracker, extra).await);
    }
    members
}

/// Joins every member to `group` and waits until each sees all the others online.
async fn join_all(members: &mut [Member], group: &str) {
    for m in members.iter_mut() {
        m.peer().join(group).await;
    }
    all_online(members, group).await;
}

/// Waits until each member sees every other online in `group`.
async fn all_online(members: &mut [Member], group: &str) {
    let all: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    for m in members.iter_mut() {
        m.peer()
            .wait_list(group, "everyone online", |list| {
                all.iter().all(|n| has_member(list, n, true))
            })
            .await;
    }
}

/// Waits until `watcher` sees `name` offline in `group`.
async fn wait_offline(watcher: &mut Member, group: &str, name: &str) {
    watcher
        .peer()
        .wait_list(group, &format!("{name} offline"), |m| {
            has_member(m, name, false)
        })
        .await;
}

/// Waits (at most `WAIT` in all) until each receiver got every one of its `ids`; what one
/// still lacks is left to the checker to report, with a note here.
async fn settle(receivers: &mut [&mut Member], ids: &[&[String]]) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut notes = Vec::new();
    for (receiver, ids) in receivers.iter_mut().zip(ids) {
        let within = deadline.saturating_duration_since(Instant::now());
        let missing = receiver.try_wait_received(ids, within).await;
        if !missing.is_empty() {
            notes.push(format!(
                "{} lacked {} after the wait",
                receiver.name,
                missing.len()
            ));
        }
    }
    notes
}

/// Sends `/msg TARGET TEXT` and returns its id once `sending` announced it.
async fn say(m: &mut Member, target: &str, text: &str) -> String {
    let sending = m.send(target, text).await;
    sending["id"].as_str().unwrap().to_owned()
}

/// Writes `/msg TARGET {prefix}{i}` for each `i` (answers are not awaited).
async fn queue(m: &mut Member, target: &str, prefix: &str, range: std::ops::Range<usize>) {
    for i in range {
        m.peer().cmd(&format!("/msg {target} {prefix}{i}")).await;
    }
}

#[tokio::test]
async fn sender_killed_at_random_points_loses_nothing() {
    let mut rng = Rng::for_test("sender_killed_at_random_points_loses_nothing");
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["alice", "bob", "carol"], &[]).await;
    join_all(&mut ms, "g").await;
    ms[0].bounce().await;
    all_online(&mut ms, "g").await;
    let mut kills = Vec::new();
    for round in 0..ROUNDS {
        let alice = &mut ms[0];
        let first = round * PER_ROUND;
        queue(alice, "#g", "m", first..first + PER_ROUND).await;
        if round + 1 == ROUNDS {
            break;
        }
        // Anywhere from before the first is stored to after the last is announced; half
        // the time at once, while the last announced is surely still on its way.
        let after = rng.between(0, PER_ROUND as u64) as usize;
        alice.wait_sendings(after).await;
        let delay = match rng.between(0, 1) {
            0 => Duration::ZERO,
            _ => rng.delay(20),
        };
        tokio::time::sleep(delay).await;
        alice.kill9().await;
        kills.push(format!("after {after} sendings + {delay:?}"));
        alice.restart().await;
    }
    let alice = &mut ms[0];
    alice.wait_sendings(PER_ROUND).await;
    alice.send("#g", "end").await;
    let ids = alice.announced();
    let [_, bob, carol] = &mut ms[..] else {
        unreachable!()
    };
    let notes = settle(&mut [bob, carol], &[&ids, &ids]).await;

    let mut checker = Checker::new();
    checker.author_killed("alice");
    checker.announce_events("alice", ms[0].events(), &["bob", "carol"]);
    checker.failed_events(ms[0].events());
    for r in &ms[1..] {
        checker.receive_events(&r.name, r.events());
    }
    let context = format!("seed {}, alice killed {kills:?} {notes:?}", rng.seed);
    checker.check().assert_ok(&context);
    ms[0].assert_nothing_failed();
}

/// A message may reach its recipient before its sender's store has it (it leaves while its
/// write commits, once its number is reserved). Killed in that window, the sender must
/// never give that number to another message after the restart: the recipient would drop
/// that one as a duplicate, and it would be lost.
#[tokio::test]
async fn a_number_that_left_before_its_commit_is_never_given_again() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    // alice's commits each wait a second: a window to kill her in.
    let slow = ["--store-delay-ms", "1000"];
    let mut ms = vec![
        Member::start(dir.path(), "alice", &addr, &slow).await,
        Member::start(dir.path(), "bob", &addr, &[]).await,
    ];
    join_all(&mut ms, "g").await;
    // (on disk before she is killed, see `bounce`)
    ms[0].bounce().await;
    all_online(&mut ms, "g").await;
    let [alice, bob] = &mut ms[..] else {
        unreachable!()
    };
    // The first message's commit also reserves the numbers after it.
    alice.send("#g", "one").await;
    bob.peer()
        .wait_for("one", |v| v["event"] == "message" && v["text"] == "one")
        .await;
    // The second leaves at once: bob has it while alice's write still waits.
    alice.peer().cmd("/msg #g two").await;
    bob.peer()
        .wait_for("two", |v| v["event"] == "message" && v["text"] == "two")
        .await;
    alice.kill9().await;
    let announced_two = alice
        .events()
        .any(|v| v["event"] == "sending" && v["text"] == "two");
    assert!(
        !announced_two,
        "alice stored `two` before she was killed: the window was missed"
    );
    // Her next message must reach bob: a number of its own.
    alice.restart().await;
    alice.send("#g", "three").await;
    bob.peer()
        .wait_for("three", |v| v["event"] == "message" && v["text"] == "three")
        .await;
}

#[tokio::test]
async fn receiver_killed_at_random_points_loses_nothing() {
    let mut rng = Rng::for_test("receiver_killed_at_random_points_loses_nothing");
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["alice", "bob", "carol"], &[]).await;
    join_all(&mut ms, "g").await;
    ms[1].bounce().await;
    all_online(&mut ms, "g").await;
    let mut kills = Vec::new();
    for round in 0..ROUNDS {
        let first = round * PER_ROUND;
        queue(&mut ms[0], "#g", "m", first..first + PER_ROUND).await;
        if round + 1 == ROUNDS {
            break;
        }
        // Mid-stream, perhaps between storing a message and acknowledging it; then down
        // for a moment while alice goes on sending.
        let bob = &mut ms[1];
        let after = rng.between(0, PER_ROUND as u64) as usize;
        bob.wait_count("message", after).await;
        let delay = rng.delay(20);
        tokio::time::sleep(delay).await;
        bob.kill9().await;
        let down = rng.delay(300);
        tokio::time::sleep(down).await;
        bob.restart().await;
        kills.push(format!("after {after} messages + {delay:?}, down {down:?}"));
    }
    let alice = &mut ms[0];
    alice.wait_sendings(STREAM).await;
    alice.send("#g", "end").await;
    let ids = alice.announced();
    // alice is never killed: her acknowledgements say what each receiver has stored.
    alice.wait_delivered(&ids, &["bob", "carol"]).await;

    let mut checker = Checker::new();
    checker.announce_events("alice", ms[0].events(), &["bob", "carol"]);
    let last = ids.last().cloned().into_iter().collect::<Vec<_>>();
    for r in &mut ms[1..] {
        // Everything before the last message was printed before it (or stored unprinted
        // by a killed incarnation, which the history shows).
        r.wait_received(&last).await;
        let history = r.history("#g", 2 * ids.len()).await;
        checker.stored(&r.name, "#g", &history);
        checker.receive_events(&r.name, r.events());
    }
    let context = format!("seed {}, bob killed {kills:?}", rng.seed);
    checker.check().assert_ok(&context);
    ms[0].assert_nothing_failed();
}

#[tokio::test]
async fn tracker_killed_mid_stream_loses_nothing() {
    let mut rng = Rng::for_test("tracker_killed_mid_stream_loses_nothing");
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["alice", "bob", "carol"], &[]).await;
    join_all(&mut ms, "g").await;
    // Two authors, half the stream each, interleaved.
    let half = PER_ROUND / 2;
    let mut kills = Vec::new();
    for round in 0..ROUNDS {
        let first = round * half;
        queue(&mut ms[0], "#g", "a", first..first + half).await;
        queue(&mut ms[1], "#g", "b", first..first + half).await;
        if round % 2 == 1 {
            continue;
        }
        let after = rng.between(0, half as u64) as usize;
        ms[0].wait_sendings(first + after).await;
        let delay = rng.delay(20);
        tokio::time::sleep(delay).await;
        tracker.kill9().await;
        let down = rng.delay(500);
        tokio::time::sleep(down).await;
        tracker = Tracker::start_with(dir.path(), &addr, &[]).await;
        kills.push(format!(
            "after {after} of alice's + {delay:?}, down {down:?}"
        ));
    }
    for m in &mut ms[..2] {
        m.wait_sendings(ROUNDS * half).await;
        m.send("#g", "end").await;
    }
    let (a_ids, b_ids) = (ms[0].announced(), ms[1].announced());
    let both = [a_ids.clone(), b_ids.clone()].concat();
    let [alice, bob, carol] = &mut ms[..] else {
        unreachable!()
    };
    let notes = settle(&mut [alice, bob, carol], &[&b_ids, &a_ids, &both]).await;

    let mut checker = Checker::new();
    checker.announce_events("alice", ms[0].events(), &["bob", "carol"]);
    checker.announce_events("bob", ms[1].events(), &["alice", "carol"]);
    for m in &ms {
        checker.failed_events(m.events());
        checker.receive_events(&m.name, m.events());
    }
    let context = format!("seed {}, tracker killed {kills:?} {notes:?}", rng.seed);
    checker.check().assert_ok(&context);
    ms[0].assert_nothing_failed();
    ms[1].assert_nothing_failed();
}

#[tokio::test]
async fn an_offline_recipient_gets_everything_when_back() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["alice", "bob"], &[]).await;
    join_all(&mut ms, "g").await;
    let [alice, bob] = &mut ms[..] else {
        unreachable!()
    };
    bob.quit().await;
    wait_offline(alice, "g", "bob").await;
    for i in 0..100 {
        alice.peer().cmd(&format!("/msg bob p{i}")).await;
        alice.peer().cmd(&format!("/msg #g g{i}")).await;
    }
    alice.wait_sendings(200).await;
    // Each first attempt leaves bob pending, not failed.
    alice.wait_count("sent", 200).await;
    for sent in alice.events().filter(|v| v["event"] == "sent") {
        assert_eq!(names(&sent["pending"]), ["bob"], "{sent}");
        assert_eq!(names(&sent["failed"]), Vec::<String>::new(), "{sent}");
    }

    bob.restart().await;
    let ids = alice.announced();
    bob.wait_received(&ids).await;
    alice.wait_delivered(&ids, &["bob"]).await;
    // A last one, live: it comes after the backlog, and nothing of the backlog after it.
    alice.send("bob", "end").await;
    bob.wait_received(&alice.announced()).await;

    let mut checker = Checker::new();
    checker.announce_events("alice", alice.events(), &["bob"]);
    checker.receive_events("bob", bob.events());
    let report = checker.check();
    report.assert_ok("bob offline for 100 private and 100 group messages");
    alice.assert_nothing_failed();
}

#[tokio::test]
async fn another_member_backfills_when_the_author_is_offline() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["alice", "bob", "carol"], &[]).await;
    join_all(&mut ms, "g").await;
    let [alice, bob, carol] = &mut ms[..] else {
        unreachable!()
    };
    carol.quit().await;
    wait_offline(alice, "g", "carol").await;
    queue(alice, "#g", "s", 0..20).await;
    alice.wait_sendings(20).await;
    let ids = alice.announced();
    bob.wait_received(&ids).await;
    // The author leaves before carol is back: only bob has the messages for her.
    alice.quit().await;
    wait_offline(bob, "g", "alice").await;
    carol.restart().await;
    carol.wait_received(&ids).await;
    for m in carol.events().filter(|v| v["event"] == "message") {
        assert_eq!(m["from"], "alice", "relayed under its author's name: {m}");
        assert_eq!(m["verified"], true, "checked against alice's key: {m}");
    }

    // The author back: its retries reach carol, who has them already, drops the copies
    // and acknowledges them.
    alice.restart().await;
    alice.wait_delivered(&ids, &["carol"]).await;
    alice.send("#g", "end").await;
    let ids = alice.announced();
    bob.wait_received(&ids).await;
    carol.wait_received(&ids).await;

    let mut checker = Checker::new();
    checker.announce_events("alice", alice.events(), &["bob", "carol"]);
    checker.receive_events("bob", bob.events());
    checker.receive_events("carol", carol.events());
    checker
        .check()
        .assert_ok("alice offline when carol came back");
    alice.assert_nothing_failed();
}

#[tokio::test]
async fn two_peers_without_a_tracker_meet_by_address() {
    let dir = temp();
    let nowhere = closed_addr();
    let mut alice = Member::start(dir.path(), "alice", &nowhere, &[]).await;
    let mut bob = Member::start(dir.path(), "bob", &nowhere, &[]).await;
    let alice_at = alice.peer().listen.to_string();
    let bob_at = bob.peer().listen.to_string();

    let sending = bob.send(&alice_at, "hello by address").await;
    let sent = bob.peer().wait_sent(&sending["id"]).await;
    assert_eq!(names(&sent["failed"]), Vec::<String>::new(), "{sent}");
    let got = alice.peer().wait_message("hello by address").await;
    assert_eq!(got["from"], "bob", "{got}");
    assert_eq!(
        got["verified"], false,
        "no tracker to check bob's key: {got}"
    );

    alice.send(&bob_at, "hi back").await;
    let got = bob.peer().wait_message("hi back").await;
    assert_eq!(got["from"], "alice", "{got}");
    assert_eq!(got["verified"], false, "{got}");

    // alice restarts on the port her data directory keeps: bob finds her where she was.
    alice.quit().await;
    alice.restart().await;
    assert_eq!(
        alice.peer().listen.to_string(),
        alice_at,
        "a restarted peer keeps its port"
    );
    bob.send(&alice_at, "again").await;
    alice.peer().wait_message("again").await;

    let mut checker = Checker::new();
    checker.announce_events("bob", bob.events(), &["alice"]);
    checker.announce_events("alice", alice.events(), &["bob"]);
    checker.receive_events("alice", alice.events());
    checker.receive_events("bob", bob.events());
    checker.check().assert_ok("no tracker");
}

#[tokio::test]
async fn a_member_restarting_while_the_tracker_is_down_keeps_talking() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["alice", "bob", "carol"], &[]).await;
    join_all(&mut ms, "rust").await;
    // The tracker's host is gone, and stays gone.
    tracker.kill9().await;
    for m in &mut ms {
        m.peer().wait_tracker("disconnected").await;
    }
    let [alice, bob, carol] = &mut ms[..] else {
        unreachable!()
    };
    let was_at = carol.peer().listen;
    carol.quit().await;
    carol.restart().await;
    assert_eq!(
        carol.peer().listen,
        was_at,
        "carol came back on another port"
    );
    // Her #rust window opens at once, from the cache: a full list, with nobody to ask.
    let mut lists = Vec::new();
    let opened = carol
        .peer()
        .follow(AT_ONCE, |v| {
            let full = v["event"] == "members" && v["group"] == "rust" && v["change"].is_null();
            let Some(list) = v["members"].as_array().filter(|_| full) else {
                return false;
            };
            lists.push(v.clone());
            ["alice", "bob"]
                .iter()
                .all(|n| list.iter().any(|m| m["name"] == *n))
        })
        .await;
    if !opened {
        carol.fail(&format!(
            "no full #rust list holding alice and bob at start; full lists: {lists:?}"
        ));
    }

    // Each way round, by the addresses they keep: to carol, from her, and privately.
    let x = say(bob, "#rust", "x").await;
    carol.wait_received(std::slice::from_ref(&x)).await;
    let y = say(carol, "#rust", "y").await;
    alice.wait_received(std::slice::from_ref(&y)).await;
    bob.wait_received(std::slice::from_ref(&y)).await;
    let z = say(carol, "bob", "z").await;
    bob.wait_received(std::slice::from_ref(&z)).await;
    carol.wait_delivered(&[y], &["alice", "bob"]).await;
    carol.wait_delivered(&[z], &["bob"]).await;
    bob.wait_delivered(&[x], &["alice", "carol"]).await;
    let got = bob
        .events()
        .find(|v| v["event"] == "message" && v["text"] == "z")
        .cloned()
        .unwrap();
    assert_eq!(got["from"], "carol", "{got}");
    assert_eq!(got["group"], Value::Null, "a private message: {got}");
}

#[tokio::test]
async fn the_outbox_is_bounded_and_pending_messages_expire() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["bob"], &[]).await;
    ms.push(Member::start(dir.path(), "alice", &addr, &[flags::OUTBOX_LIMIT, "3"]).await);
    ms.push(Member::start(dir.path(), "erin", &addr, &[flags::EXPIRE_AFTER, "1"]).await);
    join_all(&mut ms, "g").await;
    let [bob, alice, erin] = &mut ms[..] else {
        unreachable!()
    };
    bob.quit().await;
    wait_offline(alice, "g", "bob").await;
    wait_offline(erin, "g", "bob").await;

    // Three pending for bob fill alice's outbox; the fourth is refused, not dropped.
    for i in 0..3 {
        alice.send("bob", &format!("o{i}")).await;
    }
    let req = alice.peer().cmd("/msg bob o3").await;
    alice.peer().wait_error_for(req, "outbox_full").await;

    // erin's message to bob is pending, then given up after a second.
    let sending = erin.send("bob", "soon gone").await;
    let sent = erin.peer().wait_sent(&sending["id"]).await;
    assert_eq!(names(&sent["pending"]), ["bob"], "{sent}");
    assert_eq!(names(&sent["failed"]), Vec::<String>::new(), "{sent}");
    let id = sending["id"].clone();
    let failed = erin
        .peer()
        .wait_for("the expiry of erin's message", |v| {
            v["event"] == "failed" && v["id"] == id
        })
        .await;
    assert_eq!(failed["to"], "bob", "{failed}");
    assert!(
        failed["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "a reason: {failed}"
    );
}

#[tokio::test]
async fn a_second_process_on_the_same_data_dir_exits_at_once() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut ms = start_all(dir.path(), &addr, &["alice", "bob"], &[]).await;
    join_all(&mut ms, "g").await;
    let [alice, bob] = &mut ms[..] else {
        unreachable!()
    };
    let pid = alice.peer().pid().to_string();
    let second = run_to_exit("alice", &alice.options(), AT_ONCE).await;
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a second natter on alice's data dir ran ({}): {stderr}",
        second.status
    );
    assert!(
        stderr.contains(&pid),
        "the message names the holder (pid {pid}): {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The first is unharmed.
    let sending = alice.send("#g", "still here").await;
    bob.wait_received(&[sending["id"].as_str().unwrap().to_owned()])
        .await;
}

#[tokio::test]
async fn a_corrupt_database_is_a_clear_error() {
    let dir = temp();
    let nowhere = closed_addr();
    let mut alice = Member::start(dir.path(), "alice", &nowhere, &[]).await;
    alice.quit().await;
    let db = alice.data_dir.join("natter.db");
    assert!(db.is_file(), "no {} after a run", db.display());
    for side in ["natter.db-wal", "natter.db-shm"] {
        let _ = std::fs::remove_file(alice.data_dir.join(side));
    }
    std::fs::write(&db, b"this is not a database\n".repeat(512)).unwrap();

    let out = run_to_exit("alice", &alice.options(), AT_ONCE).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "natter ran on a garbage natter.db ({}): {stderr}",
        out.status
    );
    assert!(
        stderr.contains("natter.db"),
        "the message names the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
