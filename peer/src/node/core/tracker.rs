//! The tracker side: the link's state, the tracker's key, member-list pushes, the answers
//! to our requests (matched by request id), and look-ups.

use std::collections::{HashMap, HashSet};

use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, GroupName, Name, PublicKey, RequestId};

use super::saving::DataFile;
use super::storing::AfterWrite;
use super::{Core, Now};
use crate::node::api::{About, Event, NodeError, Request, TrackerStatus};
use crate::node::keys::TrackerPins;
use crate::node::members::{GroupList, Update};
use crate::node::store::Write;

/// Requests to the tracker that wait for an answer at once; past it the oldest are
/// forgotten (their answers then carry no `req`).
const MAX_ASKED: usize = 4096;

/// What the tracker link reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerInput {
    Connected,
    /// The link is down (or the attempt failed); it is retrying.
    Disconnected {
        reason: String,
    },
    /// The tracker refused our hello (a name in use or bound to another key, a version
    /// mismatch).
    Refused {
        code: ErrorCode,
        message: String,
    },
    /// First contact with the tracker at `addr` (the resolved address, as text), or a key
    /// given with `--tracker-key`: pin `key` for it.
    Pinned {
        addr: String,
        key: PublicKey,
    },
    /// A request could not be sent: the link dropped.
    Unsent {
        request: PeerToTracker,
        reason: String,
    },
    /// The tracker presented another key than the pinned one: it is refused.
    KeyChanged {
        pinned: PublicKey,
        presented: PublicKey,
    },
    /// Anything the tracker pushed after the welcome.
    Push(TrackerToPeer),
    /// The tracker presented another key than the one the user gave (`--tracker-key`, an
    /// invite): it is refused. Not a key change: nothing was pinned from this tracker.
    KeyMismatch {
        given: PublicKey,
        presented: PublicKey,
    },
}

/// Who asked a request to the tracker, and what about.
#[derive(Debug, Clone)]
struct Asked {
    req: Option<RequestId>,
    about: Option<About>,
}

/// The tracker link as the core sees it.
#[derive(Debug)]
pub struct TrackerState {
    /// `None` until the first connection attempt settles.
    pub status: Option<TrackerStatus>,
    /// Commands that need the tracker, held until the first connection attempt settles
    /// (so a script may `/join` right after `ready`).
    pub deferred: Vec<Request>,
    pub pins: TrackerPins,
    /// Tracker keys already reported as a change (each is reported once).
    reported_keys: HashSet<PublicKey>,
    last_refusal: Option<String>,
    next_id: RequestId,
    asked: HashMap<RequestId, Asked>,
    /// Why the link last went down (for `/doctor`).
    pub last_down: Option<String>,
    /// A key the tracker presented instead of the pinned one, since it last connected.
    pub presented: Option<PublicKey>,
    /// The key pinned for the tracker in this run (first contact or `--tracker-key`).
    pinned_now: Option<PublicKey>,
    /// The key the user gave (`--tracker-key`, an invite): the one expected, even before
    /// the link pins it.
    given: Option<PublicKey>,
}

impl TrackerState {
    pub fn new(pins: TrackerPins, given: Option<PublicKey>) -> Self {
        Self {
            status: None,
            deferred: Vec::new(),
            pins,
            reported_keys: HashSet::new(),
            last_refusal: None,
            next_id: 0,
            asked: HashMap::new(),
            last_down: None,
            presented: None,
            pinned_now: None,
            given,
        }
    }

    /// The tracker's refusal of our hello, if that is why the link is down.
    pub fn refusal(&self) -> Option<&str> {
        self.last_refusal.as_deref()
    }

    /// The key pinned for the tracker given as `given`, as far as we can tell: pinned in
    /// this run, else the pin under that address.
    pub fn pinned_key(&self, given: &str) -> Option<PublicKey> {
        self.pinned_now
            .or(self.given)
            .or_else(|| self.pins.get(&given.to_owned()))
    }

