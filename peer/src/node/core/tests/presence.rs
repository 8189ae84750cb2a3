//! `/whois` (from the member lists, else a tracker look-up) and `/status` (set at the
//! tracker, confirmed by its answer), and the presence the tracker pushes.

use super::*;

/// When the tracker last saw someone (its clock, Unix milliseconds).
const SEEN: u64 = 1_799_999_000_000;

fn with_status(mut member: Member, status: &str) -> Member {
    member.status = Some(status.into());
    member
}

fn gone(mut member: Member, last_seen: u64) -> Member {
    member.online = false;
    member.last_seen = Some(last_seen);
    member
}

/// alice in #g with bob (online, "at lunch") and carol (offline, last seen [`SEEN`]), and
/// in #h with bob.
fn alice() -> Node {
    let bob = with_status(listed("bob", 4001, true), "at lunch");
    let g = vec![
        listed("alice", 4000, true),
        bob.clone(),
        gone(listed("carol", 4002, true), SEEN),
    ];
    let h = vec![listed("alice", 4000, true), bob];
    Node::online("alice", &[("g", g), ("h", vec![])]).tap(|node| node.push(full("h", 1, h)))
}

impl Node {
    /// `f` applied, then the node (for set-ups that need one more input).
    fn tap(mut self, f: impl FnOnce(&mut Self) -> Vec<Output>) -> Self {
        f(&mut self);
        self
    }
}

fn full(g: &str, version: u64, members: Vec<Member>) -> TrackerToPeer {
    TrackerToPeer::Members {
        group: group(g),
        version,
        members,
        req: None,
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
    }
}

fn whois_of(out: &[Output]) -> Vec<(Option<RequestId>, Event)> {
    notices(out)
        .into_iter()
        .filter(|n| matches!(n.event, Event::Whois { .. }))
        .map(|n| (n.req, n.event))
        .collect()
}

fn lookups(out: &[Output]) -> Vec<(Name, Option<RequestId>)> {
    to_tracker(out)
        .into_iter()
        .filter_map(|r| match r {
            PeerToTracker::Lookup { name, req } => Some((name, req)),
            _ => None,
        })
        .collect()
}

#[test]
fn whois_is_answered_from_the_member_lists_with_the_groups_we_share() {
    let mut node = alice();
    let out = node.cmd(1, Command::Whois(name("bob")));
    assert!(to_tracker(&out).is_empty(), "the lists know bob: {out:?}");
    assert_eq!(
        whois_of(&out),
        vec![(
            Some(1),
            Event::Whois {
                name: name("bob"),
                key: key_of("bob"),
                online: true,
                last_seen: None,
                status: Some("at lunch".into()),
                groups: vec![group("g"), group("h")],
            }
        )]
    );
    let out = node.cmd(2, Command::Whois(name("carol")));
    assert_eq!(
        whois_of(&out),
        vec![(
            Some(2),
            Event::Whois {
                name: name("carol"),
                key: key_of("carol"),
                online: false,
                last_seen: Some(SEEN),
                status: None,
                groups: vec![group("g")],
            }
        )]
    );
}

#[test]
fn whois_follows_the_pushed_presence_and_status() {
    let mut node = alice();
    let update = |version, change| TrackerToPeer::MemberUpdate {
        group: group("g"),
        version,
        change,
    };
    let changed = with_status(listed("carol", 4002, true), "back soon");
    let out = node.push(update(
        2,
        MemberChange::Online {
            member: listed("carol", 4002, true),
        },
    ));
    assert!(!events(&out).is_empty());
    let updated = MemberChange::Updated {
        member: changed.clone(),
    };
    let out = node.push(update(3, updated.clone()));
    // The change reaches the front end as is.
    assert!(events(&out).contains(&Event::Members {
        group: group("g"),
        version: 3,
        members: None,
        change: Some(updated),
        owner: None,
        topic: None,
        private: false,
        by: None,
    }));
    let out = node.push(update(
        4,
        MemberChange::Offline {
            name: name("carol"),
            last_seen: Some(SEEN + 5),
        },
    ));
    assert!(to_tracker(&out).is_empty(), "no gap: {out:?}");
    let out = node.cmd(1, Command::Whois(name("carol")));
    let [
        (
            _,
            Event::Whois {
                online,
                last_seen,
                status,
                ..
            },
        ),
    ] = &whois_of(&out)[..]
    else {
        panic!("expected one whois: {out:?}");
    };
    assert_eq!(
        (*online, *last_seen, status.as_deref()),
        (false, Some(SEEN + 5), Some("back soon"))
    );
    // `/members` lists it too.
    let out = node.cmd(2, Command::Members(group("g")));
    let Some(Event::Members {
        members: Some(members),
        ..
    }) = events(&out).into_iter().next()
    else {
        panic!("expected the list: {out:?}");
    };
    let carol = members
        .iter()
        .find(|m| m.name == name("carol"))
        .expect("carol");
    assert_eq!(carol.last_seen, Some(SEEN + 5));
    assert_eq!(carol.status.as_deref(), Some("back soon"));
}

#[test]
fn whois_of_a_stranger_asks_the_tracker_once_for_everyone_waiting() {
    let mut node = alice();
    let out = node.cmd(1, Command::Whois(name("dave")));
    let asked = lookups(&out);
    assert!(matches!(&asked[..], [(who, Some(_))] if *who == name("dave")));
    assert!(whois_of(&out).is_empty());
    let out = node.cmd(2, Command::Whois(name("dave")));
    assert!(lookups(&out).is_empty(), "one look-up is out already");

    let dave = with_status(gone(listed("dave", 4009, true), SEEN), "on holiday");
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("dave"),
        member: Some(dave),
        req: asked[0].1,
    });
    let answer = |req| {
        (
            Some(req),
            Event::Whois {
                name: name("dave"),
                key: key_of("dave"),
                online: false,
                last_seen: Some(SEEN),
                status: Some("on holiday".into()),
                groups: vec![],
            },
        )
    };
    assert_eq!(whois_of(&out), vec![answer(1), answer(2)]);
    assert!(
        node.core
            .poll_timeout()
            .is_none_or(|due| due > node.now.at + ACK_TIMEOUT)
    );
}

