//! Presence: `/whois` and `/status`.
//!
//! `/whois NAME` is answered from the member lists when one holds the name (the tracker
//! keeps them current: presence, when an offline member was last seen, its status line),
//! with the groups we share; otherwise from a tracker look-up, sharing no group. `/status`
//! goes to the tracker, which keeps the line durably and tells every member of our groups
//! (us included, so our own lists show it too); its answer settles the command. Nothing
//! is re-sent after a reconnect: the tracker already has it.

use std::collections::HashMap;
use std::time::Instant;

use natter_protocol::tracker::{Member, PeerToTracker, status_refusal};
use natter_protocol::{Name, RequestId};

use super::{Core, Now};
use crate::node::api::{About, Event, NodeError};

/// Names waited for by `/whois` at once; past it a `/whois` that needs the tracker is
/// refused as busy.
const MAX_WHOIS_WAITING: usize = 256;

/// One `/whois` waiting for the tracker's look-up.
#[derive(Debug, Clone)]
pub(super) struct WaitingWhois {
    req: Option<RequestId>,
    deadline: Instant,
}

/// The `/whois` commands waiting for a look-up, by the name asked about.
pub(super) type WhoisWaiting = HashMap<Name, Vec<WaitingWhois>>;

impl Core {
    pub(super) fn whois(&mut self, now: Now, req: Option<RequestId>, name: Name) {
        if let Some(event) = self.whois_cached(&name) {
            return self.emit_for(req, event);
        }
        if !self.tracker_up() {
            let error = NodeError::TrackerDown {
                tracker: self.tracker_addr.clone(),
                what: format!("look up {name}"),
                about: Some(About::Peer(name)),
            };
            return self.fail(req, error);
        }
        if !self.whois.contains_key(&name) && self.whois.len() >= MAX_WHOIS_WAITING {
            let message = "too many /whois look-ups waiting; try again in a moment";
            return self.fail(req, NodeError::Busy(message.into()));
        }
        let deadline = now.at + self.ack_timeout;
        let waiting = self.whois.entry(name.clone()).or_default();
        waiting.push(WaitingWhois { req, deadline });
        // One look-up per name answers every `/whois` waiting on it.
        if waiting.len() == 1 {
            self.look_up(None, &name);
        }
    }

    /// What the member lists say of `name`: the entry of a list where it is online if
    /// any, and the groups whose lists hold it.
    fn whois_cached(&self, name: &Name) -> Option<Event> {
        let found = self.cache.find_peer(name)?;
        let last_seen = if found.online {
            None
        } else {
            // Lists updated at different times may differ: the latest word wins.
            self.cache
                .groups()
                .values()
                .flat_map(|list| &list.members)
                .filter(|m| &m.name == name)
                .filter_map(|m| m.last_seen)
                .max()
        };
        Some(Event::Whois {
            name: name.clone(),
            key: found.key,
            online: found.online,
            last_seen,
            status: found.status.clone(),
            groups: self.cache.groups_with(name),
        })
    }

    /// The tracker answered a look-up of `name`: every `/whois` waiting on it is answered
    /// (we share no group with it, or the lists would have answered).
    pub(super) fn whois_looked_up(&mut self, name: &Name, member: Option<&Member>) {
        for waiting in self.whois.remove(name).unwrap_or_default() {
            match member {
                Some(m) => {
                    let event = Event::Whois {
                        name: m.name.clone(),
                        key: m.key,
                        online: m.online,
                        last_seen: m.last_seen.filter(|_| !m.online),
                        status: m.status.clone(),
                        groups: Vec::new(),
                    };
                    self.emit_for(waiting.req, event);
                }
                None => {
                    let detail = " (the tracker does not know it)".to_owned();
                    let name = name.clone();
                    self.fail(waiting.req, NodeError::UnknownPeer { name, detail });
                }
            }
        }
    }

    /// The look-up of `name` will not be answered (the link dropped, or never sent it):
    /// every `/whois` waiting on it fails.
    pub(super) fn whois_unanswered(&mut self, name: &Name, reason: &str) {
        for waiting in self.whois.remove(name).unwrap_or_default() {
            let error = NodeError::TrackerDropped {
                what: format!("look up {name}"),
                reason: reason.to_owned(),
                about: Some(About::Peer(name.clone())),
            };
            self.fail(waiting.req, error);
        }
    }

    /// Every `/whois` fails: the tracker link is gone.
    pub(super) fn whois_all_unanswered(&mut self, reason: &str) {
        let names: Vec<Name> = self.whois.keys().cloned().collect();
        for name in names {
            self.whois_unanswered(&name, reason);
        }
    }

    /// The earliest deadline of a waiting `/whois`.
    pub(super) fn whois_deadline(&self) -> Option<Instant> {
        self.whois.values().flatten().map(|w| w.deadline).min()
    }

    /// `/whois` commands whose look-up took too long fail.
    pub(super) fn expire_whois(&mut self, now: Instant) {
        let mut late = Vec::new();
        self.whois.retain(|name, waiting| {
            waiting.retain(|w| {
                let due = w.deadline <= now;
                if due {
                    late.push((name.clone(), w.req));
                }
                !due
            });
            !waiting.is_empty()
        });
        for (name, req) in late {
            self.fail(req, NodeError::LookupUnanswered { name });
        }
    }

    /// `/status TEXT` (empty: clear it): checked here, then set at the tracker.
    pub(super) fn set_own_status(&mut self, req: Option<RequestId>, text: String) {
        if let Some(why) = status_refusal(&text) {
            return self.fail(req, NodeError::BadCommand(why));
        }
        let status = (!text.is_empty()).then_some(text);
        let what = match status {
            Some(_) => "set your status",
            None => "clear your status",
        };
        self.ask_tracker(req, None, what, |r| PeerToTracker::SetStatus {
            status,
            req: r,
        });
    }
}
