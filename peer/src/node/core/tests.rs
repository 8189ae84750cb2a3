//! Unit tests of the core: inputs with an explicit time in, outputs checked. No sockets,
//! no tasks, no clock, no disk: the store is a small in-memory model that answers every
//! job (`fake_store`), so each test runs in microseconds.

mod actions;
mod doctor;
mod durable;
mod fake_store;
mod governing;
mod keys;
mod presence;
mod random;
mod retries;
mod search;
mod sending;
mod sync;
mod unverified;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_protocol::peer::{MessageId, PeerFrame};
use natter_protocol::testkit::{chat_frame, chat_message, group, identity_for, member_at, name};
use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{GroupName, PROTOCOL_VERSION, PublicKey, RequestId};

use super::key_checks::KEY_CHECK_TIMEOUT;
use super::outbox::{RETRY_MAX, RETRY_MIN};
use super::storing::RECORD_DELAY;
use super::*;
use crate::node::api::{About, ErrorCode, Target};
use crate::node::members::{GroupList, MemberCache};
use crate::node::store::{Job, Read, Write};
use fake_store::FakeStore;

const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a message waits for a recipient in these tests.
const EXPIRE_AFTER: Duration = Duration::from_secs(24 * 3600);

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

/// One core under test, with its own clock and store.
struct Node {
    core: Core,
    now: Now,
    store: FakeStore,
}

impl Node {
    /// `who`, with `groups` cached (group name → members), not yet told about the tracker.
    fn new(who: &str, groups: &[(&str, Vec<Member>)]) -> Self {
        Self::with(who, groups, |_| {})
    }

