use super::*;

fn key(seed: u8) -> PublicKey {
    natter_protocol::Identity::from_secrets(&[seed; 32], &[seed; 32]).public_key()
}

fn healthy() -> Health {
    Health {
        dir: Some("/home/a/.local/share/natter/alice".into()),
        writable: Ok(()),
        file: "/home/a/.local/share/natter/alice/natter.db".into(),
        database: Ok(()),
    }
}

fn all_well() -> Facts {
    Facts {
        tracker: "192.0.2.1:7700".into(),
        link: TrackerFact::Connected,
        pinned: Some(key(9)),
        key_changed: None,
        listen: "0.0.0.0:4000".parse().expect("addr"),
        probe: ProbeFact::Answered {
            addr: "198.51.100.5:4000".parse().expect("addr"),
            reachable: true,
            error: None,
            clock: 1_000_050,
            sent_ms: 1_000_000,
            received_ms: 1_000_100,
        },
        members: vec![MemberFact {
            name: "bob".parse().expect("name"),
            key: key(2),
            groups: vec!["g".parse().expect("group")],
            state: MemberState::Connected,
        }],
        health: Ok(healthy()),
        now_ms: 1_000_100,
    }
}

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
}

#[test]
fn all_well_is_all_ok_in_order_without_fixes() {
    let checks = checks(&all_well());
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tracker",
            "tracker_key",
            "reachable",
            "clock",
            "member:bob",
            "data_dir",
            "database"
        ]
    );
    for c in &checks {
        assert!(c.ok, "{c:?}");
        assert_eq!(c.fix, None);
    }
    assert!(
        find(&checks, "reachable")
            .detail
            .contains("198.51.100.5:4000")
    );
}

#[test]
fn a_tracker_that_is_down_says_start_it_and_leaves_the_rest_unknown() {
    let mut facts = all_well();
    facts.link = TrackerFact::Down {
        reason: Some("connection refused".into()),
    };
    facts.probe = ProbeFact::Missing("the tracker is not connected".into());
    let checks = checks(&facts);
    let tracker = find(&checks, "tracker");
    assert!(!tracker.ok);
    assert!(tracker.detail.contains("connection refused"));
    let fix = tracker.fix.as_deref().expect("fix");
    assert!(
        fix.contains("start the tracker") && fix.contains("--tracker"),
        "{fix}"
    );
    assert!(!find(&checks, "reachable").ok);
    assert!(!find(&checks, "clock").ok);
    // The pinned key is still known, just not checked.
    assert!(find(&checks, "tracker_key").ok);
}

#[test]
fn a_changed_tracker_key_never_suggests_trusting_it() {
    let mut facts = all_well();
    facts.link = TrackerFact::Down { reason: None };
    facts.key_changed = Some(key(7));
    let checks = checks(&facts);
    let check = find(&checks, "tracker_key");
    assert!(!check.ok);
    assert!(check.detail.contains(&key(7).to_string()));
    let fix = check.fix.as_deref().expect("fix");
    assert!(fix.contains("do not accept"), "{fix}");
}

#[test]
fn an_unreachable_listen_port_says_which_port_to_open() {
    let mut facts = all_well();
    facts.probe = ProbeFact::Answered {
        addr: "198.51.100.5:4000".parse().expect("addr"),
        reachable: false,
        error: Some("no answer within 3 s".into()),
        clock: 1_000_050,
        sent_ms: 1_000_000,
        received_ms: 1_000_100,
    };
    let checks = checks(&facts);
    let check = find(&checks, "reachable");
    assert!(!check.ok);
    assert!(check.detail.contains("198.51.100.5:4000") && check.detail.contains("no answer"));
    let fix = check.fix.as_deref().expect("fix");
    assert!(
        fix.contains("open port 4000") && fix.contains("router"),
        "{fix}"
    );
    // The clock is still checked from the same answer.
    assert!(find(&checks, "clock").ok);
}

#[test]
fn a_clock_far_off_says_how_far_and_to_enable_ntp() {
    let mut facts = all_well();
    // We asked at 1_000_000 and heard back at 1_000_100: the tracker read 40 s less.
    facts.probe = ProbeFact::Answered {
        addr: "198.51.100.5:4000".parse().expect("addr"),
        reachable: true,
        error: None,
        clock: 1_000_050 - 40_000,
        sent_ms: 1_000_000,
        received_ms: 1_000_100,
    };
    let check = checks(&facts).remove(3);
    assert_eq!(check.name, "clock");
    assert!(!check.ok);
    let fix = check.fix.as_deref().expect("fix");
    assert!(
        fix.contains("40 s ahead of the tracker's") && fix.contains("NTP"),
        "{fix}"
    );

    facts.probe = ProbeFact::Answered {
        addr: "198.51.100.5:4000".parse().expect("addr"),
        reachable: true,
        error: None,
        clock: 1_000_050 + 3 * 60_000,
        sent_ms: 1_000_000,
        received_ms: 1_000_100,
    };
    let check = checks(&facts).remove(3);
    assert!(check.detail.contains("3 min behind"), "{}", check.detail);
    // Within the tolerance it is fine.
    facts.probe = ProbeFact::Answered {
        addr: "198.51.100.5:4000".parse().expect("addr"),
        reachable: true,
        error: None,
        clock: 1_000_050 + 2_000,
        sent_ms: 1_000_000,
        received_ms: 1_000_100,
    };
    assert!(checks(&facts).remove(3).ok);
}