    /// Remembers a request about to go out; returns its id for the wire.
    pub fn asked(&mut self, req: Option<RequestId>, about: Option<About>) -> RequestId {
        if self.asked.len() >= MAX_ASKED
            && let Some(oldest) = self.asked.keys().min().copied()
        {
            self.asked.remove(&oldest);
        }
        self.next_id += 1;
        self.asked.insert(self.next_id, Asked { req, about });
        self.next_id
    }

    /// The answer to request `id` came: who asked it.
    fn answered(&mut self, id: Option<RequestId>) -> Asked {
        id.and_then(|id| self.asked.remove(&id)).unwrap_or(Asked {
            req: None,
            about: None,
        })
    }
}

impl Core {
    pub(super) fn tracker_input(&mut self, now: Now, input: TrackerInput) {
        match input {
            TrackerInput::Connected => {
                self.tracker.last_refusal = None;
                self.tracker.presented = None;
                self.set_status(now, TrackerStatus::Connected);
            }
            TrackerInput::Disconnected { reason } => {
                tracing::debug!(%reason, "tracker disconnected");
                self.doctor_tracker_gone(&reason);
                self.tracker.last_down = Some(reason);
                self.set_status(now, TrackerStatus::Disconnected);
                self.key_checks_orphaned();
                self.tracker.asked.clear();
                self.governing_dropped("the tracker went away before answering");
                self.whois_all_unanswered("the tracker went away before answering");
                for (name, waiting) in std::mem::take(&mut self.lookups) {
                    for w in waiting {
                        let detail = " (the tracker went away before answering)".to_owned();
                        let name = name.clone();
                        self.fail(w.req, NodeError::UnknownPeer { name, detail });
                    }
                }
            }
            TrackerInput::Refused { code, message } => self.refused_us(code, message),
            TrackerInput::Pinned { addr, key } => {
                tracing::info!(tracker = %self.tracker_addr, %addr, %key, "pinned the tracker's key");
                self.tracker.pinned_now = Some(key);
                // Only a key the user gave gets past another pin (else the handshake fails).
                if let Some(pinned) = self.tracker.pins.get(&addr).filter(|p| *p != key) {
                    let tracker = addr.clone();
                    let error = NodeError::TrackerKeyReplaced {
                        tracker,
                        pinned,
                        given: key,
                    };
                    self.fail(None, error);
                }
                self.tracker.pins.set(addr, key);
                self.saves.changed(DataFile::TrackerPins, now.at);
            }
            TrackerInput::Unsent { request, reason } => {
                let (what, group, id) = match request {
                    PeerToTracker::Join { group, req } => ("join", group, req),
                    PeerToTracker::Leave { group, req } => ("leave", group, req),
                    PeerToTracker::Lookup { name, req } => {
                        return self.lookup_unsent(req, &name, &reason);
                    }
                    PeerToTracker::SetStatus { req, .. } => {
                        let asked = self.tracker.answered(req);
                        let what = "set your status".to_owned();
                        let about = None;
                        let error = NodeError::TrackerDropped {
                            what,
                            reason,
                            about,
                        };
                        return self.fail(asked.req, error);
                    }
                    PeerToTracker::Probe { req } => {
                        self.tracker.answered(req);
                        return self.doctor_tracker_gone(&reason);
                    }
                    // A snapshot is asked again on the next gap; the rest is redone by
                    // the next hello.
                    _ => return,
                };
                let asked = self.tracker.answered(id);
                let error = NodeError::TrackerDropped {
                    what: format!("{what} {group}"),
                    reason,
                    about: Some(About::Group(group)),
                };
                self.fail(asked.req, error);
            }
            TrackerInput::KeyChanged { pinned, presented } => {
                self.tracker.presented = Some(presented);
                self.tracker.pinned_now.get_or_insert(pinned);
                if self.tracker.reported_keys.insert(presented) {
                    let error = NodeError::TrackerKeyChanged {
                        tracker: self.tracker_addr.clone(),
                        pinned,
                        presented,
                    };
                    tracing::warn!("{error}");
                    self.fail(None, error);
                }
            }
            TrackerInput::Push(push) => self.push(now, push),
            TrackerInput::KeyMismatch { given, presented } => {
                if self.tracker.reported_keys.insert(presented) {
                    let error = NodeError::TrackerKeyMismatch {
                        tracker: self.tracker_addr.clone(),
                        given,
                        presented,
                    };
                    tracing::warn!("{error}");
                    self.fail(None, error);
                }
            }
        }
    }

