//! Per-recipient addresses for peers on the tracker's own machine.
//!
//! The tracker hands out the IP it sees a peer's connection come from. A peer on the
//! tracker's machine (the `natter --host-tracker` host, which reaches its embedded tracker
//! through 127.0.0.1) is seen at a loopback address, which means nothing to a friend on
//! another machine. So, for each recipient, a member address with a loopback IP is
//! rewritten to the local address the recipient's own connection reached the tracker at,
//! with the member's port: that member is on this machine, and the recipient can reach this
//! machine there. A recipient that itself came in over loopback sees loopback addresses
//! unchanged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use natter_protocol::tracker::{Member, MemberChange, TrackerToPeer};

/// The IP to put in place of loopback addresses for a recipient whose connection reached
/// the tracker at `local` (its `local_addr()`); `None` when no rewrite is needed (the
/// recipient is on this machine too, or the address is unspecified).
pub fn rewrite_ip(local: SocketAddr) -> Option<IpAddr> {
    let ip = local.ip().to_canonical();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// `addr`, seen from a recipient for whom this machine is `host`.
pub fn localize_addr(addr: SocketAddr, host: IpAddr) -> SocketAddr {
    if addr.ip().to_canonical().is_loopback() {
        SocketAddr::new(host, addr.port())
    } else {
        addr
    }
}

fn localize_member(member: &mut Member, host: IpAddr) {
    member.addr = localize_addr(member.addr, host);
}

/// `frame` as its recipient should see it, for whom this machine is `host` (see
/// [`rewrite_ip`]). Only member addresses change: member lists, joined, online, updated and added deltas
/// and lookup results.
pub fn localize(mut frame: TrackerToPeer, host: Option<IpAddr>) -> TrackerToPeer {
    let Some(host) = host else {
        return frame;
    };
    match &mut frame {
        TrackerToPeer::Members { members, .. } => {
            for member in members {
                localize_member(member, host);
            }
        }
        TrackerToPeer::MemberUpdate {
            change:
                MemberChange::Joined { member }
                | MemberChange::Online { member }
                | MemberChange::Updated { member }
                | MemberChange::Added { member, .. },
            ..
        } => localize_member(member, host),
        TrackerToPeer::LookupResult {
            member: Some(member),
            ..
        } => localize_member(member, host),
        _ => {}
    }
    frame
}

/// [`localize`] for a frame that other recipients share: the same frame when nothing in it
/// changes for this recipient (no copy), else a rewritten copy.
pub fn localize_shared(frame: Arc<TrackerToPeer>, host: Option<IpAddr>) -> Arc<TrackerToPeer> {
    match host {
        Some(host) if has_loopback_member(&frame) => {
            Arc::new(localize(Arc::unwrap_or_clone(frame), Some(host)))
        }
        _ => frame,
    }
}

/// Whether `frame` holds a member address that [`localize`] would rewrite.
fn has_loopback_member(frame: &TrackerToPeer) -> bool {
    let loopback = |member: &Member| member.addr.ip().to_canonical().is_loopback();
    match frame {
        TrackerToPeer::Members { members, .. } => members.iter().any(loopback),
        TrackerToPeer::MemberUpdate {
            change:
                MemberChange::Joined { member }
                | MemberChange::Online { member }
                | MemberChange::Updated { member }
                | MemberChange::Added { member, .. },
            ..
        }
        | TrackerToPeer::LookupResult {
            member: Some(member),
            ..
        } => loopback(member),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn member(name: &str, addr: &str) -> Member {
        Member {
            name: name.parse().expect("name"),
            addr: sa(addr),
            online: true,
            key: natter_protocol::Identity::from_secrets(&[1; 32], &[1; 32]).public_key(),
            last_seen: None,
            status: None,
            role: Default::default(),
        }
    }

    #[test]
    fn rewrite_only_for_recipients_that_came_from_elsewhere() {
        assert_eq!(rewrite_ip(sa("127.0.0.1:7700")), None);
        assert_eq!(rewrite_ip(sa("[::1]:7700")), None);
        assert_eq!(rewrite_ip(sa("[::ffff:127.0.0.1]:7700")), None);
        assert_eq!(rewrite_ip(sa("0.0.0.0:7700")), None);
        assert_eq!(
            rewrite_ip(sa("192.168.1.5:7700")),
            Some("192.168.1.5".parse().expect("ip"))
        );
        assert_eq!(
            rewrite_ip(sa("[::ffff:192.168.1.5]:7700")),
            Some("192.168.1.5".parse().expect("ip"))
        );
    }

    #[test]
    fn loopback_members_become_the_recipients_view_of_this_machine() {
        let host = rewrite_ip(sa("192.168.1.5:7700"));
        let frame = TrackerToPeer::Members {
            req: None,
            group: "g".parse().expect("group"),
            version: 3,
            members: vec![
                member("host", "127.0.0.1:4000"),
                member("v6", "[::1]:4001"),
                member("friend", "192.168.1.9:5000"),
            ],
            owner: None,
            topic: None,
            private: false,
            by: Default::default(),
        };
        let TrackerToPeer::Members { members, .. } = localize(frame, host) else {
            panic!("not members");
        };
        let addrs: Vec<_> = members.iter().map(|m| m.addr).collect();
        assert_eq!(
            addrs,
            vec![
                sa("192.168.1.5:4000"),
                sa("192.168.1.5:4001"),
                sa("192.168.1.9:5000")
            ]
        );
    }

    #[test]
    fn deltas_and_lookups_are_rewritten_too_and_loopback_recipients_see_no_change() {
        let host = rewrite_ip(sa("10.1.2.3:7700"));
        for change in [
            MemberChange::Joined {
                member: member("host", "127.0.0.1:4000"),
            },
            MemberChange::Online {
                member: member("host", "127.0.0.1:4000"),
            },
            MemberChange::Updated {
                member: member("host", "127.0.0.1:4000"),
            },
        ] {
            let frame = TrackerToPeer::MemberUpdate {
                group: "g".parse().expect("group"),
                version: 1,
                change,
            };
            let TrackerToPeer::MemberUpdate {
                change:
                    MemberChange::Joined { member }
                    | MemberChange::Online { member }
                    | MemberChange::Updated { member },
                ..
            } = localize(frame, host)
            else {
                panic!("not an update");
            };
            assert_eq!(member.addr, sa("10.1.2.3:4000"));
        }
        let lookup = TrackerToPeer::LookupResult {
            req: None,
            name: "host".parse().expect("name"),
            member: Some(member("host", "127.0.0.1:4000")),
        };
        assert_eq!(
            localize(lookup.clone(), host),
            TrackerToPeer::LookupResult {
                req: None,
                name: "host".parse().expect("name"),
                member: Some(member("host", "10.1.2.3:4000")),
            }
        );
        // A recipient on this machine: nothing changes.
        assert_eq!(
            localize(lookup.clone(), rewrite_ip(sa("127.0.0.1:7700"))),
            lookup
        );
        let left = TrackerToPeer::Left {
            req: None,
            group: "g".parse().expect("group"),
            by: None,
            reason: None,
            disbanded: false,
            action: None,
        };
        assert_eq!(localize(left.clone(), host), left);
    }

    #[test]
    fn a_shared_frame_is_copied_only_for_a_recipient_it_changes_for() {
        let remote = rewrite_ip(sa("10.1.2.3:7700"));
        let update = |addr: &str| {
            Arc::new(TrackerToPeer::MemberUpdate {
                group: "g".parse().expect("group"),
                version: 1,
                change: MemberChange::Joined {
                    member: member("m", addr),
                },
            })
        };
        // Nothing to rewrite, or a recipient on this machine: the very same frame.
        let elsewhere = update("192.168.1.9:5000");
        assert!(Arc::ptr_eq(
            &localize_shared(elsewhere.clone(), remote),
            &elsewhere
        ));
        let here = update("127.0.0.1:4000");
        assert!(Arc::ptr_eq(&localize_shared(here.clone(), None), &here));
        // A loopback member seen from elsewhere: a rewritten copy, the shared one untouched.
        let copy = localize_shared(here.clone(), remote);
        assert_eq!(*copy, localize((*here).clone(), remote));
        assert_ne!(copy, here);
        assert_eq!(*here, *update("127.0.0.1:4000"));
    }
}