#[test]
fn members_offline_or_unreachable_are_named_and_only_unreachable_fails() {
    let mut facts = all_well();
    facts.members = vec![
        MemberFact {
            name: "carol".parse().expect("name"),
            key: key(3),
            groups: vec!["g".parse().expect("group"), "h".parse().expect("group")],
            state: MemberState::Offline {
                last_seen: Some(1_000_100 - 90_000),
            },
        },
        MemberFact {
            name: "dave".parse().expect("name"),
            key: key(4),
            groups: vec!["g".parse().expect("group")],
            state: MemberState::Unreachable {
                addr: "203.0.113.9:5000".parse().expect("addr"),
                error: "connection refused".into(),
            },
        },
    ];
    let checks = checks(&facts);
    // Offline is not a fault: passed, and said.
    let carol = find(&checks, "member:carol");
    assert!(carol.ok);
    assert_eq!(carol.fix, None);
    assert!(carol.detail.contains("offline"), "{}", carol.detail);
    assert!(
        carol.detail.contains("#g, #h") && carol.detail.contains("90 s ago"),
        "{}",
        carol.detail
    );
    let dave = find(&checks, "member:dave");
    assert!(!dave.ok);
    assert!(dave.detail.contains("connection refused"));
    assert!(dave.fix.as_deref().expect("fix").contains("port 5000"));
}

#[test]
fn a_damaged_database_or_a_read_only_dir_is_named() {
    let mut facts = all_well();
    facts.health = Ok(Health {
        writable: Err("permission denied".into()),
        database: Err("*** in database main ***".into()),
        ..healthy()
    });
    let checks = checks(&facts);
    let dir = find(&checks, "data_dir");
    assert!(!dir.ok && dir.detail.contains("permission denied"));
    let db = find(&checks, "database");
    assert!(!db.ok);
    assert!(db.fix.as_deref().expect("fix").contains("move"));

    facts.health = Err("no answer within 5 s".into());
    assert!(!find(&super::checks(&facts), "database").ok);
}

#[test]
fn a_check_serialises_with_every_field() {
    let check = Check::bad("clock", "off", "fix it");
    assert_eq!(
        serde_json::to_value(&check).expect("json"),
        serde_json::json!({"name":"clock","ok":false,"detail":"off","fix":"fix it"})
    );
    let check = Check::ok("tracker", "fine");
    assert_eq!(
        serde_json::to_value(&check).expect("json"),
        serde_json::json!({"name":"tracker","ok":true,"detail":"fine","fix":null})
    );
}

#[test]
fn what_the_tracker_and_peers_said_cannot_reach_the_terminal_as_escapes() {
    let hostile = "x\u{1b}]0;pwned\u{7}y\u{9b}2Jz\u{202e}w\nv";
    let mut facts = all_well();
    facts.probe = ProbeFact::Answered {
        addr: "198.51.100.5:4000".parse().expect("addr"),
        reachable: false,
        error: Some(format!("{hostile}{}", "e".repeat(100_000))),
        clock: 1_000_050,
        sent_ms: 1_000_000,
        received_ms: 1_000_100,
    };
    facts.link = TrackerFact::Refused {
        message: hostile.into(),
    };
    facts.members[0].state = MemberState::Unreachable {
        addr: "198.51.100.6:4000".parse().expect("addr"),
        error: hostile.into(),
    };
    let checks = checks(&facts);
    for c in &checks {
        for text in std::iter::once(&c.detail).chain(c.fix.as_ref()) {
            assert!(
                !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{text:?}"
            );
            assert!(text.chars().count() <= MAX_CHECK_TEXT, "{text:?}");
        }
    }
    let reachable = find(&checks, "reachable");
    assert!(
        reachable.detail.contains("x]0;pwnedy2Jzw v"),
        "{reachable:?}"
    );
    assert!(reachable.detail.ends_with('…'), "{reachable:?}");
    assert!(find(&checks, "tracker").detail.contains("x]0;pwnedy2Jzw v"));
    assert!(
        find(&checks, "member:bob")
            .detail
            .contains("x]0;pwnedy2Jzw v")
    );
}
