//! The actor's tracker side: link status, the tracker's key, member-list pushes, leaves
//! and look-ups.

use natter_protocol::tracker::{MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, GroupName};

use super::Actor;
use crate::node::api::{Event, TrackerStatus};
use crate::node::members::Update;
use crate::node::tracker_link::TrackerReport;

impl Actor {
    pub(super) async fn tracker_report(&mut self, report: TrackerReport) {
        match report {
            TrackerReport::Connected => {
                self.last_refusal = None;
                self.set_status(TrackerStatus::Connected).await;
            }
            TrackerReport::Disconnected { reason } => {
                tracing::debug!(%reason, "tracker disconnected");
                self.set_status(TrackerStatus::Disconnected).await;
                self.tracker_gone().await;
                for (name, _) in std::mem::take(&mut self.lookups) {
                    let message =
                        format!("unknown peer {name} (the tracker went away before answering)");
                    self.emit(Event::error_about(&name, message)).await;
                }
            }
            TrackerReport::Refused { code, message } => {
                if self.last_refusal.as_deref() != Some(message.as_str()) {
                    self.last_refusal = Some(message.clone());
                    let mut text = format!("tracker {} refused us: {message}", self.tracker_addr);
                    if code == ErrorCode::NameOwned {
                        if !message.contains("belongs to another key") {
                            text.push_str(&format!(
                                " (the name {} belongs to another key)",
                                self.name
                            ));
                        }
                        text.push_str(
                            "; pick another --name, or use the identity.json that registered it",
                        );
                    }
                    self.emit(Event::error(text)).await;
                }
            }
            TrackerReport::Pinned { addr, key } => {
                tracing::info!(tracker = %self.tracker_addr, %addr, %key, "pinned the tracker's key");
                self.stores.tracker_pins.set(addr, key);
                self.save_tracker_pins().await;
            }
            TrackerReport::Unsent { request, reason } => {
                let (what, group) = match request {
                    PeerToTracker::Join { group, .. } => ("join", group),
                    PeerToTracker::Leave { group, .. } => ("leave", group),
                    // Look-ups are answered by the disconnection that follows; the rest is
                    // redone by the next hello.
                    _ => return,
                };
                let message = format!(
                    "cannot {what} {group}: the tracker link dropped ({reason}); try again"
                );
                self.emit(Event::error_about(&group, message)).await;
            }
            TrackerReport::KeyChanged { pinned, presented } => {
                if self.reported_tracker_keys.insert(presented) {
                    let text = format!(
                        "tracker {} key changed: pinned {pinned} ({}), it now presents {presented} ({}); \
                         refusing it. If you trust the new key, run with --tracker-key {presented}",
                        self.tracker_addr,
                        pinned.fingerprint(),
                        presented.fingerprint(),
                    );
                    tracing::warn!("{text}");
                    self.emit(Event::error(text)).await;
                }
            }
            TrackerReport::Push(push) => self.push(push).await,
        }
    }

    pub(super) async fn set_status(&mut self, status: TrackerStatus) {
        if self.tracker_status != Some(status) {
            self.tracker_status = Some(status);
            self.emit(Event::Tracker {
                status,
                tracker: self.tracker_addr.clone(),
            })
            .await;
            for cmd in std::mem::take(&mut self.deferred) {
                self.command(cmd).await;
            }
            match status {
                TrackerStatus::Connected => self.ask_vets(),
                TrackerStatus::Disconnected => {
                    let why = format!("tracker {} is not connected", self.tracker_addr);
                    self.refuse_all_vets(&why);
                }
            }
        }
    }

    pub(super) async fn push(&mut self, push: TrackerToPeer) {
        match push {
            TrackerToPeer::Members {
                group,
                version,
                members,
                ..
            } => {
                self.observe_members(&members).await;
                let new_group = !self.cache.contains(&group);
                self.cache.set_full(group.clone(), version, members.clone());
                if new_group {
                    self.groups_changed();
                }
                self.dirty = true;
                self.emit(Event::Members {
                    group,
                    version,
                    members,
                    change: None,
                })
                .await;
            }
            TrackerToPeer::MemberUpdate {
                group,
                version,
                change,
            } => {
                let subject = match &change {
                    MemberChange::Joined { member } | MemberChange::Online { member } => {
                        Some(member.key)
                    }
                    MemberChange::Left { name } | MemberChange::Offline { name } => self
                        .cache
                        .get(&group)
                        .and_then(|l| l.members.iter().find(|m| &m.name == name))
                        .map(|m| m.key),
                };
                // A blocked member's comings and goings update the cache, quietly.
                let quiet = subject.is_some_and(|key| self.trust.is_blocked(&key));
                self.member_update(group, version, change, quiet).await;
            }
            TrackerToPeer::Left { group, .. } => {
                if self.cache.remove(&group) {
                    self.groups_changed();
                }
                self.emit(Event::Left { group }).await;
            }
            TrackerToPeer::LookupResult { name, member, .. } => {
                self.vetted(&name, member.as_ref()).await;
                self.trust_answered(&name, member.as_ref()).await;
                let waiting = self.lookups.remove(&name).unwrap_or_default();
                for l in waiting {
                    match &member {
                        Some(m) if m.online => self.send_to_member(m.clone(), l.text).await,
                        Some(_) => {
                            let message = format!("{name} is offline");
                            self.emit(Event::error_about(&name, message)).await
                        }
                        None => {
                            let message = format!("unknown peer {name}");
                            self.emit(Event::error_about(&name, message)).await
                        }
                    }
                }
            }
            TrackerToPeer::Error { message, .. } => {
                self.emit(Event::error(format!("tracker: {message}"))).await;
            }
            TrackerToPeer::Welcome { .. }
            | TrackerToPeer::Ping { .. }
            | TrackerToPeer::Pong { .. } => {}
        }
    }

    async fn member_update(
        &mut self,
        group: GroupName,
        version: u64,
        change: MemberChange,
        quiet: bool,
    ) {
        match self.cache.apply(&group, version, &change) {
            Update::Applied => {
                if let MemberChange::Joined { member } | MemberChange::Online { member } = &change {
                    self.observe_members(std::slice::from_ref(member)).await;
                }
                self.dirty = true;
                if quiet {
                    return;
                }
                let members = self
                    .cache
                    .get(&group)
                    .map(|l| l.members.clone())
                    .unwrap_or_default();
                self.emit(Event::Members {
                    group,
                    version,
                    members,
                    change: Some(change),
                })
                .await;
            }
            Update::Stale => {}
            Update::Gap => {
                if self.cache.contains(&group) {
                    let _ = self.ask_tracker(PeerToTracker::Snapshot { req: None, group });
                }
            }
        }
    }
}
