//! Unit tests of the core: inputs with an explicit time in, outputs checked. No sockets,
//! no tasks, no clock: each test runs in microseconds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_protocol::peer::{MessageId, PeerFrame};
use natter_protocol::testkit::{chat_frame, chat_message, group, identity_for, member_at, name};
use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{GroupName, PROTOCOL_VERSION, PublicKey, RequestId};

use super::key_checks::KEY_CHECK_TIMEOUT;
use super::*;
use crate::node::api::{About, ErrorCode, Target};
use crate::node::members::{GroupList, MemberCache};

const ACK_TIMEOUT: Duration = Duration::from_secs(10);

fn addr(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

fn key_of(who: &str) -> PublicKey {
    identity_for(who).public_key()
}

/// A member as a tracker lists it: its key is `identity_for(name)`'s, its port `port`.
fn listed(who: &str, port: u16, online: bool) -> Member {
    member_at(who, key_of(who), addr(port), online)
}

/// One core under test, with its own clock.
struct Node {
    core: Core,
    now: Now,
}

impl Node {
    /// `who`, with `groups` cached (group name → members), not yet told about the tracker.
    fn new(who: &str, groups: &[(&str, Vec<Member>)]) -> Self {
        let cache: BTreeMap<GroupName, GroupList> = groups
            .iter()
            .map(|(g, members)| {
                let list = GroupList {
                    version: 1,
                    members: members.clone(),
                };
                (group(g), list)
            })
            .collect();
        let setup = Setup {
            name: name(who),
            identity: Arc::new(identity_for(who)),
            tracker_addr: "127.0.0.1:7000".into(),
            listen: addr(4000),
            ack_timeout: ACK_TIMEOUT,
            cache_save_every: Duration::from_millis(500),
            cache: MemberCache::from_groups(cache),
            trust: Default::default(),
            tracker_pins: Default::default(),
            warnings: vec![],
        };
        let now = Now {
            at: Instant::now(),
            unix_micros: 1_800_000_000_000_000,
        };
        Self {
            core: Core::new(setup, now),
            now,
        }
    }

    /// [`Self::new`], connected to the tracker, its start-up done (outputs drained, the
    /// pins of the cached members written).
    fn online(who: &str, groups: &[(&str, Vec<Member>)]) -> Self {
        let mut node = Self::new(who, groups);
        node.drain();
        node.tracker(TrackerInput::Connected);
        node.advance(Duration::from_secs(1));
        node
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    fn input(&mut self, input: Input) -> Vec<Output> {
        self.core.handle(self.now, input);
        self.drain()
    }

    fn cmd(&mut self, req: RequestId, command: Command) -> Vec<Output> {
        let request = Request {
            req: Some(req),
            command,
        };
        self.input(Input::Request(request))
    }

    /// `/msg` as request `req`.
    fn send(&mut self, req: RequestId, target: Target, text: &str) -> Vec<Output> {
        let text = text.to_owned();
        self.cmd(req, Command::Send { target, text })
    }

    fn tracker(&mut self, input: TrackerInput) -> Vec<Output> {
        self.input(Input::Tracker(input))
    }

    fn push(&mut self, push: TrackerToPeer) -> Vec<Output> {
        self.tracker(TrackerInput::Push(push))
    }

    fn conn(&mut self, conn: ConnId, event: ConnEvent) -> Vec<Output> {
        self.input(Input::Conn { conn, event })
    }

    fn frame(&mut self, conn: ConnId, frame: PeerFrame) -> Vec<Output> {
        self.conn(conn, ConnEvent::Frame(frame))
    }

    /// The hello of `who` (with its own key) on `conn`.
    fn hello(&mut self, conn: ConnId, who: &str) -> Vec<Output> {
        let hello = ConnEvent::Hello {
            listen: None,
            name: name(who),
            key: key_of(who),
        };
        self.conn(conn, hello)
    }

    /// A connection someone opened to us, its hello in.
    fn inbound(&mut self, n: u64, who: &str, key: PublicKey) -> (ConnId, Vec<Output>) {
        let conn = ConnId::Accepted(n);
        self.conn(conn, ConnEvent::Accepted);
        let hello = ConnEvent::Hello {
            listen: None,
            name: name(who),
            key,
        };
        (conn, self.conn(conn, hello))
    }

    /// Moves the clock on and runs the deadlines.
    fn advance(&mut self, by: Duration) -> Vec<Output> {
        self.now.at += by;
        self.now.unix_micros += u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.core.handle_timeout(self.now);
        self.drain()
    }
}

fn notices(out: &[Output]) -> Vec<Notice> {
    out.iter()
        .filter_map(|o| match o {
            Output::Notice(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<Event> {
    notices(out).into_iter().map(|n| n.event).collect()
}

/// Every error's code and req.
fn errors(out: &[Output]) -> Vec<(ErrorCode, Option<RequestId>)> {
    notices(out)
        .into_iter()
        .filter_map(|n| match n.event {
            Event::Error { code, .. } => Some((code, n.req)),
            _ => None,
        })
        .collect()
}

fn dials(out: &[Output]) -> Vec<(ConnId, SocketAddr, Option<PublicKey>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Dial { conn, addr, expect } => Some((*conn, *addr, *expect)),
            _ => None,
        })
        .collect()
}

fn frames(out: &[Output], to: ConnId) -> Vec<PeerFrame> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { conn, frame } if *conn == to => Some(PeerFrame::clone(frame)),
            _ => None,
        })
        .collect()
}

fn to_tracker(out: &[Output]) -> Vec<PeerToTracker> {
    out.iter()
        .filter_map(|o| match o {
            Output::Tracker(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn closed(out: &[Output]) -> Vec<(ConnId, Option<Parting>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Close { conn, parting } => Some((*conn, parting.clone())),
            _ => None,
        })
        .collect()
}

fn sending_id(out: &[Output]) -> MessageId {
    events(out)
        .into_iter()
        .find_map(|e| match e {
            Event::Sending { id, .. } => Some(id),
            _ => None,
        })
        .expect("a sending event")
}

fn sent(out: &[Output]) -> Vec<(Option<RequestId>, Vec<String>, Vec<String>)> {
    notices(out)
        .into_iter()
        .filter_map(|n| match n.event {
            Event::Sent {
                delivered, failed, ..
            } => Some((n.req, delivered, failed)),
            _ => None,
        })
        .collect()
}

fn tracker_req(request: &PeerToTracker) -> Option<RequestId> {
    match request {
        PeerToTracker::Join { req, .. }
        | PeerToTracker::Leave { req, .. }
        | PeerToTracker::Lookup { req, .. }
        | PeerToTracker::Snapshot { req, .. } => *req,
        _ => None,
    }
}

#[test]
fn starts_with_ready_carrying_the_versions_and_no_deadline() {
    let mut node = Node::new("alice", &[]);
    let out = node.drain();
    let Some(Event::Ready {
        contract, protocol, ..
    }) = events(&out).into_iter().next()
    else {
        panic!("{out:?}")
    };
    assert_eq!((contract, protocol), (CONTRACT_VERSION, PROTOCOL_VERSION));
    // Nothing to wait for: no polling tick.
    assert_eq!(node.core.poll_timeout(), None);
}

#[test]
fn commands_wait_for_the_first_tracker_attempt_and_answers_carry_their_req() {
    let mut node = Node::new("alice", &[]);
    node.drain();
    assert!(node.cmd(7, Command::Join(group("g"))).is_empty(), "held");
    // A command after it waits too, so answers keep the commands' order.
    assert!(
        node.cmd(8, Command::Groups).is_empty(),
        "held behind the join"
    );
    let out = node.tracker(TrackerInput::Connected);
    assert!(
        matches!(
            &notices(&out)[1..],
            [Notice {
                req: Some(8),
                event: Event::Groups { .. }
            }]
        ),
        "{out:?}"
    );
    let asked = to_tracker(&out);
    assert!(
        matches!(&asked[..], [PeerToTracker::Join { .. }]),
        "{out:?}"
    );
    let id = tracker_req(&asked[0]);
    assert!(id.is_some());
    let me = listed("alice", 4000, true);
    let out = node.push(TrackerToPeer::Members {
        group: group("g"),
        version: 1,
        members: vec![me.clone()],
        req: id,
    });
    let got = notices(&out);
    assert_eq!(got[0].req, Some(7));
    assert!(
        matches!(&got[0].event, Event::Members { members: Some(m), change: None, .. } if m == &vec![me])
    );
    assert!(out.contains(&Output::Groups(vec![group("g")])));
    // A change carries the change alone, and no req.
    let change = MemberChange::Joined {
        member: listed("bob", 4001, true),
    };
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: change.clone(),
    });
    let got = notices(&out);
    assert_eq!(
        got,
        vec![Notice {
            req: None,
            event: Event::Members {
                group: group("g"),
                version: 2,
                members: None,
                change: Some(change)
            }
        }]
    );
    // A skipped version: ask for a snapshot instead of guessing.
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 4,
        change: MemberChange::Offline { name: name("bob") },
    });
    assert!(matches!(
        &to_tracker(&out)[..],
        [PeerToTracker::Snapshot { .. }]
    ));
    assert!(events(&out).is_empty());
}

