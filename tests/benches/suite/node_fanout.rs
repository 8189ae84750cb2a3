//! Group fan-out at the node API (`fanout_10`, `fanout_100`, `fanout_500`): a durable
//! sender in this process, its `M` fellow members as nodes in one `node-members` child;
//! timed from `Send` to its `sent` with all `M` delivered, against the raw fan-out of one
//! Noise frame to as many sockets (the baselines' `fanout_M`).
//!
//! The members keep their messages in memory: with `M` stores on disk every message would
//! cost `M` fsyncs, which measures the disk, not the fan-out. For the same reason they
//! save their member caches rarely ([`MEMBER_CACHE_SAVE_EVERY`]).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use natter::node::members::{MemberList, apply_change};
use natter::node::{Command, Event, NodeHandle, Target};
use natter_protocol::GroupName;
use tokio::task::JoinHandle;

use crate::baselines::{FANOUTS, TEXT};
use crate::child::{ChildProc, Orders, say};
use crate::node_api::SECTION;
use crate::nodes::{BenchNode, Store, start_node, try_start_node_with};
use crate::report::{Measure, Report, Row};
use crate::stats::{WAIT, time_trips, us};

/// The bound on the node's cost per member above the raw fan-out, µs.
const PER_MEMBER_TARGET_US: f64 = 3.0;
/// Members started at once in the child.
const START_BATCH: usize = 16;
/// How often, at most, a member writes its `members.json` (a real peer: every 500 ms).
/// The `M` members share this process and one disk, so while the group comes together
/// each member's synced rewrite of a list of `M` would add up to `M` times what one peer
/// writes: at 500 members that alone took most of the child's CPU (in the kernel) and
/// kept the group from coming online within its bound.
const MEMBER_CACHE_SAVE_EVERY: Duration = Duration::from_secs(60);

pub async fn run(report: &mut Report, tracker: &str) {
    for m in FANOUTS {
        let raw = report.get("baselines", &format!("fanout_{m}"));
        let raw = raw.expect("the baselines ran first").value();
        report.add(fanout(tracker, m, raw).await);
    }
}

/// How long `m` members may take to start, join and be seen online by the sender.
fn setup_bound(m: usize) -> Duration {
    Duration::from_secs(10) + Duration::from_millis(100) * m as u32
}

/// Timed sends to a group of `m` besides the sender.
fn sends(m: usize) -> usize {
    (10_000 / m).clamp(30, 200)
}

async fn fanout(tracker: &str, m: usize, raw: f64) -> Row {
    let group: GroupName = format!("fan{m}").parse().unwrap();
    let mut sender = start_node(&format!("sender-{m}"), tracker, Store::Durable).await;
    let join = Command::Join(group.clone());
    sender.handle.send(join).await.unwrap();
    let args = [tracker.to_owned(), group.as_str().to_owned(), m.to_string()];
    let mut members = ChildProc::spawn("node-members", &args);
    let mut setup = wait_online(&mut sender, &mut members, (&group, m)).await;
    let row = if setup.online < m {
        unmeasured(m, &setup)
    } else {
        setup.settled = members.settle(setup_bound(m)).await;
        eprintln!("  (group of {m}: {}; measuring)", setup.describe());
        measured(&mut sender, Target::Group(group), (m, raw), &setup).await
    };
    sender.quit().await;
    members.finish().await;
    row
}

/// How the members' start went, as the sender saw it.
struct Setup {
    /// Members the sender saw online.
    online: usize,
    took: Duration,
    /// What the members' child said when it could not start them all.
    failure: Option<String>,
    /// How long the members' child then took to go quiet (it dials and syncs).
    settled: Option<Duration>,
}

impl Setup {
    fn describe(&self) -> String {
        let quiet = match self.settled {
            Some(d) => format!("quiet {:.1} s later", d.as_secs_f64()),
            None => "never quiet".to_owned(),
        };
        format!("all online after {:.1} s, {quiet}", self.took.as_secs_f64())
    }
}

/// Waits, within [`setup_bound`], until the sender sees `m` others online in `group`, or
/// the members' child says it could not start them all (it says `started` when it has).
async fn wait_online(
    sender: &mut BenchNode,
    members: &mut ChildProc,
    (group, m): (&GroupName, usize),
) -> Setup {
    let bound = setup_bound(m);
    let t = Instant::now();
    let deadline = tokio::time::Instant::now() + bound;
    let mut list = MemberList::new();
    let (mut online, mut started, mut failure) = (0, false, None);
    while online < m && failure.is_none() {
        let event = tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            line = members.line_within(bound), if !started => {
                started = line == "started";
                failure = (!started).then_some(line);
                continue;
            }
            notice = sender.events.recv() => notice.expect("sender stopped").event,
        };
        if let Event::Members {
            group: g,
            members,
            change,
            ..
        } = event
            && &g == group
        {
            match (members, change) {
                (Some(full), _) => list = full.into(),
                (None, Some(change)) => apply_change(&mut list, &change),
                (None, None) => {}
            }
            let names: HashSet<_> = list.iter().filter(|x| x.online).map(|x| &x.name).collect();
            online = names.len().saturating_sub(1);
        }
    }
    Setup {
        online,
        took: t.elapsed(),
        failure,
        settled: None,
    }
}