    /// A look-up never reached the tracker: what waited on it fails now (connections
    /// waiting on it are refused at their own deadline).
    fn lookup_unsent(&mut self, id: Option<RequestId>, name: &Name, reason: &str) {
        self.tracker.answered(id);
        self.whois_unanswered(name, reason);
        for waiting in self.lookups.remove(name).unwrap_or_default() {
            let error = NodeError::TrackerDropped {
                what: format!("look up {name}"),
                reason: reason.to_owned(),
                about: Some(About::Peer(name.clone())),
            };
            self.fail(waiting.req, error);
        }
        if let Some((req, _)) = self.take_trust_request(name) {
            let why = format!("the tracker link dropped ({reason})");
            let name = name.clone();
            self.fail(req, NodeError::TrustUnanswered { name, why });
        }
    }

    /// Asks the tracker where `name` is and which key it is bound to (for request `req`).
    pub(super) fn look_up(&mut self, req: Option<RequestId>, name: &Name) {
        let id = self.tracker.asked(req, Some(About::Peer(name.clone())));
        let request = PeerToTracker::Lookup {
            name: name.clone(),
            req: Some(id),
        };
        self.out.push_back(super::Output::Tracker(request));
    }

    fn refused_us(&mut self, code: ErrorCode, message: String) {
        if self.tracker.last_refusal.as_deref() == Some(message.as_str()) {
            return;
        }
        self.tracker.last_refusal = Some(message.clone());
        let mut text = message.clone();
        if code == ErrorCode::NameOwned {
            if !message.contains("belongs to another key") {
                text.push_str(&format!(" (the name {} belongs to another key)", self.name));
            }
            text.push_str("; pick another --name, or use the identity.json that registered it");
        }
        let error = NodeError::TrackerRefusedUs {
            tracker: self.tracker_addr.clone(),
            message: text,
        };
        self.fail(None, error);
    }

    fn set_status(&mut self, now: Now, status: TrackerStatus) {
        if self.tracker.status == Some(status) {
            return;
        }
        let first = self.tracker.status.is_none();
        self.tracker.status = Some(status);
        let tracker = self.tracker_addr.clone();
        self.emit(Event::Tracker { status, tracker });
        for request in std::mem::take(&mut self.tracker.deferred) {
            self.command(now, request.req, request.command);
        }
        match status {
            TrackerStatus::Connected => {
                self.ask_about_waiting();
                self.check_unverified();
            }
            TrackerStatus::Disconnected => {
                self.let_on_all_waiting();
                if first {
                    self.announce_to_cached(now);
                }
            }
        }
    }

    /// The tracker is down at start: the members we know hear from us directly where we
    /// listen now (our hello carries the port, our session proves our key), so members who
    /// know each other keep talking whoever restarted while the tracker is away.
    fn announce_to_cached(&mut self, now: Now) {
        let own = self.identity.public_key();
        let mut members: Vec<Member> = self
            .cache
            .groups()
            .values()
            .flat_map(|g| &g.members)
            .filter(|m| m.online && m.key != own)
            .cloned()
            .collect();
        members.sort_by_key(|m| m.key);
        members.dedup_by_key(|m| m.key);
        for m in members.into_iter().take(super::MAX_ANNOUNCES) {
            let (conn, new) = self.conns.route(m.addr, Some((m.name, m.key)), now.at);
            if new {
                let (addr, expect) = (m.addr, Some(m.key));
                self.out
                    .push_back(super::Output::Dial { conn, addr, expect });
            }
        }
    }

    /// Members we now know are at `members`' addresses and presence: their messages can go.
    fn presence(&mut self, members: &[Member]) {
        for m in members {
            self.outbox.presence(&m.key, Some(m.addr), m.online);
        }
        self.deliver_due = true;
    }