#[test]
fn a_look_up_that_never_left_fails_its_message_at_once() {
    let mut node = in_a_group();
    let out = node.send(4, Target::Peer(name("dave")), "hi");
    let [lookup] = &to_tracker(&out)[..] else {
        panic!("{out:?}")
    };
    let reason = "the tracker link is busy".to_owned();
    let out = node.tracker(TrackerInput::Unsent {
        request: lookup.clone(),
        reason,
    });
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerUnavailable, Some(4))]);
    assert_eq!(node.core.poll_timeout(), None, "nothing left waiting");
}

#[test]
fn a_refusal_lands_on_the_command_that_caused_it() {
    let mut node = Node::online("alice", &[]);
    let out = node.cmd(3, Command::Join(group("full")));
    let id = tracker_req(&to_tracker(&out)[0]);
    let out = node.push(TrackerToPeer::Error {
        code: natter_protocol::ErrorCode::Refused,
        message: "cannot join #full: it has its maximum".into(),
        req: id,
    });
    let got = notices(&out);
    assert_eq!(got[0].req, Some(3));
    assert!(matches!(
        &got[0].event,
        Event::Error { code: ErrorCode::TrackerRefused, about: Some(About::Group(g)), .. } if g == &group("full")
    ));
    // Errors decided at once carry the req too.
    let out = node.cmd(4, Command::Leave(group("elsewhere")));
    assert_eq!(errors(&out), vec![(ErrorCode::NotMember, Some(4))]);
    let long = "x".repeat(MAX_TEXT_BYTES + 1);
    let target = Target::Peer(name("bob"));
    let out = node.cmd(5, Command::Send { target, text: long });
    assert_eq!(errors(&out), vec![(ErrorCode::TooLong, Some(5))]);
}

