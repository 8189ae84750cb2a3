//! `/doctor` over real processes: one `doctor` event with the named checks, each `ok` as
//! things really are (a member that quit is offline, one whose port is closed is
//! unreachable, the tracker dials us back); and `natter doctor` from the shell, with the
//! tracker down and with the data directory held by a running natter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;

use natter_protocol::testkit::TrackerClient;
use serde_json::Value;
use util::{Peer, Tracker, has_member, run_natter, stay_online, temp};

/// The check named `name` in a `doctor` event.
fn check<'a>(doctor: &'a Value, name: &str) -> &'a Value {
    doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {doctor}"))
}

/// What check `name` found, in words.
fn detail<'a>(doctor: &'a Value, name: &str) -> &'a str {
    check(doctor, name)["detail"].as_str().unwrap()
}

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn doctor_reports_each_check_as_things_are() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    for p in [&mut alice, &mut bob, &mut carol] {
        p.join("g").await;
    }
    // Dave is online at the tracker, at a port where nothing listens.
    let dave = natter_protocol::testkit::identity_for("dave");
    let (client, _) =
        TrackerClient::register(tracker.addr, &dave, None, "dave", closed_port(), &["g"]).await;
    tokio::spawn(stay_online(client));
    alice
        .wait_list("g", "dave online", |m| has_member(m, "dave", true))
        .await;
    assert!(carol.quit().await.success());
    alice
        .wait_list("g", "carol offline", |m| has_member(m, "carol", false))
        .await;

    let req = alice.cmd("/doctor").await;
    let doctor = alice
        .wait_for("the doctor event", |v| {
            v["event"] == "doctor" && v["req"] == req
        })
        .await;
    let names: Vec<&str> = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tracker",
            "tracker_key",
            "reachable",
            "clock",
            "member:bob",
            "member:carol",
            "member:dave",
            "data_dir",
            "database"
        ],
        "{doctor}"
    );
    for ok in [
        "tracker",
        "tracker_key",
        "reachable",
        "clock",
        "member:bob",
        "data_dir",
        "database",
    ] {
        assert_eq!(check(&doctor, ok)["ok"], true, "{ok}: {doctor}");
        assert!(check(&doctor, ok)["fix"].is_null(), "{ok}: {doctor}");
    }
    let listen = alice.listen.port().to_string();
    assert!(
        check(&doctor, "reachable")["detail"]
            .as_str()
            .unwrap()
            .contains(&listen),
        "{doctor}"
    );
    // Dave is unreachable: a fault to fix. Carol is away: nothing to fix, not a failure.
    assert_eq!(check(&doctor, "member:dave")["ok"], false, "{doctor}");
    assert!(check(&doctor, "member:dave")["fix"].is_string(), "{doctor}");
    assert_eq!(check(&doctor, "member:carol")["ok"], true, "{doctor}");
    assert!(check(&doctor, "member:carol")["fix"].is_null(), "{doctor}");
    assert!(
        detail(&doctor, "member:carol").contains("offline"),
        "{doctor}"
    );

    // One answer per /doctor: the next command's answer comes with no second one before.
    let groups = alice.cmd("/groups").await;
    alice
        .wait_for("the answer to /groups", |v| v["req"] == groups)
        .await;
    let doctors = alice.seen.iter().filter(|v| v["event"] == "doctor").count();
    assert_eq!(doctors, 1, "{:?}", alice.seen);
    drop(bob);
}

/// Runs `natter ARGS` to its end (config read from inside `dir`), returning its status,
/// stdout and stderr.
async fn natter(dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = run_natter(dir, args, &[("RUST_LOG", "warn")]).await;
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status, text(out.stdout), text(out.stderr))
}

#[tokio::test]
async fn natter_doctor_from_the_shell_explains_a_tracker_that_is_down() {
    let dir = temp();
    let data = dir.path().join("erin");
    let tracker = format!("127.0.0.1:{}", closed_port());
    let data_dir = data.to_str().unwrap();
    let base = [
        "--name",
        "erin",
        "--listen",
        "127.0.0.1:0",
        "--tracker",
        &tracker,
        "--data-dir",
        data_dir,
    ];

    let (status, out, err) = natter(dir.path(), &[&base[..], &["doctor", "--json"]].concat()).await;
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    let doctor: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(doctor["event"], "doctor", "{doctor}");
    assert_eq!(check(&doctor, "tracker")["ok"], false, "{doctor}");
    let fix = check(&doctor, "tracker")["fix"].as_str().unwrap();
    assert!(fix.contains("--tracker"), "{fix}");
    assert_eq!(check(&doctor, "database")["ok"], true, "{doctor}");

    let (status, out, err) = natter(dir.path(), &[&base[..], &["doctor"]].concat()).await;
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("✗ tracker: "), "{out}");
    assert!(out.contains("✓ database: "), "{out}");
}

#[tokio::test]
async fn natter_doctor_on_a_data_dir_in_use_says_where_to_type_it() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let data_dir = alice.data_dir.to_str().unwrap().to_owned();
    let tracker_addr = tracker.addr.to_string();
    let args = [
        "--name",
        "alice",
        "--tracker",
        &tracker_addr,
        "--data-dir",
        &data_dir,
        "doctor",
    ];
    let (status, out, err) = natter(dir.path(), &args).await;
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("natter: already running as alice") && err.contains("type /doctor there"),
        "{err}"
    );
    drop(alice);
}

#[tokio::test]
async fn natter_doctor_passes_with_a_member_away() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    alice.join("g").await;
    carol.join("g").await;
    assert!(carol.quit().await.success());
    alice
        .wait_list("g", "carol offline", |m| has_member(m, "carol", false))
        .await;
    let data_dir = alice.data_dir.to_str().unwrap().to_owned();
    assert!(alice.quit().await.success());
    let tracker_addr = tracker.addr.to_string();
    let args = [
        "--name",
        "alice",
        "--listen",
        "127.0.0.1:0",
        "--tracker",
        &tracker_addr,
        "--data-dir",
        &data_dir,
        "doctor",
        "--json",
    ];
    let (status, out, err) = natter(dir.path(), &args).await;
    let doctor: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(check(&doctor, "member:carol")["ok"], true, "{doctor}");
    assert!(
        detail(&doctor, "member:carol").contains("offline"),
        "{doctor}"
    );
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
}
