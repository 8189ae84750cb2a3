//! Groups with owners, at the peer: our own governance actions (signed for the version of
//! the group we hold; signed again when the tracker says the group has moved on), the
//! check every governance change the tracker pushes gets before a front end hears who did
//! it, and invites.
//!
//! The tracker is the membership authority, so a change it pushes is applied whatever its
//! signature says; but only a change whose signed action checks out here (the actor's key
//! bound to its name in our list, a role that allows the act, the act matching the change)
//! is shown as done by that member. Otherwise `by` is left out: the tracker's word only.

use natter_protocol::govern::{self, Act, GroupAction, Role, SignedAction};
use natter_protocol::tracker::{ActedBy, Invite, MemberChange, PeerToTracker};
use natter_protocol::{ErrorCode, GroupName, Name, RequestId};

use super::{Core, Output};
use crate::node::api::{About, Event, InviteItem, NodeError};
use crate::node::members::GroupList;

/// How many times one action is signed again after the tracker says the group moved on.
const MAX_TRIES: u8 = 3;

/// One of our actions, waiting for the tracker's answer.
#[derive(Debug, Clone)]
pub(super) struct Governing {
    req: Option<RequestId>,
    group: GroupName,
    act: Act,
    tries: u8,
}

impl Core {
    /// `/create`, `/add`, `/invite`, `/kick`, `/op`, `/deop`, `/owner`, `/topic`,
    /// `/private`, `/disband`.
    pub(super) fn govern(&mut self, req: Option<RequestId>, group: GroupName, act: Act) {
        if let Some(why) = act.refusal() {
            return self.fail(req, NodeError::BadCommand(why));
        }
        let version = match (&act, self.cache.get(&group)) {
            (Act::Create { .. }, Some(_)) => {
                let why = format!("{group} exists already; /join it");
                return self.fail(req, NodeError::BadCommand(why));
            }
            (Act::Create { .. }, None) => 0,
            (_, Some(list)) => list.version,
            (_, None) => return self.fail(req, NodeError::NotMember { group }),
        };
        let governing = Governing {
            req,
            group,
            act,
            tries: 1,
        };
        self.send_governing(governing, version);
    }

    /// Signs the action for `version` and sends it.
    fn send_governing(&mut self, governing: Governing, version: u64) {
        let about = Some(About::Group(governing.group.clone()));
        if !self.tracker_up() {
            let error = NodeError::TrackerDown {
                tracker: self.tracker_addr.clone(),
                what: format!("{} {}", governing.act.kind(), governing.group),
                about,
            };
            return self.fail(governing.req, error);
        }
        let action = GroupAction {
            group: governing.group.clone(),
            version,
            by: self.name.clone(),
            key: self.identity.public_key(),
            act: governing.act.clone(),
        };
        let action = govern::sign(&self.identity, action);
        let id = self.tracker.asked(governing.req, about);
        self.governing.insert(id, governing);
        let request = PeerToTracker::Govern {
            action: Box::new(action),
            req: Some(id),
        };
        self.out.push_back(Output::Tracker(request));
    }

    /// The tracker refused request `id`: true when it was one of our actions signed for a
    /// version that is no longer current, now signed again for the one we hold (the
    /// change that moved the group on came before the refusal, on the same link).
    pub(super) fn governing_refused(&mut self, id: RequestId, code: ErrorCode) -> bool {
        let Some(governing) = self.governing.remove(&id) else {
            return false;
        };
        if code != ErrorCode::Stale || governing.tries >= MAX_TRIES {
            return false;
        }
        let Some(version) = self.cache.get(&governing.group).map(|l| l.version) else {
            return false;
        };
        let governing = Governing {
            tries: governing.tries + 1,
            ..governing
        };
        self.send_governing(governing, version);
        true
    }

    /// The tracker did our action `id`.
    pub(super) fn governed(&mut self, id: Option<RequestId>, req: Option<RequestId>) {
        let Some(governing) = id.and_then(|id| self.governing.remove(&id)) else {
            return;
        };
        let event = Event::Governed {
            group: governing.group,
            action: governing.act.kind().to_owned(),
        };
        self.emit_for(req, event);
    }