#[test]
fn the_tracker_down_is_a_clear_error_for_what_needs_it() {
    let mut node = Node::new("alice", &[]);
    node.drain();
    let reason = "connection refused".into();
    node.tracker(TrackerInput::Disconnected { reason });
    let out = node.cmd(1, Command::Join(group("g")));
    assert_eq!(errors(&out), vec![(ErrorCode::TrackerUnavailable, Some(1))]);
    let target = Target::Peer(name("nobody"));
    let out = node.send(2, target, "hi");
    assert_eq!(errors(&out), vec![(ErrorCode::UnknownPeer, Some(2))]);
}

/// alice in #g with bob (online, port 4001) and carol (offline).
fn in_a_group() -> Node {
    let members = vec![
        listed("alice", 4000, true),
        listed("bob", 4001, true),
        listed("carol", 4002, false),
    ];
    Node::online("alice", &[("g", members)])
}

#[test]
fn a_group_message_fans_out_and_settles_from_the_acks() {
    let mut node = in_a_group();
    let target = Target::Group(group("g"));
    let out = node.send(5, target, "hi");
    let id = sending_id(&out);
    assert_eq!(notices(&out)[0].req, Some(5));
    let [(conn, to, expect)] = dials(&out)[..] else {
        panic!("one dial: {out:?}")
    };
    assert_eq!((to, expect), (addr(4001), Some(key_of("bob"))));
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Chat(c)] if c.message.id == id));
    // The hello is the one we demanded: let on, nothing settled yet.
    let out = node.hello(conn, "bob");
    assert!(out.contains(&Output::Accept { conn }));
    assert!(sent(&out).is_empty());
    let out = node.frame(conn, PeerFrame::Ack { id: id.clone() });
    assert_eq!(
        sent(&out),
        vec![(Some(5), vec!["bob".into()], vec!["carol".into()])]
    );
    // A second message reuses the connection.
    let target = Target::Group(group("g"));
    let out = node.send(6, target, "again");
    assert!(dials(&out).is_empty());
    assert_eq!(frames(&out, conn).len(), 1);
}

#[test]
fn a_group_message_is_one_frame_shared_by_every_recipient() {
    let members = vec![
        listed("alice", 4000, true),
        listed("bob", 4001, true),
        listed("carol", 4002, true),
        listed("dave", 4003, true),
    ];
    let mut node = Node::online("alice", &[("g", members)]);
    let out = node.send(1, Target::Group(group("g")), "to all");
    let shared: Vec<&Arc<PeerFrame>> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { frame, .. } => Some(frame),
            _ => None,
        })
        .collect();
    assert_eq!(shared.len(), 3);
    assert!(
        shared.windows(2).all(|w| Arc::ptr_eq(w[0], w[1])),
        "not copied per recipient"
    );
}

#[test]
fn a_silent_recipient_fails_at_its_deadline_and_its_connection_goes() {
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    let out = node.send(9, target, "hi");
    let conn = dials(&out)[0].0;
    assert_eq!(node.core.poll_timeout(), Some(node.now.at + ACK_TIMEOUT));
    assert!(
        node.advance(ACK_TIMEOUT - Duration::from_millis(1))
            .is_empty()
    );
    let out = node.advance(Duration::from_millis(1));
    assert_eq!(errors(&out), vec![(ErrorCode::Timeout, Some(9))]);
    assert_eq!(sent(&out), vec![(Some(9), vec![], vec!["bob".into()])]);
    assert_eq!(closed(&out), vec![(conn, None)]);
}

#[test]
fn a_nack_fails_that_recipient_with_the_reason_and_keeps_the_connection() {
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    let out = node.send(1, target, "hi");
    let (conn, id) = (dials(&out)[0].0, sending_id(&out));
    node.hello(conn, "bob");
    let nack = PeerFrame::Nack {
        id,
        code: natter_protocol::ErrorCode::Unauthorized,
        message: "not today".into(),
    };
    let out = node.frame(conn, nack);
    assert_eq!(errors(&out), vec![(ErrorCode::RefusedByPeer, Some(1))]);
    assert_eq!(sent(&out), vec![(Some(1), vec![], vec!["bob".into()])]);
    assert!(closed(&out).is_empty());
}

