//! `/doctor` in the core: gathering the facts, then [`crate::node::diagnosis::checks`].
//!
//! A run asks three things at once and waits for them, at most [`DOCTOR_TIMEOUT`]: the
//! tracker's reachability probe (its answer also carries the tracker's clock), the store's
//! health (`Read::Health` on the store thread), and a connection to each online member of
//! our groups that has none open (at most [`MAX_DIALS`]; the rest are judged by what the
//! last attempt found, kept in [`Contacts`]). A `/doctor` given while one runs shares its
//! answer. Then the facts go through the pure `checks` and every waiting request gets one
//! `doctor` event.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use natter_protocol::tracker::{Member, PeerToTracker};
use natter_protocol::{GroupName, PublicKey, RequestId};

use super::connections::Conn;
use super::storing::AfterRead;
use super::{Core, Now, Output};
use crate::node::api::{Event, TrackerStatus};
use crate::node::diagnosis::{
    self, Facts, Health, MemberFact, MemberState, ProbeFact, TrackerFact,
};
use crate::node::store::{Answer, Read};

/// How long a run waits for its answers (the tracker's probe itself gives up after 3 s).
pub const DOCTOR_TIMEOUT: Duration = Duration::from_secs(5);
/// Members dialled by one run; the others are judged by their last attempt.
pub const MAX_DIALS: usize = 32;
/// Members whose last attempt is remembered; past it the oldest is forgotten.
const MAX_CONTACTS: usize = 4096;

/// How the last attempt to reach each key went: `None` reached, or the error.
#[derive(Debug, Default)]
pub struct Contacts {
    last: HashMap<PublicKey, (Instant, Option<String>)>,
}

impl Contacts {
    fn record(&mut self, key: PublicKey, at: Instant, error: Option<String>) {
        if self.last.len() >= MAX_CONTACTS
            && !self.last.contains_key(&key)
            && let Some(oldest) = self
                .last
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| *k)
        {
            self.last.remove(&oldest);
        }
        self.last.insert(key, (at, error));
    }

    /// The last attempt on `key`, if there was one since `since`.
    fn since(&self, key: &PublicKey, since: Instant) -> Option<&Option<String>> {
        self.last
            .get(key)
            .filter(|(at, _)| *at >= since)
            .map(|(_, e)| e)
    }

    fn last(&self, key: &PublicKey) -> Option<&Option<String>> {
        self.last.get(key).map(|(_, e)| e)
    }
}

/// The probe's state in a run.
#[derive(Debug)]
enum Probe {
    Waiting { id: RequestId, sent_ms: u64 },
    Done(ProbeFact),
}

/// One `/doctor` under way.
#[derive(Debug)]
pub struct DoctorRun {
    reqs: Vec<Option<RequestId>>,
    started: Instant,
    deadline: Instant,
    probe: Probe,
    health: Option<Result<Health, String>>,
    dialled: HashSet<PublicKey>,
}

