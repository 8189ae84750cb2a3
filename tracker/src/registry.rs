//! The membership registry: a pure state machine, no I/O.
//!
//! Each call takes one event from a connection (its hello, a request, its end) and returns
//! the frames to push to which connections, how the durable state changed ([`Save`]: a
//! join, a leave or a new name binding is written before anything is sent; a presence
//! change may be written a little later), and whether a connection must close.
//! Connections are plain numbers here; the server maps them to sockets.
//!
//! The totals are capped ([`Caps`]): groups, bound names, members per group. A group
//! disappears when its last member leaves.
//!
//! A name is bound to the identity key that first registered it (the key that completed the
//! connection's Noise handshake), forever: the binding is durable, so a different key is
//! refused the name even while its owner is offline. Every request after the hello acts for
//! the connection's own registration only; no frame names whom it acts for.
//!
//! Presence: when a name's last connection goes, the time the caller passes (the tracker's
//! clock, Unix milliseconds; the registry never reads a clock) is kept as its `last_seen`
//! and carried by the `offline` change, by member lists and by look-ups until it comes
//! back. Each key's status line (`set_status`) is kept too, and a change of it goes to
//! every group the member is in as an `updated` change. Both are durable.
//!
//! Besides the groups, an index from each name to the groups it is a member of answers
//! "which groups is this peer in" (every hello, disconnect and look-up) without scanning
//! every group. Only `Registry::change` and loading touch membership, and both keep the
//! index in step.
//!
//! Governance (issue 10): each group has one owner, admins and members. Whoever creates a
//! group (a join of an unknown group, or a signed `create`) owns it. Signed actions
//! (`govern`) are checked by [`crate::govern::check`] and carried out in
//! `registry_govern.rs`; every change they make goes through `Registry::change` like a
//! join does. An invite-only group admits only the invited, a kicked peer only once added
//! or invited again. When the owner leaves, the longest-standing admin (else member)
//! inherits the group; going offline changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use natter_protocol::govern::Role;
use natter_protocol::tracker::{
    ActedBy, Member, MemberChange, PeerToTracker, TrackerToPeer, status_refusal,
};
use natter_protocol::{ErrorCode, GroupName, Name, PROTOCOL_VERSION, PublicKey, RequestId};

use crate::confusable::{self, Lookalikes};
use crate::limits::{MAX_GROUP_MEMBERS, MAX_GROUPS, MAX_NAMES, VERSION_MARGIN};
use crate::state_file::{Borrowed, Disbanded, GroupState, State};
use group_set::GroupSet;

/// Identifies one accepted connection for the lifetime of the process.
pub type ConnId = u64;

/// How an event changed what the state file holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Save {
    /// Nothing durable changed.
    #[default]
    Nothing,
    /// Only presence changed (online, offline, a new address, versions): write it soon.
    Soon,
    /// Membership or a name binding changed: write it before sending the pushes.
    Now,
}

/// What one event did.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Frames to send, in order. A change pushed to every member of a group is one frame
    /// shared by all its recipients, not a copy each: a storm of N joins in a group of N
    /// queues N² pointers, not N² frames.
    pub pushes: Vec<(ConnId, Arc<TrackerToPeer>)>,
    /// Whether and how soon to write the state file (before the pushes if [`Save::Now`]).
    pub save: Save,
    /// Group versions bumped.
    pub bumps: usize,
    /// This connection must close once its pushes are sent.
    pub close: Option<ConnId>,
}

impl Outcome {
    fn save(&mut self, save: Save) {
        self.save = self.save.max(save);
    }

    /// Queues `frame` for `conn` alone.
    fn push(&mut self, conn: ConnId, frame: TrackerToPeer) {
        self.pushes.push((conn, Arc::new(frame)));
    }
}

/// The caps on the registry's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub groups: usize,
    pub names: usize,
    pub members_per_group: usize,
}

impl Default for Caps {
    /// [`MAX_GROUPS`], [`MAX_NAMES`], [`MAX_GROUP_MEMBERS`].
    fn default() -> Self {
        Self {
            groups: MAX_GROUPS,
            names: MAX_NAMES,
            members_per_group: MAX_GROUP_MEMBERS,
        }
    }
}

