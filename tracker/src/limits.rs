//! Every limit the tracker enforces, with its default, in one place; and the small pure
//! helpers that enforce the per-address and per-connection ones.
//!
//! Past a limit the offending connection is closed (or, for the totals, the request is
//! refused) and every other one keeps working. "Per address" means per IPv4 address, or
//! per IPv6 /64 ([`address_key`]): one host usually holds a whole /64. The connection
//! limits themselves are enforced by the shared accept loop, [`natter_protocol::net`].

use std::time::{Duration, Instant};

pub use natter_protocol::net::{address_key, is_loopback};

/// The largest frame accepted or sent, in bytes (1 MiB, the protocol's default), once the
/// hello was accepted.
pub const MAX_FRAME: usize = natter_protocol::DEFAULT_MAX_FRAME;
/// Groups one hello may (re-)join at once; a longer list is refused and the connection
/// closed. The groups it really joins are charged to the join/leave budget.
pub const MAX_HELLO_GROUPS: usize = 256;
/// The largest frame accepted before the hello was accepted (an unauthenticated peer's
/// memory): room for a hello naming [`MAX_HELLO_GROUPS`] groups of the longest names in
/// 4-byte characters, plus 1 KiB for the rest. About 35 KiB.
pub const MAX_HELLO_FRAME: usize =
    1024 + MAX_HELLO_GROUPS * (4 * natter_protocol::names::MAX_NAME_CHARS + 8);
/// How long a new connection gets to finish its Noise handshake; slower or failed
/// handshakes are closed.
pub const HANDSHAKE_TIMEOUT: Duration = natter_protocol::net::HANDSHAKE_TIMEOUT;
/// How long a connection gets to send its hello after the handshake (or three heartbeats,
/// if that is shorter).
pub const HELLO_TIMEOUT: Duration = natter_protocol::net::HELLO_TIMEOUT;
/// Registered peers served at once; past it a new peer gets `rate_limited` after its
/// handshake and is closed.
pub const MAX_CONNECTIONS: usize = 4096;
/// Connections at once that have not finished their handshake and hello. A newcomer past
/// it evicts the oldest of them rather than waiting, so a flood of silent or stalled
/// connections costs at most this many connections' memory and never locks honest peers
/// out. An honest handshake and hello take about a millisecond.
pub const MAX_UNAUTHENTICATED: usize = 512;
/// Connections served at once from one remote address; more are closed on accept.
/// Generous because tests run many peers on 127.0.0.1.
pub const MAX_CONNECTIONS_PER_IP: usize = 256;

/// Join and leave requests one identity key may send in a burst, across all its
/// connections (reconnecting does not refill it). A hello costs one, plus one per group it
/// newly joins.
pub const JOIN_LEAVE_BURST: u32 = 30;
/// Join and leave requests one identity key may send per second, sustained. Past the burst
/// and this rate the tracker answers `rate_limited` and closes the connection.
pub const JOIN_LEAVE_PER_SEC: u32 = 10;
/// Join and leave requests (and hellos) from one address in a burst, all keys together
/// (so that cycling keys does not refill it). Larger than the per-key budget because a NAT
/// or a test machine puts many peers behind one address.
pub const JOIN_LEAVE_PER_IP_BURST: u32 = 256;
/// Join and leave requests (and hellos) from one address per second, sustained.
pub const JOIN_LEAVE_PER_IP_PER_SEC: u32 = 50;
/// New names one address may bind to a key in a burst (a binding is forever, so this is
/// what caps the growth of the name table).
pub const NEW_NAMES_PER_IP_BURST: u32 = 20;
/// The time one address's new-name budget takes to refill completely: 20 new names an
/// hour, sustained.
pub const NEW_NAMES_PER_IP_REFILL: Duration = Duration::from_secs(3600);

/// Groups the tracker holds at most; a join that would create one more is refused
/// (`refused`, the connection stays). A group disappears when its last member leaves.
pub const MAX_GROUPS: usize = 100_000;
/// Names bound to keys at most; a hello with a new name past it is refused and closed.
pub const MAX_NAMES: usize = 100_000;
/// Members one group holds at most (online or not); a join past it is refused.
pub const MAX_GROUP_MEMBERS: usize = 10_000;

