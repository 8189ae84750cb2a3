//! Samples and their summary, and the bounded timing loop every measurement uses.

use std::time::{Duration, Instant};

/// Time cap for any one measured loop.
pub const LOOP_BUDGET: Duration = Duration::from_secs(15);
/// Time cap for any one wait (an event, a round trip, a setup step).
pub const WAIT: Duration = Duration::from_secs(20);

/// Sorted samples and their summary.
#[derive(Debug, Clone)]
pub struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort();
        Self { samples }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn quantile(&self, q: f64) -> Duration {
        let last = self.samples.len() - 1;
        self.samples[((last as f64) * q).round() as usize]
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.5)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// Every sample halved: a round trip's samples as one-way times.
    pub fn halved(&self) -> Self {
        Self {
            samples: self.samples.iter().map(|d| *d / 2).collect(),
        }
    }
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs `trip` up to `count` times (stopping early when the loop budget runs out) and
/// times each call; `warm_up` untimed calls go first. Each call is bounded by [`WAIT`].
pub async fn time_trips(warm_up: usize, count: usize, mut trip: impl AsyncFnMut(u64)) -> Stats {
    sampled_trips(warm_up, count, async |i| {
        let t = Instant::now();
        tokio::time::timeout(WAIT, trip(i))
            .await
            .expect("round trip timed out");
        t.elapsed()
    })
    .await
}

/// Runs `trip` up to `count` times (stopping early when the loop budget runs out), each
/// returning its own sample; `warm_up` calls go first, their samples dropped.
pub async fn sampled_trips(
    warm_up: usize,
    count: usize,
    mut trip: impl AsyncFnMut(u64) -> Duration,
) -> Stats {
    for i in 0..warm_up {
        trip(i as u64).await;
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        if started.elapsed() > LOOP_BUDGET {
            eprintln!("  (loop budget reached after {i} of {count})");
            break;
        }
        samples.push(trip((warm_up + i) as u64).await);
    }
    Stats::new(samples)
}
