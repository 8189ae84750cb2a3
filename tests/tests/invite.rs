//! Getting a friend in, with the real binaries: `natter invite` prints one line, and
//! `natter --join LINE` reaches that tracker with that key and joins its group; a wrong
//! key in the line is refused as a mismatch; the config file and the environment are read;
//! `--version`, `completions` and `man` print.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use util::durable::closed_addr;
use util::{Peer, PeerOptions, Tracker, has_member, run_natter as natter, temp};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `natter invite ARGS`: its one line of output.
async fn invite(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["invite"];
    all.extend_from_slice(args);
    let out = natter(dir, &all, &[]).await;
    assert!(
        out.status.success(),
        "natter invite failed: {}",
        stderr(&out)
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {text:?}");
    lines[0].to_owned()
}

/// Starts `name` with `--join LINE` (and a `--tracker` where nothing listens, which the
/// invite must override).
async fn join_with(dir: &Path, name: &str, line: &str) -> Peer {
    Peer::start_with(
        name,
        PeerOptions {
            tracker: closed_addr(),
            data_dir: dir.join(name),
            extra: vec!["--join", line],
        },
    )
    .await
}

#[tokio::test]
async fn a_hosted_trackers_invite_brings_a_friend_into_the_group() {
    let dir = temp();
    let mut alice = Peer::start_with(
        "alice",
        PeerOptions {
            tracker: "127.0.0.1:0".into(),
            data_dir: dir.path().join("alice"),
            extra: vec!["--host-tracker"],
        },
    )
    .await;
    let ready = alice.seen[0].clone();
    let tracker = ready["tracker"].as_str().unwrap().to_owned();
    alice.wait_tracker("connected").await;
    alice.join("room").await;

    let alice_dir = dir.path().join("alice");
    let line = invite(
        dir.path(),
        &[
            "--host-tracker",
            "--tracker",
            &tracker,
            "--data-dir",
            alice_dir.to_str().unwrap(),
            "--group",
            "#room",
        ],
    )
    .await;
    assert!(
        line.starts_with(&format!("natter://{tracker}?key=")) && line.ends_with("&group=room"),
        "{line}"
    );
    // As the README has it: `natter invite` alone, without repeating `--tracker`, names
    // the port the hosted tracker listens on (it said the default 7700).
    let plain = invite(
        dir.path(),
        &[
            "--data-dir",
            alice_dir.to_str().unwrap(),
            "--group",
            "#room",
        ],
    )
    .await;
    assert_eq!(plain, line);

    let mut bob = join_with(dir.path(), "bob", &line).await;
    bob.wait_tracker("connected").await;
    bob.wait_list("room", "bob and alice", |m| {
        has_member(m, "bob", true) && has_member(m, "alice", true)
    })
    .await;
    bob.msg("#room", "hello from an invite").await;
    alice.wait_message("hello from an invite").await;
    alice.msg("#room", "welcome, bob").await;
    bob.wait_message("welcome, bob").await;
    assert!(bob.quit().await.success());
    assert!(alice.quit().await.success());
}

#[tokio::test]
async fn a_user_of_a_tracker_invites_with_the_key_it_pinned() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.wait_tracker("connected").await;
    assert!(alice.quit().await.success());

    let alice_dir = dir.path().join("alice");
    let addr = tracker.addr.to_string();
    let args = [
        "--data-dir",
        alice_dir.to_str().unwrap(),
        "--tracker",
        &addr,
    ];
    let line = invite(dir.path(), &args).await;
    assert_eq!(line, format!("natter://{addr}?key={}", tracker.key));

    // Without a group in it, the friend only reaches the tracker.
    let mut bob = join_with(dir.path(), "bob", &line).await;
    bob.wait_tracker("connected").await;
    bob.join("room").await;
    assert!(bob.quit().await.success());
    // Bob, who came in with the invite and never gave --tracker, hands out the same one
    // (it named the default tracker 127.0.0.1:7700 and had no key for it).
    let bob_dir = dir.path().join("bob");
    let again = invite(dir.path(), &["--data-dir", bob_dir.to_str().unwrap()]).await;
    assert_eq!(again, line);

    // A tracker never met has no key to hand out.
    let closed = closed_addr();
    let args = [
        "--data-dir",
        alice_dir.to_str().unwrap(),
        "--tracker",
        &closed,
    ];
    let out = natter(dir.path(), &[&["invite"][..], &args[..]].concat(), &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--tracker-key"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_wrong_key_in_an_invite_is_a_mismatch_not_a_key_change() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let other = Tracker::start(&dir.path().join("other")).await;
    let line = format!("natter://{}?key={}&group=room", tracker.addr, other.key);
    let mut bob = join_with(dir.path(), "bob", &line).await;
    let err = bob.wait_error_code("tracker_key_mismatch").await;
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("not the key you were given"), "{err}");
    assert!(!message.contains("changed"), "{err}");
    assert!(
        !message.contains(&format!("--tracker-key {}", tracker.key)),
        "suggests trusting the key presented: {err}"
    );
    assert!(
        !bob.seen
            .iter()
            .any(|v| v["event"] == "tracker" && v["status"] == "connected"),
        "connected to the wrong tracker"
    );
    assert!(bob.quit().await.success());
}