    fn push(&mut self, now: Now, push: TrackerToPeer) {
        match push {
            TrackerToPeer::Members {
                group,
                version,
                members,
                owner: _,
                topic,
                private,
                by,
                req,
            } => {
                // Taken even for a group not in our cache: the tracker is the authority on
                // membership, and after our hello it hands back every group we are in
                // (a cache that was lost or set aside is rebuilt that way).
                let asked = self.tracker.answered(req);
                self.observe_members(&members);
                let new_group = !self.cache.contains(&group);
                let list = GroupList {
                    version,
                    members: members.clone().into(),
                    topic,
                    private,
                };
                self.cache.set_full(group.clone(), list);
                if new_group {
                    self.groups_changed(now.at);
                }
                self.saves.changed(DataFile::Members, now.at);
                self.presence(&members);
                let write = Write::MemberList {
                    group: group.clone(),
                    members: members.iter().map(|m| m.key).collect(),
                    at: now.unix_millis(),
                };
                self.write(write, AfterWrite::Nothing);
                self.sync_group(now, &group);
                let added_by = self.added_us_by(&group, by);
                let mut event = self.members_event(group, Some(members), None);
                if let Event::Members { by, .. } = &mut event {
                    *by = added_by;
                }
                self.emit_for(asked.req, event);
            }
            TrackerToPeer::MemberUpdate {
                group,
                version,
                change,
            } => self.member_update(now, group, version, change),
            TrackerToPeer::Left {
                group,
                req,
                by: _,
                reason,
                disbanded,
                action,
            } => {
                let asked = self.tracker.answered(req);
                let by = self.removed_by(&group, action, disbanded);
                if self.cache.remove(&group) {
                    self.groups_changed(now.at);
                }
                let event = Event::Left {
                    group,
                    by,
                    reason,
                    disbanded,
                };
                self.emit_for(asked.req, event);
            }
            TrackerToPeer::Governed { group: _, req } => {
                let asked = self.tracker.answered(req);
                self.governed(req, asked.req);
            }
            TrackerToPeer::Invited { invite } => self.invited(invite),
            TrackerToPeer::Invites { invites, req } => {
                let asked = self.tracker.answered(req);
                self.invites_listed(asked.req, invites);
            }
            TrackerToPeer::LookupResult { name, member, req } => {
                self.tracker.answered(req);
                self.vetted(&name, member.as_ref());
                self.trust_answered(&name, member.as_ref());
                self.looked_up(now, &name, member.as_ref());
                self.whois_looked_up(&name, member.as_ref());
            }
            TrackerToPeer::StatusSet { status, req } => {
                let asked = self.tracker.answered(req);
                self.emit_for(asked.req, Event::Status { status });
            }
            TrackerToPeer::ProbeResult {
                addr,
                reachable,
                error,
                clock,
                req,
            } => {
                self.tracker.answered(req);
                let fact = crate::node::diagnosis::ProbeFact::Answered {
                    addr,
                    reachable,
                    error,
                    clock,
                    sent_ms: 0,
                    received_ms: 0,
                };
                self.doctor_probed(now, req, fact);
            }
            TrackerToPeer::Error { code, message, req } => {
                if self.is_doctor_probe(req) {
                    self.tracker.answered(req);
                    let why = format!("the tracker refused the probe: {message}");
                    let fact = crate::node::diagnosis::ProbeFact::Missing(why);
                    return self.doctor_probed(now, req, fact);
                }
                let asked = self.tracker.answered(req);
                if req.is_some_and(|id| self.governing_refused(id, code)) {
                    return;
                }
                let error = NodeError::TrackerRefusedRequest {
                    code,
                    message,
                    about: asked.about,
                };
                self.fail(asked.req, error);
            }
            other @ (TrackerToPeer::Welcome { .. }
            | TrackerToPeer::Ping { .. }
            | TrackerToPeer::Pong { .. }) => self.ignore(&other),
        }
    }