/// How long the reachability probe (`probe`) may take to connect back to a peer and
/// finish the Noise handshake with it; past it the peer is reported unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// What one probe costs the join and leave budgets (in joins): a probe is a dial, so it
/// is rate limited like the requests that make the tracker do work for others.
pub const PROBE_COST: u32 = 1;
/// How many probes may dial at once, across every connection: each holds a socket for up
/// to [`PROBE_TIMEOUT`], so without it a crowd of connections could open thousands.
pub const MAX_PROBES_IN_FLIGHT: usize = 64;

/// How long a presence-only change (online, offline, a new address) may wait before the
/// state file is rewritten; joins, leaves and new name bindings are written before any
/// push. Also written at shutdown.
pub const PRESENCE_SAVE_DELAY: Duration = Duration::from_secs(1);
/// Unsaved presence changes (version bumps) after which the state file is written at once,
/// whatever the delay: what keeps [`VERSION_MARGIN`] safe.
pub const MAX_UNSAVED_CHANGES: usize = 1024;
/// Added to every group's version when the state file is loaded. Presence changes are
/// saved late, so a crash may lose the last few version bumps that peers already saw; a
/// restarted tracker that counted on from the saved version would push versions peers
/// take for stale. At most [`MAX_UNSAVED_CHANGES`] plus one batch of bumps can be unsaved,
/// far below this margin, so versions never go backwards across a restart.
pub const VERSION_MARGIN: u64 = 1 << 16;

/// A token bucket: `burst` tokens, refilled continuously. Pure: the caller passes the
/// clock. A charge of several tokens at once ([`TokenBucket::charge`]) may leave it in
/// debt, which the refill pays off before anything else is allowed.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilled at `per_sec` tokens a second.
    pub fn new(burst: u32, per_sec: u32, now: Instant) -> Self {
        Self::with_rate(burst, f64::from(per_sec), now)
    }

    /// A full bucket that takes `refill` to go from empty to full.
    pub fn refilled_over(burst: u32, refill: Duration, now: Instant) -> Self {
        let per_sec = f64::from(burst) / refill.as_secs_f64().max(1e-3);
        Self::with_rate(burst, per_sec, now)
    }

    fn with_rate(burst: u32, per_sec: f64, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_sec,
            last: now,
        }
    }

    /// The per-key join/leave bucket with the defaults above.
    pub fn join_leave(now: Instant) -> Self {
        Self::new(JOIN_LEAVE_BURST, JOIN_LEAVE_PER_SEC, now)
    }

    /// The per-address join/leave bucket with the defaults above.
    pub fn join_leave_per_ip(now: Instant) -> Self {
        Self::new(JOIN_LEAVE_PER_IP_BURST, JOIN_LEAVE_PER_IP_PER_SEC, now)
    }

    /// The per-address new-name bucket with the defaults above.
    pub fn new_names_per_ip(now: Instant) -> Self {
        Self::refilled_over(NEW_NAMES_PER_IP_BURST, NEW_NAMES_PER_IP_REFILL, now)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
    }

    /// Takes one token if there is one; false means over the limit.
    pub fn take(&mut self, now: Instant) -> bool {
        self.charge(1, now)
    }

    /// Whether a charge would be allowed now (at least one whole token, no debt).
    pub fn allows(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Takes `n` tokens if at least one is there, going into debt for the rest (so one
    /// large but legitimate request, like a hello re-joining many groups, passes once and
    /// the sustained rate still holds); false (and nothing taken) when there is none.
    pub fn charge(&mut self, n: u32, now: Instant) -> bool {
        if !self.allows(now) {
            return false;
        }
        self.tokens -= f64::from(n);
        true
    }

    /// Whether the bucket is full, i.e. no different from a fresh one (safe to forget).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
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
    fn a_large_charge_goes_into_debt_that_must_be_paid_off() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 10, start);
        assert!(
            bucket.charge(25, start),
            "a full bucket takes one large charge"
        );
        assert!(!bucket.take(start));
        // 15 tokens of debt plus one to spend: 1.6 s at 10 a second.
        assert!(!bucket.take(start + Duration::from_millis(1500)));
        assert!(bucket.take(start + Duration::from_millis(1600)));
    }

    #[test]
    fn a_slow_bucket_refills_over_its_period() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new_names_per_ip(start);
        assert!((0..NEW_NAMES_PER_IP_BURST).all(|_| bucket.take(start)));
        assert!(!bucket.take(start + Duration::from_secs(60)));
        // One token every 3 minutes.
        assert!(bucket.take(start + Duration::from_secs(181)));
        assert!(!bucket.is_full(start + Duration::from_secs(3000)));
        assert!(bucket.is_full(start + Duration::from_secs(3900)));
    }
}