    /// The tracker link went away: no action of ours will be answered.
    pub(super) fn governing_dropped(&mut self, reason: &str) {
        for (_, governing) in std::mem::take(&mut self.governing) {
            let error = NodeError::TrackerDropped {
                what: format!("{} {}", governing.act.kind(), governing.group),
                reason: reason.to_owned(),
                about: Some(About::Group(governing.group)),
            };
            self.fail(governing.req, error);
        }
    }

    /// A change pushed for `group`, as a front end may hear it: a governance change keeps
    /// `by` only when its signed action checks out against our list before the change, and
    /// never carries the action itself.
    pub(super) fn attributed(&self, group: &GroupName, mut change: MemberChange) -> MemberChange {
        let vouched =
            acted_by(&change).map(|by| attribute(self.cache.get(group), group, &change, by));
        if let (Some(vouched), Some(by)) = (vouched, acted_by_mut(&mut change)) {
            *by = vouched;
        }
        change
    }

    /// Who removed us from `group`, if the signed action says so and checks out.
    pub(super) fn removed_by(
        &self,
        group: &GroupName,
        action: Option<Box<SignedAction>>,
        disbanded: bool,
    ) -> Option<Name> {
        let list = self.cache.get(group);
        let signed = action?;
        let fits = match &signed.action.act {
            Act::Kick { name, .. } => !disbanded && *name == self.name,
            Act::Disband => disbanded,
            _ => false,
        };
        (fits && vouched(list, group, &signed)).then(|| signed.action.by.clone())
    }

    /// Who added us to `group` (its full list just came with the signed action), if the
    /// action checks out against that list.
    pub(super) fn added_us_by(&self, group: &GroupName, by: ActedBy) -> Option<Name> {
        let signed = by.action?;
        let fits = match &signed.action.act {
            Act::Add { name } => *name == self.name,
            Act::Create { participants } => participants.contains(&self.name),
            _ => false,
        };
        (fits && vouched(self.cache.get(group), group, &signed)).then(|| signed.action.by.clone())
    }

    /// An invite pushed to us: told if its signature checks out.
    pub(super) fn invited(&mut self, invite: Invite) {
        if invite.action.verifies() && invite.action.action.by == invite.by {
            let (group, by) = (invite.group, invite.by);
            self.emit(Event::Invited { group, by });
        } else {
            tracing::warn!(group = %invite.group, "an invite whose signature does not check out");
        }
    }

    /// The invites waiting for us.
    pub(super) fn invites_listed(&mut self, req: Option<RequestId>, invites: Vec<Invite>) {
        let invites = invites
            .into_iter()
            .filter(|i| i.action.verifies())
            .map(|i| InviteItem {
                group: i.group,
                by: i.by,
            })
            .collect();
        self.emit_for(req, Event::Invites { invites });
    }
}

/// `by` as a front end may hear it: the actor's name if its signed action checks out for
/// `change` in `list` (before the change), else nobody.
/// Who did a governance change, as the tracker says (`None` for other changes).
fn acted_by(change: &MemberChange) -> Option<&ActedBy> {
    match change {
        MemberChange::Added { by, .. }
        | MemberChange::Kicked { by, .. }
        | MemberChange::Role { by, .. }
        | MemberChange::Topic { by, .. }
        | MemberChange::Private { by, .. } => Some(by),
        _ => None,
    }
}

fn acted_by_mut(change: &mut MemberChange) -> Option<&mut ActedBy> {
    match change {
        MemberChange::Added { by, .. }
        | MemberChange::Kicked { by, .. }
        | MemberChange::Role { by, .. }
        | MemberChange::Topic { by, .. }
        | MemberChange::Private { by, .. } => Some(by),
        _ => None,
    }
}

