//! How others reach this machine: the host name or IP that other machines use for an
//! address bound to every interface, the address a friend dials, and the join hint (the
//! command line that joins the tracker this process hosts).
//!
//! Discovery ([`outward_host`]) asks the operating system once at start; everything else
//! here is pure, so the front ends can turn any bound address into a reachable one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use natter_protocol::PublicKey;

/// How others join the tracker this process hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinHint {
    /// The command line they run (with the tracker's address and key).
    pub command: String,
    /// `Some(ip)` when the tracker listens on a loopback address: only this machine can
    /// reach it.
    pub local_only: Option<String>,
}

impl JoinHint {
    /// The hint for a tracker bound to `bound` with `key`; `host` is this machine as
    /// others see it (from [`outward_host`]). A tracker bound to a loopback address is
    /// reachable from this machine only, so the hint names that address and says so.
    pub fn new(bound: SocketAddr, key: &PublicKey, host: &str) -> Self {
        let addr = reachable_addr(bound, host);
        JoinHint {
            command: format!("natter --name <THEIR-NAME> --tracker {addr} --tracker-key {key}"),
            local_only: bound.ip().is_loopback().then(|| bound.ip().to_string()),
        }
    }
}

/// The address others dial to reach a socket bound to `bound`: the bound address itself
/// when it names one interface (a loopback one included: nothing else reaches it), else
/// `host` (this machine as others see it) with the bound port.
pub fn reachable_addr(bound: SocketAddr, host: &str) -> String {
    if !bound.ip().is_unspecified() {
        return bound.to_string();
    }
    // An IPv6 literal needs brackets before the port; a host name or IPv4 does not.
    if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]:{}", bound.port())
    } else {
        format!("{host}:{}", bound.port())
    }
}

/// Where this process reaches a server it hosts at `bound`: the loopback address when it
/// listens on every interface.
pub fn local_addr(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// How others on the network name this machine: the IP of the interface that routes
/// outward, else the host name. Finding the route sends no packet: connecting a UDP
/// socket only picks the local address.
pub fn outward_host() -> String {
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).and_then(|s| {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a real host.
        s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
        s.local_addr()
    });
    match routed {
        Ok(local) => routed_host(local.ip()).unwrap_or_else(hostname),
        Err(_) => hostname(),
    }
}

/// The routed local IP as a host others can use; `None` when it is no use to them (a
/// machine without a network routes through loopback, or not at all).
fn routed_host(ip: IpAddr) -> Option<String> {
    (!ip.is_unspecified() && !ip.is_loopback()).then(|| ip.to_string())
}

/// This machine's name, for when no outward route is found.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "THIS-MACHINE".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn key() -> PublicKey {
        natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key()
    }

    #[test]
    fn a_specific_bound_address_is_the_reachable_one() {
        for bound in [
            "192.168.1.5:7700",
            "127.0.0.1:4000",
            "[fe80::1]:9",
            "[::1]:1",
        ] {
            assert_eq!(reachable_addr(addr(bound), "lan-host"), bound);
        }
    }

    #[test]
    fn every_interface_is_reached_through_the_outward_host() {
        assert_eq!(
            reachable_addr(addr("0.0.0.0:7700"), "10.0.0.2"),
            "10.0.0.2:7700"
        );
        assert_eq!(reachable_addr(addr("[::]:7700"), "my-box"), "my-box:7700");
        assert_eq!(reachable_addr(addr("0.0.0.0:1"), "fd00::2"), "[fd00::2]:1");
    }

    #[test]
    fn join_hint_names_the_reachable_address_and_the_key() {
        let key = key();
        let local = JoinHint::new(addr("127.0.0.1:7700"), &key, "lan-host");
        assert_eq!(
            local.command,
            format!("natter --name <THEIR-NAME> --tracker 127.0.0.1:7700 --tracker-key {key}")
        );
        assert_eq!(local.local_only.as_deref(), Some("127.0.0.1"));
        let lan = JoinHint::new(addr("192.168.1.5:7700"), &key, "lan-host");
        assert!(
            lan.command
                .ends_with(&format!("--tracker 192.168.1.5:7700 --tracker-key {key}")),
            "{}",
            lan.command
        );
        assert_eq!(lan.local_only, None);
        let any = JoinHint::new(addr("0.0.0.0:7700"), &key, "10.0.0.2");
        assert!(
            any.command.contains("--tracker 10.0.0.2:7700 "),
            "{}",
            any.command
        );
        assert_eq!(any.local_only, None);
    }

    #[test]
    fn a_hosted_server_is_reached_locally_through_loopback() {
        assert_eq!(local_addr(addr("0.0.0.0:7700")), addr("127.0.0.1:7700"));
        assert_eq!(local_addr(addr("[::]:1")), addr("[::1]:1"));
        assert_eq!(local_addr(addr("192.168.1.5:2")), addr("192.168.1.5:2"));
    }

    #[test]
    fn only_a_real_routed_ip_is_a_host_for_others() {
        assert_eq!(
            routed_host("192.168.1.5".parse().expect("ip")).as_deref(),
            Some("192.168.1.5")
        );
        for useless in ["0.0.0.0", "127.0.0.1", "::", "::1"] {
            assert_eq!(routed_host(useless.parse().expect("ip")), None, "{useless}");
        }
    }

    #[test]
    fn the_outward_host_is_never_empty_or_unspecified() {
        let host = outward_host();
        assert!(!host.is_empty() && host != "0.0.0.0", "{host}");
    }
}
