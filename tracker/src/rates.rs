//! The tracker's rate budgets, kept by the hub across connections: joins and leaves per
//! identity key and per address, new name bindings per address. Pure: the caller passes
//! the clock.
//!
//! They live outside the connections so that reconnecting does not refill them, and they
//! are keyed by address as well as by key so that cycling keys does not either. A full
//! bucket is no different from a fresh one, so the tables forget full buckets once they
//! grow: their size follows recent activity, not history.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Instant;

use natter_protocol::PublicKey;

use crate::limits::{
    JOIN_LEAVE_BURST, JOIN_LEAVE_PER_IP_BURST, JOIN_LEAVE_PER_IP_PER_SEC, JOIN_LEAVE_PER_SEC,
    NEW_NAMES_PER_IP_BURST, NEW_NAMES_PER_IP_REFILL, TokenBucket, address_key, is_loopback,
};

/// A table is swept for full buckets when it grows past this many entries (and then past
/// twice what the last sweep kept). A sweep is a pass over the table, so amortised it
/// costs a step or two per new entry; low, so that a tracker whose peers joined a while
/// ago and sit idle (their buckets full) keeps a small table, not one per online peer.
const SWEEP_AT: usize = 256;

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many joins and leaves (and hellos) from this key or this address.
    JoinLeave,
    /// Too many new names from this address.
    NewNames,
}

impl Refusal {
    /// The text of the `rate_limited` error frame.
    pub fn message(self) -> String {
        match self {
            Refusal::JoinLeave => format!(
                "too many joins and leaves: at most {JOIN_LEAVE_BURST} at once and \
                 {JOIN_LEAVE_PER_SEC} a second per key ({JOIN_LEAVE_PER_IP_BURST} and \
                 {JOIN_LEAVE_PER_IP_PER_SEC} per address); wait and reconnect"
            ),
            Refusal::NewNames => format!(
                "too many new names from your address: at most {NEW_NAMES_PER_IP_BURST} every \
                 {} minutes; use a name you already registered, or wait",
                NEW_NAMES_PER_IP_REFILL.as_secs() / 60
            ),
        }
    }
}

/// Buckets by some key, forgetting full ones as the table grows.
#[derive(Debug)]
struct Table<K> {
    buckets: HashMap<K, TokenBucket>,
    sweep_at: usize,
    fresh: fn(Instant) -> TokenBucket,
}

impl<K: Hash + Eq> Table<K> {
    fn new(fresh: fn(Instant) -> TokenBucket) -> Self {
        Self {
            buckets: HashMap::new(),
            sweep_at: SWEEP_AT,
            fresh,
        }
    }

    fn allows(&mut self, key: &K, now: Instant) -> bool {
        self.buckets.get_mut(key).is_none_or(|b| b.allows(now))
    }