/// What a hello would cost the rate budgets, if it is not refused for other reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloCost {
    /// It binds a name not yet bound.
    pub new_name: bool,
    /// Groups it joins that it is not yet a member of.
    pub new_joins: usize,
}

impl Outcome {
    fn to(conn: ConnId, frame: TrackerToPeer) -> Self {
        Self {
            pushes: vec![(conn, Arc::new(frame))],
            ..Self::default()
        }
    }

    fn refuse(conn: ConnId, code: ErrorCode, message: String, close: bool) -> Self {
        Self::refuse_request(conn, None, code, message, close)
    }

    /// Refuses the request `req` (echoed in the error frame).
    fn refuse_request(
        conn: ConnId,
        req: Option<RequestId>,
        code: ErrorCode,
        message: String,
        close: bool,
    ) -> Self {
        Self {
            pushes: vec![(conn, Arc::new(TrackerToPeer::Error { code, message, req }))],
            close: close.then_some(conn),
            ..Self::default()
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
    /// Name → the groups it is a member of: exactly what a scan of `groups` finds, kept in
    /// step by [`Registry::change`].
    memberships: HashMap<Name, GroupSet>,
    /// Name → when it went offline (durable); only names offline now.
    last_seen: BTreeMap<Name, u64>,
    /// Key → its status line (durable).
    statuses: BTreeMap<PublicKey, String>,
    /// Disbanded groups with members not told yet (durable).
    disbanded: BTreeMap<GroupName, Disbanded>,
    heartbeat_secs: u64,
    caps: Caps,
    /// Look-alike checks (see [`confusable`]): every bound name, every group created.
    lookalikes: (Lookalikes<Name>, Lookalikes<GroupName>),
}

impl Registry {
    /// A registry holding `state` (everyone offline) with the default [`Caps`];
    /// `heartbeat_secs` goes in every welcome.
    pub fn new(state: State, heartbeat_secs: u64) -> Self {
        Self::with_caps(state, heartbeat_secs, Caps::default())
    }

    /// A registry holding `state` (everyone offline) under `caps`.
    ///
    /// A group member whose name is bound to no key (a state file from before keys) is
    /// dropped from its groups: it cannot be vouched for, and rejoins on its next hello.
    /// Every group's version moves up by [`VERSION_MARGIN`]: the last presence changes
    /// before a crash may not have been saved, and peers that saw their versions must not
    /// see versions go backwards. (Caps apply to what comes next; a loaded state is kept
    /// whole.)
    pub fn with_caps(state: State, heartbeat_secs: u64, caps: Caps) -> Self {
        let State {
            mut groups,
            keys,
            mut last_seen,
            statuses,
            mut disbanded,
        } = state;
        for group in groups.values_mut() {
            group.members.retain(|name, _| keys.contains_key(name));
            group.version = group.version.saturating_add(VERSION_MARGIN);
            group.normalize();
        }
        groups.retain(|_, group| !group.members.is_empty());
        last_seen.retain(|name, _| keys.contains_key(name));
        for gone in disbanded.values_mut() {
            gone.pending.retain(|name| keys.contains_key(name));
        }
        disbanded.retain(|_, gone| !gone.pending.is_empty());
        let memberships = index_of(&groups);
        let lookalikes = (Lookalikes::of(keys.keys()), Lookalikes::of(groups.keys()));
        Self {
            groups,
            keys,
            online: HashMap::new(),
            conns: HashMap::new(),
            memberships,
            last_seen,
            statuses,
            disbanded,
            heartbeat_secs,
            caps,
            lookalikes,
        }
    }

    /// What `hello` would cost the rate budgets, or `None` if it will be refused anyway
    /// (a second hello, a name bound to another key or held by a live connection).
    pub fn hello_cost(
        &self,
        conn: ConnId,
        name: &Name,
        key: &PublicKey,
        groups: &[GroupName],
    ) -> Option<HelloCost> {
        if self.conns.contains_key(&conn)
            || self.keys.get(name).is_some_and(|owner| owner != key)
            || self.online.contains_key(name)
            || self.lookalike_of(name, key).is_some()
        {
            return None;
        }
        let wanted: BTreeSet<&GroupName> = groups.iter().collect();
        Some(HelloCost {
            new_name: !self.keys.contains_key(name),
            new_joins: wanted
                .into_iter()
                .filter(|group| !self.is_member(group, name))
                .count(),
        })
    }

    /// The durable groups, for the state file.
    pub fn groups(&self) -> &BTreeMap<GroupName, GroupState> {
        &self.groups
    }

    /// The durable name → key bindings, for the state file.
    pub fn keys(&self) -> &BTreeMap<Name, PublicKey> {
        &self.keys
    }

    /// Everything durable, for the state file.
    pub fn durable(&self) -> Borrowed<'_> {
        Borrowed {
            groups: &self.groups,
            keys: &self.keys,
            last_seen: &self.last_seen,
            statuses: &self.statuses,
            disbanded: &self.disbanded,
        }
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
        let bound_now = !self.keys.contains_key(&name);
        if bound_now && self.keys.len() >= self.caps.names {
            return Outcome::refuse(
                conn,
                ErrorCode::Refused,
                format!(
                    "this tracker holds its maximum of {} names: no new name can register; use a name you registered before",
                    self.caps.names
                ),
                true,
            );
        }
        if bound_now && let Some(owned) = self.lookalike_of(&name, &key) {
            let message = confusable::name_refusal(&name, owned);
            return Outcome::refuse(conn, ErrorCode::NameOwned, message, true);
        }
        if bound_now {
            self.lookalikes.0.insert(&name);
        }
        // Another case of a bound name is that name: go on under the spelling it was
        // registered with, so every list and welcome shows one spelling.
        let name = match self.keys.get_key_value(&name) {
            Some((bound, _)) => bound.clone(),
            None => name,
        };
        self.keys.insert(name.clone(), key);
        self.online.insert(name.clone(), Online { conn, addr });
        self.conns.insert(conn, name.clone());
        let was_offline = self.last_seen.remove(&name).is_some();
        let mut out = Outcome::to(
            conn,
            TrackerToPeer::Welcome {
                version: PROTOCOL_VERSION,
                name: name.clone(),
                addr,
                heartbeat_secs: self.heartbeat_secs,
            },
        );
        if bound_now {
            out.save(Save::Now);
        } else if was_offline {
            out.save(Save::Soon);
        }
        let member = self.member_now(&name, key, addr);
        // Back online in every group it was already in (maybe at a new address).
        for group in self.groups_of(&name) {
            self.change(
                &group,
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
                // Disbanded or kicked while it was away: tell it, rather than re-join.
                if let Some(left) = self.gone_from(&group, &name, &mut out) {
                    out.push(conn, left);
                    continue;
                }
                if let Some(message) = self.join_refusal(&group, &name) {
                    let code = ErrorCode::Refused;
                    let req = None;
                    out.push(conn, TrackerToPeer::Error { code, message, req });
                    continue;
                }
                self.change(
                    &group,
                    MemberChange::Joined {
                        member: member.clone(),
                    },
                    &mut out,
                );
            }
        }
        for group in self.groups_of(&name) {
            out.push(conn, self.snapshot_frame(&group, None));
        }
        out
    }

    /// A request after the hello. Pings, pongs and probes are the connection's business.
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
            PeerToTracker::Govern { action, req } => self.govern(conn, &name, *action, req),
            PeerToTracker::Invites { req } => self.invites_for(conn, &name, req),
            PeerToTracker::Join { group, req } => self.join(conn, &name, group, req),
            PeerToTracker::Leave { group, req } => self.leave(conn, &name, group, req),
            PeerToTracker::Lookup { name: wanted, req } => {
                let member = self.lookup_for(&name, &wanted);
                Outcome::to(
                    conn,
                    TrackerToPeer::LookupResult {
                        name: wanted,
                        member,
                        req,
                    },
                )
            }
            PeerToTracker::SetStatus { status, req } => self.set_status(conn, &name, status, req),
            PeerToTracker::Snapshot { group, req } => {
                if self.is_member(&group, &name) {
                    Outcome::to(conn, self.snapshot_frame(&group, req))
                } else {
                    not_member(conn, &group, req)
                }
            }
            PeerToTracker::Ping { .. }
            | PeerToTracker::Pong { .. }
            | PeerToTracker::Probe { .. } => Outcome::default(),
        }
    }

    /// `conn` is gone (closed, timed out, dropped) at `now` (the tracker's clock, Unix
    /// milliseconds): its peer goes offline, last seen `now`, but stays a member.
    pub fn disconnect(&mut self, conn: ConnId, now: u64) -> Outcome {
        let Some(name) = self.conns.remove(&conn) else {
            return Outcome::default();
        };
        let mut out = Outcome::default();
        if self.online.get(&name).is_some_and(|o| o.conn == conn) {
            self.online.remove(&name);
            self.last_seen.insert(name.clone(), now);
            out.save(Save::Soon);
            for group in self.groups_of(&name) {
                let change = MemberChange::Offline {
                    name: name.clone(),
                    last_seen: Some(now),
                };
                self.change(&group, change, &mut out);
            }
        }
        out
    }

    /// Where `name` is: online at its live address, else offline at its last known one.
    /// Unknown (or never bound to a key) is `None`.
    pub fn lookup(&self, name: &Name) -> Option<Member> {
        let key = *self.keys.get(name)?;
        if let Some(online) = self.online.get(name) {
            return Some(self.member_now(name, key, online.addr));
        }
        // The first of its groups, in group order, as a scan of all groups would find it.
        let group = self.memberships.get(name)?.first()?;
        let addr = *self.groups.get(group)?.members.get(name)?;
        Some(self.member_now(name, key, addr))
    }

    /// What [`Registry::lookup`] answers `asker`: nothing about a peer that is a member
    /// of invite-only groups only, unless `asker` shares one with it (a private group's
    /// member list and addresses are for its members). A peer in an open group, or in no
    /// group at all, is answered to anyone, as is a look-up of oneself.
    pub fn lookup_for(&self, asker: &Name, name: &Name) -> Option<Member> {
        let hidden = asker != name
            && self.memberships.get(name).is_some_and(|groups| {
                groups.iter().all(|group| {
                    self.groups.get(group).is_some_and(|state| state.private)
                        && !self.is_member(group, asker)
                })
            });
        if hidden { None } else { self.lookup(name) }
    }

    /// `name` (bound to `key`) as members see it now: online at its live address, or
    /// offline at `stored` (its last known address) with when it was last seen; with its
    /// status line either way.
    fn member_now(&self, name: &Name, key: PublicKey, stored: SocketAddr) -> Member {
        let online = self.online.get(name);
        Member {
            name: name.clone(),
            addr: online.map_or(stored, |o| o.addr),
            online: online.is_some(),
            key,
            last_seen: match online {
                Some(_) => None,
                None => self.last_seen.get(name).copied(),
            },
            status: self.statuses.get(&key).cloned(),
            role: Default::default(),
        }
    }

    /// The key `name` is bound to, if any.
    pub fn key_of(&self, name: &Name) -> Option<&PublicKey> {
        self.keys.get(name)
    }

    /// The name registered on `conn`, if its hello was accepted.
    pub fn name_of(&self, conn: ConnId) -> Option<&Name> {
        self.conns.get(&conn)
    }

    fn join(
        &mut self,
        conn: ConnId,
        name: &Name,
        group: GroupName,
        req: Option<RequestId>,
    ) -> Outcome {
        let mut out = Outcome::default();
        if !self.is_member(&group, name) {
            if let Some(message) = self.join_refusal(&group, name) {
                return Outcome::refuse_request(conn, req, ErrorCode::Refused, message, false);
            }
            let online = self.online.get(name).map(|o| o.addr);
            let key = self.keys.get(name).copied();
            if let (Some(addr), Some(key)) = (online, key) {
                let member = self.member_now(name, key, addr);
                self.change(&group, MemberChange::Joined { member }, &mut out);
            }
        }
        out.push(conn, self.snapshot_frame(&group, req));
        out
    }

    fn leave(
        &mut self,
        conn: ConnId,
        name: &Name,
        group: GroupName,
        req: Option<RequestId>,
    ) -> Outcome {
        if !self.is_member(&group, name) {
            return not_member(conn, &group, req);
        }
        let was_owner = self
            .groups
            .get(&group)
            .is_some_and(|state| state.owner.as_ref() == Some(name));
        let mut out = Outcome::default();
        self.change(&group, MemberChange::Left { name: name.clone() }, &mut out);
        if was_owner {
            self.pass_ownership(&group, &mut out);
        }
        out.push(
            conn,
            TrackerToPeer::Left {
                group,
                req,
                by: None,
                reason: None,
                disbanded: false,
                action: None,
            },
        );
        out
    }

    /// Makes the heir of `group` (which has no owner: it just left) its owner, and tells
    /// every member. The tracker's doing: no `by`, no signed action.
    fn pass_ownership(&mut self, group: &GroupName, out: &mut Outcome) {
        let Some(heir) = self.groups.get(group).and_then(|state| state.heir()) else {
            return;
        };
        let change = MemberChange::Role {
            name: heir,
            role: Role::Owner,
            by: ActedBy::default(),
        };
        self.change(group, change, out);
    }

    /// Sets (`Some`) or clears (`None`, or an empty line) the status line of `name`'s key,
    /// and tells every group it is in, the member itself included. A line that is too long or holds a control
    /// character is refused, and nothing changes.
    fn set_status(
        &mut self,
        conn: ConnId,
        name: &Name,
        status: Option<String>,
        req: Option<RequestId>,
    ) -> Outcome {
        let status = status.filter(|s| !s.is_empty());
        if let Some(message) = status.as_deref().and_then(status_refusal) {
            return Outcome::refuse_request(conn, req, ErrorCode::Refused, message, false);
        }
        let (Some(key), Some(online)) = (self.keys.get(name).copied(), self.online.get(name))
        else {
            // Every request comes from a registered, online connection; nothing to do.
            return Outcome::default();
        };
        let addr = online.addr;
        let mut out = Outcome::default();
        let changed = match &status {
            Some(line) => self.statuses.insert(key, line.clone()).as_ref() != Some(line),
            None => self.statuses.remove(&key).is_some(),
        };
        if changed {
            out.save(Save::Now);
            let member = self.member_now(name, key, addr);
            for group in self.groups_of(name) {
                let change = MemberChange::Updated {
                    member: member.clone(),
                };
                // The setter gets the change too (unlike a join, no full list follows),
                // so its copy of each list stays at the group's version.
                if let Some(frame) = self.change(&group, change, &mut out) {
                    out.pushes.push((conn, frame));
                }
            }
        }
        out.push(conn, TrackerToPeer::StatusSet { status, req });
        out
    }

    /// A name bound to a key other than `key` that a new binding of `name` could pass
    /// for. `None` for a name already bound: it is never refused to its own key.
    fn lookalike_of(&self, name: &Name, key: &PublicKey) -> Option<&Name> {
        if self.keys.contains_key(name) {
            return None;
        }
        self.lookalikes
            .0
            .find(name, |other| self.keys.get(other).is_some_and(|k| k != key))
    }

    /// Why `name`, not yet in `group`, may not join it, if it may not: the group's
    /// admission rules (invite-only, a kick), a look-alike of an existing group, or a cap.
    /// A join that would create the group notes its name for later look-alikes.
    fn join_refusal(&mut self, group: &GroupName, name: &Name) -> Option<String> {
        if let Some(message) = self
            .groups
            .get(group)
            .and_then(|state| state.admission_refusal(group, name))
        {
            return Some(message);
        }
        if !self.groups.contains_key(group) {
            let groups = &self.groups;
            let index = &mut self.lookalikes.1;
            if let Some(existing) = index.find(group, |g| groups.contains_key(g)) {
                return Some(confusable::group_refusal(group, existing));
            }
            index.compact(groups.len(), |g| groups.contains_key(g));
            index.insert(group);
        }
        let message = match self.groups.get(group) {
            None if self.groups.len() >= self.caps.groups => format!(
                "cannot create {group}: this tracker holds its maximum of {} groups",
                self.caps.groups
            ),
            Some(state) if state.members.len() >= self.caps.members_per_group => format!(
                "cannot join {group}: it has its maximum of {} members",
                self.caps.members_per_group
            ),
            _ => return None,
        };
        Some(message)
    }

    /// Applies one change to `group` ([`GroupState::apply`]), bumps its version, and
    /// pushes the delta (with the member's role in the group, if it carries a member) to
    /// every online member but the one it is about: a joiner, an added member or a leaver
    /// gets its own frame from the caller. A change of a role, the topic or invite-only
    /// goes to everyone, the member it is about and the actor included. A group whose last
    /// member left is forgotten. Returns the pushed frame (`None`: the group is gone).
    fn change(
        &mut self,
        group: &GroupName,
        mut change: MemberChange,
        out: &mut Outcome,
    ) -> Option<Arc<TrackerToPeer>> {
        let name = change.member_name().cloned();
        let state = self.groups.entry(group.clone()).or_default();
        let version = state.version + 1;
        state.apply(&change, version);
        state.version = version;
        out.save(match change {
            MemberChange::Online { .. }
            | MemberChange::Offline { .. }
            | MemberChange::Updated { .. } => Save::Soon,
            _ => Save::Now,
        });
        out.bumps += 1;
        if let Some(name) = &name {
            self.index(group, name);
        }
        let state = self.groups.get(group)?;
        if let MemberChange::Joined { member }
        | MemberChange::Online { member }
        | MemberChange::Updated { member }
        | MemberChange::Added { member, .. } = &mut change
        {
            member.role = state.role_of(&member.name).unwrap_or_default();
        }
        let skip = match change {
            MemberChange::Role { .. }
            | MemberChange::Topic { .. }
            | MemberChange::Private { .. } => None,
            _ => name,
        };
        let frame = Arc::new(TrackerToPeer::MemberUpdate {
            group: group.clone(),
            version,
            change,
        });
        for other in state.members.keys().filter(|m| Some(*m) != skip.as_ref()) {
            if let Some(online) = self.online.get(other) {
                out.pushes.push((online.conn, Arc::clone(&frame)));
            }
        }
        Some(frame)
    }

    /// Brings the name → groups index and the group list in step with whether `name` is
    /// in `group` now; forgets the group if nobody is left in it.
    fn index(&mut self, group: &GroupName, name: &Name) {
        let Some(state) = self.groups.get(group) else {
            return;
        };
        if state.members.is_empty() {
            self.groups.remove(group);
        }
        if self.is_member(group, name) {
            self.memberships
                .entry(name.clone())
                .or_default()
                .insert(group.clone());
            self.told_of_disband(group, name);
        } else if let Some(groups) = self.memberships.get_mut(name) {
            groups.remove(group);
            if groups.is_empty() {
                self.memberships.remove(name);
            }
        }
    }

    fn is_member(&self, group: &GroupName, name: &Name) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.members.contains_key(name))
    }

    /// The groups `name` is a member of, in group order.
    fn groups_of(&self, name: &Name) -> Vec<GroupName> {
        self.memberships
            .get(name)
            .map(|groups| groups.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the name → groups index is exactly what a scan of every group finds.
    #[cfg(test)]
    fn index_matches_a_scan(&self) -> bool {
        self.memberships == index_of(&self.groups)
    }

    fn snapshot_frame(&self, group: &GroupName, req: Option<RequestId>) -> TrackerToPeer {
        let Some(state) = self.groups.get(group) else {
            return TrackerToPeer::Members {
                group: group.clone(),
                version: 0,
                members: Vec::new(),
                owner: None,
                topic: None,
                private: false,
                req,
                by: Default::default(),
            };
        };
        let members = state
            .members
            .iter()
            .filter_map(|(name, addr)| {
                let key = *self.keys.get(name)?;
                let mut member = self.member_now(name, key, *addr);
                member.role = state.role_of(name).unwrap_or_default();
                Some(member)
            })
            .collect();
        TrackerToPeer::Members {
            group: group.clone(),
            version: state.version,
            members,
            owner: state.owner.clone(),
            topic: state.topic.clone(),
            private: state.private,
            req,
            by: Default::default(),
        }
    }
}

/// Name → the groups it is a member of, by scanning every group (on load only).
fn index_of(groups: &BTreeMap<GroupName, GroupState>) -> HashMap<Name, GroupSet> {
    let mut index: HashMap<Name, GroupSet> = HashMap::new();
    for (group, state) in groups {
        for name in state.members.keys() {
            index.entry(name.clone()).or_default().insert(group.clone());
        }
    }
    index
}

fn not_member(conn: ConnId, group: &GroupName, req: Option<RequestId>) -> Outcome {
    Outcome::refuse_request(
        conn,
        req,
        ErrorCode::NotMember,
        format!("you are not a member of {group}"),
        false,
    )
}

#[path = "registry_group_set.rs"]
mod group_set;

#[path = "registry_govern.rs"]
mod governing;

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