#[test]
fn a_connection_that_fails_fails_what_waits_on_it() {
    let mut node = in_a_group();
    let target = Target::Addr(addr(4999));
    let out = node.send(2, target, "hi");
    let conn = dials(&out)[0].0;
    let ended = ConnEvent::Ended {
        reason: "connection refused".into(),
        parting: None,
    };
    let out = node.conn(conn, ended);
    assert_eq!(errors(&out), vec![(ErrorCode::Undeliverable, Some(2))]);
    assert_eq!(
        sent(&out),
        vec![(Some(2), vec![], vec!["127.0.0.1:4999".into()])]
    );
    // Reported once: a late report of the same connection is nothing.
    let ended = ConnEvent::Ended {
        reason: "again".into(),
        parting: None,
    };
    assert!(node.conn(conn, ended).is_empty());
}

#[test]
fn an_address_answers_with_its_name_and_a_wrong_name_fails() {
    let mut node = in_a_group();
    let target = Target::Addr(addr(4001));
    let out = node.send(1, target, "hi");
    let (conn, id) = (dials(&out)[0].0, sending_id(&out));
    node.hello(conn, "bob");
    let out = node.frame(conn, PeerFrame::Ack { id });
    assert_eq!(sent(&out), vec![(Some(1), vec!["bob".into()], vec![])]);
    // Someone else now answers at bob's listed address.
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    let out = node.send(2, target, "hi");
    let conn = dials(&out)[0].0;
    let out = node.hello(conn, "carol");
    assert_eq!(errors(&out), vec![(ErrorCode::Undeliverable, Some(2))]);
    assert_eq!(sent(&out), vec![(Some(2), vec![], vec!["bob".into()])]);
}

#[test]
fn incoming_messages_are_checked_and_answered_by_id() {
    let mut node = in_a_group();
    let bob = identity_for("bob");
    let (conn, out) = node.inbound(1, "bob", bob.public_key());
    assert!(
        out.contains(&Output::Accept { conn }),
        "listed key: {out:?}"
    );
    let good = chat_message("bob", 1, Some("g"), "hello");
    let out = node.frame(conn, chat_frame(&bob, good.clone()));
    assert!(matches!(&events(&out)[..], [Event::Message { text, .. }] if text == "hello"));
    assert_eq!(
        frames(&out, conn),
        vec![PeerFrame::Ack {
            id: good.id.clone()
        }]
    );
    // A replay: acknowledged, not shown again.
    let out = node.frame(conn, chat_frame(&bob, good));
    assert!(events(&out).is_empty());
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Ack { .. }]));
    // A forged signature, and a message in someone else's name: each refused by its id.
    let forged = chat_message("bob", 2, None, "forged");
    let out = node.frame(conn, chat_frame(&identity_for("mallory"), forged.clone()));
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Nack { id, .. }] if id == &forged.id));
    let spoofed = chat_message("carol", 3, None, "spoofed");
    let out = node.frame(conn, chat_frame(&bob, spoofed.clone()));
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Nack { id, .. }] if id == &spoofed.id));
    assert!(events(&out).is_empty());
    // The next good one still goes through: the connection stays.
    let next = chat_message("bob", 4, Some("g"), "still here");
    let out = node.frame(conn, chat_frame(&bob, next));
    assert_eq!(events(&out).len(), 1);
    assert!(closed(&out).is_empty());
}

#[test]
fn a_group_message_from_a_non_member_is_refused() {
    let mut node = in_a_group();
    let dave = identity_for("dave");
    // dave is known to the tracker, not to #g.
    let (conn, out) = node.inbound(1, "dave", dave.public_key());
    let id = tracker_req(&to_tracker(&out)[0]);
    let answer = TrackerToPeer::LookupResult {
        name: name("dave"),
        member: Some(listed("dave", 4003, true)),
        req: id,
    };
    let out = node.push(answer);
    assert!(out.contains(&Output::Accept { conn }));
    let msg = chat_message("dave", 1, Some("g"), "let me in");
    let out = node.frame(conn, chat_frame(&dave, msg));
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Nack { .. }]));
    assert!(events(&out).is_empty());
}

#[test]
fn an_unknown_name_is_let_on_only_with_the_key_the_tracker_binds_to_it() {
    let mut node = Node::online("alice", &[]);
    let (first, out) = node.inbound(1, "mallory", key_of("mallory"));
    let asked = to_tracker(&out);
    assert!(matches!(&asked[..], [PeerToTracker::Lookup { name: n, .. }] if n == &name("mallory")));
    assert!(!out.contains(&Output::Accept { conn: first }), "waits");
    // An impostor under the same name waits on the same look-up.
    let (second, out) = node.inbound(2, "mallory", key_of("impostor"));
    assert!(to_tracker(&out).is_empty(), "asked once");
    let answer = TrackerToPeer::LookupResult {
        name: name("mallory"),
        member: Some(listed("mallory", 4005, true)),
        req: tracker_req(&asked[0]),
    };
    let out = node.push(answer);
    assert!(out.contains(&Output::Accept { conn: first }));
    let refused = closed(&out);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, second);
    assert!(matches!(
        refused[0].1,
        Some((natter_protocol::ErrorCode::Unauthorized, _))
    ));
    // No answer in time: refused at the deadline.
    let (third, _) = node.inbound(3, "zed", key_of("zed"));
    assert_eq!(
        node.core.poll_timeout(),
        Some(node.now.at + KEY_CHECK_TIMEOUT)
    );
    let out = node.advance(KEY_CHECK_TIMEOUT);
    assert!(closed(&out).iter().any(|(c, _)| *c == third));
}

