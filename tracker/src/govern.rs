//! The rules of group governance (issue 10), as pure functions over a group's durable
//! state: who holds which role, who may join, who inherits a group, and whether a signed
//! action may be applied. The registry calls them and carries out what they allow.
//!
//! An action is checked in a fixed order, so its refusal names the first thing wrong:
//! the signature, that the signer is the connection (its key and registered name), the
//! action's own data, that the group exists (or, for `create`, does not), that it was
//! signed for the group's current version, the actor's role, then the target.

use natter_protocol::govern::{Act, Role, SignedAction};
use natter_protocol::tracker::MemberChange;
use natter_protocol::{ErrorCode, GroupName, Name, PublicKey};

use crate::state_file::GroupState;

/// Why an action is refused: the error frame's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn refused(message: String) -> Self {
        Self {
            code: ErrorCode::Refused,
            message,
        }
    }
}

/// Who sent an action: the connection's registered name and the key that authenticated it.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub name: &'a Name,
    pub key: &'a PublicKey,
}

impl GroupState {
    /// `name`'s role, or `None` if it is not a member.
    pub fn role_of(&self, name: &Name) -> Option<Role> {
        if !self.members.contains_key(name) {
            None
        } else if self.owner.as_ref() == Some(name) {
            Some(Role::Owner)
        } else if self.admins.contains(name) {
            Some(Role::Admin)
        } else {
            Some(Role::Member)
        }
    }

    /// Who inherits the group when its owner goes: the longest-standing admin, else the
    /// longest-standing member (earliest `joined`; members from before join times first,
    /// then by name, so the choice is the same on every run). Never the current owner.
    pub fn heir(&self) -> Option<Name> {
        let seniority = |name: &&Name| {
            (
                self.joined.get(*name).copied().unwrap_or(0),
                (*name).clone(),
            )
        };
        let candidates = || {
            self.members
                .keys()
                .filter(|name| self.owner.as_ref() != Some(*name))
        };
        candidates()
            .filter(|name| self.admins.contains(*name))
            .min_by_key(seniority)
            .or_else(|| candidates().min_by_key(seniority))
            .cloned()
    }

    /// Applies `change` to the group, which is now at `version`: the one place membership,
    /// roles, topic, invite-only, bans and invites change (peers apply the same changes to
    /// their copies). A joiner or an added member is marked as joined at `version`, its
    /// invite is used up and its ban lifted; the first member of a group without an owner
    /// owns it. A leaving owner leaves the group without one, for the caller to pass on;
    /// a new owner makes the old one an admin.
    pub fn apply(&mut self, change: &MemberChange, version: u64) {
        match change {
            MemberChange::Joined { member } | MemberChange::Added { member, .. } => {
                let name = &member.name;
                self.members.insert(name.clone(), member.addr);
                self.joined.insert(name.clone(), version);
                self.invites.remove(name);
                self.banned.remove(name);
                if self.owner.is_none() {
                    self.owner = Some(name.clone());
                }
            }
            MemberChange::Online { member } => {
                self.members.insert(member.name.clone(), member.addr);
            }
            MemberChange::Left { name } => self.remove(name),
            MemberChange::Kicked { name, by, .. } => {
                self.remove(name);
                if let Some(action) = &by.action {
                    self.banned.insert(name.clone(), (**action).clone());
                }
            }
            MemberChange::Role { name, role, .. } => self.set_role(name, *role),
            MemberChange::Topic { topic, .. } => self.topic.clone_from(topic),
            MemberChange::Private { on, .. } => self.private = *on,
            MemberChange::Offline { .. } | MemberChange::Updated { .. } => {}
        }
    }

    fn remove(&mut self, name: &Name) {
        self.members.remove(name);
        self.admins.remove(name);
        self.joined.remove(name);
        if self.owner.as_ref() == Some(name) {
            self.owner = None;
        }
    }

    fn set_role(&mut self, name: &Name, role: Role) {
        match role {
            Role::Owner => {
                if let Some(old) = self.owner.replace(name.clone())
                    && old != *name
                    && self.members.contains_key(&old)
                {
                    self.admins.insert(old);
                }
                self.admins.remove(name);
            }
            Role::Admin => {
                self.admins.insert(name.clone());
            }
            Role::Member => {
                self.admins.remove(name);
            }
        }
    }

    /// Makes a loaded group whole: roles and join times only of members, and exactly one
    /// owner. A group from a file before owners (or whose owner was dropped on load) is
    /// owned by its [`GroupState::heir`]: the member who joined first, or, in a file
    /// without join times, the first member by name.
    pub fn normalize(&mut self) {
        let members = &self.members;
        self.admins.retain(|name| members.contains_key(name));
        self.joined.retain(|name, _| members.contains_key(name));
        if self
            .owner
            .as_ref()
            .is_some_and(|o| !members.contains_key(o))
        {
            self.owner = None;
        }
        if self.owner.is_none() {
            self.owner = self.heir();
        }
        if let Some(owner) = &self.owner {
            self.admins.remove(owner);
        }
    }

