//! The name → groups index (always what a full scan finds) and request ids (echoed in
//! every answer and refusal to the asker, never in pushes to others).

use super::*;

fn request(r: &mut Registry, conn: ConnId, request: PeerToTracker) -> Outcome {
    r.apply(conn, request)
}

/// The `req` a frame carries, or `None` for a frame kind that has no `req`.
fn req_of(frame: &TrackerToPeer) -> Option<Option<RequestId>> {
    match frame {
        TrackerToPeer::Members { req, .. }
        | TrackerToPeer::Left { req, .. }
        | TrackerToPeer::LookupResult { req, .. }
        | TrackerToPeer::StatusSet { req, .. }
        | TrackerToPeer::Error { req, .. } => Some(*req),
        _ => None,
    }
}

/// Every frame to `asker` that can carry a `req` carries `req`; every frame to anyone else
/// carries none. Returns the asker's frames.
fn answered(out: &Outcome, asker: ConnId, req: RequestId) -> Vec<TrackerToPeer> {
    let mut mine = Vec::new();
    for (conn, frame) in &out.pushes {
        if *conn == asker {
            // A status change goes to the asker as a member update too (no `req` there).
            if !matches!(**frame, TrackerToPeer::MemberUpdate { .. }) {
                assert_eq!(req_of(frame), Some(Some(req)), "answer {frame:?}");
                mine.push((**frame).clone());
            }
        } else {
            assert!(
                matches!(req_of(frame), None | Some(None)),
                "a push to another member carries a request id: {frame:?}"
            );
        }
    }
    assert!(!mine.is_empty(), "no answer to the asker");
    mine
}

#[test]
fn every_answer_echoes_its_request_id_and_pushes_to_others_never_do() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &[]);
    let rust = || g("rust");

    let out = request(
        &mut r,
        2,
        PeerToTracker::Join {
            group: rust(),
            req: Some(11),
        },
    );
    let mine = answered(&out, 2, 11);
    assert!(matches!(mine[..], [TrackerToPeer::Members { .. }]));
    assert!(out.pushes.iter().any(|(c, _)| *c == 1), "alice hears of it");

    let out = request(
        &mut r,
        2,
        PeerToTracker::Join {
            group: rust(),
            req: Some(12),
        },
    );
    assert!(matches!(
        answered(&out, 2, 12)[..],
        [TrackerToPeer::Members { .. }]
    ));

    let out = request(
        &mut r,
        2,
        PeerToTracker::Snapshot {
            group: rust(),
            req: Some(13),
        },
    );
    assert!(matches!(
        answered(&out, 2, 13)[..],
        [TrackerToPeer::Members { .. }]
    ));

    for (name, req) in [("alice", 14), ("nobody", 15)] {
        let out = request(
            &mut r,
            2,
            PeerToTracker::Lookup {
                name: n(name),
                req: Some(req),
            },
        );
        assert!(matches!(
            answered(&out, 2, req)[..],
            [TrackerToPeer::LookupResult { .. }]
        ));
    }

    let out = request(
        &mut r,
        2,
        PeerToTracker::SetStatus {
            status: Some("here".into()),
            req: Some(17),
        },
    );
    assert!(matches!(
        answered(&out, 2, 17)[..],
        [TrackerToPeer::StatusSet { .. }]
    ));
    assert!(out.pushes.iter().any(|(c, _)| *c == 1), "alice hears of it");

    let out = request(
        &mut r,
        2,
        PeerToTracker::Leave {
            group: rust(),
            req: Some(16),
        },
    );
    assert!(matches!(
        answered(&out, 2, 16)[..],
        [TrackerToPeer::Left { .. }]
    ));
    assert!(out.pushes.iter().any(|(c, _)| *c == 1), "alice hears of it");

    // Without a request id, answers carry none.
    let out = request(
        &mut r,
        2,
        PeerToTracker::Join {
            group: rust(),
            req: None,
        },
    );
    assert!(
        out.pushes
            .iter()
            .all(|(_, f)| matches!(req_of(f), None | Some(None)))
    );
}

