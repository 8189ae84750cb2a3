//! Random input sequences: whatever arrives in whatever order (and whichever store writes
//! fail), the core never panics; nothing is announced before it is stored, and nothing
//! shown before it is stored or shown twice; every message it announced gets one `sent`,
//! and each recipient one outcome; and nothing grows without bound.

use std::collections::{HashMap, HashSet};

use natter_protocol::testkit::build::private_chat;
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    SendGroup,
    SendPeer(u8),
    SendAddr(u16),
    /// A group message whose store write fails.
    SendUnstored,
    /// A hello on the n-th connection we know of, as one of the peers (on one we dialled
    /// demanding a key: as the peer with that key, as the handshake ensures).
    Hello(u8, u8),
    /// The n-th connection met another key than the one it was dialled for.
    KeyMismatch(u8),
    Ack(u8, u8),
    Nack(u8, u8),
    Ended(u8),
    /// A connection someone opened to us, as one of the peers.
    Inbound(u8),
    Chat(u8, u8, u16),
    Private(u8, u8, u16),
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
        Just(Op::SendUnstored),
        (any::<u8>(), any::<u8>()).prop_map(|(c, p)| Op::Hello(c, p)),
        any::<u8>().prop_map(Op::KeyMismatch),
        (any::<u8>(), any::<u8>()).prop_map(|(c, m)| Op::Ack(c, m)),
        (any::<u8>(), any::<u8>()).prop_map(|(c, m)| Op::Nack(c, m)),
        any::<u8>().prop_map(Op::Ended),
        any::<u8>().prop_map(Op::Inbound),
        (any::<u8>(), any::<u8>(), 1u16..20).prop_map(|(c, p, s)| Op::Chat(c, p, s)),
        (any::<u8>(), any::<u8>(), 1u16..20).prop_map(|(c, p, s)| Op::Private(c, p, s)),
        (any::<u8>(), any::<bool>(), 1u64..8).prop_map(|(p, o, v)| Op::Member(p, o, v)),
        Just(Op::TrackerDown),
        Just(Op::TrackerUp),
        (any::<u8>(), any::<bool>()).prop_map(|(p, k)| Op::LookupAnswer(p, k)),
        (0u16..15_000).prop_map(Op::Advance),
        Just(Op::Quit),
    ]
}

const PEERS: [&str; 4] = ["bob", "carol", "dave", "mallory"];

fn peer(p: u8) -> &'static str {
    PEERS[usize::from(p) % PEERS.len()]
}

fn pick<T: Copy>(items: &[T], i: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(i) % items.len()])
}

/// What the core's outputs showed so far.
#[derive(Default)]
struct Seen {
    /// Every connection, with the key it was dialled to demand.
    conns: Vec<(ConnId, Option<PublicKey>)>,
    ids: Vec<(ConnId, MessageId)>,
    announced: HashSet<MessageId>,
    settled: HashMap<MessageId, usize>,
    /// Each recipient's outcomes of each message (delivered or failed, in `sent` or
    /// later), and who was left pending.
    outcomes: HashMap<(MessageId, String), usize>,
    pending: HashSet<(MessageId, String)>,
    shown: HashSet<MessageId>,
    lookups: Vec<Option<RequestId>>,
}

impl Seen {
    fn observe(&mut self, out: &[Output], store: &FakeStore) {
        for o in out {
            match o {
                Output::Dial { conn, expect, .. } => self.conns.push((*conn, *expect)),
                Output::Send { conn, frame } => {
                    if let PeerFrame::Chat(c) = &**frame {
                        self.ids.push((*conn, c.message.id.clone()));
                    }
                }
                Output::Tracker(t @ PeerToTracker::Lookup { .. }) => {
                    self.lookups.push(tracker_req(t));
                }
                Output::Notice(Notice { event, .. }) => self.event(event, store),
                _ => {}
            }
        }
    }

    fn event(&mut self, event: &Event, store: &FakeStore) {
        let stored = |id: &MessageId| store.stored().iter().any(|c| &c.message.id == id);
        match event {
            Event::Sending { id, .. } => {
                assert!(stored(id), "announced before it was stored: {id}");
                assert!(self.announced.insert(id.clone()), "announced twice: {id}");
            }
            Event::Sent {
                id,
                delivered,
                failed,
                pending,
            } => {
                *self.settled.entry(id.clone()).or_default() += 1;
                for to in delivered.iter().chain(failed) {
                    self.outcome(id, to);
                }
                for to in pending {
                    self.pending.insert((id.clone(), to.clone()));
                }
            }
            Event::Delivered { id, to } | Event::Failed { id, to, .. } => {
                // Only for a recipient the `sent` event left pending.
                assert!(
                    self.pending.contains(&(id.clone(), to.to_string())),
                    "an outcome for {to} of {id}, not pending after its sent event"
                );
                self.outcome(id, to.as_str());
            }
            Event::Message { id, .. } => {
                assert!(stored(id), "shown before it was stored: {id}");
                assert!(self.shown.insert(id.clone()), "shown twice: {id}");
            }
            _ => {}
        }
    }

