//! The outbox: our messages on their way, per recipient key, until each recipient has
//! acknowledged or been given up.
//!
//! A message is taken as soon as it is numbered and signed, while its store write is still
//! on its way; it goes out only once its seq is at most [`Outbox::set_sendable`]'s bound
//! (the core's: stored, or reserved in the store, see `numbering.rs`).
//!
//! Pure bookkeeping, no I/O. Every recipient has a [`Queue`] of our messages it still lacks,
//! in seq order. When a connection to it is open, the queue's unsent messages go out on it
//! in order (a bounded window in flight); an ack takes a message off, a lost connection puts
//! what was in flight back and schedules a retry (capped exponential backoff with jitter),
//! a nack or the expiry gives the recipient up for that message. A message is sent to one
//! recipient at most once per connection, in order, so a recipient sees an author's
//! messages in order, and its store drops the copies a retry brings twice.
//!
//! Each message also has a first round: the `sent` event is due once every recipient has
//! acknowledged, refused, or turned out unreachable for now (then it is `pending`, and a
//! later ack is a `delivered` event).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_protocol::peer::{MessageId, PeerFrame};
use natter_protocol::{Name, PublicKey, RequestId};

use super::ConnId;

/// Messages in flight to one recipient at once (acks free the window).
pub const WINDOW: usize = 256;
/// The first retry waits about this long; each next one twice as long, up to [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_millis(250);
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// How many messages may wait, per recipient and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_recipient: usize,
    pub total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_recipient: 10_000,
            total: 100_000,
        }
    }
}

/// Where one of our messages goes, as the outbox learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub key: PublicKey,
    pub name: Name,
    /// Where it was last known to listen.
    pub addr: Option<SocketAddr>,
    /// False when a member list says it is offline (then only its coming online, or its
    /// connecting to us, retries).
    pub online: bool,
}

/// What a change means for the front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Every recipient answered or was found unreachable for now: the `sent` event.
    Sent {
        req: Option<RequestId>,
        id: MessageId,
        delivered: Vec<String>,
        failed: Vec<String>,
        pending: Vec<String>,
    },
    /// A recipient acknowledged after the `sent` event.
    Delivered { id: MessageId, to: Name },
    /// A recipient will never get the message.
    Failed {
        req: Option<RequestId>,
        id: MessageId,
        to: Name,
        reason: String,
        /// Whether the `sent` event is still to come (the failure is then in it as well).
        in_first_round: bool,
        /// The recipient refused it (rather than it expiring or being given up).
        refused: bool,
    },
}

impl Progress {
    /// The message it is about.
    pub fn id(&self) -> &MessageId {
        match self {
            Self::Sent { id, .. } | Self::Delivered { id, .. } | Self::Failed { id, .. } => id,
        }
    }
}

/// Why a recipient will not get a message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// It said no (a nack).
    Refused(String),
    /// Expired, or given up on (its key was replaced).
    GivenUp(String),
}

/// A change the store must record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Delivered {
        seq: u64,
        to: PublicKey,
    },
    Failed {
        seq: u64,
        to: PublicKey,
        reason: String,
    },
}

/// What the outbox asks of the core after a change.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    pub progress: Vec<Progress>,
    pub records: Vec<Record>,
}

impl Effects {
    fn merge(&mut self, other: Effects) {
        self.progress.extend(other.progress);
        self.records.extend(other.records);
    }
}

#[derive(Debug)]
struct FirstRound {
    open: HashSet<PublicKey>,
    delivered: Vec<String>,
    failed: Vec<String>,
    pending: Vec<String>,
}

#[derive(Debug)]
struct Message {
    req: Option<RequestId>,
    id: MessageId,
    frame: Arc<PeerFrame>,
    /// Unix milliseconds.
    expires_at: u64,
    /// Recipients still to acknowledge.
    waiting: HashSet<PublicKey>,
    /// `None` once the `sent` event went out (or for a message found at start).
    first: Option<FirstRound>,
}

