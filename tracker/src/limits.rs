//! Every limit the tracker enforces, with its default, in one place; and the two small
//! pure helpers that enforce the per-address and per-connection ones.
//!
//! Past a limit the offending connection is closed and every other one keeps working.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The largest frame accepted or sent, in bytes (1 MiB, the protocol's default).
pub const MAX_FRAME: usize = natter_protocol::DEFAULT_MAX_FRAME;
/// How long a new connection gets to finish its Noise handshake; slower or failed
/// handshakes are closed.
pub const HANDSHAKE_TIMEOUT: Duration = natter_protocol::secure::DEFAULT_HANDSHAKE_TIMEOUT;
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 4096;
/// Connections served at once from one remote IP address; more are closed on accept.
/// Generous because tests run many peers on 127.0.0.1.
pub const MAX_CONNECTIONS_PER_IP: usize = 256;
/// Join and leave requests a connection may send in a burst.
pub const JOIN_LEAVE_BURST: u32 = 30;
/// Join and leave requests a connection may send per second, sustained. Past the burst
/// and this rate the tracker answers `rate_limited` and closes the connection.
pub const JOIN_LEAVE_PER_SEC: u32 = 10;

/// Groups one hello may (re-)join at once; a longer list is refused and the connection
/// closed, so a hello cannot slip past the join rate.
pub const MAX_HELLO_GROUPS: usize = 256;

/// A token bucket: `burst` tokens, refilled at `per_sec` a second. Pure: the caller
/// passes the clock.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, per_sec: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_sec: f64::from(per_sec),
            last: now,
        }
    }

    /// The join/leave bucket with the defaults above.
    pub fn join_leave(now: Instant) -> Self {
        Self::new(JOIN_LEAVE_BURST, JOIN_LEAVE_PER_SEC, now)
    }

    /// Takes one token if there is one; false means over the limit.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Live connections per remote IP address, against a cap. Pure bookkeeping: the server
/// acquires on accept and releases when the connection ends.
#[derive(Debug)]
pub struct PerIp {
    cap: usize,
    counts: HashMap<IpAddr, usize>,
}

impl PerIp {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            counts: HashMap::new(),
        }
    }

    /// Counts one more connection from `ip`, unless it already has `cap`.
    pub fn acquire(&mut self, ip: IpAddr) -> bool {
        let count = self.counts.entry(ip.to_canonical()).or_insert(0);
        if *count >= self.cap {
            return false;
        }
        *count += 1;
        true
    }

    /// One connection from `ip` ended.
    pub fn release(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(count) = self.counts.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.counts.remove(&ip);
            }
        }
    }

    /// Live connections from `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.counts.get(&ip.to_canonical()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_refuses_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, 10, start);
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        // 100 ms later one token came back.
        let later = start + Duration::from_millis(100);
        assert!(bucket.take(later));
        assert!(!bucket.take(later));
        // Never more than the burst, however long it waited.
        let much_later = later + Duration::from_secs(3600);
        assert!((0..3).all(|_| bucket.take(much_later)));
        assert!(!bucket.take(much_later));
    }

    #[test]
    fn bucket_sustains_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::join_leave(start);
        let mut now = start;
        for _ in 0..(JOIN_LEAVE_BURST + 100) {
            assert!(bucket.take(now));
            now += Duration::from_millis(100);
        }
    }

    #[test]
    fn per_ip_caps_each_address_separately() {
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let mut per_ip = PerIp::new(2);
        assert!(per_ip.acquire(a));
        assert!(per_ip.acquire(a));
        assert!(!per_ip.acquire(a));
        assert!(per_ip.acquire(b));
        per_ip.release(a);
        assert_eq!(per_ip.count(a), 1);
        assert!(per_ip.acquire(a));
        // An IPv4-mapped IPv6 address is the same address.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert!(!per_ip.acquire(mapped));
        per_ip.release(a);
        per_ip.release(a);
        per_ip.release(a);
        assert_eq!(per_ip.count(a), 0);
    }
}