    /// A `members` event for `group` as the cache now holds it: the whole list, or one
    /// change.
    pub(super) fn members_event(
        &self,
        group: GroupName,
        members: Option<Vec<natter_protocol::tracker::Member>>,
        change: Option<MemberChange>,
    ) -> Event {
        let list = self.cache.get(&group);
        Event::Members {
            by: None,
            version: list.map_or(0, |l| l.version),
            owner: list.and_then(|l| l.owner().cloned()),
            topic: list.and_then(|l| l.topic.clone()),
            private: list.is_some_and(|l| l.private),
            group,
            members,
            change,
        }
    }

    fn member_update(&mut self, now: Now, group: GroupName, version: u64, change: MemberChange) {
        let subject = match &change {
            MemberChange::Joined { member }
            | MemberChange::Online { member }
            | MemberChange::Updated { member }
            | MemberChange::Added { member, .. } => Some(member.key),
            MemberChange::Left { name }
            | MemberChange::Offline { name, .. }
            | MemberChange::Kicked { name, .. }
            | MemberChange::Role { name, .. } => {
                self.cache.member_named(&group, name).map(|m| m.key)
            }
            MemberChange::Topic { .. } | MemberChange::Private { .. } => None,
        };
        // Checked against the list before the change.
        let change = self.attributed(&group, change);
        // A blocked member's comings and goings are not announced.
        let quiet = subject.is_some_and(|key| self.trust.is_blocked(&key));
        match self.cache.apply(&group, version, &change) {
            Update::Applied => {
                if let MemberChange::Joined { member }
                | MemberChange::Online { member }
                | MemberChange::Added { member, .. } = &change
                {
                    self.observe_members(std::slice::from_ref(member));
                    self.presence(std::slice::from_ref(member));
                    if !matches!(change, MemberChange::Online { .. }) {
                        let write = Write::MemberSince {
                            group: group.clone(),
                            member: member.key,
                            at: now.unix_millis(),
                        };
                        self.write(write, AfterWrite::Nothing);
                    }
                    // A member who just joined has nothing of the group to give (what it
                    // held from an earlier membership the others were sent then); in a
                    // join storm every member asking every joiner would dial N² times.
                    // It asks for what it lacks itself, from its first full list.
                    if !matches!(change, MemberChange::Joined { .. }) {
                        self.sync_with_arrival(now, &group, member);
                    }
                }
                match (&change, subject) {
                    // Only its status changed: its key is checked like any listed one.
                    (MemberChange::Updated { member }, _) => {
                        self.observe_members(std::slice::from_ref(member));
                    }
                    (MemberChange::Offline { .. }, Some(key)) => {
                        self.outbox.presence(&key, None, false);
                    }
                    (MemberChange::Left { .. } | MemberChange::Kicked { .. }, Some(key)) => {
                        let write = Write::MemberGone {
                            group: group.clone(),
                            member: key,
                        };
                        self.write(write, AfterWrite::Nothing);
                    }
                    _ => {}
                }
                self.saves.changed(DataFile::Members, now.at);
                // A blocked member's change goes out as the whole list, without the change:
                // a script's list stays right, and nobody is told the blocked one came or
                // went.
                let event = if quiet {
                    let members = self.cache.get(&group).map(|l| l.members.to_vec());
                    self.members_event(group, members, None)
                } else {
                    self.members_event(group, None, Some(change))
                };
                self.emit(event);
            }
            Update::Stale => {}
            Update::Gap => {
                if self.cache.contains(&group) && self.tracker_up() {
                    let id = self.tracker.asked(None, None);
                    let request = PeerToTracker::Snapshot {
                        group,
                        req: Some(id),
                    };
                    self.out.push_back(super::Output::Tracker(request));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_protocol::testkit::build::identity_for;

    use super::*;

    #[test]
    fn the_key_given_is_the_one_expected_before_the_link_pins_it() {
        let addr = "127.0.0.1:7000".to_owned();
        let (old, given) = (
            identity_for("old").public_key(),
            identity_for("given").public_key(),
        );
        let mut pins = TrackerPins::default();
        pins.set(addr.clone(), old);
        assert_eq!(
            TrackerState::new(pins.clone(), None).pinned_key(&addr),
            Some(old)
        );
        let state = TrackerState::new(pins, Some(given));
        assert_eq!(state.pinned_key(&addr), Some(given));
    }
}
