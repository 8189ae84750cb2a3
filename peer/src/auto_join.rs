//! `natter --join INVITE` with a group in the invite: the group is joined once the tracker
//! link is up (a join sent before would fail if the first connection attempt did). The
//! node's events pass through a forwarding task that watches for that moment; the front
//! end sees every event unchanged.

use natter_protocol::GroupName;
use tokio::sync::mpsc;

use crate::node::{Command, Event, NodeHandle, Notice, TrackerStatus};

/// How many events may wait between the forwarder and the front end.
const QUEUE: usize = 1024;

/// Whether `event` is the moment to join: the tracker link came up.
pub fn is_connected(event: &Event) -> bool {
    matches!(
        event,
        Event::Tracker {
            status: TrackerStatus::Connected,
            ..
        }
    )
}

/// Forwards `events`, and joins `group` at the first connection to the tracker. The
/// returned receiver takes the place of `events`; it ends when `events` does.
pub fn join_when_connected(
    node: NodeHandle,
    mut events: mpsc::Receiver<Notice>,
    group: GroupName,
) -> mpsc::Receiver<Notice> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let mut group = Some(group);
        while let Some(notice) = events.recv().await {
            if is_connected(&notice.event)
                && let Some(group) = group.take()
                && node.send(Command::Join(group)).await.is_err()
            {
                break;
            }
            if tx.send(notice).await.is_err() {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_link_coming_up_is_the_moment() {
        let up = Event::Tracker {
            status: TrackerStatus::Connected,
            tracker: "t".into(),
        };
        let down = Event::Tracker {
            status: TrackerStatus::Disconnected,
            tracker: "t".into(),
        };
        assert!(is_connected(&up));
        assert!(!is_connected(&down));
    }

    #[tokio::test]
    async fn the_group_is_joined_once_after_the_link_is_up() {
        let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
        let (ev_tx, ev_rx) = mpsc::channel(8);
        let group = GroupName::parse_user("room").expect("group");
        let mut out = join_when_connected(NodeHandle::new(cmd_tx), ev_rx, group.clone());
        let up = Event::Tracker {
            status: TrackerStatus::Connected,
            tracker: "t".into(),
        };
        for _ in 0..2 {
            ev_tx.send(Notice::from(up.clone())).await.expect("send");
            assert_eq!(out.recv().await.map(|n| n.event), Some(up.clone()));
        }
        drop(ev_tx);
        assert_eq!(out.recv().await, None);
        let joined = cmd_rx.recv().await.map(|r| r.command);
        assert_eq!(joined, Some(Command::Join(group)));
        assert!(cmd_rx.try_recv().is_err(), "joined twice");
    }
}
