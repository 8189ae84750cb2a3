//! The node's core: every decision a peer makes, as a plain state machine (the sans-IO
//! shape of quinn-proto's `Connection` and str0m's `Rtc`, and of our own tracker's
//! `Registry`).
//!
//! No sockets, files, channels, tasks or clock reads: the shell (`super::actor`) feeds it
//! [`Input`]s with the time ([`Now`]), calls [`Core::handle_timeout`] at
//! [`Core::poll_timeout`], and carries out the [`Output`]s it takes from
//! [`Core::poll_output`]: events for the front end, frames for the tracker, dialling,
//! sending on and closing peer connections, and files for the writer.
//!
//! Each concern owns its sub-state, in its own module: [`connections`] (the connection
//! table), `sending` (resolving recipients, numbering, signing and storing our messages),
//! [`outbox`] (delivering them per recipient, with retries), `receiving` (de-duplicating,
//! checking, storing and answering chat frames), `held` (which messages we hold),
//! [`sync`] (history sync between members), `storing` (jobs for the store and what waits
//! on them), `history`, [`key_checks`] (who may speak as a name, and `/trust`), `tracker`
//! (the tracker link's state, member lists and look-ups), `presence` (`/whois` and
//! `/status`) and [`saving`] (when each data file is written).

mod acting;
mod addressed;
pub mod connections;
mod doctor;
mod governing;
mod held;
mod history;
mod interface;
pub mod key_checks;
mod numbering;
pub mod outbox;
mod presence;
pub mod saving;
mod search;
mod storing;
pub mod sync;

mod receiving;
mod sending;
mod tracker;

#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_protocol::tracker::{Member, PeerToTracker, TrackerToPeer};
use natter_protocol::{GroupName, Identity, Name, PROTOCOL_VERSION, PublicKey, RequestId};

use super::api::{About, CONTRACT_VERSION, Command, Event, NodeError, Notice, Request};
use super::cache_file::CacheFile;
use super::keys::TrackerPins;
use super::members::MemberCache;
use super::store::Loaded;
use super::trust::Trust;
use connections::Connections;
use held::Held;
use key_checks::KeyChecks;
use outbox::{Limits, Outbox};
use saving::{DataFile, Saves};
use sync::Syncs;
use tracker::TrackerState;

pub use interface::{ConnEvent, ConnId, Input, Now, Output, Parting, Save};
pub use tracker::TrackerInput;

/// The longest message text we send or take (a chat frame stays far inside the 1 MiB
/// frame limit; a sync page is cut by bytes too).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// How long `/quit` waits for the first attempt of messages still on their way, counted
/// from the last acknowledgement (so a long backlog that is still moving is not cut off).
/// What is not delivered by then stays in the outbox for the next start.
pub const QUIT_GRACE: Duration = Duration::from_secs(3);
/// Cached members told our address directly when the tracker is down at start.
const MAX_ANNOUNCES: usize = 64;
/// Commands held while the first tracker connection is attempted.
const MAX_DEFERRED: usize = 256;

/// Everything the core starts with.
pub struct Setup {
    pub name: Name,
    pub identity: Arc<Identity>,
    pub tracker_addr: String,
    pub listen: SocketAddr,
    pub ack_timeout: Duration,
    pub cache_save_every: Duration,
    pub cache: MemberCache,
    pub trust: Trust,
    pub tracker_pins: TrackerPins,
    /// The tracker key the user gave (`--tracker-key`, an invite), if any.
    pub tracker_key: Option<PublicKey>,
    /// What the store holds.
    pub stored: Loaded,
    pub limits: Limits,
    /// How long a message waits for a recipient before it is given up.
    pub expire_after: Duration,
    /// Seeds the jitter of retries and the choice of members to sync with.
    pub seed: u64,
    /// Problems found while loading files, shown once at start.
    pub warnings: Vec<String>,
    /// Send read receipts (`/receipts`).
    pub receipts: bool,
    /// Send typing notices (`/typing-notices`).
    pub typing_notices: bool,
}