fn unmeasured(m: usize, setup: &Setup) -> Row {
    let label = format!("group of {m}: members online (not measured)");
    let online = setup.online;
    let row = Row::new(
        SECTION,
        &format!("fanout_{m}"),
        &label,
        Measure::Count(online as f64),
    );
    let why = match &setup.failure {
        Some(failure) => format!("the members' child {failure}"),
        None => format!("only {online} of {m} seen online"),
    };
    let secs = setup.took.as_secs_f64();
    let row = row.note(format!("{why} after {secs:.0} s: fan-out not measured"));
    if m >= 100 {
        row.goal("≤ 3 µs per member above the raw fan-out", false)
    } else {
        row
    }
}

/// Times sends to the group of `m`, whose raw fan-out took `raw` µs.
async fn measured(
    sender: &mut BenchNode,
    target: Target,
    (m, raw): (usize, f64),
    setup: &Setup,
) -> Row {
    let t = Instant::now();
    let first = sender.send_and_wait(target.clone(), TEXT.into()).await;
    assert_eq!(
        first,
        (m, 0, 0),
        "the first group message not delivered to all"
    );
    let first_send = t.elapsed();
    let stats = time_trips(5, sends(m), async |_| {
        let got = sender.send_and_wait(target.clone(), TEXT.into()).await;
        assert_eq!(got, (m, 0, 0), "a group message not delivered to all");
    })
    .await;
    let per_member = (us(stats.p50()) - raw) / m as f64;
    let label = format!("group of {m}: Send → Sent, all delivered");
    let measure = Measure::Latency(stats);
    let row = Row::new(SECTION, &format!("fanout_{m}"), &label, measure);
    let note = format!(
        "{per_member:.1} µs per member above raw; members' stores in memory and their \
         member caches saved every {} s, in one child process (M fsyncs per message would \
         measure the disk), sender's on disk; setup: {}; first send {:.1} ms",
        MEMBER_CACHE_SAVE_EVERY.as_secs(),
        setup.describe(),
        first_send.as_secs_f64() * 1e3
    );
    let row = row.versus("raw fan-out", raw).note(note);
    if m >= 100 {
        let goal = "≤ 3 µs per member above the raw fan-out";
        row.goal(goal, per_member <= PER_MEMBER_TARGET_US)
    } else {
        row
    }
}

/// `node-members TRACKER GROUP M`: starts `m` nodes with in-memory stores (a few at a
/// time), each joining `group` and reading its events; says `started`, or `failed ...`
/// at the first that cannot start; then runs until the bench closes our stdin, and stops
/// them all.
pub async fn members_child(tracker: &str, group: &str, m: usize) {
    let group: GroupName = group.parse().unwrap();
    let base = format!("m{m}");
    let mut starting = futures::stream::iter(0..m)
        .map(|_| join_member(tracker, &group, &base))
        .buffer_unordered(START_BATCH);
    let mut members = Vec::with_capacity(m);
    let mut failure = None;
    while let Some(started) = starting.next().await {
        match started {
            Ok(member) => members.push(member),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(starting);
    match failure {
        None => say("started"),
        Some(e) => say(format!("failed after {} of {m}: {e}", members.len())),
    }
    let mut orders = Orders::new();
    while orders.next().await.is_some() {}
    for (handle, _) in &members {
        let _ = handle.send(Command::Quit).await;
    }
    let stopped = futures::future::join_all(members.into_iter().map(|(_, task)| task));
    if tokio::time::timeout(WAIT, stopped).await.is_err() {
        eprintln!("  (not every member stopped in time)");
    }
}

async fn join_member(
    tracker: &str,
    group: &GroupName,
    base: &str,
) -> Result<(NodeHandle, JoinHandle<()>), String> {
    let node = try_start_node_with(base, tracker, Store::Ephemeral, |config| {
        config.cache_save_every = MEMBER_CACHE_SAVE_EVERY;
    })
    .await?;
    let join = Command::Join(group.clone());
    node.handle.send(join).await.map_err(|_| "stopped")?;
    Ok(node.drain())
}