    /// Why `name`, not a member, may not join this group by itself, if it may not: it was
    /// kicked, or the group is invite-only. A waiting invite lets it in either way.
    pub fn admission_refusal(&self, group: &GroupName, name: &Name) -> Option<String> {
        if self.invites.contains_key(name) {
            return None;
        }
        if let Some(kick) = self.banned.get(name) {
            let by = &kick.action.by;
            return Some(format!(
                "you were removed from {group} by {by}; an admin must /add or /invite you"
            ));
        }
        self.private
            .then(|| format!("{group} is invite-only; ask an admin to /add you"))
    }
}

/// Whether `signed`, sent by `sender`, may be applied to `group` (`None`: no such group).
/// `registered` says whether a name is bound at the tracker. The caps (groups, members
/// per group) are the registry's to check.
pub fn check(
    signed: &SignedAction,
    sender: Sender<'_>,
    group: Option<&GroupState>,
    registered: impl Fn(&Name) -> bool,
) -> Result<(), Refusal> {
    let action = &signed.action;
    if !signed.verifies() {
        return Err(unauthorized(
            "the action's signature does not verify".into(),
        ));
    }
    if action.key != *sender.key {
        return Err(unauthorized(
            "the action is signed with another key than this connection's".into(),
        ));
    }
    if action.by != *sender.name {
        return Err(unauthorized(format!(
            "the action is by {}, but this connection is registered as {}",
            action.by, sender.name
        )));
    }
    if let Some(message) = action.act.refusal() {
        return Err(Refusal::refused(message));
    }
    let name = &action.group;
    let state = match (&action.act, group) {
        (Act::Create { participants }, None) => {
            return create_refusal(participants, action.version, &registered);
        }
        (Act::Create { .. }, Some(_)) => {
            return Err(Refusal::refused(format!(
                "{name} already exists; /join it instead"
            )));
        }
        (_, None) => return Err(Refusal::refused(format!("{name} does not exist"))),
        (_, Some(state)) => state,
    };
    if action.version != state.version {
        return Err(Refusal {
            code: ErrorCode::Stale,
            message: format!(
                "the action was signed for version {} of {name}, which is at version {} now: sign it again",
                action.version, state.version
            ),
        });
    }
    let Some(role) = state.role_of(&action.by) else {
        return Err(Refusal {
            code: ErrorCode::NotMember,
            message: format!("you are not a member of {name}"),
        });
    };
    role_refusal(&action.act, role, name)
        .or_else(|| target_refusal(&action.act, role, state, name, &registered))
        .map_or(Ok(()), |message| Err(Refusal::refused(message)))
}

fn unauthorized(message: String) -> Refusal {
    Refusal {
        code: ErrorCode::Unauthorized,
        message,
    }
}

/// A `create` of a group that does not exist: signed for version 0, every participant
/// registered.
fn create_refusal(
    participants: &[Name],
    version: u64,
    registered: &impl Fn(&Name) -> bool,
) -> Result<(), Refusal> {
    if version != 0 {
        return Err(Refusal {
            code: ErrorCode::Stale,
            message: format!(
                "a new group is created at version 0, the action says {version}: sign it again"
            ),
        });
    }
    let unknown: Vec<&str> = participants
        .iter()
        .filter(|name| !registered(name))
        .map(Name::as_str)
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Refusal::refused(format!(
            "no peer is registered at this tracker as {}",
            unknown.join(", ")
        )))
    }
}

/// Why `role` may not do `act` in `group`, if it may not.
fn role_refusal(act: &Act, role: Role, group: &GroupName) -> Option<String> {
    let owner_only = matches!(
        act,
        Act::Op { .. } | Act::Deop { .. } | Act::Transfer { .. } | Act::Disband
    );
    if owner_only && role != Role::Owner {
        Some(format!("only the owner of {group} can {}", act.kind()))
    } else if !role.governs() {
        Some(format!(
            "only the owner or an admin of {group} can {}",
            act.kind()
        ))
    } else {
        None
    }
}

/// Why the target of `act` (by an actor of `role`) is not a valid one, if it is not.
fn target_refusal(
    act: &Act,
    role: Role,
    state: &GroupState,
    group: &GroupName,
    registered: &impl Fn(&Name) -> bool,
) -> Option<String> {
    let target = act.target()?;
    let target_role = state.role_of(target);
    let not_member = || format!("{target} is not a member of {group}");
    match (act, target_role) {
        (Act::Add { .. } | Act::Invite { .. }, _) if !registered(target) => {
            Some(format!("no peer is registered at this tracker as {target}"))
        }
        (Act::Add { .. } | Act::Invite { .. }, Some(_)) => {
            Some(format!("{target} is already a member of {group}"))
        }
        (Act::Add { .. } | Act::Invite { .. }, None) => None,
        (_, None) => Some(not_member()),
        (Act::Kick { .. }, Some(Role::Owner)) => {
            Some(format!("the owner of {group} cannot be kicked"))
        }
        (Act::Kick { .. }, Some(Role::Admin)) if role != Role::Owner => Some(format!(
            "an admin can kick only members; {target} is an admin of {group}"
        )),
        (Act::Op { .. }, Some(Role::Admin)) => {
            Some(format!("{target} is already an admin of {group}"))
        }
        (Act::Op { .. } | Act::Transfer { .. }, Some(Role::Owner)) => {
            Some(format!("{target} already owns {group}"))
        }
        (Act::Deop { .. }, Some(role)) if role != Role::Admin => {
            Some(format!("{target} is not an admin of {group}"))
        }
        _ => None,
    }
}
