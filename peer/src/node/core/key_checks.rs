//! Who may speak as a name: the check of every connection's hello, key changes, `/trust`,
//! `/block` and `/unblock`.
//!
//! A hello's name is taken with the handshake's key only when that key is the one pinned
//! for the name, the one a member list holds for it, or the one the tracker binds to it
//! (a look-up, for a name we know nothing about). A hello alone never pins a key: while
//! the look-up is out the connection waits (it writes nothing), and a name the tracker does
//! not know refuses the connection. When the tracker is down, a name we know nothing about
//! is let on unverified (its messages are shown marked so; nothing is pinned), and checked
//! once the tracker is back: a mismatch is then reported as a key change and the
//! connection closed. `/trust NAME` likewise takes only the key the tracker binds to NAME.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use natter_protocol::tracker::Member;
use natter_protocol::{ErrorCode, Name, PublicKey, RequestId};

use super::connections::Opened;
use super::{ConnId, Core, Now, Output};
use crate::node::api::{Event, NodeError, TrackerStatus};
use crate::node::trust::KeyChange;

/// How long a connection waits for the tracker to vouch for a name: inside the far side's
/// wait for our hello (`natter_protocol::net::HELLO_TIMEOUT`, 5 s).
pub const KEY_CHECK_TIMEOUT: Duration = Duration::from_secs(4);
const _: () = assert!(
    KEY_CHECK_TIMEOUT.as_millis() < natter_protocol::net::HELLO_TIMEOUT.as_millis(),
    "a key check must end before the far side stops waiting for our hello"
);
/// Connections waiting for the tracker at once; past it, new ones are refused.
const MAX_WAITING: usize = 256;
/// `/trust` requests waiting for the tracker at once.
const MAX_TRUSTS: usize = 64;

/// A connection waiting for the tracker to say which key a name is bound to.
#[derive(Debug, Clone)]
struct Waiting {
    conn: ConnId,
    key: PublicKey,
    deadline: Instant,
}

/// The connections waiting on one name, and whether the tracker was asked about it yet.
#[derive(Debug, Default)]
struct NameWait {
    asked: bool,
    waiting: Vec<Waiting>,
}

/// Key checks and `/trust` requests waiting for the tracker.
#[derive(Debug, Default)]
pub struct KeyChecks {
    names: HashMap<Name, NameWait>,
    /// `/trust NAME` requests waiting for a look-up: who asked, and until when.
    trusts: HashMap<Name, (Option<RequestId>, Instant)>,
    /// Names and keys already reported as claimed by a stranger.
    wrong_keys: HashSet<(Name, PublicKey)>,
    /// Names let on unverified (the tracker was down), with the key they came with; asked
    /// about once the tracker is back.
    unverified: HashMap<Name, PublicKey>,
}

impl KeyChecks {
    fn waiting(&self) -> usize {
        self.names.values().map(|w| w.waiting.len()).sum()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let conns = self.names.values().flat_map(|w| &w.waiting);
        let trusts = self.trusts.values().map(|(_, at)| *at);
        conns.map(|w| w.deadline).chain(trusts).min()
    }

    /// A connection closed: it waits no more.
    pub fn forget_conn(&mut self, conn: ConnId) {
        for wait in self.names.values_mut() {
            wait.waiting.retain(|w| w.conn != conn);
        }
        self.names.retain(|_, w| !w.waiting.is_empty());
    }

    fn take(&mut self, name: &Name) -> Vec<Waiting> {
        self.names
            .remove(name)
            .map(|w| w.waiting)
            .unwrap_or_default()
    }

    /// Takes every waiting connection, with its name.
    fn take_all(&mut self) -> Vec<(Name, Waiting)> {
        self.names
            .drain()
            .flat_map(|(name, w)| w.waiting.into_iter().map(move |v| (name.clone(), v)))
            .collect()
    }

    /// Takes the connections past their deadline.
    fn take_late(&mut self, now: Instant) -> Vec<Waiting> {
        let mut late = Vec::new();
        for wait in self.names.values_mut() {
            let (gone, kept) = std::mem::take(&mut wait.waiting)
                .into_iter()
                .partition(|w| w.deadline <= now);
            wait.waiting = kept;
            late.extend::<Vec<Waiting>>(gone);
        }
        self.names.retain(|_, w| !w.waiting.is_empty());
        late
    }
}