#[test]
fn an_unknown_name_is_refused_while_the_tracker_cannot_vouch_for_it() {
    let mut node = Node::new("alice", &[]);
    node.drain();
    let reason = "connection refused".into();
    node.tracker(TrackerInput::Disconnected { reason });
    let (conn, out) = node.inbound(1, "bob", key_of("bob"));
    assert!(!out.contains(&Output::Accept { conn }));
    assert!(matches!(
        &closed(&out)[..],
        [(c, Some((natter_protocol::ErrorCode::Unauthorized, _)))] if *c == conn
    ));
    // Waiting for a first attempt, then the tracker goes: the waiting one is refused too.
    let mut node = Node::new("alice", &[]);
    node.drain();
    let (conn, out) = node.inbound(1, "bob", key_of("bob"));
    assert!(out.is_empty(), "waits for the first attempt: {out:?}");
    let reason = "connection refused".into();
    let out = node.tracker(TrackerInput::Disconnected { reason });
    assert_eq!(closed(&out).len(), 1);
    assert_eq!(closed(&out)[0].0, conn);
}

#[test]
fn a_stranger_claiming_a_members_name_is_refused_and_changes_nothing() {
    let mut node = in_a_group();
    let (conn, out) = node.inbound(1, "bob", key_of("mallory"));
    assert!(!out.contains(&Output::Accept { conn }));
    assert_eq!(closed(&out)[0].0, conn);
    assert_eq!(errors(&out), vec![(ErrorCode::WrongKey, None)]);
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::KeyChanged { .. }))
    );
    // Reported once per name and key.
    let (_, out) = node.inbound(2, "bob", key_of("mallory"));
    assert!(errors(&out).is_empty());
    // Nobody answering at bob's address with another key changes anything either.
    let out = node.send(1, Target::Peer(name("bob")), "hi");
    let dialled = dials(&out)[0].0;
    let mismatch = ConnEvent::KeyMismatch {
        presented: key_of("mallory"),
    };
    let out = node.conn(dialled, mismatch);
    assert_eq!(errors(&out), vec![(ErrorCode::Undeliverable, Some(1))]);
    // The real bob is still reachable: the next message dials him again.
    let out = node.send(2, Target::Peer(name("bob")), "still you?");
    assert_eq!(dials(&out).len(), 1);
    assert!(errors(&out).is_empty());
}

#[test]
fn a_changed_key_is_reported_once_and_refused_until_trusted() {
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    node.send(1, target, "hi");
    // The tracker now binds bob to another key (bob on a new machine, or a rogue tracker).
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Online {
            member: member_at("bob", key_of("new-bob"), addr(4001), true),
        },
    });
    let changes = events(&out)
        .into_iter()
        .filter(|e| matches!(e, Event::KeyChanged { .. }))
        .count();
    assert_eq!(changes, 1, "{out:?}");
    // bob with the new key is refused until trusted.
    let (conn, out) = node.inbound(1, "bob", key_of("new-bob"));
    assert!(!out.contains(&Output::Accept { conn }));
    assert!(errors(&out).is_empty(), "reported once: {out:?}");
    // Sending again is refused before any dial.
    let target = Target::Peer(name("bob"));
    let out = node.send(2, target, "hi");
    assert!(dials(&out).is_empty());
    assert!(errors(&out).contains(&(ErrorCode::KeyChanged, Some(2))));
    // /trust takes the key the member list (the tracker) binds to bob.
    let out = node.cmd(3, Command::Trust(name("bob")));
    assert!(to_tracker(&out).is_empty(), "the list vouches already");
    let trusted = notices(&out);
    assert!(
        trusted
            .iter()
            .any(|n| n.req == Some(3) && matches!(n.event, Event::Trusted { .. }))
    );
    // The new pin is written on the pins' schedule.
    let due = node.core.poll_timeout().expect("the pins are due");
    let out = node.advance(due - node.now.at);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Save(Save::PeerPins(_))))
    );
}