impl DoctorRun {
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Core {
    /// `/doctor`: starts a run, or joins the one under way.
    pub(super) fn doctor(&mut self, now: Now, req: Option<RequestId>) {
        if let Some(run) = &mut self.doctor {
            run.reqs.push(req);
            return;
        }
        let probe = if self.tracker_up() {
            let id = self.tracker.asked(None, None);
            let request = PeerToTracker::Probe { req: Some(id) };
            self.out.push_back(Output::Tracker(request));
            Probe::Waiting {
                id,
                sent_ms: now.unix_millis(),
            }
        } else {
            Probe::Done(ProbeFact::Missing("the tracker is not connected".into()))
        };
        let mut dialled = HashSet::new();
        for m in self.doctor_members().into_values() {
            if dialled.len() >= MAX_DIALS {
                break;
            }
            if !m.online || self.conns.open_for(&m.key).is_some() {
                continue;
            }
            let (conn, new) = self.conns.route(m.addr, Some((m.name, m.key)), now.at);
            if new {
                let (addr, expect) = (m.addr, Some(m.key));
                self.out.push_back(Output::Dial { conn, addr, expect });
            }
            dialled.insert(m.key);
        }
        self.doctor = Some(DoctorRun {
            reqs: vec![req],
            started: now.at,
            deadline: now.at + DOCTOR_TIMEOUT,
            probe,
            health: None,
            dialled,
        });
        self.read(Read::Health, AfterRead::Doctor);
    }

    /// Every other member of our groups (not blocked), one entry per key, by name.
    fn doctor_members(&self) -> BTreeMap<String, Member> {
        let own = self.identity.public_key();
        let mut out = BTreeMap::new();
        for m in self.cache.groups().values().flat_map(|g| &g.members) {
            if m.key == own || self.trust.is_blocked(&m.key) {
                continue;
            }
            let entry = out
                .entry(format!("{}/{}", m.name, m.key))
                .or_insert(m.clone());
            // Lists updated at different times may differ: online wins.
            if m.online && !entry.online {
                *entry = m.clone();
            }
        }
        out
    }

    /// The tracker answered a probe.
    pub(super) fn doctor_probed(&mut self, now: Now, id: Option<RequestId>, fact: ProbeFact) {
        if let Some(run) = &mut self.doctor
            && let Probe::Waiting {
                id: waiting,
                sent_ms,
            } = run.probe
            && id == Some(waiting)
        {
            run.probe = Probe::Done(match fact {
                ProbeFact::Answered {
                    addr,
                    reachable,
                    error,
                    clock,
                    ..
                } => ProbeFact::Answered {
                    addr,
                    reachable,
                    error,
                    clock,
                    sent_ms,
                    received_ms: now.unix_millis(),
                },
                missing => missing,
            });
        }
    }

    /// Whether `id` is the probe of the run under way (its refusal is the run's business).
    pub(super) fn is_doctor_probe(&self, id: Option<RequestId>) -> bool {
        matches!(&self.doctor, Some(DoctorRun { probe: Probe::Waiting { id: w, .. }, .. }) if id == Some(*w))
    }

    /// The tracker link dropped: no probe answer will come.
    pub(super) fn doctor_tracker_gone(&mut self, reason: &str) {
        if let Some(run) = &mut self.doctor
            && matches!(run.probe, Probe::Waiting { .. })
        {
            run.probe = Probe::Done(ProbeFact::Missing(format!(
                "the tracker link dropped before it answered ({reason})"
            )));
        }
    }

    /// The store answered `Read::Health`.
    pub(super) fn doctor_health(&mut self, result: Result<Answer, String>) {
        if let Some(run) = &mut self.doctor {
            run.health = Some(match result {
                Ok(Answer::Health(health)) => Ok(health),
                Ok(_) => Err("the store gave an unexpected answer".into()),
                Err(e) => Err(e),
            });
        }
    }

    /// A connection is gone: a dial that never opened is the last word on its key.
    pub(super) fn contact_failed(&mut self, conn: &Conn, reason: &str, now: Instant) {
        use super::connections::Phase;
        if conn.addr.is_none() || matches!(conn.phase, Phase::Open | Phase::Draining) {
            return;
        }
        if let Some((_, key)) = conn.dialled_for.as_ref().or(conn.peer.as_ref()) {
            self.contacts.record(*key, now, Some(reason.to_owned()));
        }
    }

    /// A connection to `key` opened.
    pub(super) fn contact_made(&mut self, key: PublicKey, now: Instant) {
        self.contacts.record(key, now, None);
    }

    /// After every input: the run under way ends once everything answered, or at its
    /// deadline.
    pub(super) fn doctor_progress(&mut self, now: Now) {
        let Some(run) = &self.doctor else {
            return;
        };
        let members_settled = run.dialled.iter().all(|key| {
            self.conns.open_for(key).is_some() || self.contacts.since(key, run.started).is_some()
        });
        let settled =
            run.health.is_some() && matches!(run.probe, Probe::Done(_)) && members_settled;
        if !settled && now.at < run.deadline {
            return;
        }
        let Some(run) = self.doctor.take() else {
            return;
        };
        let checks = diagnosis::checks(&self.doctor_facts(&run, now));
        for req in run.reqs {
            self.emit_for(
                req,
                Event::Doctor {
                    checks: checks.clone(),
                },
            );
        }
    }

    fn doctor_facts(&self, run: &DoctorRun, now: Now) -> Facts {
        let late = format!("no answer within {} s", DOCTOR_TIMEOUT.as_secs());
        let link = match self.tracker.status {
            Some(TrackerStatus::Connected) => TrackerFact::Connected,
            _ => match self.tracker.refusal() {
                Some(message) => TrackerFact::Refused {
                    message: message.to_owned(),
                },
                None => TrackerFact::Down {
                    reason: self.tracker.last_down.clone(),
                },
            },
        };
        let probe = match &run.probe {
            Probe::Done(fact) => fact.clone(),
            Probe::Waiting { .. } => ProbeFact::Missing(format!(
                "the tracker did not answer the probe ({late}; an older tracker does not offer it)"
            )),
        };
        let groups_of = |key: &PublicKey| -> Vec<GroupName> {
            self.cache
                .groups()
                .iter()
                .filter(|(_, l)| l.members.iter().any(|m| &m.key == key))
                .map(|(g, _)| g.clone())
                .collect()
        };
        let members = self
            .doctor_members()
            .into_values()
            .map(|m| {
                let state = if self.conns.open_for(&m.key).is_some() {
                    MemberState::Connected
                } else if !m.online {
                    MemberState::Offline {
                        last_seen: m.last_seen,
                    }
                } else {
                    match self.contacts.last(&m.key) {
                        Some(None) => MemberState::Connected,
                        Some(Some(error)) => MemberState::Unreachable {
                            addr: m.addr,
                            error: error.clone(),
                        },
                        None => MemberState::Untried { addr: m.addr },
                    }
                };
                MemberFact {
                    groups: groups_of(&m.key),
                    name: m.name,
                    key: m.key,
                    state,
                }
            })
            .collect();
        Facts {
            tracker: self.tracker_addr.clone(),
            link,
            pinned: self.tracker.pinned_key(&self.tracker_addr),
            key_changed: self.tracker.presented,
            listen: self.listen,
            probe,
            members,
            health: run
                .health
                .clone()
                .unwrap_or_else(|| Err(format!("{late} (is the disk stuck?)"))),
            now_ms: now.unix_millis(),
        }
    }
}