/// What can be said about a hello without asking anyone.
enum Check {
    Accept,
    Refuse(String),
    AskTracker,
}

/// The refusal text for a connection whose key is not the pinned one.
fn changed(change: &KeyChange) -> String {
    format!(
        "{}'s key changed (pinned {}, presented {}); refused until trusted",
        change.name, change.pinned, change.presented
    )
}

impl Core {
    /// A connection's far side said hello as `name` over a session authenticated as `key`.
    pub(super) fn hello(
        &mut self,
        now: Now,
        conn: ConnId,
        name: Name,
        key: PublicKey,
        listen: Option<std::net::SocketAddr>,
    ) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        // Dialled demanding exactly this key for this name: the handshake vouched for it.
        let vouched = c.dialled_for.as_ref().is_some_and(|(n, _)| n == &name);
        self.conns.checking(conn, name.clone(), key, listen);
        match self.check_now(&name, key, vouched) {
            Check::Accept => self.let_on(conn, &name),
            Check::Refuse(reason) => self.refuse_conn(conn, reason),
            Check::AskTracker => self.wait_for_tracker(now, conn, name, key),
        }
    }

    fn check_now(&mut self, name: &Name, key: PublicKey, vouched: bool) -> Check {
        if name == &self.name && key != self.identity.public_key() {
            return Check::Refuse(format!("{name} is this peer's own name"));
        }
        // A blocked key is let on quietly: what it sends is acknowledged and never shown,
        // and nothing about it is pinned or reported.
        if self.trust.is_blocked(&key) {
            return Check::Accept;
        }
        if vouched {
            // Dialled demanding the key we hold for the name: the handshake proved it.
            return match self.trust.presented(name, key) {
                Ok(()) => Check::Accept,
                Err(change) => {
                    self.key_changed(&change);
                    Check::Refuse(changed(&change))
                }
            };
        }
        let listed = self.cache.find_peer(name).map(|m| m.key);
        match self.trust.pinned(name).or(listed) {
            None => Check::AskTracker,
            Some(known) if known == key => {
                match self.trust.presented_pinning_listed(name, key, listed) {
                    Ok(()) => Check::Accept,
                    Err(change) => Check::Refuse(changed(&change)),
                }
            }
            // The tracker already vouched for this key: the change waits for /trust.
            Some(pinned) if self.trust.pending(name) == Some(key) => Check::Refuse(format!(
                "{name}'s key changed (pinned {pinned}, presented {key}); refused until trusted"
            )),
            // A hello's word is no key change: only the tracker can vouch for a new key.
            // Refused, and nothing is recorded, so a stranger claiming a member's name
            // cannot stop us from talking to the real one.
            Some(known) => {
                self.wrong_key(name, known, key);
                Check::Refuse(format!(
                    "this connection claims to be {name}, whose key is {known}, with {key}"
                ))
            }
        }
    }

    /// Reports a connection that claimed `name` with a key nobody vouched for (once per
    /// name and key, so a stranger cycling keys cannot flood the front end).
    fn wrong_key(&mut self, name: &Name, known: PublicKey, presented: PublicKey) {
        tracing::warn!(%name, %known, %presented, "refused a connection with another key");
        let reported = &mut self.key_checks.wrong_keys;
        if reported.len() >= MAX_WAITING {
            reported.clear();
        }
        if reported.insert((name.clone(), presented)) {
            let name = name.clone();
            self.fail(None, NodeError::WrongKey { name, presented });
        }
    }

    /// Lets a connection on: it starts carrying messages both ways. A peer that says where
    /// it listens is taken to be there (its session proves its key), so our messages for
    /// it go, whoever dialled.
    fn let_on(&mut self, conn: ConnId, name: &Name) {
        let own = self.identity.public_key();
        let opened = self.conns.open(conn, &own);
        self.out.push_back(Output::Accept { conn });
        let now = self.now;
        if let Some(c) = self.conns.get(conn)
            && let Some((_, key)) = c.peer.clone()
            && !c.unverified
        {
            let listen = c.listen;
            if let Some(addr) = listen {
                self.cache.seen_at(&key, addr);
            }
            self.outbox.presence(&key, listen, true);
            self.contact_made(key, now.at);
        }
        self.deliver_due = true;
        self.addr_conn_open(now, conn);
        tracing::trace!(%conn, %name, "let on");
        if let Opened::Duplicate {
            draining: Some(dup),
        } = opened
        {
            self.close_if_drained(dup);
        }
    }

    fn refuse_conn(&mut self, conn: ConnId, reason: String) {
        tracing::warn!(%conn, %reason, "refused a connection");
        let parting = (ErrorCode::Unauthorized, reason.clone());
        self.conn_down(conn, &reason, Some(parting));
    }

    fn wait_for_tracker(&mut self, now: Now, conn: ConnId, name: Name, key: PublicKey) {
        if self.key_checks.waiting() >= MAX_WAITING {
            let why = "too many connections are waiting for the tracker";
            return self.refuse_conn(conn, format!("cannot verify {name}'s key: {why}"));
        }
        if self.tracker.status == Some(TrackerStatus::Disconnected) {
            return self.let_on_unverified(conn, name, key);
        }
        let deadline = now.at + KEY_CHECK_TIMEOUT;
        let waiting = Waiting {
            conn,
            key,
            deadline,
        };
        self.key_checks
            .names
            .entry(name)
            .or_default()
            .waiting
            .push(waiting);
        self.ask_about_waiting();
    }

    /// Asks the tracker about every name a connection waits on and it was not asked about
    /// yet (once it is connected; until the first attempt settles they wait).
    pub(super) fn ask_about_waiting(&mut self) {
        if !self.tracker_up() {
            return;
        }
        let unasked: Vec<Name> = self
            .key_checks
            .names
            .iter()
            .filter(|(_, w)| !w.asked)
            .map(|(n, _)| n.clone())
            .collect();
        for name in unasked {
            self.look_up(None, &name);
            if let Some(w) = self.key_checks.names.get_mut(&name) {
                w.asked = true;
            }
        }
    }

    /// The tracker cannot vouch for `name` now: the connection is let on unverified, and
    /// the name checked once the tracker is back.
    fn let_on_unverified(&mut self, conn: ConnId, name: Name, key: PublicKey) {
        if self.key_checks.unverified.len() >= MAX_WAITING
            && !self.key_checks.unverified.contains_key(&name)
        {
            let why = "too many unverified peers";
            return self.refuse_conn(conn, format!("cannot verify {name}'s key: {why}"));
        }
        // One unverified key per name: a second one is someone else using the name.
        if let Some(first) = self.key_checks.unverified.get(&name)
            && *first != key
        {
            let why = format!("another key ({first}) already speaks as {name} here");
            return self.refuse_conn(conn, format!("cannot verify {name}'s key: {why}"));
        }
        tracing::info!(%name, %key, %conn, "let on unverified: the tracker is down");
        self.key_checks.unverified.insert(name.clone(), key);
        self.conns.set_unverified(conn, true);
        self.let_on(conn, &name);
    }

    /// Asks the tracker about every name let on unverified.
    pub(super) fn check_unverified(&mut self) {
        let names: Vec<Name> = self.key_checks.unverified.keys().cloned().collect();
        for name in names {
            self.look_up(None, &name);
        }
    }

    /// The tracker answered about a name let on unverified: the same key is pinned and its
    /// connections verified; another key is reported as a key change, and they close.
    fn unverified_answered(&mut self, name: &Name, member: Option<&Member>) {
        let Some(key) = self.key_checks.unverified.remove(name) else {
            return;
        };
        let conns: Vec<ConnId> = self
            .conns
            .unverified()
            .into_iter()
            .filter(|(_, n, _)| n == name)
            .map(|(c, _, _)| c)
            .collect();
        match member {
            Some(m) if m.key == key => {
                if let Err(change) = self.trust.presented(name, key) {
                    self.key_changed(&change);
                }
                for conn in conns {
                    self.conns.set_unverified(conn, false);
                }
            }
            _ => {
                let bound = member.map(|m| m.key);
                tracing::warn!(%name, %key, ?bound, "an unverified peer is not who it said");
                if let Some(bound) = bound {
                    let change = KeyChange {
                        name: name.clone(),
                        pinned: bound,
                        presented: key,
                        first: true,
                    };
                    self.key_changed(&change);
                } else {
                    let why = format!("the tracker does not know {name}");
                    let to = name.to_string();
                    self.fail(None, NodeError::CannotSend { to, why });
                }
                for conn in conns {
                    self.conn_down(conn, "not the key the tracker binds that name to", None);
                }
            }
        }
    }

    /// The tracker cannot be asked: every waiting connection is let on unverified.
    pub(super) fn let_on_all_waiting(&mut self) {
        for (name, w) in self.key_checks.take_all() {
            self.let_on_unverified(w.conn, name, w.key);
        }
    }

    /// The tracker answered a look-up about `name`: the connections waiting on it are let
    /// on (and the key pinned) only if it is the key the tracker binds to `name`.
    pub(super) fn vetted(&mut self, name: &Name, member: Option<&Member>) {
        self.unverified_answered(name, member);
        for w in self.key_checks.take(name) {
            let verdict = match member {
                Some(m) if m.key == w.key => match self.trust.presented(name, w.key) {
                    Ok(()) => Ok(()),
                    Err(change) => {
                        self.key_changed(&change);
                        Err(changed(&change))
                    }
                },
                Some(_) => Err(format!(
                    "cannot verify {name}'s key: the tracker binds {name} to another key"
                )),
                None => Err(format!(
                    "cannot verify {name}'s key: the tracker does not know {name}"
                )),
            };
            match verdict {
                Ok(()) => self.let_on(w.conn, name),
                Err(reason) => self.refuse_conn(w.conn, reason),
            }
        }
    }

    /// Refuses the connections and `/trust` requests whose look-up is overdue.
    pub(super) fn expire_key_checks(&mut self, now: Instant) {
        for w in self.key_checks.take_late(now) {
            let reason = "cannot verify the key: no answer from the tracker".to_owned();
            self.refuse_conn(w.conn, reason);
        }
        let late: Vec<(Name, Option<RequestId>)> = self
            .key_checks
            .trusts
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(n, (req, _))| (n.clone(), *req))
            .collect();
        for (name, req) in late {
            self.key_checks.trusts.remove(&name);
            let why = "no answer from the tracker".to_owned();
            self.fail(req, NodeError::TrustUnanswered { name, why });
        }
    }

    /// The tracker went away: the connections waiting on it are let on unverified, the
    /// `/trust` requests fail.
    pub(super) fn key_checks_orphaned(&mut self) {
        self.let_on_all_waiting();
        for (name, (req, _)) in std::mem::take(&mut self.key_checks.trusts) {
            let why = "the tracker went away before answering".to_owned();
            self.fail(req, NodeError::TrustUnanswered { name, why });
        }
    }

    /// A dialled connection's handshake met `presented` instead of the key it demanded: not
    /// the peer we meant (nothing is recorded; only the tracker vouches for a new key).
    pub(super) fn key_mismatch(&mut self, conn: ConnId, presented: PublicKey) {
        let reason = match self.conns.get(conn).and_then(|c| c.dialled_for.clone()) {
            Some((name, _)) => {
                format!("the peer there presented another key than {name}'s ({presented})")
            }
            None => "the peer there presented an unexpected key".to_owned(),
        };
        self.conn_down(conn, &reason, None);
    }

    /// Reports a key change the first time this key is presented for the name.
    pub(super) fn key_changed(&mut self, change: &KeyChange) {
        if !change.first {
            return;
        }
        tracing::warn!(name = %change.name, pinned = %change.pinned, presented = %change.presented, "key changed");
        self.emit(Event::KeyChanged {
            name: change.name.clone(),
            pinned: change.pinned,
            presented: change.presented,
        });
        self.fail(None, NodeError::KeyChanged(change.clone()));
    }

    /// Checks a key the tracker binds to `name` (a member list, a look-up) against the
    /// pin: a mismatch is a key change like any other, reported and waiting for `/trust`.
    /// Nothing is reported about a blocked key.
    pub(super) fn check_listed(&mut self, name: &Name, key: PublicKey) {
        if self.trust.is_blocked(&key) {
            return;
        }
        if let Err(change) = self.trust.listed(name, key) {
            self.key_changed(&change);
        }
    }

    /// Pins (or checks against the pins) the keys in a member list the tracker pushed.
    /// Blocked keys are skipped: nothing about them reaches the user.
    pub(super) fn observe_members(&mut self, members: &[Member]) {
        for m in members {
            if m.name == self.name || self.trust.is_blocked(&m.key) {
                continue;
            }
            if let Err(change) = self.trust.presented(&m.name, m.key) {
                self.key_changed(&change);
            }
        }
    }

    /// `/trust NAME`: takes the key waiting for NAME only if the tracker binds it to NAME
    /// (in a member list, or in the answer to a look-up).
    pub(super) fn trust_key(&mut self, now: Now, req: Option<RequestId>, name: Name) {
        let Some(pending) = self.trust.pending(&name) else {
            return self.fail(req, NodeError::NothingToTrust { name });
        };
        if self.listed_keys(&name).contains(&pending) {
            return self.trusted(req, name, pending);
        }
        if self.key_checks.trusts.contains_key(&name) {
            let message = format!("a /trust {name} is already waiting for the tracker");
            return self.fail(req, NodeError::Busy(message));
        }
        if self.key_checks.trusts.len() >= MAX_TRUSTS {
            let message = "too many /trust requests are waiting for the tracker".to_owned();
            return self.fail(req, NodeError::Busy(message));
        }
        if !self.tracker_up() {
            let why = format!(
                "no member list binds it to {name}, and tracker {} is not connected",
                self.tracker_addr
            );
            return self.fail(req, NodeError::TrustUnanswered { name, why });
        }
        self.look_up(req, &name);
        let deadline = now.at + self.ack_timeout;
        self.key_checks.trusts.insert(name, (req, deadline));
    }

    /// Takes the `/trust NAME` waiting for a look-up, if one is.
    pub(super) fn take_trust_request(
        &mut self,
        name: &Name,
    ) -> Option<(Option<RequestId>, Instant)> {
        self.key_checks.trusts.remove(name)
    }

    /// The tracker answered a look-up a `/trust NAME` waits on.
    pub(super) fn trust_answered(&mut self, name: &Name, member: Option<&Member>) {
        let Some((req, _)) = self.key_checks.trusts.remove(name) else {
            return;
        };
        let name = name.clone();
        let why = match (member, self.trust.pending(&name)) {
            (_, None) => return self.fail(req, NodeError::NothingToTrust { name }),
            (Some(m), Some(pending)) if m.key == pending => {
                return self.trusted(req, name, pending);
            }
            (Some(m), Some(pending)) => format!(
                "{pending} ({}) is not the key the tracker binds {name} to, {} ({}); refused",
                pending.fingerprint(),
                m.key,
                m.key.fingerprint()
            ),
            (None, Some(_)) => format!("the tracker does not know {name}; refused"),
        };
        self.fail(req, NodeError::TrustRefused { name, why });
    }

    fn trusted(&mut self, req: Option<RequestId>, name: Name, key: PublicKey) {
        // A key from a member record is only checked to be 32 bytes: one that is not an
        // Ed25519 point could never sign a message or a handshake, so it is not pinned.
        if !key.is_valid() {
            let why = format!("{key} is not a valid Ed25519 key; refused");
            return self.fail(req, NodeError::TrustRefused { name, why });
        }
        let old = self.trust.pinned(&name);
        if !self.trust.trust(&name, key) {
            return self.fail(req, NodeError::NothingToTrust { name });
        }
        // Messages for the old key were signed for it: they are given up, not redirected.
        if let Some(old) = old.filter(|old| *old != key) {
            let why = format!("{name}'s key was replaced by /trust");
            let effects = self.outbox.give_up(&old, &why);
            self.apply(effects);
        }
        // Connections opened (or checked) under the old key go; the next message opens a
        // new one.
        for conn in self.conns.others_of(&name, key) {
            self.conn_down(conn, "the peer's key was replaced by /trust", None);
        }
        self.emit_for(req, Event::Trusted { name, key });
    }

    pub(super) fn block(&mut self, req: Option<RequestId>, name: Name) {
        if name == self.name {
            return self.fail(req, NodeError::BlockSelf);
        }
        let listed = self.listed_keys(&name);
        if self.trust.block(&name, &listed) {
            let blocked = Event::Blocked {
                name,
                blocked: true,
            };
            self.emit_for(req, blocked);
        } else {
            self.fail(req, NodeError::NoKeyToBlock { name });
        }
    }

    pub(super) fn unblock(&mut self, req: Option<RequestId>, name: Name) {
        if self.trust.unblock(&name) {
            let unblocked = Event::Blocked {
                name,
                blocked: false,
            };
            self.emit_for(req, unblocked);
        } else {
            self.fail(req, NodeError::NotBlocked { name });
        }
    }
}
