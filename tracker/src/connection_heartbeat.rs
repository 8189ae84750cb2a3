//! When a registered peer is pinged and when it counts as silent, decided without a clock
//! of its own: `now` comes in, the next instant to wake at goes out.
//!
//! Both rules share one timer per connection (an idle peer is mostly its timers): a ping
//! every heartbeat from registration on (a late one moves the following ones back, as a
//! `tokio` interval with [`MissedTickBehavior::Delay`] does), and the end of a peer that
//! sent nothing for the silence limit.
//!
//! [`MissedTickBehavior::Delay`]: tokio::time::MissedTickBehavior::Delay

use std::time::Duration;

use tokio::time::Instant;

/// A tick later than this counts as missed (what `tokio`'s interval allows).
const LATE: Duration = Duration::from_millis(5);

/// One connection's heartbeat and silence deadlines.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heartbeat {
    period: Duration,
    silence: Duration,
    next_ping: Instant,
    last_seen: Instant,
}

/// What the timer's firing calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Nothing yet (a frame came meanwhile): wait for [`Heartbeat::next_wake`].
    Nothing,
    /// Send a ping.
    Ping,
    /// The peer has been silent for the limit: drop it.
    Silent,
}

impl Heartbeat {
    /// Registered at `now`: the first ping is one `period` away.
    pub(super) fn new(now: Instant, period: Duration, silence: Duration) -> Self {
        Self {
            period,
            silence,
            next_ping: now + period,
            last_seen: now,
        }
    }

    /// A frame came from the peer at `now`.
    pub(super) fn heard(&mut self, now: Instant) {
        self.last_seen = now;
    }

    /// When the timer should fire next.
    pub(super) fn next_wake(&self) -> Instant {
        self.next_ping.min(self.last_seen + self.silence)
    }

    /// The timer fired at `now`.
    pub(super) fn fired(&mut self, now: Instant) -> Due {
        if now.saturating_duration_since(self.last_seen) >= self.silence {
            return Due::Silent;
        }
        if now < self.next_ping {
            return Due::Nothing;
        }
        self.next_ping = if now > self.next_ping + LATE {
            now + self.period
        } else {
            self.next_ping + self.period
        };
        Due::Ping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn heartbeat() -> (Heartbeat, Instant) {
        let start = Instant::now();
        (Heartbeat::new(start, 10 * SECOND, 30 * SECOND), start)
    }

    #[test]
    fn pings_every_period_from_registration() {
        let (mut hb, start) = heartbeat();
        assert_eq!(hb.next_wake(), start + 10 * SECOND);
        assert_eq!(hb.fired(start + 9 * SECOND), Due::Nothing);
        for k in 1..=5u32 {
            let at = start + 10 * k * SECOND;
            // The peer answers each ping at once.
            hb.heard(at - SECOND);
            assert_eq!(hb.fired(at), Due::Ping, "ping {k}");
            assert_eq!(hb.next_wake(), at + 10 * SECOND);
        }
    }

    #[test]
    fn a_slightly_late_tick_keeps_the_schedule_a_late_one_delays_it() {
        let (mut hb, start) = heartbeat();
        hb.heard(start + 9 * SECOND);
        assert_eq!(hb.fired(start + 10 * SECOND + LATE), Due::Ping);
        assert_eq!(hb.next_wake(), start + 20 * SECOND);
        let late = start + 20 * SECOND + 2 * LATE;
        hb.heard(late);
        assert_eq!(hb.fired(late), Due::Ping);
        assert_eq!(hb.next_wake(), late + 10 * SECOND);
    }

    #[test]
    fn a_peer_silent_for_the_limit_is_dropped_not_a_moment_before() {
        let (mut hb, start) = heartbeat();
        for k in 1..=2u32 {
            assert_eq!(hb.fired(start + 10 * k * SECOND), Due::Ping);
        }
        assert_eq!(hb.next_wake(), start + 30 * SECOND);
        assert_eq!(
            hb.fired(start + 30 * SECOND - Duration::from_millis(1)),
            Due::Nothing
        );
        assert_eq!(hb.fired(start + 30 * SECOND), Due::Silent);
    }

    #[test]
    fn a_frame_moves_the_silence_deadline() {
        let (mut hb, start) = heartbeat();
        assert_eq!(hb.fired(start + 10 * SECOND), Due::Ping);
        assert_eq!(hb.fired(start + 20 * SECOND), Due::Ping);
        hb.heard(start + 25 * SECOND);
        // The ping is due first; then silence counts from the frame.
        assert_eq!(hb.next_wake(), start + 30 * SECOND);
        assert_eq!(hb.fired(start + 30 * SECOND), Due::Ping);
        assert_eq!(hb.fired(start + 40 * SECOND), Due::Ping);
        assert_eq!(hb.next_wake(), start + 50 * SECOND);
        assert_eq!(hb.fired(start + 50 * SECOND), Due::Ping);
        assert_eq!(hb.next_wake(), start + 55 * SECOND);
        assert_eq!(hb.fired(start + 55 * SECOND), Due::Silent);
    }

    #[test]
    fn a_heartbeat_longer_than_the_silence_limit_still_drops_the_silent() {
        let start = Instant::now();
        let mut hb = Heartbeat::new(start, 10 * SECOND, 3 * SECOND);
        assert_eq!(hb.next_wake(), start + 3 * SECOND);
        assert_eq!(hb.fired(start + 3 * SECOND), Due::Silent);
    }
}