/// The node's state and decisions.
pub struct Core {
    name: Name,
    identity: Arc<Identity>,
    tracker_addr: String,
    ack_timeout: Duration,
    cache: MemberCache,
    trust: Trust,
    conns: Connections,
    outbox: Outbox,
    /// Our message numbers, and which may go out before their write commits.
    numbering: numbering::Numbering,
    expire_after: Duration,
    /// Our messages on their way to the store, by seq.
    unstored: HashMap<u64, sending::Unstored>,
    held: Held,
    /// Received messages on their way to the store, by (author key, seq).
    incoming: HashMap<(PublicKey, u64), receiving::Incoming>,
    storing: storing::Storing,
    syncs: Syncs,
    /// Set when the outbox may have something to send or dial.
    deliver_due: bool,
    /// The earliest idle deadline of the connections, once asked: a connection's last
    /// activity only moves later, and a new one's is now, so it stays a lower bound (at
    /// worst an early wake-up) until the timer clears it, and asking after every input
    /// costs nothing per connection.
    idle_floor: Cell<Option<Instant>>,
    tracker: TrackerState,
    key_checks: KeyChecks,
    saves: Saves,
    /// Private messages waiting for a tracker look-up, by recipient.
    lookups: HashMap<Name, Vec<sending::WaitingSend>>,
    /// `/whois` commands waiting for a tracker look-up, by the name asked about.
    whois: presence::WhoisWaiting,
    /// Private messages to an address, waiting for the hello of the connection dialled.
    addr_sends: HashMap<ConnId, Vec<sending::WaitingSend>>,
    /// Connections gone that still get the acks of what they brought, once it is stored;
    /// then they close (with the parting error, if any).
    closing: HashMap<ConnId, Option<Parting>>,
    /// xorshift state for jitter.
    rng: u64,
    /// The time of the input being handled.
    now: Now,
    /// Set by `/quit`: when to stop waiting for messages still on their way.
    quit_at: Option<Instant>,
    finished: bool,
    out: VecDeque<Output>,
    /// Send read receipts and typing notices.
    receipts: bool,
    typing_notices: bool,
    /// Our actions and receipts still in the outbox: their progress is not announced.
    quiet: HashSet<u64>,
    /// Our actions just stored, with their requests, until their effects are reported
    /// (in the same store reply).
    acted: HashMap<u64, Option<RequestId>>,
    /// The highest seq of each author in each conversation we sent a read receipt for.
    read_sent: HashMap<(PublicKey, Option<GroupName>), u64>,
    /// The highest seq of each peer's private messages to us, this run.
    last_private: HashMap<PublicKey, u64>,
    /// Our governance actions waiting for the tracker, by its request id.
    governing: HashMap<RequestId, governing::Governing>,
    /// When each (peer, conversation) last told us it was typing.
    typing_seen: HashMap<(PublicKey, Option<GroupName>), Instant>,
    /// Where we listen (the address bound), for `/doctor`.
    listen: SocketAddr,
    /// The `/doctor` under way.
    doctor: Option<doctor::DoctorRun>,
    /// How the last attempt to reach each peer went, for `/doctor`.
    contacts: doctor::Contacts,
}

impl Core {
    pub fn new(setup: Setup, now: Now) -> Self {
        let stored = setup.stored;
        let mut core = Self {
            name: setup.name,
            identity: setup.identity,
            tracker: TrackerState::new(setup.tracker_pins, setup.tracker_key),
            tracker_addr: setup.tracker_addr,
            ack_timeout: setup.ack_timeout,
            cache: setup.cache,
            trust: setup.trust,
            conns: Connections::default(),
            outbox: Outbox::new(setup.limits),
            numbering: numbering::Numbering::new(stored.last_seq),
            expire_after: setup.expire_after,
            unstored: HashMap::new(),
            held: Held::from_loaded(stored.held),
            incoming: HashMap::new(),
            storing: storing::Storing::default(),
            syncs: Syncs::default(),
            deliver_due: false,
            idle_floor: Cell::new(None),
            key_checks: KeyChecks::default(),
            saves: Saves::new(setup.cache_save_every, now.at),
            lookups: HashMap::new(),
            whois: HashMap::new(),
            addr_sends: HashMap::new(),
            closing: HashMap::new(),
            rng: setup.seed | 1,
            now,
            quit_at: None,
            finished: false,
            out: VecDeque::new(),
            receipts: setup.receipts,
            typing_notices: setup.typing_notices,
            quiet: HashSet::new(),
            acted: HashMap::new(),
            read_sent: HashMap::new(),
            last_private: HashMap::new(),
            typing_seen: HashMap::new(),
            governing: HashMap::new(),
            listen: setup.listen,
            doctor: None,
            contacts: doctor::Contacts::default(),
        };
        core.emit(Event::Ready {
            name: core.name.clone(),
            listen: setup.listen,
            tracker: core.tracker_addr.clone(),
            key: core.identity.public_key(),
            contract: CONTRACT_VERSION,
            protocol: PROTOCOL_VERSION,
        });
        for warning in setup.warnings {
            core.fail(None, NodeError::Io(warning));
        }
        core.check_cached_keys();
        // The groups we were in, as last known: their windows open at once, tracker or not.
        for (group, list) in core.cache.groups().clone() {
            core.emit(Event::Members {
                group,
                version: list.version,
                owner: list.owner().cloned(),
                topic: list.topic.clone(),
                private: list.private,
                members: Some(list.members.into_vec()),
                change: None,
                by: None,
            });
        }
        if !stored.peers.is_empty() {
            core.emit(Event::Conversations {
                peers: stored.peers,
            });
        }
        core.outbox.set_sendable(core.numbering.sendable());
        core.restore_unsent(stored.unsent);
        core.after(now);
        core
    }