#[test]
fn both_sides_dialling_at_once_end_up_on_one_connection() {
    // alice dials bob while bob's dial to alice arrives.
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    let out = node.send(1, target, "hi");
    let (mine, id) = (dials(&out)[0].0, sending_id(&out));
    node.hello(mine, "bob");
    let (theirs, out) = node.inbound(1, "bob", key_of("bob"));
    assert!(out.contains(&Output::Accept { conn: theirs }));
    let kept = if key_of("alice") < key_of("bob") {
        mine
    } else {
        theirs
    };
    // New messages go on the kept one; ours on the other closes once answered.
    let target = Target::Peer(name("bob"));
    let out = node.send(2, target, "more");
    assert_eq!(frames(&out, kept).len(), 1);
    let out = node.frame(mine, PeerFrame::Ack { id });
    assert_eq!(sent(&out).len(), 1);
    let closed_now: Vec<ConnId> = closed(&out).into_iter().map(|(c, _)| c).collect();
    if kept == mine {
        assert!(closed_now.is_empty());
    } else {
        assert_eq!(closed_now, vec![mine]);
    }
}

#[test]
fn quit_waits_for_messages_on_their_way_then_saves_and_finishes() {
    let mut node = in_a_group();
    // A change to save.
    node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Offline { name: name("bob") },
    });
    node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 3,
        change: MemberChange::Online {
            member: listed("bob", 4001, true),
        },
    });
    let target = Target::Peer(name("bob"));
    let out = node.send(1, target, "bye");
    let (conn, id) = (dials(&out)[0].0, sending_id(&out));
    node.cmd(2, Command::Quit);
    assert!(!node.core.is_finished());
    // Commands after /quit are not taken.
    let target = Target::Peer(name("bob"));
    assert!(node.send(3, target, "late").is_empty());
    node.hello(conn, "bob");
    let out = node.frame(conn, PeerFrame::Ack { id });
    assert_eq!(sent(&out).len(), 1);
    assert!(node.core.is_finished());
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Save(Save::Members(_))))
    );
    assert_eq!(node.core.poll_timeout(), None);
}

#[test]
fn quit_gives_up_after_its_grace() {
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    node.send(1, target, "bye");
    node.cmd(2, Command::Quit);
    assert_eq!(node.core.poll_timeout(), Some(node.now.at + QUIT_GRACE));
    let out = node.advance(QUIT_GRACE);
    assert_eq!(sent(&out), vec![(Some(1), vec![], vec!["bob".into()])]);
    assert!(node.core.is_finished());
}

#[test]
fn the_member_cache_is_written_once_per_burst() {
    let mut node = in_a_group();
    node.advance(Duration::from_secs(1));
    for (version, online) in [(2, false), (3, true), (4, false)] {
        let change = if online {
            MemberChange::Online {
                member: listed("bob", 4001, true),
            }
        } else {
            MemberChange::Offline { name: name("bob") }
        };
        let out = node.push(TrackerToPeer::MemberUpdate {
            group: group("g"),
            version,
            change,
        });
        let saves = out.iter().filter(|o| matches!(o, Output::Save(_))).count();
        // The first change after a quiet second is written at once; the rest wait.
        assert_eq!(saves, usize::from(version == 2), "version {version}");
    }
    let due = node.core.poll_timeout().expect("a save is due");
    let out = node.advance(due - node.now.at);
    let saves: Vec<&Output> = out
        .iter()
        .filter(|o| matches!(o, Output::Save(_)))
        .collect();
    assert!(
        matches!(saves[..], [Output::Save(Save::Members(_))]),
        "{out:?}"
    );
}

#[test]
fn a_file_that_cannot_be_saved_is_reported_once() {
    let mut node = Node::online("alice", &[]);
    let failed = || Input::Saved {
        file: DataFile::Members,
        result: Err("cannot save members.json: denied".into()),
    };
    let out = node.input(failed());
    assert_eq!(errors(&out), vec![(ErrorCode::Io, None)]);
    assert!(node.input(failed()).is_empty());
}

#[test]
fn blocked_peers_are_acked_quietly() {
    let mut node = in_a_group();
    let out = node.cmd(1, Command::Block(name("bob")));
    assert!(matches!(
        &events(&out)[..],
        [Event::Blocked { blocked: true, .. }]
    ));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Save(Save::Blocked(_))))
    );
    let bob = identity_for("bob");
    let (conn, out) = node.inbound(1, "bob", bob.public_key());
    assert!(out.contains(&Output::Accept { conn }));
    let msg = chat_message("bob", 1, Some("g"), "spam");
    let out = node.frame(conn, chat_frame(&bob, msg));
    assert!(events(&out).is_empty());
    assert!(matches!(&frames(&out, conn)[..], [PeerFrame::Ack { .. }]));
    // Bob going offline is not announced, but the list a script keeps stays right.
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 2,
        change: MemberChange::Offline { name: name("bob") },
    });
    let [
        Event::Members {
            members: Some(list),
            change: None,
            ..
        },
    ] = &events(&out)[..]
    else {
        panic!("{out:?}")
    };
    assert!(list.iter().any(|m| m.name == name("bob") && !m.online));
    let out = node.cmd(2, Command::Unblock(name("bob")));
    assert!(matches!(
        &events(&out)[..],
        [Event::Blocked { blocked: false, .. }]
    ));
    let out = node.cmd(3, Command::Unblock(name("bob")));
    assert_eq!(errors(&out), vec![(ErrorCode::NotBlocked, Some(3))]);
}

