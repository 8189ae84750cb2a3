//! Carrying out the signed governance actions [`crate::govern::check`] allows, and
//! answering a peer's question about its invites.
//!
//! Each action's member-list changes go through `Registry::change` (one version bump per
//! pushed change), the outcome is [`Save::Now`] (written before anything is sent), and the
//! actor's `governed` answer comes after every push. An invite changes no member list: it
//! bumps no version (members would see a gap) and goes to the invitee alone.

use natter_protocol::govern::{Act, Role, SignedAction};
use natter_protocol::tracker::Invite;

use std::collections::BTreeSet;

use super::{ConnId, Outcome, Registry, Save};
use crate::govern::{self, Sender};
use crate::state_file::Disbanded;
use natter_protocol::tracker::{ActedBy, MemberChange, TrackerToPeer};
use natter_protocol::{ErrorCode, GroupName, Name, RequestId};

/// Where an added member that is offline and in no other group is listed until its next
/// hello brings it online (nobody can reach it before that anyway).
const UNKNOWN_ADDR: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

impl Registry {
    /// `name`'s (on `conn`) signed action: checked, applied, pushed, then answered with
    /// `governed`; or refused with an error echoing `req`, the link staying up.
    pub(super) fn govern(
        &mut self,
        conn: ConnId,
        name: &Name,
        signed: SignedAction,
        req: Option<RequestId>,
    ) -> Outcome {
        let Some(key) = self.keys.get(name).copied() else {
            return Outcome::default();
        };
        let group = signed.action.group.clone();
        let sender = Sender { name, key: &key };
        let keys = &self.keys;
        let checked = govern::check(&signed, sender, self.groups.get(&group), |n| {
            keys.contains_key(n)
        });
        let refusal = match checked {
            Ok(()) => self.cap_refusal(&signed),
            Err(refusal) => Some(refusal),
        };
        if let Some(refusal) = refusal {
            return Outcome::refuse_request(conn, req, refusal.code, refusal.message, false);
        }
        let mut out = Outcome::default();
        self.carry_out(conn, &signed, &mut out);
        out.save(Save::Now);
        out.push(conn, TrackerToPeer::Governed { group, req });
        out
    }

    /// The invites waiting for `name`, in group order.
    pub(super) fn invites_for(&self, conn: ConnId, name: &Name, req: Option<RequestId>) -> Outcome {
        let invites = self
            .groups
            .iter()
            .filter_map(|(group, state)| Some(invite(group, state.invites.get(name)?)))
            .collect();
        Outcome::to(conn, TrackerToPeer::Invites { invites, req })
    }

    /// Why the registry's caps forbid `signed` (a new group past the group cap, members or
    /// invites past the per-group cap), if they do.
    fn cap_refusal(&self, signed: &SignedAction) -> Option<govern::Refusal> {
        let group = &signed.action.group;
        let cap = self.caps.members_per_group;
        let state = self.groups.get(group);
        let message = match &signed.action.act {
            Act::Create { .. } if self.groups.len() >= self.caps.groups => format!(
                "cannot create {group}: this tracker holds its maximum of {} groups",
                self.caps.groups
            ),
            Act::Create { participants } if participants.len() >= cap => {
                format!("cannot create {group}: a group has at most {cap} members")
            }
            Act::Add { .. } if state.is_some_and(|s| s.members.len() >= cap) => {
                format!("cannot add to {group}: it has its maximum of {cap} members")
            }
            Act::Invite { .. } if state.is_some_and(|s| s.invites.len() >= cap) => {
                format!("cannot invite to {group}: it has its maximum of {cap} waiting invites")
            }
            _ => return None,
        };
        Some(govern::Refusal {
            code: ErrorCode::Refused,
            message,
        })
    }

    /// Applies a checked action and queues its pushes.
    fn carry_out(&mut self, conn: ConnId, signed: &SignedAction, out: &mut Outcome) {
        let group = &signed.action.group;
        let role = |name: &Name, role| MemberChange::Role {
            name: name.clone(),
            role,
            by: ActedBy::signed(signed.clone()),
        };
        match &signed.action.act {
            Act::Create { participants } => self.create(conn, signed, participants, out),
            Act::Add { name } => self.add(signed, name, out),
            Act::Invite { name } => self.invite(signed, name, out),
            Act::Kick { name, reason } => self.kick(signed, name, reason.clone(), out),
            Act::Op { name } => {
                self.change(group, role(name, Role::Admin), out);
            }
            Act::Deop { name } => {
                self.change(group, role(name, Role::Member), out);
            }
            // Peers make the old owner an admin themselves (see `MemberChange::Role`).
            Act::Transfer { name } => {
                self.change(group, role(name, Role::Owner), out);
            }
            Act::Topic { topic } => {
                let change = MemberChange::Topic {
                    topic: topic.clone().filter(|t| !t.is_empty()),
                    by: ActedBy::signed(signed.clone()),
                };
                self.change(group, change, out);
            }
            Act::Private { on } => {
                let change = MemberChange::Private {
                    on: *on,
                    by: ActedBy::signed(signed.clone()),
                };
                self.change(group, change, out);
            }
            Act::Disband => self.disband(signed, out),
        }
    }

    /// A new group owned by the actor (who gets its list at once, as a joiner does), then
    /// each participant added in turn.
    fn create(
        &mut self,
        conn: ConnId,
        signed: &SignedAction,
        participants: &[Name],
        out: &mut Outcome,
    ) {
        let group = &signed.action.group;
        let by = &signed.action.by;
        let Some(member) = self.member_of(by) else {
            return;
        };
        self.change(group, MemberChange::Joined { member }, out);
        out.push(conn, self.snapshot_frame(group, None));
        for name in participants {
            if name != by && !self.is_member(group, name) {
                self.add(signed, name, out);
            }
        }
    }

