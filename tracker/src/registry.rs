//! The membership registry: a pure state machine, no I/O.
//!
//! Each call takes one event from a connection (its hello, a request, its end) and returns
//! the frames to push to which connections, whether the durable state changed (so the
//! caller writes the state file before sending anything), and whether a connection must
//! close. Connections are plain numbers here; the server maps them to sockets.
//!
//! A name is bound to the identity key that first registered it (the key that completed the
//! connection's Noise handshake), forever: the binding is durable, so a different key is
//! refused the name even while its owner is offline. Every request after the hello acts for
//! the connection's own registration only; no frame names whom it acts for.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, GroupName, Name, PROTOCOL_VERSION, PublicKey};

use crate::state_file::{GroupState, State};

/// Identifies one accepted connection for the lifetime of the process.
pub type ConnId = u64;

/// What one event did.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Frames to send, in order.
    pub pushes: Vec<(ConnId, TrackerToPeer)>,
    /// The durable state changed: persist before sending `pushes`.
    pub changed: bool,
    /// This connection must close once its pushes are sent.
    pub close: Option<ConnId>,
}

impl Outcome {
    fn to(conn: ConnId, frame: TrackerToPeer) -> Self {
        Self {
            pushes: vec![(conn, frame)],
            ..Self::default()
        }
    }

    fn refuse(conn: ConnId, code: ErrorCode, message: String, close: bool) -> Self {
        Self {
            pushes: vec![(conn, TrackerToPeer::Error { code, message })],
            changed: false,
            close: close.then_some(conn),
        }
    }
}

/// A peer with a live connection.
#[derive(Debug, Clone, Copy)]
struct Online {
    conn: ConnId,
    addr: SocketAddr,
}

/// Who is in which group (durable) and who is online where (not).
#[derive(Debug)]
pub struct Registry {
    groups: BTreeMap<GroupName, GroupState>,
    /// Name → the key it is bound to (durable).
    keys: BTreeMap<Name, PublicKey>,
    online: HashMap<Name, Online>,
    conns: HashMap<ConnId, Name>,
    heartbeat_secs: u64,
}

impl Registry {
    /// A registry holding `state` (everyone offline); `heartbeat_secs` goes in every welcome.
    /// A group member whose name is bound to no key (a state file from before keys) is
    /// dropped from its groups: it cannot be vouched for, and rejoins on its next hello.
    pub fn new(state: State, heartbeat_secs: u64) -> Self {
        let State { mut groups, keys } = state;
        for group in groups.values_mut() {
            group.members.retain(|name, _| keys.contains_key(name));
        }
        Self {
            groups,
            keys,
            online: HashMap::new(),
            conns: HashMap::new(),
            heartbeat_secs,
        }
    }

    /// The durable groups, for the state file.
    pub fn groups(&self) -> &BTreeMap<GroupName, GroupState> {
        &self.groups
    }

    /// The durable name → key bindings, for the state file.
    pub fn keys(&self) -> &BTreeMap<Name, PublicKey> {
        &self.keys
    }

    /// A good hello (version already checked) from `conn`, authenticated as `key`, seen at
    /// `addr`: binds the name to `key` if it is free (refuses it if bound to another key),
    /// registers it, brings it online in every group it was in and joins every group it
    /// names.
    pub fn hello(
        &mut self,
        conn: ConnId,
        name: Name,
        key: PublicKey,
        addr: SocketAddr,
        groups: Vec<GroupName>,
    ) -> Outcome {
        if self.conns.contains_key(&conn) {
            return Outcome::refuse(
                conn,
                ErrorCode::HelloExpected,
                "hello sent twice on one connection".into(),
                true,
            );
        }
        if self.keys.get(&name).is_some_and(|owner| *owner != key) {
            return Outcome::refuse(
                conn,
                ErrorCode::NameOwned,
                format!("name '{name}' belongs to another key"),
                true,
            );
        }
        if self.online.contains_key(&name) {
            return Outcome::refuse(
                conn,
                ErrorCode::NameTaken,
                format!("name '{name}' is already in use"),
                true,
            );
        }
        let bound_now = self.keys.insert(name.clone(), key).is_none();
        self.online.insert(name.clone(), Online { conn, addr });
        self.conns.insert(conn, name.clone());
        let mut out = Outcome::to(
            conn,
            TrackerToPeer::Welcome {
                version: PROTOCOL_VERSION,
                name: name.clone(),
                addr,
                heartbeat_secs: self.heartbeat_secs,
            },
        );
        out.changed = bound_now;
        let member = Member {
            name: name.clone(),
            addr,
            online: true,
            key,
        };
        // Back online in every group it was already in (maybe at a new address).
        for group in self.groups_of(&name) {
            self.change(
                &group,
                &name,
                MemberChange::Online {
                    member: member.clone(),
                },
                &mut out,
            );
        }
        // Re-join every group it names that the registry does not know it is in.
        let wanted: BTreeSet<GroupName> = groups.into_iter().collect();
        for group in wanted {
            if !self.is_member(&group, &name) {
                self.change(
                    &group,
                    &name,
                    MemberChange::Joined {
                        member: member.clone(),
                    },
                    &mut out,
                );
            }
        }
        for group in self.groups_of(&name) {
            out.pushes.push((conn, self.snapshot_frame(&group)));
        }
        out
    }