    fn outcome(&mut self, id: &MessageId, to: &str) {
        let times = self
            .outcomes
            .entry((id.clone(), to.to_owned()))
            .or_default();
        *times += 1;
        assert_eq!(*times, 1, "{to} got {id} settled twice");
    }
}

/// Runs `ops` and checks the invariants.
fn run(ops: Vec<Op>) {
    let mut node = in_a_group();
    let mut seen = Seen::default();
    let mut req = 0;
    let mut quit = false;
    for op in ops {
        req += 1;
        let out = match op {
            Op::SendGroup => node.send(req, Target::Group(group("g")), "x"),
            Op::SendPeer(p) => node.send(req, Target::Peer(name(peer(p))), "x"),
            Op::SendAddr(port) => node.send(req, Target::Addr(addr(port)), "x"),
            Op::SendUnstored => {
                node.store.hold = true;
                let mut out = node.send(req, Target::Group(group("g")), "x");
                out.extend(node.fail_writes("disk full"));
                node.store.hold = false;
                out.extend(node.commit());
                assert!(
                    !events(&out)
                        .iter()
                        .any(|e| matches!(e, Event::Sending { .. })),
                    "announced though not stored: {out:?}"
                );
                out
            }
            Op::Hello(c, p) => match pick(&seen.conns, c) {
                Some((conn, expect)) => {
                    let who = PEERS
                        .into_iter()
                        .find(|who| Some(key_of(who)) == expect)
                        .unwrap_or(peer(p));
                    node.hello(conn, who)
                }
                None => vec![],
            },
            Op::KeyMismatch(c) => match pick(&seen.conns, c) {
                Some((conn, Some(_))) => {
                    let presented = key_of("impostor");
                    node.conn(conn, ConnEvent::KeyMismatch { presented })
                }
                _ => vec![],
            },
            Op::Ack(c, m) | Op::Nack(c, m) => match pick(&seen.conns, c) {
                Some((conn, _)) if !seen.ids.is_empty() => {
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
                Some((conn, _)) => node.ended(conn, "gone"),
                None => vec![],
            },
            Op::Inbound(p) => {
                let who = peer(p);
                let n = u64::try_from(seen.conns.len()).unwrap_or(u64::MAX);
                let (conn, out) = node.inbound(n, who, key_of(who));
                seen.conns.push((conn, None));
                out
            }
            Op::Chat(c, p, seq) => match pick(&seen.conns, c) {
                Some((conn, _)) => {
                    let who = peer(p);
                    let msg = chat_message(who, u64::from(seq), Some("g"), "y");
                    node.frame(conn, chat_frame(&identity_for(who), msg))
                }
                None => vec![],
            },
            Op::Private(c, p, seq) => match pick(&seen.conns, c) {
                Some((conn, _)) => {
                    let who = peer(p);
                    let chat = private_chat(
                        &identity_for(who),
                        who,
                        u64::from(seq),
                        key_of("alice"),
                        "z",
                    );
                    node.frame(conn, PeerFrame::Chat(chat))
                }
                None => vec![],
            },
            Op::Member(p, online, version) => {
                let who = peer(p);
                let change = if online {
                    MemberChange::Online {
                        member: listed(who, 4001 + u16::from(p % 4), true),
                    }
                } else {
                    MemberChange::Offline {
                        name: name(who),
                        last_seen: None,
                    }
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
                let who = peer(p);
                let member = known.then(|| listed(who, 4001 + u16::from(p % 4), true));
                let req = seen.lookups.pop().flatten();
                node.push(TrackerToPeer::LookupResult {
                    name: name(who),
                    member,
                    req,
                })
            }
            Op::Advance(ms) => node.advance(Duration::from_millis(u64::from(ms))),
            Op::Quit => {
                quit = true;
                node.cmd(req, Command::Quit)
            }
        };
        seen.observe(&out, &node.store);
        // Every job was answered: nothing waits on the store (but delivery records, held
        // back a moment to share a transaction).
        assert!(node.core.unstored.is_empty() && node.core.incoming.is_empty());
        let records_due = node.core.storing.records_due();
        assert!(records_due.is_none_or(|at| at <= node.now.at + RECORD_DELAY));
        // Bounded: nobody waits beyond whom we could send to, nobody connects beyond who
        // exists.
        assert!(node.core.outbox.recipients().len() <= PEERS.len() + 10);
        assert!(node.core.conns.ids().len() <= seen.conns.len());
    }
    // Long after everything, and past every message's expiry: every announced message
    // had one `sent`, and (unless /quit stopped the node) every pending recipient one
    // outcome.
    for by in [3600, 3600, EXPIRE_AFTER.as_secs(), 3600] {
        let out = node.advance(Duration::from_secs(by));
        seen.observe(&out, &node.store);
    }
    assert!(node.core.storing.is_idle());
    for id in &seen.announced {
        let times = seen.settled.get(id);
        assert_eq!(times, Some(&1), "{id} settled {times:?} times");
    }
    if !quit {
        for (id, to) in &seen.pending {
            let key = (id.clone(), to.clone());
            assert_eq!(seen.outcomes.get(&key), Some(&1), "{to} never settled {id}");
        }
        assert!(node.core.outbox.is_empty());
    }
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
