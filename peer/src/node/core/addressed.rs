//! `/msg IP:PORT` to a member we know: the message goes to that member by name, so it
//! lands in the conversation already open with them rather than a second one named by
//! the address.

use natter_protocol::tracker::Member;
use natter_protocol::{Name, PublicKey};

use crate::node::api::Target;

/// `target` with an address that belongs to exactly one listed member (other than
/// ourselves) turned into that member's name. `connected` is the key of an open
/// connection at that address, if there is one: a listed member with that key is the one
/// there, whatever address the lists give (a member reached at another of its addresses,
/// e.g. its LAN address where the tracker lists 127.0.0.1). Otherwise several names at
/// one address (an offline member's old address now someone else's) are settled by who
/// is online there; when that does not settle it, the address stays an address.
pub(super) fn named_target<'a>(
    target: Target,
    members: impl IntoIterator<Item = &'a Member>,
    own: &Name,
    connected: Option<PublicKey>,
) -> Target {
    let Target::Addr(addr) = target else {
        return target;
    };
    let members: Vec<&Member> = members.into_iter().filter(|m| &m.name != own).collect();
    if let Some(key) = connected
        && let Some(m) = members.iter().find(|m| m.key == key)
    {
        return Target::Peer(m.name.clone());
    }
    let mut at: Vec<&Member> = members.into_iter().filter(|m| m.addr == addr).collect();
    if at.iter().any(|m| m.online) {
        at.retain(|m| m.online);
    }
    match at.split_first() {
        Some((first, rest)) if rest.iter().all(|m| m.name == first.name) => {
            Target::Peer(first.name.clone())
        }
        _ => Target::Addr(addr),
    }
}

#[cfg(test)]
mod tests {
    use natter_protocol::govern::Role;
    use natter_protocol::{GroupName, Identity};

    use super::*;

    fn member(name: &str, addr: &str, online: bool) -> Member {
        Member {
            name: name.parse().expect("name"),
            addr: addr.parse().expect("addr"),
            online,
            key: Identity::generate().expect("key").public_key(),
            last_seen: None,
            status: None,
            role: Role::Member,
        }
    }

    fn addr(s: &str) -> Target {
        Target::Addr(s.parse().expect("addr"))
    }

    fn peer(s: &str) -> Target {
        Target::Peer(s.parse().expect("name"))
    }

    #[test]
    fn an_address_of_a_listed_member_is_that_member() {
        let own: Name = "alice".parse().expect("name");
        let bob = member("bob", "10.0.0.2:4000", true);
        // Bob listed in two groups is still one member.
        let list = [bob.clone(), member("carol", "10.0.0.3:4000", true), bob];
        assert_eq!(
            named_target(addr("10.0.0.2:4000"), &list, &own, None),
            peer("bob")
        );
        // An address nobody listed stays an address; so do names and groups.
        assert_eq!(
            named_target(addr("10.0.0.9:4000"), &list, &own, None),
            addr("10.0.0.9:4000")
        );
        assert_eq!(named_target(peer("dave"), &list, &own, None), peer("dave"));
        let g = Target::Group(GroupName::parse_user("#g").expect("group"));
        assert_eq!(named_target(g.clone(), &list, &own, None), g);
    }

    #[test]
    fn a_shared_address_goes_to_whoever_is_online_there_or_stays_an_address() {
        let own: Name = "alice".parse().expect("name");
        let at = "10.0.0.2:4000";
        let moved = [member("bob", at, false), member("carol", at, true)];
        assert_eq!(named_target(addr(at), &moved, &own, None), peer("carol"));
        let both_off = [member("bob", at, false), member("carol", at, false)];
        assert_eq!(named_target(addr(at), &both_off, &own, None), addr(at));
        // Our own address is not a conversation with ourselves.
        let ours = [member("alice", at, true)];
        assert_eq!(named_target(addr(at), &ours, &own, None), addr(at));
    }

    #[test]
    fn an_address_connected_to_a_listed_members_key_is_that_member() {
        let own: Name = "alice".parse().expect("name");
        // The tracker lists bob at 127.0.0.1:4000; we reached him at his LAN address.
        let bob = member("bob", "127.0.0.1:4000", true);
        let list = [bob.clone(), member("carol", "10.0.0.3:4000", true)];
        let lan = "192.168.1.5:4000";
        assert_eq!(
            named_target(addr(lan), &list, &own, Some(bob.key)),
            peer("bob")
        );
        // A key no listed member has leaves the address as it is.
        let stranger = Identity::generate().expect("key").public_key();
        assert_eq!(
            named_target(addr(lan), &list, &own, Some(stranger)),
            addr(lan)
        );
    }
}