    /// Takes one input.
    pub fn handle(&mut self, now: Now, input: Input) {
        self.now = now;
        match input {
            Input::Request(request) => self.request(now, request),
            Input::Tracker(report) => self.tracker_input(now, report),
            Input::Conn { conn, event } => self.conn_event(now, conn, event),
            Input::Saved { file, result } => {
                if let Some(message) = self.saves.saved(file, result) {
                    self.fail(None, NodeError::Io(message));
                }
            }
            Input::Stored(reply) => self.stored(reply),
        }
        self.after(now);
    }

    /// Acts on every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Now) {
        self.now = now;
        self.expire(now);
        self.deliver_due = true;
        self.after(now);
    }

    /// The next thing for the shell to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let outbox =
            self.outbox
                .next_deadline(self.now.at, self.now.unix_millis(), self.ack_timeout);
        [
            outbox,
            self.key_checks.next_deadline(),
            self.waiting_sends_deadline(),
            self.whois_deadline(),
            self.syncs.next_deadline(),
            self.storing.records_due(),
            self.idle_floor(),
            self.saves.next_due(),
            self.quit_at,
            self.doctor.as_ref().map(doctor::DoctorRun::deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The tracker keys pinned so far.
    pub fn tracker_pins(&self) -> &TrackerPins {
        &self.tracker.pins
    }

    /// `/quit` is done: every message settled (or given up), every file handed to the
    /// writer. The shell closes what is left and stops.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn emit(&mut self, event: Event) {
        self.emit_for(None, event);
    }

    fn emit_for(&mut self, req: Option<RequestId>, event: Event) {
        self.out.push_back(Output::Notice(Notice { req, event }));
    }

    /// Reports an error (logged too: the TUI's log is where a user looks afterwards).
    fn fail(&mut self, req: Option<RequestId>, error: NodeError) {
        tracing::debug!(code = ?error.code(), %error, "error event");
        self.emit_for(req, Event::from(error));
    }

    fn request(&mut self, now: Now, Request { req, command }: Request) {
        if self.quit_at.is_some() {
            return;
        }
        if command == Command::Quit {
            self.quit_at = Some(now.at + QUIT_GRACE);
            return;
        }
        // Until the first tracker attempt settles, a command that needs the tracker waits,
        // and so does every command after it: commands run in the order they came.
        let waiting = !self.tracker.deferred.is_empty();
        if self.tracker.status.is_none() && (waiting || self.needs_tracker(&command)) {
            if self.tracker.deferred.len() < MAX_DEFERRED {
                self.tracker.deferred.push(Request { req, command });
            } else {
                let message = "still connecting to the tracker; try again in a moment";
                self.fail(req, NodeError::Busy(message.into()));
            }
            return;
        }
        self.command(now, req, command);
    }

    fn command(&mut self, now: Now, req: Option<RequestId>, command: Command) {
        match command {
            Command::Join(group) => {
                let about = About::Group(group.clone());
                let what = format!("join {group}");
                self.ask_tracker(req, Some(about), &what, |r| PeerToTracker::Join {
                    group,
                    req: r,
                });
            }
            Command::Leave(group) => {
                if !self.cache.contains(&group) {
                    return self.fail(req, NodeError::NotMember { group });
                }
                let about = About::Group(group.clone());
                let what = format!("leave {group}");
                self.ask_tracker(req, Some(about), &what, |r| PeerToTracker::Leave {
                    group,
                    req: r,
                });
            }
            Command::Members(group) => match self.cache.get(&group) {
                Some(list) => {
                    let event = Event::Members {
                        version: list.version,
                        owner: list.owner().cloned(),
                        topic: list.topic.clone(),
                        private: list.private,
                        members: Some(list.members.to_vec()),
                        change: None,
                        group,
                        by: None,
                    };
                    self.emit_for(req, event);
                }
                None => self.fail(req, NodeError::NotMember { group }),
            },
            Command::Groups => {
                let groups = self.cache.group_names();
                self.emit_for(req, Event::Groups { groups });
            }
            Command::Send { target, text } => self.send(now, req, target, text),
            Command::History { target, limit } => self.history(req, target, limit),
            Command::Block(name) => self.block(req, name),
            Command::Unblock(name) => self.unblock(req, name),
            Command::Trust(name) => self.trust_key(now, req, name),
            Command::Act { id, action } => self.act(req, id, action),
            Command::Read(target) => self.mark_read(req, target),
            Command::Typing(target) => self.typing(req, target),
            Command::Receipts(on) => self.setting(req, "receipts", on),
            Command::TypingNotices(on) => self.setting(req, "typing_notices", on),
            Command::Govern { group, act } => self.govern(req, group, act),
            Command::Invites => {
                self.ask_tracker(req, None, "list your invites", |r| PeerToTracker::Invites {
                    req: r,
                });
            }
            Command::Whois(name) => self.whois(now, req, name),
            Command::Status(text) => self.set_own_status(req, text),
            Command::Quit => {}
            Command::Search { text, target } => self.search(req, text, target),
            Command::Mentions => self.mentions(req),
            Command::Doctor => self.doctor(now, req),
        }
    }

    fn needs_tracker(&self, command: &Command) -> bool {
        match command {
            Command::Join(_)
            | Command::Leave(_)
            | Command::Status(_)
            | Command::Govern { .. }
            | Command::Invites
            // It reports on the tracker: after the first attempt settled.
            | Command::Doctor => true,
            Command::Whois(name) => self.cache.find_peer(name).is_none(),
            Command::Send {
                target: super::api::Target::Peer(name),
                ..
            } => self.cache.find_peer(name).is_none(),
            _ => false,
        }
    }

    fn conn_event(&mut self, now: Now, conn: ConnId, event: ConnEvent) {
        match event {
            ConnEvent::Accepted => self.conns.accepted(conn, now.at),
            ConnEvent::Hello { name, key, listen } => self.hello(now, conn, name, key, listen),
            ConnEvent::KeyMismatch { presented } => self.key_mismatch(conn, presented),
            ConnEvent::Frame(frame) => self.frame(now, conn, frame),
            ConnEvent::Ended { reason, parting } => self.conn_down(conn, &reason, parting),
        }
    }

    /// Forgets `conn`, fails what waited on it and tells the shell to close it.
    fn conn_down(&mut self, conn: ConnId, reason: &str, parting: Option<Parting>) {
        // The outbox first, whether the table still knows the connection or not: nothing
        // may stay in flight on a connection that is gone.
        let jitter = self.random();
        let effects = self.outbox.conn_down(conn, self.now.at, jitter);
        self.apply(effects);
        let Some(gone) = self.conns.remove(conn) else {
            return;
        };
        self.contact_failed(&gone, reason, self.now.at);
        tracing::debug!(%conn, %reason, "peer connection down");
        self.key_checks.forget_conn(conn);
        self.sync_conn_gone(conn);
        self.addr_conn_failed(conn, reason);
        self.deliver_due = true;
        if self.awaits_acks(conn) {
            // What it brought is being stored: its acks go first, then it closes.
            self.closing.insert(conn, parting);
        } else {
            self.out.push_back(Output::Close { conn, parting });
        }
    }

    /// A pseudo-random number (xorshift64): jitter, and which members to sync with.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn expire(&mut self, now: Now) {
        self.expire_key_checks(now.at);
        // A connection that swallowed a message without an answer is presumed dead (a
        // half-open connection): drop it; the messages are retried on a fresh one.
        let mut silent = self.outbox.silent_conns(now.at, self.ack_timeout);
        silent.sort();
        silent.dedup();
        for conn in silent {
            self.conn_down(conn, "no acknowledgement in time", None);
        }
        let effects = self.outbox.expire(now.unix_millis());
        self.apply(effects);
        if self.storing.records_due().is_some_and(|at| at <= now.at) {
            self.flush_records();
        }
        self.expire_waiting_sends(now.at);
        self.expire_whois(now.at);
        self.syncs.expire(now.at);
        for conn in self.conns.idle(now.at) {
            self.conn_down(conn, "idle", None);
        }
        if self.quit_at.is_some_and(|at| at <= now.at) {
            let effects = self.outbox.end_first_rounds();
            self.apply(effects);
            self.lookups.clear();
            self.whois.clear();
            self.addr_sends.clear();
        }
        // Between timers these deadlines are kept as cheap lower bounds.
        self.outbox.refresh_deadlines(now.at);
        self.idle_floor.set(None);
    }

    /// [`Connections::next_idle`], computed once per timer (see `idle_floor`).
    fn idle_floor(&self) -> Option<Instant> {
        if let Some(at) = self.idle_floor.get() {
            return Some(at);
        }
        let at = self.conns.next_idle();
        self.idle_floor.set(at);
        at
    }

    /// After every input: files that are due go to the writer, and a `/quit` with nothing
    /// left on its way finishes.
    fn after(&mut self, now: Now) {
        if self.finished {
            return;
        }
        if std::mem::take(&mut self.deliver_due) {
            self.deliver(now);
        }
        self.doctor_progress(now);
        if self.quit_at.is_some() {
            self.flush_records();
        }
        let quitting = self.quit_at.is_some()
            && !self.outbox.in_first_round()
            && self.lookups.is_empty()
            && self.addr_sends.is_empty()
            && self.unstored.is_empty()
            && self.storing.is_idle();
        self.save_due(now.at, quitting);
        if quitting {
            self.finished = true;
        }
    }

    /// Hands the writer every file that is due (every changed one when `all`): one
    /// snapshot per file per interval, so a burst of changes costs one write.
    fn save_due(&mut self, now: Instant, all: bool) {
        for (dirty, file) in [
            (self.trust.pins_dirty(), DataFile::PeerPins),
            (self.trust.blocked_dirty(), DataFile::Blocked),
        ] {
            if dirty {
                self.saves.changed(file, now);
            }
        }
        for file in self.saves.due(now, all) {
            let save = match file {
                DataFile::Members => Save::Members(CacheFile {
                    tracker: self.tracker_addr.clone(),
                    groups: self.cache.groups().clone(),
                }),
                DataFile::TrackerPins => Save::TrackerPins(self.tracker.pins.clone()),
                DataFile::PeerPins => match self.trust.take_dirty_pins() {
                    Some(pins) => Save::PeerPins(pins.clone()),
                    None => continue,
                },
                DataFile::Blocked => match self.trust.take_dirty_blocked() {
                    Some(blocked) => Save::Blocked(blocked.clone()),
                    None => continue,
                },
            };
            self.out.push_back(Output::Save(save));
        }
    }

    fn groups_changed(&mut self, now: Instant) {
        self.saves.changed(DataFile::Members, now);
        self.out.push_back(Output::Groups(self.cache.group_names()));
    }

    fn tracker_up(&self) -> bool {
        self.tracker.status == Some(super::api::TrackerStatus::Connected)
    }

    /// Sends a request to the tracker if its link is up, remembering who asked; else an
    /// error for the command (`what` it was, `about` what).
    fn ask_tracker(
        &mut self,
        req: Option<RequestId>,
        about: Option<About>,
        what: &str,
        request: impl FnOnce(Option<RequestId>) -> PeerToTracker,
    ) -> bool {
        if !self.tracker_up() {
            let error = NodeError::TrackerDown {
                tracker: self.tracker_addr.clone(),
                what: what.to_owned(),
                about,
            };
            self.fail(req, error);
            return false;
        }
        let id = self.tracker.asked(req, about);
        self.out.push_back(Output::Tracker(request(Some(id))));
        true
    }

    /// The members of every cached group named `name`, deduplicated by key.
    fn listed_keys(&self, name: &Name) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = self
            .cache
            .groups()
            .values()
            .flat_map(|g| &g.members)
            .filter(|m| &m.name == name)
            .map(|m| m.key)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// At start: the cached member lists against the pins.
    fn check_cached_keys(&mut self) {
        let members: Vec<Member> = self
            .cache
            .groups()
            .values()
            .flat_map(|g| g.members.iter().cloned())
            .collect();
        self.observe_members(&members);
    }

    /// A tracker push the core has no use for (pings are the link's business).
    fn ignore(&self, push: &TrackerToPeer) {
        tracing::trace!(?push, "tracker frame ignored");
    }
}