#[test]
fn a_private_message_to_someone_offline_asks_the_tracker_first() {
    let mut node = in_a_group();
    let target = Target::Peer(name("dave"));
    let out = node.send(4, target, "hi");
    let asked = to_tracker(&out);
    assert!(matches!(&asked[..], [PeerToTracker::Lookup { .. }]));
    assert!(dials(&out).is_empty());
    let answer = TrackerToPeer::LookupResult {
        name: name("dave"),
        member: Some(listed("dave", 4009, true)),
        req: tracker_req(&asked[0]),
    };
    let out = node.push(answer);
    assert_eq!(dials(&out)[0].1, addr(4009));
    assert_eq!(notices(&out)[0].req, Some(4));
    // Unknown to the tracker.
    let target = Target::Peer(name("nobody"));
    let out = node.send(5, target, "hi");
    let answer = TrackerToPeer::LookupResult {
        name: name("nobody"),
        member: None,
        req: tracker_req(&to_tracker(&out)[0]),
    };
    let out = node.push(answer);
    assert_eq!(errors(&out), vec![(ErrorCode::UnknownPeer, Some(5))]);
    // Known but offline (carol, in the cached list): the tracker says so too.
    let target = Target::Peer(name("carol"));
    let out = node.send(6, target, "hi");
    let answer = TrackerToPeer::LookupResult {
        name: name("carol"),
        member: Some(listed("carol", 4002, false)),
        req: tracker_req(&to_tracker(&out)[0]),
    };
    let out = node.push(answer);
    assert_eq!(errors(&out), vec![(ErrorCode::PeerOffline, Some(6))]);
}

#[test]
fn idle_connections_close_and_busy_ones_stay() {
    let mut node = in_a_group();
    let target = Target::Peer(name("bob"));
    let out = node.send(1, target, "hi");
    let (conn, id) = (dials(&out)[0].0, sending_id(&out));
    node.hello(conn, "bob");
    node.frame(conn, PeerFrame::Ack { id });
    let idle = connections::IDLE_TIMEOUT;
    assert_eq!(node.core.poll_timeout(), Some(node.now.at + idle));
    let out = node.advance(idle);
    assert_eq!(closed(&out), vec![(conn, None)]);
    assert_eq!(node.core.poll_timeout(), None);
}

