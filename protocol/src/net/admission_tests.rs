//! Unit tests of the admission bookkeeping, without sockets.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn remote(s: &str) -> SocketAddr {
    SocketAddr::new(ip(s), 40000)
}

#[test]
fn a_newcomer_evicts_the_oldest_unauthenticated_connection() {
    let mut book = Book::new(Limits::new(10, 3, 100));
    let first = book.admit(ip("10.0.0.1")).expect("admitted");
    let second = book.admit(ip("10.0.0.2")).expect("admitted");
    let third = book.admit(ip("10.0.0.3")).expect("admitted");
    assert_eq!(
        [first.evicted, second.evicted, third.evicted],
        [None, None, None]
    );
    // The second authenticates: it leaves the budget and cannot be evicted any more.
    book.authenticate(second.id).expect("room");
    let fourth = book.admit(ip("10.0.0.4")).expect("admitted");
    assert_eq!(fourth.evicted, None, "the budget had room again");
    let fifth = book.admit(ip("10.0.0.5")).expect("admitted");
    assert_eq!(fifth.evicted, Some(first.id), "the oldest unfinished one");
    let sixth = book.admit(ip("10.0.0.6")).expect("admitted");
    assert_eq!(
        sixth.evicted,
        Some(third.id),
        "not the authenticated second"
    );
    assert_eq!(book.authenticate(first.id), Err(Refusal::Evicted));
    assert_eq!(
        book.counts(),
        Counts {
            established: 1,
            unauthenticated: 3
        }
    );
}

#[test]
fn the_established_cap_refuses_authentication_and_keeps_the_place() {
    let mut book = Book::new(Limits::new(1, 4, 100));
    let a = book.admit(ip("10.0.0.1")).expect("admitted");
    let b = book.admit(ip("10.0.0.2")).expect("admitted");
    book.authenticate(a.id).expect("room");
    assert_eq!(book.authenticate(b.id), Err(Refusal::Full));
    assert_eq!(book.counts().unauthenticated, 1, "b is still waiting");
    book.release(a.id, ip("10.0.0.1"), true);
    book.authenticate(b.id).expect("room after a left");
}

