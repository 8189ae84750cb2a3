//! A tracker in this process on a runtime of its own, and the CPU time of this process's
//! threads by name: what tells the tracker's share of a storm from its clients'.

use std::net::SocketAddr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A tracker in this process, on a runtime of its own whose threads are named
/// [`THREADS`] (so its CPU time can be told from the clients').
pub struct InProcess {
    pub addr: SocketAddr,
    stop: CancellationToken,
    runtime: tokio::runtime::Runtime,
}

pub const THREADS: &str = "tracker";

pub async fn start(
    dir: &tempfile::TempDir,
    config: impl FnOnce(&mut natter_tracker::Config),
) -> InProcess {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THREADS)
        .enable_all()
        .build()
        .unwrap();
    let mut settings = natter_tracker::Config::new(dir.path().join("tracker.json"));
    config(&mut settings);
    let stop = CancellationToken::new();
    let token = stop.clone();
    let (bound, addr) = tokio::sync::oneshot::channel();
    runtime.spawn(async move {
        let listener = natter_tracker::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let _ = bound.send(listener.local_addr().unwrap());
        if let Err(e) = natter_tracker::run(listener, settings, token).await {
            eprintln!("tracker failed: {e:#}");
        }
    });
    let addr = addr.await.unwrap();
    InProcess {
        addr,
        stop,
        runtime,
    }
}

/// CPU time (user and system) of this process's threads, in all and of those named
/// `name`, from `/proc/self/task/*/stat`.
pub fn cpu(name: &str) -> (Duration, Duration) {
    // USER_HZ: 100 on Linux.
    let tick = Duration::from_millis(10);
    let (mut all, mut named) = (0u64, 0u64);
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state, ppid, ..., utime (12th) and stime (13th).
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        all += ticks;
        if comm == name {
            named += ticks;
        }
    }
    let at = |t: u64| tick * u32::try_from(t).unwrap_or(u32::MAX);
    (at(all), at(named))
}

impl InProcess {
    /// Stops the tracker and lets go of its runtime (from inside another runtime).
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.runtime.shutdown_background();
    }
}