/// One recipient's messages.
#[derive(Debug)]
struct Queue {
    name: Name,
    addr: Option<SocketAddr>,
    online: bool,
    /// Seqs not acknowledged yet, in order.
    seqs: BTreeSet<u64>,
    /// The connection they go out on, once open.
    conn: Option<ConnId>,
    /// A connection being opened for this queue.
    dialling: Option<ConnId>,
    /// Seqs sent on `conn` and not answered yet, with when they went.
    in_flight: HashMap<u64, Instant>,
    /// The highest seq sent on `conn` (the next to send is after it).
    sent_upto: u64,
    /// Failed attempts since the last success.
    attempts: u32,
    /// No dial before this.
    retry_at: Option<Instant>,
}

impl Queue {
    fn new(dest: &Dest) -> Self {
        Self {
            name: dest.name.clone(),
            addr: dest.addr,
            online: dest.online,
            seqs: BTreeSet::new(),
            conn: None,
            dialling: None,
            in_flight: HashMap::new(),
            sent_upto: 0,
            attempts: 0,
            retry_at: None,
        }
    }

    /// Whether a dial (or the use of an open connection) may start now.
    fn may_dial(&self, now: Instant) -> bool {
        self.conn.is_none()
            && self.dialling.is_none()
            && self.online
            && self.addr.is_some()
            && !self.seqs.is_empty()
            && self.retry_at.is_none_or(|at| at <= now)
    }

    /// Whether an open connection may be taken up now (not while backing off).
    fn may_connect(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }
}

/// Our messages on their way.
#[derive(Debug)]
pub struct Outbox {
    limits: Limits,
    messages: HashMap<u64, Message>,
    queues: HashMap<PublicKey, Queue>,
    /// (message, recipient) pairs waiting, in all.
    total: usize,
    /// No seq above this goes out (yet).
    sendable: u64,
    floors: Floors,
}

/// Lower bounds of the times [`Outbox::next_deadline`] is made of, kept as things change
/// so that asking for it (after every input, so after every ack) costs nothing per
/// recipient; [`Outbox::refresh_deadlines`] makes them exact again, on the timer. A bound
/// that is too early only wakes the core once for nothing; one too late would be a missed
/// retry or ack deadline, which is why each only ever moves earlier between refreshes.
#[derive(Debug, Default)]
struct Floors {
    /// At or before the oldest send still in flight.
    sent: Option<Instant>,
    /// At or before the next retry (one already due at the last refresh not counted: it
    /// waits for what makes it possible, an address or presence).
    retry: Option<Instant>,
    /// At or before the earliest expiry, Unix ms.
    expiry: Option<u64>,
}

/// The earlier of `a` and `b`, either absent.
fn earliest<T: Ord>(a: Option<T>, b: T) -> Option<T> {
    Some(match a {
        Some(a) => a.min(b),
        None => b,
    })
}

/// A dial the outbox wants: to `addr`, for `key` (known as `name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialFor {
    pub key: PublicKey,
    pub name: Name,
    pub addr: SocketAddr,
}