    /// Makes `name` a member: every other member gets `added`, `name` (if online) its
    /// full list, as after a join.
    fn add(&mut self, signed: &SignedAction, name: &Name, out: &mut Outcome) {
        let group = &signed.action.group;
        let Some(member) = self.member_of(name) else {
            return;
        };
        let change = MemberChange::Added {
            member,
            by: ActedBy::signed(signed.clone()),
        };
        self.change(group, change, out);
        if let Some(online) = self.online.get(name) {
            let mut list = self.snapshot_frame(group, None);
            if let TrackerToPeer::Members { by, .. } = &mut list {
                *by = ActedBy::signed(signed.clone());
            }
            out.push(online.conn, list);
        }
    }

    /// Stores the invite (lifting a kick ban) and tells the invitee if it is online.
    fn invite(&mut self, signed: &SignedAction, name: &Name, out: &mut Outcome) {
        let group = &signed.action.group;
        let Some(state) = self.groups.get_mut(group) else {
            return;
        };
        state.invites.insert(name.clone(), signed.clone());
        state.banned.remove(name);
        if let Some(online) = self.online.get(name) {
            let invite = invite(group, signed);
            out.push(online.conn, TrackerToPeer::Invited { invite });
        }
    }

    /// Removes and bans `name`: the others get `kicked`, `name` (if online) a `left`
    /// saying who and why.
    fn kick(
        &mut self,
        signed: &SignedAction,
        name: &Name,
        reason: Option<String>,
        out: &mut Outcome,
    ) {
        let group = &signed.action.group;
        let change = MemberChange::Kicked {
            name: name.clone(),
            reason: reason.clone(),
            by: ActedBy::signed(signed.clone()),
        };
        self.change(group, change, out);
        if let Some(online) = self.online.get(name) {
            out.push(online.conn, left(group, signed, reason, false));
        }
    }

    /// Every member (the owner included) gets `left` with `disbanded`; the group, its
    /// bans and invites are forgotten. Its offline members are remembered until their
    /// next hello ([`Registry::gone_from`]), which would otherwise re-create the group.
    fn disband(&mut self, signed: &SignedAction, out: &mut Outcome) {
        let group = &signed.action.group;
        let Some(state) = self.groups.remove(group) else {
            return;
        };
        out.bumps += 1;
        let offline = state
            .members
            .keys()
            .filter(|name| !self.online.contains_key(*name))
            .cloned();
        let mut pending: BTreeSet<Name> = offline.collect();
        if !pending.is_empty() {
            if let Some(earlier) = self.disbanded.remove(group) {
                pending.extend(earlier.pending);
            }
            let action = signed.clone();
            self.disbanded
                .insert(group.clone(), Disbanded { action, pending });
        }
        for name in state.members.keys() {
            if let Some(groups) = self.memberships.get_mut(name) {
                groups.remove(group);
                if groups.is_empty() {
                    self.memberships.remove(name);
                }
            }
            if let Some(online) = self.online.get(name) {
                out.push(online.conn, left(group, signed, None, true));
            }
        }
    }

    /// The `left` to send `name`, which believes it is in `group` (its hello names it)
    /// but is not: the group was disbanded while it was offline (it is told once), or it
    /// was kicked. `None` when neither happened.
    pub(super) fn gone_from(
        &mut self,
        group: &GroupName,
        name: &Name,
        out: &mut Outcome,
    ) -> Option<TrackerToPeer> {
        if let Some(gone) = self.disbanded.get(group)
            && gone.pending.contains(name)
        {
            let action = gone.action.clone();
            self.told_of_disband(group, name);
            out.save(Save::Now);
            return Some(left(group, &action, None, true));
        }
        let kick = self.groups.get(group)?.banned.get(name)?;
        let reason = match &kick.action.act {
            Act::Kick { reason, .. } => reason.clone(),
            _ => None,
        };
        Some(left(group, kick, reason, false))
    }

    /// `name` needs no telling that `group` was disbanded (any more).
    pub(super) fn told_of_disband(&mut self, group: &GroupName, name: &Name) {
        if let Some(gone) = self.disbanded.get_mut(group) {
            gone.pending.remove(name);
            if gone.pending.is_empty() {
                self.disbanded.remove(group);
            }
        }
    }

    /// `name` as a new member: online at its address, else at its last known one (or
    /// [`UNKNOWN_ADDR`]). `None` for a name bound to no key.
    fn member_of(&self, name: &Name) -> Option<super::Member> {
        let key = *self.keys.get(name)?;
        let addr = match self.online.get(name) {
            Some(online) => online.addr,
            None => self.lookup(name).map_or(UNKNOWN_ADDR, |m| m.addr),
        };
        Some(self.member_now(name, key, addr))
    }
}

/// The `left` that tells a member it is out of `group` by `action` (a kick with `reason`,
/// or a disband).
fn left(
    group: &GroupName,
    action: &SignedAction,
    reason: Option<String>,
    disbanded: bool,
) -> TrackerToPeer {
    TrackerToPeer::Left {
        group: group.clone(),
        req: None,
        by: Some(action.action.by.clone()),
        reason,
        disbanded,
        action: Some(Box::new(action.clone())),
    }
}

/// The invite to `group` that `action` made, as the invitee sees it.
fn invite(group: &GroupName, action: &SignedAction) -> Invite {
    Invite {
        group: group.clone(),
        by: action.action.by.clone(),
        action: action.clone(),
    }
}