mod random {
    //! Random input sequences: whatever arrives in whatever order, the core never panics,
    //! every message it announced settles exactly once, and nothing grows without bound.

    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        SendGroup,
        SendPeer(u8),
        SendAddr(u16),
        /// A hello on the n-th connection we know of, as one of the peers.
        Hello(u8, u8),
        Ack(u8, u8),
        Nack(u8, u8),
        Ended(u8),
        Inbound(u8, u8),
        Chat(u8, u8, u16),
        Member(u8, bool, u64),
        TrackerDown,
        TrackerUp,
        LookupAnswer(u8, bool),
        Advance(u16),
        Quit,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::SendGroup),
            any::<u8>().prop_map(Op::SendPeer),
            (4000u16..4010).prop_map(Op::SendAddr),
            (any::<u8>(), any::<u8>()).prop_map(|(c, p)| Op::Hello(c, p)),
            (any::<u8>(), any::<u8>()).prop_map(|(c, m)| Op::Ack(c, m)),
            (any::<u8>(), any::<u8>()).prop_map(|(c, m)| Op::Nack(c, m)),
            any::<u8>().prop_map(Op::Ended),
            (any::<u8>(), any::<u8>()).prop_map(|(n, p)| Op::Inbound(n, p)),
            (any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(c, p, s)| Op::Chat(c, p, s)),
            (any::<u8>(), any::<bool>(), 1u64..8).prop_map(|(p, o, v)| Op::Member(p, o, v)),
            Just(Op::TrackerDown),
            Just(Op::TrackerUp),
            (any::<u8>(), any::<bool>()).prop_map(|(p, k)| Op::LookupAnswer(p, k)),
            (0u16..15_000).prop_map(Op::Advance),
            Just(Op::Quit),
        ]
    }

    const PEERS: [&str; 4] = ["bob", "carol", "dave", "mallory"];

    fn pick<T: Copy>(items: &[T], i: u8) -> Option<T> {
        (!items.is_empty()).then(|| items[usize::from(i) % items.len()])
    }

    /// What the core's outputs showed so far.
    #[derive(Default)]
    struct Seen {
        conns: Vec<ConnId>,
        ids: Vec<(ConnId, MessageId)>,
        announced: HashSet<MessageId>,
        settled: HashMap<MessageId, usize>,
        lookups: Vec<Option<RequestId>>,
    }

    impl Seen {
        fn observe(&mut self, out: &[Output]) {
            for o in out {
                match o {
                    Output::Dial { conn, .. } => self.conns.push(*conn),
                    Output::Send { conn, frame } => {
                        if let PeerFrame::Chat(c) = &**frame {
                            self.ids.push((*conn, c.message.id.clone()));
                        }
                    }
                    Output::Tracker(t @ PeerToTracker::Lookup { .. }) => {
                        self.lookups.push(tracker_req(t));
                    }
                    Output::Notice(Notice {
                        event: Event::Sending { id, .. },
                        ..
                    }) => {
                        assert!(self.announced.insert(id.clone()), "announced twice: {id}");
                    }
                    Output::Notice(Notice {
                        event: Event::Sent { id, .. },
                        ..
                    }) => *self.settled.entry(id.clone()).or_default() += 1,
                    _ => {}
                }
            }
        }
    }

    /// Runs `ops` and checks the invariants.
    fn run(ops: Vec<Op>) {
        let mut node = in_a_group();
        let mut seen = Seen::default();
        let mut req = 0;
        for op in ops {
            req += 1;
            let out = match op {
                Op::SendGroup => {
                    let target = Target::Group(group("g"));
                    node.send(req, target, "x")
                }
                Op::SendPeer(p) => {
                    let target = Target::Peer(name(PEERS[usize::from(p) % PEERS.len()]));
                    node.send(req, target, "x")
                }
                Op::SendAddr(port) => {
                    let target = Target::Addr(addr(port));
                    node.send(req, target, "x")
                }
                Op::Hello(c, p) => match pick(&seen.conns, c) {
                    Some(conn) => {
                        let who = PEERS[usize::from(p) % PEERS.len()];
                        let hello = ConnEvent::Hello {
                            listen: None,
                            name: name(who),
                            key: key_of(who),
                        };
                        node.conn(conn, hello)
                    }
                    None => vec![],
                },
                Op::Ack(c, m) | Op::Nack(c, m) => match pick(&seen.conns, c) {
                    Some(conn) if !seen.ids.is_empty() => {
                        let id = seen.ids[usize::from(m) % seen.ids.len()].1.clone();
                        let frame = if matches!(op, Op::Ack(..)) {
                            PeerFrame::Ack { id }
                        } else {
                            PeerFrame::Nack {
                                id,
                                code: natter_protocol::ErrorCode::Refused,
                                message: "no".into(),
                            }
                        };
                        node.frame(conn, frame)
                    }
                    _ => vec![],
                },
                Op::Ended(c) => match pick(&seen.conns, c) {
                    Some(conn) => {
                        let ended = ConnEvent::Ended {
                            reason: "gone".into(),
                            parting: None,
                        };
                        node.conn(conn, ended)
                    }
                    None => vec![],
                },
                Op::Inbound(n, p) => {
                    let who = PEERS[usize::from(p) % PEERS.len()];
                    let (conn, out) = node.inbound(u64::from(n), who, key_of(who));
                    seen.conns.push(conn);
                    out
                }
                Op::Chat(c, p, seq) => match pick(&seen.conns, c) {
                    Some(conn) => {
                        let who = PEERS[usize::from(p) % PEERS.len()];
                        let msg = chat_message(who, u64::from(seq), Some("g"), "y");
                        node.frame(conn, chat_frame(&identity_for(who), msg))
                    }
                    None => vec![],
                },
                Op::Member(p, online, version) => {
                    let who = PEERS[usize::from(p) % PEERS.len()];
                    let change = if online {
                        MemberChange::Online {
                            member: listed(who, 4001 + u16::from(p % 4), true),
                        }
                    } else {
                        MemberChange::Offline { name: name(who) }
                    };
                    node.push(TrackerToPeer::MemberUpdate {
                        group: group("g"),
                        version,
                        change,
                    })
                }
                Op::TrackerDown => node.tracker(TrackerInput::Disconnected {
                    reason: "down".into(),
                }),
                Op::TrackerUp => node.tracker(TrackerInput::Connected),
                Op::LookupAnswer(p, known) => {
                    let who = PEERS[usize::from(p) % PEERS.len()];
                    let member = known.then(|| listed(who, 4001 + u16::from(p % 4), true));
                    let req = seen.lookups.pop().flatten();
                    node.push(TrackerToPeer::LookupResult {
                        name: name(who),
                        member,
                        req,
                    })
                }
                Op::Advance(ms) => node.advance(Duration::from_millis(u64::from(ms))),
                Op::Quit => node.cmd(req, Command::Quit),
            };
            seen.observe(&out);
            // Bounded: nothing waits beyond what was sent, nobody connects beyond who exists.
            assert!(node.core.outbox.len() <= seen.announced.len());
            assert!(node.core.conns.ids().len() <= seen.conns.len());
        }
        // Long after everything: every announced message settled exactly once.
        for _ in 0..4 {
            let out = node.advance(Duration::from_secs(3600));
            seen.observe(&out);
        }
        for id in &seen.announced {
            let times = seen.settled.get(id);
            assert_eq!(times, Some(&1), "{id} settled {times:?} times");
        }
        assert!(node.core.outbox.is_empty());
        assert!(node.core.lookups.is_empty());
        assert!(node.core.conns.ids().is_empty(), "idle connections close");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_input_sequence_settles_every_message(ops in prop::collection::vec(op(), 0..60)) {
            run(ops);
        }
    }
}