    /// [`Self::new`], its setup changed by `tweak` first (what the store held, limits).
    fn with(who: &str, groups: &[(&str, Vec<Member>)], tweak: impl FnOnce(&mut Setup)) -> Self {
        let cache: BTreeMap<GroupName, GroupList> = groups
            .iter()
            .map(|(g, members)| {
                let list = GroupList {
                    version: 1,
                    members: members.clone().into(),
                    topic: None,
                    private: false,
                };
                (group(g), list)
            })
            .collect();
        let mut setup = Setup {
            name: name(who),
            identity: Arc::new(identity_for(who)),
            tracker_addr: "127.0.0.1:7000".into(),
            listen: addr(4000),
            ack_timeout: ACK_TIMEOUT,
            cache_save_every: Duration::from_millis(500),
            cache: MemberCache::from_groups(cache),
            trust: Default::default(),
            tracker_pins: Default::default(),
            tracker_key: None,
            stored: Default::default(),
            limits: Default::default(),
            expire_after: EXPIRE_AFTER,
            seed: 1,
            warnings: vec![],
            receipts: true,
            typing_notices: true,
        };
        tweak(&mut setup);
        let now = Now {
            at: Instant::now(),
            unix_micros: 1_800_000_000_000_000,
        };
        Self {
            core: Core::new(setup, now),
            now,
            store: FakeStore::default(),
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

    /// Every output up to now. The store's jobs are among them, and are answered (unless
    /// the store holds them), with what the answers cause following.
    fn drain(&mut self) -> Vec<Output> {
        let mut all = Vec::new();
        loop {
            let out: Vec<Output> = std::iter::from_fn(|| self.core.poll_output()).collect();
            if out.is_empty() {
                return all;
            }
            let jobs = jobs(&out);
            all.extend(out);
            self.store.jobs.extend(jobs.iter().cloned());
            if self.store.hold {
                self.store.queued.extend(jobs);
            } else {
                for reply in self.store.answer(jobs) {
                    self.core.handle(self.now, Input::Stored(reply));
                }
            }
        }
    }

    /// Answers the jobs the store held (the writes commit); returns what followed.
    fn commit(&mut self) -> Vec<Output> {
        let held = std::mem::take(&mut self.store.queued);
        for reply in self.store.answer(held) {
            self.core.handle(self.now, Input::Stored(reply));
        }
        self.drain()
    }

    /// Syncs the commits the store held back from the disk (or fails to, with `result`'s
    /// error); returns what followed.
    fn sync(&mut self, result: Result<(), String>) -> Vec<Output> {
        if let Some(reply) = self.store.sync(result) {
            self.core.handle(self.now, Input::Stored(reply));
        }
        self.drain()
    }

    /// Fails the writes the store held, together; returns what followed.
    fn fail_writes(&mut self, error: &str) -> Vec<Output> {
        for reply in self.store.fail_writes(error) {
            self.core.handle(self.now, Input::Stored(reply));
        }
        self.drain()
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

    /// The connection ended (the far side closed, or it failed).
    fn ended(&mut self, conn: ConnId, reason: &str) -> Vec<Output> {
        let reason = reason.to_owned();
        let parting = None;
        self.conn(conn, ConnEvent::Ended { reason, parting })
    }

    /// The delivery records the core holds back to share a transaction, once they go.
    fn records(&mut self) -> Vec<Write> {
        writes(&self.advance(RECORD_DELAY))
    }

    /// Moves the clock on and runs the deadlines.
    fn advance(&mut self, by: Duration) -> Vec<Output> {
        self.now.at += by;
        self.now.unix_micros += u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.core.handle_timeout(self.now);
        self.drain()
    }

    /// Runs every deadline within `by` from now, in turn; returns what they all did.
    fn run_until(&mut self, by: Duration) -> Vec<Output> {
        let end = self.now.at + by;
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let Some(due) = self.core.poll_timeout().filter(|due| *due <= end) else {
                let rest = end.saturating_duration_since(self.now.at);
                out.extend(self.advance(rest));
                return out;
            };
            let step = due.saturating_duration_since(self.now.at);
            out.extend(self.advance(step));
        }
        panic!(
            "a deadline that never passes: {:?}",
            self.core.poll_timeout()
        );
    }

    /// Moves the clock to the core's next deadline (which must be within `within`) and
    /// runs it.
    fn run_deadline(&mut self, within: Duration) -> Vec<Output> {
        let due = self.core.poll_timeout().expect("a deadline");
        assert!(due <= self.now.at + within, "the next deadline is too far");
        let by = due.saturating_duration_since(self.now.at);
        self.advance(by)
    }
}

/// The store's jobs among `out`.
fn jobs(out: &[Output]) -> Vec<Job> {
    out.iter()
        .filter_map(|o| match o {
            Output::Store(job) => Some(job.clone()),
            _ => None,
        })
        .collect()
}

/// The writes among `out`.
/// The writes among `out`, but for number reservations (`reservations` has those; their
/// rules are `numbering.rs`'s and `tests/durable.rs`'s).
fn writes(out: &[Output]) -> Vec<Write> {
    jobs(out)
        .into_iter()
        .filter_map(|j| match j {
            Job::Write(_, Write::ReserveSeqs(_)) | Job::Read(..) => None,
            Job::Write(_, write) => Some(write),
        })
        .collect()
}

/// The number reservations among `out`.
fn reservations(out: &[Output]) -> Vec<u64> {
    jobs(out)
        .into_iter()
        .filter_map(|j| match j {
            Job::Write(_, Write::ReserveSeqs(up_to)) => Some(up_to),
            _ => None,
        })
        .collect()
}

/// The reads among `out`.
fn reads(out: &[Output]) -> Vec<Read> {
    jobs(out)
        .into_iter()
        .filter_map(|j| match j {
            Job::Read(_, read) => Some(read),
            Job::Write(..) => None,
        })
        .collect()
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

/// A `sent` event: its req and whom it was delivered to, failed for and pending for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    req: Option<RequestId>,
    delivered: Vec<String>,
    failed: Vec<String>,
    pending: Vec<String>,
}

impl Sent {
    /// A `sent` for `req` with these recipients.
    fn of(req: RequestId, delivered: &[&str], failed: &[&str], pending: &[&str]) -> Self {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            req: Some(req),
            delivered: names(delivered),
            failed: names(failed),
            pending: names(pending),
        }
    }
}

fn sent(out: &[Output]) -> Vec<Sent> {
    notices(out)
        .into_iter()
        .filter_map(|n| match n.event {
            Event::Sent {
                delivered,
                failed,
                pending,
                ..
            } => Some(Sent {
                req: n.req,
                delivered,
                failed,
                pending,
            }),
            _ => None,
        })
        .collect()
}

/// The `delivered` events: (id, to).
fn delivered(out: &[Output]) -> Vec<(MessageId, String)> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivered { id, to } => Some((id, to.to_string())),
            _ => None,
        })
        .collect()
}

/// The `message` events: (id, text, verified).
fn shown(out: &[Output]) -> Vec<(MessageId, String, bool)> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message {
                id, text, verified, ..
            } => Some((id, text, verified)),
            _ => None,
        })
        .collect()
}

/// The ids of the chat frames sent on `conn`, in order.
fn chat_ids(out: &[Output], conn: ConnId) -> Vec<MessageId> {
    frames(out, conn)
        .into_iter()
        .filter_map(|f| match f {
            PeerFrame::Chat(c) => Some(c.message.id),
            _ => None,
        })
        .collect()
}

fn ack(id: &MessageId) -> PeerFrame {
    PeerFrame::Ack { id: id.clone() }
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
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
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
                change: Some(change),
                owner: None,
                topic: None,
                private: false,
                by: None,
            }
        }]
    );
    // A skipped version: ask for a snapshot instead of guessing.
    let out = node.push(TrackerToPeer::MemberUpdate {
        group: group("g"),
        version: 4,
        change: MemberChange::Offline {
            name: name("bob"),
            last_seen: None,
        },
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
fn the_member_cache_is_written_once_per_burst() {
    let mut node = in_a_group();
    node.advance(Duration::from_secs(1));
    for (version, online) in [(2, false), (3, true), (4, false)] {
        let change = if online {
            MemberChange::Online {
                member: listed("bob", 4001, true),
            }
        } else {
            MemberChange::Offline {
                name: name("bob"),
                last_seen: None,
            }
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