#[test]
fn whois_of_a_name_the_tracker_does_not_know_is_unknown_peer() {
    let mut node = alice();
    let out = node.cmd(1, Command::Whois(name("nobody")));
    let asked = lookups(&out);
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("nobody"),
        member: None,
        req: asked[0].1,
    });
    assert_eq!(errors(&out), vec![(ErrorCode::UnknownPeer, Some(1))]);
}

#[test]
fn whois_without_a_tracker_answers_what_is_cached_and_fails_the_rest() {
    let mut node = alice();
    node.tracker(TrackerInput::Disconnected {
        reason: "gone".into(),
    });
    let out = node.cmd(1, Command::Whois(name("bob")));
    assert_eq!(whois_of(&out).len(), 1);
    let out = node.cmd(2, Command::Whois(name("dave")));
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerUnavailable, Some(2))]);
    assert!(lookups(&out).is_empty());
}

#[test]
fn a_whois_look_up_that_is_lost_or_late_fails() {
    let mut node = alice();
    node.cmd(1, Command::Whois(name("dave")));
    let out = node.tracker(TrackerInput::Disconnected {
        reason: "reset".into(),
    });
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerUnavailable, Some(1))]);

    node.tracker(TrackerInput::Connected);
    node.cmd(2, Command::Whois(name("erin")));
    let out = node.run_until(ACK_TIMEOUT);
    assert_eq!(errors(&out), vec![(ErrorCode::Timeout, Some(2))]);
    // Answered after all: nobody is waiting any more.
    let out = node.push(TrackerToPeer::LookupResult {
        name: name("erin"),
        member: None,
        req: None,
    });
    assert!(errors(&out).is_empty());
}

#[test]
fn status_is_set_at_the_tracker_and_confirmed_by_its_answer() {
    let mut node = alice();
    let out = node.cmd(1, Command::Status("at lunch".into()));
    let [PeerToTracker::SetStatus { status, req: id }] = &to_tracker(&out)[..] else {
        panic!("expected a set_status: {out:?}");
    };
    assert_eq!(status.as_deref(), Some("at lunch"));
    assert!(
        events(&out).is_empty(),
        "nothing before the tracker confirms"
    );
    let out = node.push(TrackerToPeer::StatusSet {
        status: status.clone(),
        req: *id,
    });
    assert_eq!(
        notices(&out),
        vec![Notice {
            req: Some(1),
            event: Event::Status {
                status: Some("at lunch".into())
            }
        }]
    );

    // An empty line clears it.
    let out = node.cmd(2, Command::Status(String::new()));
    let [
        PeerToTracker::SetStatus {
            status: None,
            req: id,
        },
    ] = &to_tracker(&out)[..]
    else {
        panic!("expected a clearing set_status: {out:?}");
    };
    let out = node.push(TrackerToPeer::StatusSet {
        status: None,
        req: *id,
    });
    assert_eq!(
        notices(&out),
        vec![Notice {
            req: Some(2),
            event: Event::Status { status: None }
        }]
    );
}

#[test]
fn a_bad_or_refused_or_unsendable_status_is_an_error() {
    let mut node = alice();
    let too_long = "x".repeat(natter_protocol::tracker::MAX_STATUS_CHARS + 1);
    let out = node.cmd(1, Command::Status(too_long));
    assert_eq!(errors(&out), vec![(ErrorCode::BadCommand, Some(1))]);
    assert!(to_tracker(&out).is_empty());
    let out = node.cmd(2, Command::Status("a\nb".into()));
    assert_eq!(errors(&out), vec![(ErrorCode::BadCommand, Some(2))]);

    let out = node.cmd(3, Command::Status("fine".into()));
    let id = tracker_req_of(&to_tracker(&out)[0]);
    let out = node.push(TrackerToPeer::Error {
        code: natter_protocol::ErrorCode::RateLimited,
        message: "slow down".into(),
        req: id,
    });
    assert_eq!(errors(&out), vec![(ErrorCode::RateLimited, Some(3))]);

    let out = node.cmd(4, Command::Status("fine".into()));
    let request = to_tracker(&out).remove(0);
    let out = node.tracker(TrackerInput::Unsent {
        request,
        reason: "reset".into(),
    });
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerUnavailable, Some(4))]);

    node.tracker(TrackerInput::Disconnected {
        reason: "gone".into(),
    });
    let out = node.cmd(5, Command::Status("fine".into()));
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerUnavailable, Some(5))]);
}

#[test]
fn status_and_whois_wait_for_the_first_tracker_attempt() {
    let mut node = Node::new("alice", &[]);
    node.drain();
    assert!(node.cmd(1, Command::Status("here".into())).is_empty());
    assert!(node.cmd(2, Command::Whois(name("dave"))).is_empty());
    let out = node.tracker(TrackerInput::Connected);
    let sent = to_tracker(&out);
    assert!(
        matches!(sent[0], PeerToTracker::SetStatus { .. }),
        "{sent:?}"
    );
    assert!(matches!(sent[1], PeerToTracker::Lookup { .. }), "{sent:?}");
}

fn tracker_req_of(request: &PeerToTracker) -> Option<RequestId> {
    match request {
        PeerToTracker::SetStatus { req, .. } => *req,
        other => tracker_req(other),
    }
}