#[test]
fn every_refusal_echoes_its_request_id() {
    let mut r = capped(1, 10, 1);
    hello(&mut r, 1, "alice", &["full"]);
    hello(&mut r, 2, "bob", &[]);
    let refusals = [
        (
            PeerToTracker::Leave {
                group: g("full"),
                req: Some(21),
            },
            ErrorCode::NotMember,
        ),
        (
            PeerToTracker::Snapshot {
                group: g("full"),
                req: Some(22),
            },
            ErrorCode::NotMember,
        ),
        // The member cap: "full" holds its one member.
        (
            PeerToTracker::Join {
                group: g("full"),
                req: Some(23),
            },
            ErrorCode::Refused,
        ),
        // The group cap: no second group.
        (
            PeerToTracker::Join {
                group: g("other"),
                req: Some(24),
            },
            ErrorCode::Refused,
        ),
    ];
    for (ask, expected) in refusals {
        let req = match &ask {
            PeerToTracker::Leave { req, .. }
            | PeerToTracker::Snapshot { req, .. }
            | PeerToTracker::Join { req, .. } => req.unwrap_or_default(),
            _ => unreachable!(),
        };
        let out = request(&mut r, 2, ask);
        let mine = answered(&out, 2, req);
        assert!(
            matches!(&mine[..], [TrackerToPeer::Error { code, .. }] if *code == expected),
            "got {mine:?}"
        );
        assert_eq!(out.close, None, "a refused request keeps the link");
    }
}

#[test]
fn the_index_follows_joins_leaves_disconnects_and_loading() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["a", "b"]);
    hello(&mut r, 2, "bob", &["b"]);
    assert!(r.index_matches_a_scan());
    assert_eq!(r.groups_of(&n("alice")), vec![g("a"), g("b")]);
    join(&mut r, 2, "c");
    r.apply(
        2,
        PeerToTracker::Leave {
            group: g("b"),
            req: None,
        },
    );
    assert_eq!(r.groups_of(&n("bob")), vec![g("c")]);
    // Bob leaves his last group: "c" is forgotten, and so is bob in the index.
    r.apply(
        2,
        PeerToTracker::Leave {
            group: g("c"),
            req: None,
        },
    );
    assert!(r.groups_of(&n("bob")).is_empty());
    assert!(!r.groups().contains_key(&g("c")));
    r.disconnect(1, T0);
    assert_eq!(
        r.groups_of(&n("alice")),
        vec![g("a"), g("b")],
        "offline stays a member"
    );
    assert!(r.index_matches_a_scan());
    let offline = r.lookup(&n("alice")).expect("known");
    assert!(!offline.online);

    let state = r.durable().to_state();
    let loaded = Registry::new(state, 10);
    assert!(loaded.index_matches_a_scan());
    assert_eq!(loaded.groups_of(&n("alice")), vec![g("a"), g("b")]);
    assert_eq!(
        loaded.lookup(&n("alice")).map(|m| m.addr),
        Some(offline.addr)
    );
}

/// A bounded random walk of hellos, joins, leaves, look-ups, disconnects and reloads over
/// a few names and groups: after every step the index equals a full scan.
#[test]
fn the_index_always_equals_a_full_scan() {
    const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];
    const GROUPS: [&str; 3] = ["x", "y", "z"];
    let mut r = capped(2, 100, 3);
    // Connection of each name, if online.
    let mut online: [Option<ConnId>; 4] = [None; 4];
    let mut next_conn: ConnId = 1;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut roll = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % 1_000_003).unwrap_or(0)
    };
    for _ in 0..3_000 {
        let (who, group) = (roll() % NAMES.len(), GROUPS[roll() % GROUPS.len()]);
        match (roll() % 7, online[who]) {
            (0, None) => {
                let groups: Vec<&str> =
                    GROUPS.iter().copied().filter(|_| roll() % 2 == 0).collect();
                hello(&mut r, next_conn, NAMES[who], &groups);
                online[who] = Some(next_conn);
                next_conn += 1;
            }
            (1 | 2, Some(conn)) => {
                join(&mut r, conn, group);
            }
            (3, Some(conn)) => {
                r.apply(
                    conn,
                    PeerToTracker::Leave {
                        group: g(group),
                        req: None,
                    },
                );
            }
            (4, Some(conn)) => {
                r.disconnect(conn, T0);
                online[who] = None;
            }
            (5, Some(conn)) => {
                let other = n(NAMES[roll() % NAMES.len()]);
                r.apply(
                    conn,
                    PeerToTracker::Lookup {
                        name: other,
                        req: None,
                    },
                );
            }
            (6, _) if roll() % 20 == 0 => {
                let state = r.durable().to_state();
                r = Registry::with_caps(
                    state,
                    10,
                    Caps {
                        groups: 2,
                        names: 100,
                        members_per_group: 3,
                    },
                );
                online = [None; 4];
            }
            _ => {}
        }
        assert!(r.index_matches_a_scan());
        for name in NAMES {
            let scanned = r
                .groups()
                .values()
                .find_map(|s| s.members.get(&n(name)).copied());
            let looked_up = r.lookup(&n(name)).filter(|m| !m.online).map(|m| m.addr);
            if looked_up.is_some() {
                assert_eq!(
                    looked_up, scanned,
                    "an offline look-up finds what a scan finds"
                );
            }
        }
    }
}
