//! Join storms: many peers join one group at once, and each follows the group's member list
//! the way a front end does (the full list its join is answered with, then each change
//! applied with `natter::node::members::apply_change`, what the TUI uses) until it holds
//! every member online. Two sizes:
//!
//! * `node_api_1000`: 1,000 protocol-level tracker clients against a tracker in this
//!   process ([`clients`]; why not 1,000 full nodes is in its module comment);
//! * `real_300`: 300 real `natter --headless` processes against a real `natter-tracker`
//!   process, following their stdout ([`processes`]).
//!
//! Each reports the time from the first join until every list is complete, what a join
//! costs in bytes, and checks that every member's final list is the same.

mod clients;
mod in_process;
mod processes;

use std::time::Duration;

use natter::node::members::{MemberList, apply_change};
use natter_protocol::tracker::{Member, MemberChange};

use crate::report::{Measure, Report, Row};

pub const SECTION: &str = "storm";

pub async fn run(report: &mut Report) {
    if crate::runs("storm", "clients") {
        clients::run(report).await;
    }
    if crate::runs("storm", "processes") {
        processes::run(report).await;
    }
}

/// A group's member list as a front end keeps it.
#[derive(Debug, Default, Clone)]
pub struct List {
    pub version: u64,
    pub members: MemberList,
    /// Changes whose version was not the next one (a front end would ask for a snapshot).
    pub gaps: u32,
    /// Changes at or below the version already held (ignored).
    pub stale: u32,
}

impl List {
    /// A full list replaces what was held.
    pub fn full(&mut self, version: u64, members: Vec<Member>) {
        self.version = version;
        self.members = members.into();
    }

    pub fn change(&mut self, version: u64, change: &MemberChange) {
        if version <= self.version {
            self.stale += 1;
            return;
        }
        if version != self.version + 1 {
            self.gaps += 1;
        }
        self.version = version;
        apply_change(&mut self.members, change);
    }

    /// Holds exactly `n` members, all online.
    pub fn complete(&self, n: usize) -> bool {
        self.members.len() == n && self.members.iter().all(|m| m.online)
    }

    /// The members in name order: what two lists are compared by.
    pub fn canonical(&self) -> Vec<Member> {
        let mut members = self.members.to_vec();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members
    }
}

/// How many of `lists` differ from the first (members in name order, and the version).
pub fn differing(lists: &[List]) -> usize {
    let Some(first) = lists.first() else {
        return 0;
    };
    let reference = (first.version, first.canonical());
    lists
        .iter()
        .filter(|l| (l.version, l.canonical()) != reference)
        .count()
}

/// How the first list that differs from the first of `lists` differs from it, in a few
/// words (for a note).
pub fn describe_difference(lists: &[List]) -> String {
    let Some(first) = lists.first() else {
        return String::new();
    };
    let reference = first.canonical();
    let Some((i, other)) = lists
        .iter()
        .enumerate()
        .find(|(_, l)| (l.version, l.canonical()) != (first.version, reference.clone()))
    else {
        return "none".into();
    };
    let theirs = other.canonical();
    let unlike = theirs.iter().filter(|m| !reference.contains(m)).count()
        + reference.iter().filter(|m| !theirs.contains(m)).count();
    format!(
        "list {i} at version {} against {}, {} against {} members, {unlike} unlike",
        other.version,
        first.version,
        theirs.len(),
        reference.len()
    )
}

/// The storm's headline row: the time until every list was complete (or the bound, when
/// it ran out first), with the goal met only when it finished in time with every list
/// identical.
pub fn time_row(
    key: &str,
    label: &str,
    done: Result<Duration, Duration>,
    goal: (&str, Duration),
    same: bool,
) -> Row {
    let (took, finished) = match done {
        Ok(d) => (d, true),
        Err(bound) => (bound, false),
    };
    let met = finished && same && took < goal.1;
    Row::new(SECTION, key, label, Measure::Time(took)).goal(goal.0, met)
}

/// The `q` quantile (0..=1) of sorted `xs`.
pub fn quantile<T: Copy>(xs: &[T], q: f64) -> T {
    let at = ((xs.len() - 1) as f64 * q).round() as usize;
    xs[at]
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