    /// A request after the hello. Pings and pongs are the connection's business.
    pub fn apply(&mut self, conn: ConnId, request: PeerToTracker) -> Outcome {
        let Some(name) = self.conns.get(&conn).cloned() else {
            return Outcome::refuse(
                conn,
                ErrorCode::HelloExpected,
                "the first frame must be a hello".into(),
                true,
            );
        };
        match request {
            PeerToTracker::Hello { .. } => Outcome::refuse(
                conn,
                ErrorCode::HelloExpected,
                "hello sent twice on one connection".into(),
                true,
            ),
            PeerToTracker::Join { group } => self.join(conn, &name, group),
            PeerToTracker::Leave { group } => self.leave(conn, &name, group),
            PeerToTracker::Lookup { name: wanted } => {
                let member = self.lookup(&wanted);
                Outcome::to(
                    conn,
                    TrackerToPeer::LookupResult {
                        name: wanted,
                        member,
                    },
                )
            }
            PeerToTracker::Snapshot { group } => {
                if self.is_member(&group, &name) {
                    Outcome::to(conn, self.snapshot_frame(&group))
                } else {
                    not_member(conn, &group)
                }
            }
            PeerToTracker::Ping { .. } | PeerToTracker::Pong { .. } => Outcome::default(),
        }
    }

    /// `conn` is gone (closed, timed out, dropped): its peer goes offline but stays a member.
    pub fn disconnect(&mut self, conn: ConnId) -> Outcome {
        let Some(name) = self.conns.remove(&conn) else {
            return Outcome::default();
        };
        let mut out = Outcome::default();
        if self.online.get(&name).is_some_and(|o| o.conn == conn) {
            self.online.remove(&name);
            for group in self.groups_of(&name) {
                self.change(
                    &group,
                    &name,
                    MemberChange::Offline { name: name.clone() },
                    &mut out,
                );
            }
        }
        out
    }

    /// Where `name` is: online at its live address, else offline at its last known one.
    /// Unknown (or never bound to a key) is `None`.
    pub fn lookup(&self, name: &Name) -> Option<Member> {
        let key = *self.keys.get(name)?;
        if let Some(online) = self.online.get(name) {
            return Some(Member {
                name: name.clone(),
                addr: online.addr,
                online: true,
                key,
            });
        }
        self.groups
            .values()
            .find_map(|g| g.members.get(name))
            .map(|addr| Member {
                name: name.clone(),
                addr: *addr,
                online: false,
                key,
            })
    }

    /// The key `name` is bound to, if any.
    pub fn key_of(&self, name: &Name) -> Option<&PublicKey> {
        self.keys.get(name)
    }

    /// The name registered on `conn`, if its hello was accepted.
    pub fn name_of(&self, conn: ConnId) -> Option<&Name> {
        self.conns.get(&conn)
    }

    fn join(&mut self, conn: ConnId, name: &Name, group: GroupName) -> Outcome {
        let mut out = Outcome::default();
        if !self.is_member(&group, name) {
            let online = self.online.get(name).map(|o| o.addr);
            let key = self.keys.get(name).copied();
            if let (Some(addr), Some(key)) = (online, key) {
                let member = Member {
                    name: name.clone(),
                    addr,
                    online: true,
                    key,
                };
                self.change(&group, name, MemberChange::Joined { member }, &mut out);
            }
        }
        out.pushes.push((conn, self.snapshot_frame(&group)));
        out
    }

    fn leave(&mut self, conn: ConnId, name: &Name, group: GroupName) -> Outcome {
        if !self.is_member(&group, name) {
            return not_member(conn, &group);
        }
        let mut out = Outcome::default();
        self.change(
            &group,
            name,
            MemberChange::Left { name: name.clone() },
            &mut out,
        );
        out.pushes.push((conn, TrackerToPeer::Left { group }));
        out
    }

    /// Applies one change of `name` in `group`: updates the group, bumps its version and
    /// pushes the delta to every other online member.
    fn change(&mut self, group: &GroupName, name: &Name, change: MemberChange, out: &mut Outcome) {
        let state = self.groups.entry(group.clone()).or_default();
        match &change {
            MemberChange::Joined { member } | MemberChange::Online { member } => {
                state.members.insert(name.clone(), member.addr);
            }
            MemberChange::Left { .. } => {
                state.members.remove(name);
            }
            MemberChange::Offline { .. } => {}
        }
        state.version += 1;
        let version = state.version;
        out.changed = true;
        for other in state.members.keys().filter(|m| *m != name) {
            if let Some(online) = self.online.get(other) {
                out.pushes.push((
                    online.conn,
                    TrackerToPeer::MemberUpdate {
                        group: group.clone(),
                        version,
                        change: change.clone(),
                    },
                ));
            }
        }
    }

    fn is_member(&self, group: &GroupName, name: &Name) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.members.contains_key(name))
    }

    fn groups_of(&self, name: &Name) -> Vec<GroupName> {
        self.groups
            .iter()
            .filter(|(_, g)| g.members.contains_key(name))
            .map(|(group, _)| group.clone())
            .collect()
    }

    fn snapshot_frame(&self, group: &GroupName) -> TrackerToPeer {
        let (version, members) = match self.groups.get(group) {
            Some(state) => (
                state.version,
                state
                    .members
                    .iter()
                    .filter_map(|(name, addr)| {
                        let key = *self.keys.get(name)?;
                        let online = self.online.get(name);
                        Some(Member {
                            name: name.clone(),
                            addr: online.map_or(*addr, |o| o.addr),
                            online: online.is_some(),
                            key,
                        })
                    })
                    .collect(),
            ),
            None => (0, Vec::new()),
        };
        TrackerToPeer::Members {
            group: group.clone(),
            version,
            members,
        }
    }
}

fn not_member(conn: ConnId, group: &GroupName) -> Outcome {
    Outcome::refuse(
        conn,
        ErrorCode::NotMember,
        format!("you are not a member of #{group}"),
        false,
    )
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