fn attribute(
    list: Option<&GroupList>,
    group: &GroupName,
    change: &MemberChange,
    by: &ActedBy,
) -> ActedBy {
    let Some(signed) = &by.action else {
        return ActedBy::default();
    };
    let fits = act_fits(&signed.action.act, change) && by.by.as_ref() == Some(&signed.action.by);
    let by = (fits && vouched(list, group, signed)).then(|| signed.action.by.clone());
    ActedBy { by, action: None }
}

/// Whether `signed` is good: its signature, its group, a version we have seen, and an
/// actor bound to its key in our list with a role that allows the act.
fn vouched(list: Option<&GroupList>, group: &GroupName, signed: &SignedAction) -> bool {
    let Some(list) = list else {
        return false;
    };
    let a = &signed.action;
    signed.verifies()
        && a.group == *group
        && a.version <= list.version
        && list
            .members
            .iter()
            .any(|m| m.name == a.by && m.key == a.key && may(m.role, &a.act))
}

/// Whether `role` may do `act`.
pub(super) fn may(role: Role, act: &Act) -> bool {
    match act {
        Act::Create { .. } | Act::Op { .. } | Act::Deop { .. } | Act::Transfer { .. } => {
            role == Role::Owner
        }
        Act::Disband => role == Role::Owner,
        Act::Add { .. }
        | Act::Invite { .. }
        | Act::Kick { .. }
        | Act::Topic { .. }
        | Act::Private { .. } => role.governs(),
    }
}

/// Whether `act` is what causes `change`.
fn act_fits(act: &Act, change: &MemberChange) -> bool {
    match (act, change) {
        (Act::Add { name }, MemberChange::Added { member, .. }) => *name == member.name,
        (Act::Create { participants }, MemberChange::Added { member, .. }) => {
            participants.contains(&member.name)
        }
        (
            Act::Kick { name, reason },
            MemberChange::Kicked {
                name: n, reason: r, ..
            },
        ) => name == n && reason == r,
        (Act::Op { name }, MemberChange::Role { name: n, role, .. }) => {
            name == n && *role == Role::Admin
        }
        (Act::Deop { name }, MemberChange::Role { name: n, role, .. }) => {
            name == n && *role == Role::Member
        }
        (Act::Transfer { name }, MemberChange::Role { name: n, role, .. }) => {
            name == n && *role == Role::Owner
        }
        (Act::Topic { topic }, MemberChange::Topic { topic: t, .. }) => topic == t,
        (Act::Private { on }, MemberChange::Private { on: o, .. }) => on == o,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_makes_admins_transfers_and_disbands() {
        let name: Name = "bob".parse().expect("name");
        for act in [
            Act::Op { name: name.clone() },
            Act::Deop { name: name.clone() },
            Act::Transfer { name: name.clone() },
            Act::Disband,
        ] {
            assert!(may(Role::Owner, &act));
            assert!(!may(Role::Admin, &act), "{act:?}");
        }
        let kick = Act::Kick { name, reason: None };
        assert!(may(Role::Admin, &kick));
        assert!(!may(Role::Member, &kick));
    }

    #[test]
    fn an_act_fits_only_the_change_it_causes() {
        let bob: Name = "bob".parse().expect("name");
        let carol: Name = "carol".parse().expect("name");
        let role = |name: &Name, role| MemberChange::Role {
            name: name.clone(),
            role,
            by: ActedBy::default(),
        };
        let op = Act::Op { name: bob.clone() };
        assert!(act_fits(&op, &role(&bob, Role::Admin)));
        assert!(
            !act_fits(&op, &role(&bob, Role::Owner)),
            "an op is no transfer"
        );
        assert!(!act_fits(&op, &role(&carol, Role::Admin)), "another member");
        let kick = Act::Kick {
            name: bob.clone(),
            reason: Some("spam".into()),
        };
        let kicked = MemberChange::Kicked {
            name: bob,
            reason: None,
            by: ActedBy::default(),
        };
        assert!(!act_fits(&kick, &kicked), "the reason is part of it");
    }
}