impl Outbox {
    /// An outbox that sends every seq it is given until [`Self::set_sendable`] says
    /// otherwise.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            messages: HashMap::new(),
            queues: HashMap::new(),
            total: 0,
            sendable: u64::MAX,
            floors: Floors::default(),
        }
    }

    /// Seqs up to `up_to` may go out; the ones above wait (in order: a recipient never
    /// gets a later one first).
    pub fn set_sendable(&mut self, up_to: u64) {
        self.sendable = up_to;
    }

    /// Forgets message `seq` for every recipient, with no event or record: its store
    /// write failed. A copy already sent may still be acknowledged; that is ignored.
    /// Whether our message `seq` still waits for someone.
    pub fn holds(&self, seq: u64) -> bool {
        self.messages.contains_key(&seq)
    }

    pub fn remove(&mut self, seq: u64) {
        let Some(m) = self.messages.remove(&seq) else {
            return;
        };
        for key in m.waiting {
            if let Some(q) = self.queues.get_mut(&key) {
                if q.seqs.remove(&seq) {
                    self.total = self.total.saturating_sub(1);
                }
                q.in_flight.remove(&seq);
                if q.seqs.is_empty() && q.conn.is_none() && q.dialling.is_none() {
                    self.queues.remove(&key);
                }
            }
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether any message has its `sent` event still to come.
    pub fn in_first_round(&self) -> bool {
        self.messages.values().any(|m| m.first.is_some())
    }

    /// Why a message to `keys` cannot be taken now, if it cannot.
    pub fn refusal(&self, keys: &[PublicKey]) -> Option<String> {
        let total = self.total;
        if total + keys.len() > self.limits.total {
            return Some(format!(
                "the outbox is full ({total} messages wait for their recipients)"
            ));
        }
        keys.iter().find_map(|key| {
            let waiting = self.queues.get(key).map_or(0, |q| q.seqs.len());
            (waiting >= self.limits.per_recipient)
                .then(|| format!("the outbox for it is full ({waiting} messages wait for it)"))
        })
    }

    /// Takes a message for `dests`. `first_round`: for a new message (its `sent` event is
    /// due), the recipients that failed already; `None` for one found in the store at
    /// start. Returns the `sent` event when nobody is left to try.
    pub fn add(
        &mut self,
        (seq, id, req): (u64, MessageId, Option<RequestId>),
        frame: Arc<PeerFrame>,
        expires_at: u64,
        dests: &[Dest],
        first_round: Option<Vec<String>>,
    ) -> Option<Progress> {
        let mut waiting = HashSet::new();
        for dest in dests {
            let q = self
                .queues
                .entry(dest.key)
                .or_insert_with(|| Queue::new(dest));
            q.name = dest.name.clone();
            if dest.addr.is_some() {
                q.addr = dest.addr;
            }
            if q.seqs.insert(seq) {
                self.total += 1;
            }
            waiting.insert(dest.key);
        }
        let first = first_round.map(|failed| FirstRound {
            open: waiting.clone(),
            delivered: Vec::new(),
            failed,
            pending: Vec::new(),
        });
        let message = Message {
            req,
            id,
            frame,
            expires_at,
            waiting,
            first,
        };
        self.messages.insert(seq, message);
        self.floors.expiry = earliest(self.floors.expiry, expires_at);
        let done = self.first_round_done(seq);
        if self
            .messages
            .get(&seq)
            .is_some_and(|m| m.waiting.is_empty())
        {
            self.messages.remove(&seq);
        }
        done
    }

    /// The recipients that have messages waiting.
    pub fn recipients(&self) -> Vec<PublicKey> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.seqs.is_empty())
            .map(|(k, _)| *k)
            .collect()
    }

    /// What we know of where `key` is changed (a member list, a hello): a recipient that
    /// came online is retried at once.
    pub fn presence(&mut self, key: &PublicKey, addr: Option<SocketAddr>, online: bool) {
        if let Some(q) = self.queues.get_mut(key) {
            if addr.is_some() {
                q.addr = addr;
            }
            if online && !q.online {
                q.retry_at = None;
                q.attempts = 0;
            }
            q.online = online;
        }
    }

    /// The recipients to dial now.
    pub fn dials(&self, now: Instant) -> Vec<DialFor> {
        self.queues
            .iter()
            .filter(|(_, q)| q.may_dial(now))
            .filter_map(|(key, q)| {
                Some(DialFor {
                    key: *key,
                    name: q.name.clone(),
                    addr: q.addr?,
                })
            })
            .collect()
    }

    /// A connection to `key` is being opened for it.
    pub fn dialling(&mut self, key: &PublicKey, conn: ConnId) {
        if let Some(q) = self.queues.get_mut(key) {
            q.dialling = Some(conn);
        }
    }

    /// Recipients that cannot be reached right now end their first round as pending.
    pub fn unreachable_now(&mut self, now: Instant) -> Effects {
        let stuck: Vec<PublicKey> = self
            .queues
            .iter()
            .filter(|(_, q)| q.conn.is_none() && q.dialling.is_none() && !q.may_dial(now))
            .map(|(k, _)| *k)
            .collect();
        let mut effects = Effects::default();
        for key in stuck {
            effects.merge(self.deferred(&key));
        }
        effects
    }

    /// A connection to `key` is open: its messages go out on it ([`Self::to_send`]),
    /// unless the queue is backing off (after a "not a member yet" answer on it).
    pub fn connected(&mut self, key: &PublicKey, conn: ConnId, now: Instant) {
        let Some(q) = self.queues.get_mut(key) else {
            return;
        };
        if q.conn != Some(conn) && !q.may_connect(now) {
            return;
        }
        if q.conn != Some(conn) {
            q.conn = Some(conn);
            q.in_flight.clear();
            q.sent_upto = 0;
        }
        if q.dialling == Some(conn) {
            q.dialling = None;
        }
    }

    /// The frames to send now to `key` on its open connection (up to the window), in order.
    pub fn to_send(
        &mut self,
        key: &PublicKey,
        now: Instant,
    ) -> Option<(ConnId, Vec<Arc<PeerFrame>>)> {
        let q = self.queues.get_mut(key)?;
        let conn = q.conn?;
        let room = WINDOW.saturating_sub(q.in_flight.len());
        let from = q.sent_upto.saturating_add(1);
        if from > self.sendable {
            return Some((conn, Vec::new()));
        }
        let next: Vec<u64> = q
            .seqs
            .range(from..=self.sendable)
            .take(room)
            .copied()
            .collect();
        let mut frames = Vec::with_capacity(next.len());
        for seq in next {
            if let Some(m) = self.messages.get(&seq) {
                frames.push(m.frame.clone());
            }
            q.in_flight.insert(seq, now);
            q.sent_upto = seq;
        }
        if !frames.is_empty() {
            self.floors.sent = earliest(self.floors.sent, now);
        }
        Some((conn, frames))
    }

    /// `key` acknowledged our message `seq` on `conn`.
    pub fn acked(&mut self, conn: ConnId, key: &PublicKey, seq: u64) -> Effects {
        let Some(q) = self.queues.get_mut(key) else {
            return Effects::default();
        };
        if q.conn != Some(conn) || q.in_flight.remove(&seq).is_none() {
            return Effects::default();
        }
        q.attempts = 0;
        q.retry_at = None;
        self.settle(key, seq, None)
    }

    /// `key` refused our message `seq` on `conn`: it will never take it.
    pub fn refused(&mut self, conn: ConnId, key: &PublicKey, seq: u64, reason: &str) -> Effects {
        let Some(q) = self.queues.get_mut(key) else {
            return Effects::default();
        };
        if q.conn != Some(conn) || q.in_flight.remove(&seq).is_none() {
            return Effects::default();
        }
        self.settle(key, seq, Some(Failure::Refused(reason.to_owned())))
    }

    /// Gives `key` up for every message waiting for it (a key change, a block).
    pub fn give_up(&mut self, key: &PublicKey, reason: &str) -> Effects {
        let seqs: Vec<u64> = self
            .queues
            .get(key)
            .map(|q| q.seqs.iter().copied().collect())
            .unwrap_or_default();
        let mut effects = Effects::default();
        for seq in seqs {
            effects.merge(self.settle(key, seq, Some(Failure::GivenUp(reason.to_owned()))));
        }
        effects
    }

    /// `conn` is gone (or was never opened): what was in flight on it is retried later.
    pub fn conn_down(&mut self, conn: ConnId, now: Instant, jitter: u64) -> Effects {
        let keys: Vec<PublicKey> = self
            .queues
            .iter()
            .filter(|(_, q)| q.conn == Some(conn) || q.dialling == Some(conn))
            .map(|(k, _)| *k)
            .collect();
        let mut effects = Effects::default();
        for key in keys {
            effects.merge(self.retry_later(&key, now, jitter));
        }
        effects
    }

    /// `conn` is closing as a duplicate: its queues take the connection kept, at once and
    /// without a backoff; what was in flight goes again.
    pub fn moved(&mut self, conn: ConnId) {
        for q in self.queues.values_mut().filter(|q| q.conn == Some(conn)) {
            q.conn = None;
            q.in_flight.clear();
            q.sent_upto = 0;
        }
        for q in self
            .queues
            .values_mut()
            .filter(|q| q.dialling == Some(conn))
        {
            q.dialling = None;
        }
    }

    /// Everything not acknowledged by `key` goes again, in order, after a backoff (its
    /// connection is dropped from the queue; a new one is found or dialled then).
    pub fn retry_later(&mut self, key: &PublicKey, now: Instant, jitter: u64) -> Effects {
        let Some(q) = self.queues.get_mut(key) else {
            return Effects::default();
        };
        q.conn = None;
        q.dialling = None;
        q.in_flight.clear();
        q.sent_upto = 0;
        q.attempts = q.attempts.saturating_add(1);
        let at = now + backoff(q.attempts, jitter);
        q.retry_at = Some(at);
        self.floors.retry = earliest(self.floors.retry, at);
        self.deferred(key)
    }

    /// The connection whose oldest unanswered message has waited past `timeout`, if any:
    /// presumed dead (a half-open connection).
    pub fn silent_conns(&self, now: Instant, timeout: Duration) -> Vec<ConnId> {
        self.queues
            .values()
            .filter(|q| q.in_flight.values().any(|at| *at + timeout <= now))
            .filter_map(|q| q.conn)
            .collect()
    }

    /// Gives up every recipient of every message past its expiry (`now_ms`, Unix ms).
    pub fn expire(&mut self, now_ms: u64) -> Effects {
        let mut late: Vec<(u64, Vec<PublicKey>)> = self
            .messages
            .iter()
            .filter(|(_, m)| m.expires_at <= now_ms)
            .map(|(seq, m)| (*seq, m.waiting.iter().copied().collect()))
            .collect();
        // Reported in the order they were sent.
        late.sort_by_key(|(seq, _)| *seq);
        let mut effects = Effects::default();
        for (seq, keys) in late {
            for key in keys {
                let reason = "not delivered before it expired".to_owned();
                if let Some(q) = self.queues.get_mut(&key) {
                    q.in_flight.remove(&seq);
                }
                effects.merge(self.settle(&key, seq, Some(Failure::GivenUp(reason))));
            }
        }
        effects
    }

    /// At `/quit`: every first round still open ends, its recipients pending (they are
    /// retried after the next start).
    pub fn end_first_rounds(&mut self) -> Effects {
        let keys: Vec<PublicKey> = self.queues.keys().copied().collect();
        let mut effects = Effects::default();
        for key in keys {
            effects.merge(self.deferred(&key));
        }
        effects
    }

    /// The next time something is due: a retry, an ack deadline, an expiry (as an instant,
    /// given `now` and `now_ms` read together). At or before the exact time, and exact
    /// after [`Self::refresh_deadlines`]; costs nothing per recipient.
    pub fn next_deadline(&self, now: Instant, now_ms: u64, timeout: Duration) -> Option<Instant> {
        let acks = self.floors.sent.map(|at| at + timeout);
        // An expiry too far to be an instant is no deadline.
        let expiry = self
            .floors
            .expiry
            .and_then(|at| now.checked_add(Duration::from_millis(at.saturating_sub(now_ms))));
        [self.floors.retry, acks, expiry]
            .into_iter()
            .flatten()
            .min()
    }

    /// Makes [`Self::next_deadline`] exact again (one pass over every recipient and
    /// message): the core calls it on its timer, after acting on what was due.
    pub fn refresh_deadlines(&mut self, now: Instant) {
        self.floors.sent = self
            .queues
            .values()
            .filter_map(|q| q.in_flight.values().min().copied())
            .min();
        self.floors.retry = self
            .queues
            .values()
            .filter(|q| q.conn.is_none() && q.dialling.is_none() && !q.seqs.is_empty())
            .filter_map(|q| q.retry_at)
            // A retry already due waits for what makes it possible (an address, presence).
            .filter(|at| *at > now)
            .min();
        self.floors.expiry = self.messages.values().map(|m| m.expires_at).min();
    }

    /// Recipient `key` is done with `seq`: delivered (`failure` none) or given up.
    fn settle(&mut self, key: &PublicKey, seq: u64, failure: Option<Failure>) -> Effects {
        let mut effects = Effects::default();
        let Some(q) = self.queues.get_mut(key) else {
            return effects;
        };
        if !q.seqs.remove(&seq) {
            return effects;
        }
        self.total = self.total.saturating_sub(1);
        let name = q.name.clone();
        if q.seqs.is_empty() && q.conn.is_none() && q.dialling.is_none() {
            self.queues.remove(key);
        }
        let Some(m) = self.messages.get_mut(&seq) else {
            return effects;
        };
        m.waiting.remove(key);
        // Still in its first round, or found pending in it (then it leaves `pending`).
        let in_first_round = m.first.as_mut().is_some_and(|f| {
            let label = name.to_string();
            f.open.remove(key) || {
                let before = f.pending.len();
                f.pending.retain(|p| *p != label);
                f.pending.len() < before
            }
        });
        match failure {
            None => {
                effects.records.push(Record::Delivered { seq, to: *key });
                match &mut m.first {
                    Some(f) if in_first_round => f.delivered.push(name.to_string()),
                    _ => effects.progress.push(Progress::Delivered {
                        id: m.id.clone(),
                        to: name,
                    }),
                }
            }
            Some(failure) => {
                let (reason, refused) = match failure {
                    Failure::Refused(reason) => (reason, true),
                    Failure::GivenUp(reason) => (reason, false),
                };
                effects.records.push(Record::Failed {
                    seq,
                    to: *key,
                    reason: reason.clone(),
                });
                if let (Some(f), true) = (&mut m.first, in_first_round) {
                    f.failed.push(name.to_string());
                }
                effects.progress.push(Progress::Failed {
                    req: m.req,
                    id: m.id.clone(),
                    to: name,
                    reason,
                    in_first_round,
                    refused,
                });
            }
        }
        effects.progress.extend(self.first_round_done(seq));
        if self
            .messages
            .get(&seq)
            .is_some_and(|m| m.waiting.is_empty())
        {
            self.messages.remove(&seq);
        }
        effects
    }

    /// `key`'s first rounds end as pending: it cannot be reached now.
    fn deferred(&mut self, key: &PublicKey) -> Effects {
        let Some(q) = self.queues.get(key) else {
            return Effects::default();
        };
        let name = q.name.to_string();
        let seqs: Vec<u64> = q.seqs.iter().copied().collect();
        let mut effects = Effects::default();
        for seq in seqs {
            let Some(m) = self.messages.get_mut(&seq) else {
                continue;
            };
            if let Some(f) = &mut m.first
                && f.open.remove(key)
            {
                f.pending.push(name.clone());
                effects.progress.extend(self.first_round_done(seq));
            }
        }
        effects
    }

    /// The `sent` event of `seq`, if its first round just ended.
    fn first_round_done(&mut self, seq: u64) -> Option<Progress> {
        let m = self.messages.get_mut(&seq)?;
        if !m.first.as_ref().is_some_and(|f| f.open.is_empty()) {
            return None;
        }
        let mut f = m.first.take()?;
        f.delivered.sort();
        f.failed.sort();
        f.pending.sort();
        Some(Progress::Sent {
            req: m.req,
            id: m.id.clone(),
            delivered: f.delivered,
            failed: f.failed,
            pending: f.pending,
        })
    }
}

/// The wait before retry number `attempts` (1 = the first retry): doubling from
/// [`RETRY_MIN`] up to [`RETRY_MAX`], the upper half of it drawn at random from `jitter`
/// (so recipients that failed together are not retried together).
pub fn backoff(attempts: u32, jitter: u64) -> Duration {
    let doubling = RETRY_MIN.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    let full = doubling.min(RETRY_MAX);
    let half = full / 2;
    let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_millis(jitter % spread)
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