    fn charge(&mut self, key: K, n: u32, now: Instant) {
        let fresh = self.fresh;
        self.buckets
            .entry(key)
            .or_insert_with(|| fresh(now))
            .charge(n, now);
        if self.buckets.len() > self.sweep_at {
            self.buckets.retain(|_, b| !b.is_full(now));
            self.sweep_at = SWEEP_AT.max(self.buckets.len().saturating_mul(2));
            // Room for what it may hold until the next sweep, not for its peak.
            self.buckets.shrink_to(self.sweep_at + 1);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

/// Every rate budget the hub enforces.
#[derive(Debug)]
pub struct Rates {
    join_leave_by_key: Table<PublicKey>,
    join_leave_by_ip: Table<IpAddr>,
    new_names_by_ip: Table<IpAddr>,
    exempt_loopback: bool,
}

impl Default for Rates {
    fn default() -> Self {
        Self::new()
    }
}

impl Rates {
    pub fn new() -> Self {
        Self {
            join_leave_by_key: Table::new(TokenBucket::join_leave),
            join_leave_by_ip: Table::new(TokenBucket::join_leave_per_ip),
            new_names_by_ip: Table::new(TokenBucket::new_names_per_ip),
            exempt_loopback: false,
        }
    }

    /// Applies only the per-key budget to loopback addresses when `exempt_loopback` (see
    /// `Config::limit_loopback`).
    pub fn exempting_loopback(mut self, exempt_loopback: bool) -> Self {
        self.exempt_loopback = exempt_loopback;
        self
    }

    /// One join or leave request from `key` at `ip`.
    #[cfg(test)]
    pub fn join_leave(&mut self, key: PublicKey, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        self.joins(key, ip, 1, now)
    }

    /// A request from `key` at `ip` costing `joins` joins (a governance action: one, and
    /// one more per member a `create` adds). Like a hello, it passes with one token left
    /// and goes into debt for the rest.
    pub fn joins(
        &mut self,
        key: PublicKey,
        ip: IpAddr,
        joins: u32,
        now: Instant,
    ) -> Result<(), Refusal> {
        self.hello(key, ip, joins, false, now)
    }

    /// A hello from `key` at `ip` costing `join_leave` (one, plus the groups it newly
    /// joins) and binding a new name if `new_name`. All or nothing: a refused hello takes
    /// nothing from any budget.
    pub fn hello(
        &mut self,
        key: PublicKey,
        ip: IpAddr,
        join_leave: u32,
        new_name: bool,
        now: Instant,
    ) -> Result<(), Refusal> {
        let by_ip = !(self.exempt_loopback && is_loopback(ip));
        let ip = address_key(ip);
        if join_leave > 0
            && !(self.join_leave_by_key.allows(&key, now)
                && (!by_ip || self.join_leave_by_ip.allows(&ip, now)))
        {
            return Err(Refusal::JoinLeave);
        }
        if by_ip && new_name && !self.new_names_by_ip.allows(&ip, now) {
            return Err(Refusal::NewNames);
        }
        if join_leave > 0 {
            self.join_leave_by_key.charge(key, join_leave, now);
            if by_ip {
                self.join_leave_by_ip.charge(ip, join_leave, now);
            }
        }
        if by_ip && new_name {
            self.new_names_by_ip.charge(ip, 1, now);
        }
        Ok(())
    }

    /// Buckets held, all tables together.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.join_leave_by_key.len() + self.join_leave_by_ip.len() + self.new_names_by_ip.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(seed: u8) -> PublicKey {
        natter_protocol::Identity::from_secrets(&[seed; 32], &[seed; 32]).public_key()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_key_budget_survives_reconnecting_and_moving_address() {
        let now = Instant::now();
        let mut rates = Rates::new();
        let alice = key(1);
        for i in 0..JOIN_LEAVE_BURST {
            // Every request from a new address: only the key's budget is shared.
            let from = IpAddr::from([10, 0, (i / 200) as u8, (i % 200) as u8]);
            assert_eq!(rates.join_leave(alice, from, now), Ok(()));
        }
        assert_eq!(
            rates.join_leave(alice, ip("10.9.9.9"), now),
            Err(Refusal::JoinLeave)
        );
        // Another key is not affected, and the key recovers at its rate.
        assert_eq!(rates.join_leave(key(2), ip("10.9.9.9"), now), Ok(()));
        let later = now + Duration::from_millis(150);
        assert_eq!(rates.join_leave(alice, ip("10.9.9.9"), later), Ok(()));
    }

    #[test]
    fn the_address_budget_survives_cycling_keys() {
        let now = Instant::now();
        let mut rates = Rates::new();
        let from = ip("2001:db8::1");
        let mut allowed = 0u32;
        for seed in 0..=u8::MAX {
            // A fresh key every time, from addresses in one /64.
            if rates.join_leave(key(seed), from, now).is_ok() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, JOIN_LEAVE_PER_IP_BURST.min(256));
        let same_64 = ip("2001:db8::ffff");
        assert_eq!(
            rates.hello(key(7), same_64, 1, false, now + Duration::from_millis(1)),
            Err(Refusal::JoinLeave)
        );
        assert_eq!(rates.join_leave(key(7), ip("2001:db8:0:1::1"), now), Ok(()));
    }

    #[test]
    fn a_hello_pays_for_its_joins_at_once_and_then_waits() {
        let now = Instant::now();
        let mut rates = Rates::new();
        let from = ip("10.0.0.1");
        // A hello re-joining 100 groups passes once ...
        assert_eq!(rates.hello(key(1), from, 101, false, now), Ok(()));
        // ... and leaves the key in debt: no join until it is paid off.
        let soon = now + Duration::from_secs(5);
        assert_eq!(
            rates.join_leave(key(1), from, soon),
            Err(Refusal::JoinLeave)
        );
        assert_eq!(
            rates.hello(key(1), from, 1, false, soon),
            Err(Refusal::JoinLeave)
        );
        let paid = now + Duration::from_millis(7_200);
        assert_eq!(rates.join_leave(key(1), from, paid), Ok(()));
        // A hello that joins nothing and binds nothing costs nothing.
        assert_eq!(rates.hello(key(1), from, 0, false, paid), Ok(()));
    }

    #[test]
    fn new_names_are_capped_per_address_and_a_refusal_takes_nothing() {
        let now = Instant::now();
        let mut rates = Rates::new();
        let from = ip("192.0.2.7");
        for seed in 0..NEW_NAMES_PER_IP_BURST {
            let seed = u8::try_from(seed).expect("seed");
            assert_eq!(rates.hello(key(seed), from, 1, true, now), Ok(()));
        }
        assert_eq!(
            rates.hello(key(99), from, 1, true, now),
            Err(Refusal::NewNames)
        );
        // A known name from the same address still comes online.
        assert_eq!(rates.hello(key(99), from, 1, false, now), Ok(()));
        // Another address has its own budget; the refill takes minutes, not hours.
        assert_eq!(rates.hello(key(98), ip("192.0.2.8"), 1, true, now), Ok(()));
        let later = now + NEW_NAMES_PER_IP_REFILL / NEW_NAMES_PER_IP_BURST + Duration::from_secs(1);
        assert_eq!(rates.hello(key(97), from, 1, true, later), Ok(()));
        assert!(Refusal::NewNames.message().contains("new names"));
    }

    #[test]
    fn loopback_can_be_exempt_from_per_address_budgets_but_not_per_key_ones() {
        let now = Instant::now();
        let mut rates = Rates::new().exempting_loopback(true);
        let local = ip("127.0.0.1");
        for seed in 0..=NEW_NAMES_PER_IP_BURST {
            let seed = u8::try_from(seed).expect("seed");
            assert_eq!(rates.hello(key(seed), local, 1, true, now), Ok(()));
        }
        // The per-key budget still holds.
        let burst = crate::limits::JOIN_LEAVE_BURST;
        let spent = (0..burst * 2)
            .filter(|_| rates.join_leave(key(0), local, now).is_err())
            .count();
        assert!(spent > 0);
        // A remote address is limited as before.
        let from = ip("192.0.2.7");
        let refused = (0..=NEW_NAMES_PER_IP_BURST)
            .filter(|&s| rates.hello(key(100 + s as u8), from, 1, true, now).is_err())
            .count();
        assert_eq!(refused, 1);
    }

    #[test]
    fn full_buckets_are_forgotten_as_the_tables_grow() {
        let now = Instant::now();
        let mut rates = Rates::new();
        let spread = |i: u32| key(u8::try_from(i % 250).expect("seed"));
        for i in 0..3000u32 {
            let from = IpAddr::from(i.to_be_bytes());
            assert_eq!(rates.hello(spread(i), from, 1, true, now), Ok(()));
        }
        assert_eq!(rates.tracked(), 250 + 3000 + 3000);
        // An hour later every one of those buckets is full again: the next sweeps drop them.
        let later = now + Duration::from_secs(3600);
        for i in 0..2000u32 {
            let from = IpAddr::from((i + 100_000).to_be_bytes());
            assert_eq!(rates.hello(spread(i), from, 1, true, later), Ok(()));
        }
        assert!(rates.tracked() <= 250 + 2000 + 2000, "{}", rates.tracked());
    }

    #[test]
    fn keys_that_came_and_went_quiet_leave_a_small_table() {
        let mut now = Instant::now();
        let mut rates = Rates::new();
        let from = ip("192.0.2.1");
        // A thousand peers, a join each, a second apart: each bucket is full again long
        // before the next peer comes.
        for i in 0..1000u32 {
            let mut secret = [7u8; 32];
            secret[..4].copy_from_slice(&i.to_be_bytes());
            let key = natter_protocol::Identity::from_secrets(&secret, &secret).public_key();
            assert_eq!(rates.join_leave(key, from, now), Ok(()));
            now += Duration::from_secs(1);
        }
        let table = &rates.join_leave_by_key.buckets;
        assert!(table.len() <= SWEEP_AT + 1, "{}", table.len());
        assert!(table.capacity() < 1000, "room for {}", table.capacity());
    }
}