#[test]
fn the_per_address_cap_groups_ipv6_by_slash_64_and_ipv4_exactly() {
    let mut book = Book::new(Limits::new(100, 100, 2));
    assert!(book.admit(ip("2001:db8:1:2::1")).is_ok());
    assert!(book.admit(ip("2001:db8:1:2:ffff::9")).is_ok());
    assert_eq!(
        book.admit(ip("2001:db8:1:2::77")),
        Err(Refusal::PerAddress),
        "same /64"
    );
    assert!(book.admit(ip("2001:db8:1:3::1")).is_ok(), "another /64");
    assert_eq!(book.from_address(ip("2001:db8:1:2::5")), 2);

    assert!(book.admit(ip("10.0.0.1")).is_ok());
    assert!(
        book.admit(ip("::ffff:10.0.0.1")).is_ok(),
        "the same address"
    );
    assert_eq!(book.admit(ip("10.0.0.1")), Err(Refusal::PerAddress));
    assert!(book.admit(ip("10.0.0.2")).is_ok(), "IPv4 is not grouped");
    assert_eq!(address_key(ip("2001:db8:1:2::1")), ip("2001:db8:1:2::"));
    assert_eq!(address_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
}

#[test]
fn a_refused_newcomer_evicts_nobody() {
    let mut book = Book::new(Limits::new(100, 1, 1));
    let a = book.admit(ip("10.0.0.1")).expect("admitted");
    assert_eq!(book.admit(ip("10.0.0.1")), Err(Refusal::PerAddress));
    book.authenticate(a.id).expect("not evicted");
}

#[test]
fn loopback_can_be_exempt_from_the_per_address_cap_only() {
    let mut book = Book::new(Limits::new(100, 2, 1).exempting_loopback(true));
    let mut last = None;
    for _ in 0..5 {
        last = Some(book.admit(ip("127.0.0.1")).expect("loopback is exempt"));
        assert!(book.admit(ip("::1")).is_ok());
        assert!(book.admit(ip("::ffff:127.0.0.1")).is_ok());
    }
    assert!(
        last.and_then(|a| a.evicted).is_some(),
        "but it still shares the unauthenticated budget"
    );
    assert!(book.admit(ip("192.0.2.1")).is_ok());
    assert_eq!(book.admit(ip("192.0.2.1")), Err(Refusal::PerAddress));
    let mut limited = Book::new(Limits::new(100, 2, 1));
    assert!(limited.admit(ip("127.0.0.1")).is_ok());
    assert_eq!(limited.admit(ip("127.0.0.1")), Err(Refusal::PerAddress));
}

#[test]
fn tickets_give_their_places_back_when_dropped() {
    let admission = Admission::new(Limits::new(1, 2, 2));
    let mut a = admission
        .admit(remote("10.0.0.1"), CancellationToken::new())
        .expect("admitted");
    let b = admission
        .admit(remote("10.0.0.1"), CancellationToken::new())
        .expect("admitted");
    assert!(
        admission
            .admit(remote("10.0.0.1"), CancellationToken::new())
            .is_err()
    );
    a.authenticated().expect("room");
    a.authenticated().expect("idempotent");
    assert_eq!(
        admission.counts(),
        Counts {
            established: 1,
            unauthenticated: 1
        }
    );
    drop(a);
    drop(b);
    assert_eq!(admission.counts(), Counts::default());
    assert_eq!(admission.from_address(ip("10.0.0.1")), 0);
    let mut c = admission
        .admit(remote("10.0.0.1"), CancellationToken::new())
        .expect("room again");
    c.authenticated()
        .expect("the established place is free again");
}

#[test]
fn eviction_cancels_the_ticket_token_and_keeps_the_address_counted_until_dropped() {
    let admission = Admission::new(Limits::new(10, 1, 5));
    let shutdown = CancellationToken::new();
    let mut old = admission
        .admit(remote("10.0.0.1"), shutdown.child_token())
        .expect("admitted");
    let new = admission
        .admit(remote("10.0.0.1"), shutdown.child_token())
        .expect("admitted");
    assert!(old.token().is_cancelled());
    assert!(!new.token().is_cancelled());
    assert!(!shutdown.is_cancelled(), "only the evicted one");
    assert_eq!(old.authenticated(), Err(Refusal::Evicted));
    assert_eq!(admission.from_address(ip("10.0.0.1")), 2);
    drop(old);
    assert_eq!(admission.from_address(ip("10.0.0.1")), 1);
    shutdown.cancel();
    assert!(new.token().is_cancelled(), "shutdown reaches every ticket");
}

/// A bounded random walk of admits, authentications and drops: the counts always match
/// the tickets alive, and the caps always hold.
#[test]
fn random_walk_keeps_the_books_straight() {
    let limits = Limits::new(5, 4, 6);
    let admission = Admission::new(limits);
    let mut tickets: Vec<Ticket> = Vec::new();
    // A small xorshift: deterministic, no dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5_000 {
        let roll = next();
        match roll % 3 {
            0 => {
                let host = format!("10.0.0.{}", roll / 3 % 3);
                if let Ok(ticket) = admission.admit(remote(&host), CancellationToken::new()) {
                    tickets.push(ticket);
                }
            }
            1 if !tickets.is_empty() => {
                let i = usize::try_from(roll / 3).unwrap_or(0) % tickets.len();
                let _ = tickets[i].authenticated();
            }
            _ if !tickets.is_empty() => {
                let i = usize::try_from(roll / 3).unwrap_or(0) % tickets.len();
                tickets.swap_remove(i);
            }
            _ => {}
        }
        let counts = admission.counts();
        let established = tickets.iter().filter(|t| t.is_authenticated()).count();
        let waiting = tickets
            .iter()
            .filter(|t| !t.is_authenticated() && !t.token().is_cancelled())
            .count();
        assert_eq!(counts.established, established);
        assert_eq!(counts.unauthenticated, waiting);
        assert!(counts.established <= limits.established);
        assert!(counts.unauthenticated <= limits.unauthenticated);
        for host in 0..3 {
            let host = ip(&format!("10.0.0.{host}"));
            let live = tickets.iter().filter(|t| t.remote().ip() == host).count();
            assert_eq!(admission.from_address(host), live);
            assert!(live <= limits.per_address);
        }
    }
}