/// The `ready` event of a headless natter started with `args` and `env` (it quits at the
/// end of its empty input).
async fn ready_of(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = natter(dir, args, env).await;
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_else(|| {
        panic!("no output; stderr: {}", stderr(&out));
    });
    let ready: Value = serde_json::from_str(first).expect("json");
    assert_eq!(ready["event"], "ready", "{first}");
    ready
}

#[tokio::test]
async fn the_config_file_and_the_environment_are_read_in_order() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let config_dir = dir.path().join("config").join("natter");
    std::fs::create_dir_all(&config_dir).unwrap();
    let file = format!(
        "name = \"carol\"\ntracker = \"{}\"\nreceipts = false\n",
        tracker.addr
    );
    std::fs::write(config_dir.join("config.toml"), file).unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let base = ["--headless", "--listen", "127.0.0.1:0", "--data-dir", data];

    // The file alone: its name and tracker.
    let ready = ready_of(dir.path(), &base, &[]).await;
    assert_eq!(ready["name"], "carol");
    assert_eq!(ready["tracker"], tracker.addr.to_string());

    // The environment wins over the file, the command line over both.
    let ready = ready_of(dir.path(), &base, &[("NATTER_NAME", "dave")]).await;
    assert_eq!(ready["name"], "dave");
    let mut args = base.to_vec();
    args.extend(["--name", "erin"]);
    let ready = ready_of(dir.path(), &args, &[("NATTER_NAME", "dave")]).await;
    assert_eq!(ready["name"], "erin");

    // --config names another file; a bad one is an error naming it and the line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"frank\"\nrecipts = true\n").unwrap();
    let mut args = base.to_vec();
    args.extend(["--config", bad.to_str().unwrap()]);
    let out = natter(dir.path(), &args, &[]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bad.toml") && err.contains("line 2"), "{err}");

    // Without a name anywhere and no terminal to ask on: a clear error.
    std::fs::remove_file(config_dir.join("config.toml")).unwrap();
    let out = natter(dir.path(), &base, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--name"), "{}", stderr(&out));
}

#[tokio::test]
async fn version_completions_and_the_man_page_print() {
    let dir = temp();
    let out = natter(dir.path(), &["--version"], &[]).await;
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("natter "), "{}", stdout(&out));
    let out = natter(dir.path(), &["completions", "bash"], &[]).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("--join"), "{}", stdout(&out));
    let out = natter(dir.path(), &["man"], &[]).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains(".TH natter"), "{}", stdout(&out));
}
