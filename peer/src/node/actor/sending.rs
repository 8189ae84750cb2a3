//! The actor's delivery side: resolving targets (and the key each must present), signing,
//! fanning a message out over pooled links, and settling each message from acks, link
//! failures and deadlines.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use natter_protocol::identity::sign_chat;
use natter_protocol::peer::{ChatMessage, SignedChat};
use natter_protocol::tracker::{Member, PeerToTracker};
use natter_protocol::{GroupName, Name, PublicKey, unix_millis};
use tokio::sync::mpsc;

use super::{Actor, Lookup, MAX_TEXT_BYTES, QUIT_GRACE};
use crate::node::api::{Event, Target};
use crate::node::link::{self, Ends, LinkHandle, LinkReport};
use crate::node::outbox::{Done, Failure, Recipient};

/// One recipient of a message.
pub(super) struct To {
    addr: SocketAddr,
    /// How the recipient is shown (its name, or the bare address).
    label: String,
    /// The peer we mean to reach, if we know its name.
    name: Option<Name>,
    /// The key a member list holds for it.
    listed: Option<PublicKey>,
}

impl To {
    fn member(m: &Member) -> Self {
        Self {
            addr: m.addr,
            label: m.name.to_string(),
            name: Some(m.name.clone()),
            listed: Some(m.key),
        }
    }
}

impl Actor {
    pub(super) async fn send(&mut self, target: Target, text: String) {
        if text.len() > MAX_TEXT_BYTES {
            let message = format!("message too long (at most {MAX_TEXT_BYTES} bytes)");
            return self.emit(Event::error(message)).await;
        }
        match target {
            Target::Group(group) => {
                let Some(list) = self.cache.get(&group) else {
                    let message = format!("you are not in {group}; /join {group} first");
                    return self.emit(Event::error_about(&group, message)).await;
                };
                let mut to = Vec::new();
                let mut failed = Vec::new();
                for m in list.members.iter().filter(|m| m.name != self.name) {
                    if m.online {
                        to.push(To::member(m));
                    } else {
                        failed.push(m.name.to_string());
                    }
                }
                self.dispatch(None, Some(group), text, to, failed).await;
            }
            Target::Addr(addr) => {
                let to = vec![To {
                    addr,
                    label: addr.to_string(),
                    name: None,
                    listed: None,
                }];
                self.dispatch(Some(addr.to_string()), None, text, to, vec![])
                    .await;
            }
            Target::Peer(name) => match self.cache.find_peer(&name).cloned() {
                Some(m) if m.online => self.send_to_member(m, text).await,
                found => {
                    let request = PeerToTracker::Lookup {
                        req: None,
                        name: name.clone(),
                    };
                    if self.ask_tracker(request).is_ok() {
                        let deadline = Instant::now() + self.ack_timeout;
                        self.lookups
                            .entry(name)
                            .or_default()
                            .push(Lookup { text, deadline });
                    } else if found.is_some() {
                        let message = format!("{name} is offline");
                        self.emit(Event::error_about(&name, message)).await;
                    } else {
                        let message = format!(
                            "unknown peer {name} (not in any cached member list, and tracker {} is not connected)",
                            self.tracker_addr
                        );
                        self.emit(Event::error_about(&name, message)).await;
                    }
                }
            },
        }
    }

    pub(super) async fn send_to_member(&mut self, m: Member, text: String) {
        let to = To::member(&m);
        self.dispatch(Some(to.label.clone()), None, text, vec![to], vec![])
            .await;
    }

    /// Gives the message an id, announces it, signs it, queues it on each recipient's
    /// link and tracks it in the outbox.
    pub(super) async fn dispatch(
        &mut self,
        to: Option<String>,
        group: Option<GroupName>,
        text: String,
        recipients: Vec<To>,
        mut failed: Vec<String>,
    ) {
        let id = self.ids.next_id();
        let sent_at = unix_millis();
        self.emit(Event::Sending {
            id: id.clone(),
            to,
            group: group.clone(),
            text: text.clone(),
            sent_at,
        })
        .await;
        let message = ChatMessage {
            id: id.clone(),
            from: self.name.clone(),
            group,
            body: natter_protocol::peer::Body::Text { text },
            sent_at,
        };
        let msg = SignedChat {
            sig: sign_chat(&self.identity, &message),
            message,
        };
        let mut remaining = HashMap::new();
        for To {
            addr,
            mut label,
            name: expected,
            listed,
        } in recipients
        {
            if let (Some(name), Some(listed)) = (&expected, listed) {
                self.check_listed(name, listed).await;
            }
            let expect = match &expected {
                None => None,
                Some(name) => match self.trust.expected(name, listed) {
                    Ok(key) => Some((name.clone(), key)),
                    Err(reason) => {
                        let message = format!("cannot send to {label}: {reason}");
                        self.emit(Event::error(message)).await;
                        failed.push(label);
                        continue;
                    }
                },
            };
            // A link that already said hello tells us who is at this address.
            if let Some(known) = self.links.get(&addr).and_then(|l| l.name.as_ref()) {
                match &expected {
                    None => label = known.to_string(),
                    Some(e) if e != known => {
                        let message = format!(
                            "cannot send to {label} at {addr}: that address now belongs to {known}"
                        );
                        self.emit(Event::error(message)).await;
                        failed.push(label);
                        continue;
                    }
                    Some(_) => {}
                }
            }
            match self.queue_on_link(addr, expect, msg.clone()) {
                Ok(generation) => {
                    let r = Recipient {
                        label,
                        expected,
                        generation,
                    };
                    remaining.insert(addr, r);
                }
                Err(e) => {
                    self.emit(Event::error(format!(
                        "cannot send to {label} at {addr}: {e}"
                    )))
                    .await;
                    failed.push(label);
                }
            }
        }
        let deadline = Instant::now() + self.ack_timeout;
        if let Some(done) = self.outbox.insert(id, remaining, failed, deadline) {
            self.settled(done).await;
        }
    }

    /// Queues `msg` on the pooled link to `addr`, opening one if needed. Returns the
    /// link's generation.
    fn queue_on_link(
        &mut self,
        addr: SocketAddr,
        expect: Option<(Name, PublicKey)>,
        msg: SignedChat,
    ) -> Result<u64, String> {
        let mut msg = msg;
        // A link that demanded (or was vetted with) another key than this recipient's
        // current one is not reused.
        let wanted = expect.as_ref().map(|(_, key)| *key);
        if let (Some(link), Some(wanted)) = (self.links.get(&addr), wanted)
            && link.key.is_some_and(|key| key != wanted)
        {
            self.links.remove(&addr);
        }
        for _ in 0..2 {
            let link = self.link(addr, expect.clone());
            let generation = link.generation;
            match link.queue.try_send(msg) {
                Ok(()) => return Ok(generation),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // A slow peer is dropped, never waited on.
                    self.links.remove(&addr);
                    return Err("the peer is too slow (its queue is full)".into());
                }
                Err(mpsc::error::TrySendError::Closed(m)) => {
                    // The link just died; its report is on the way. Open a new one.
                    self.links.remove(&addr);
                    msg = m;
                }
            }
        }
        Err("cannot open a link".into())
    }

    fn link(&mut self, addr: SocketAddr, expect: Option<(Name, PublicKey)>) -> &LinkHandle {
        let next = &mut self.next_generation;
        let (name, identity, reports, cancel, tasks) = (
            &self.name,
            &self.identity,
            &self.link_reports,
            &self.cancel,
            &self.tasks,
        );
        self.links.entry(addr).or_insert_with(|| {
            *next += 1;
            let ends = Ends {
                own_name: name.clone(),
                identity: identity.clone(),
                expect,
            };
            link::spawn(
                addr,
                *next,
                ends,
                reports.clone(),
                cancel.child_token(),
                tasks,
            )
        })
    }

    async fn settled(&self, done: Done) {
        self.emit(Event::Sent {
            id: done.id,
            delivered: done.delivered,
            failed: done.failed,
        })
        .await;
    }

    async fn settle_all(&self, (done, failures): (Vec<Done>, Vec<Failure>), why: &str) {
        let mut seen = HashSet::new();
        for f in failures {
            if seen.insert((f.label.clone(), f.addr)) {
                let message = if f.label == f.addr.to_string() {
                    format!("cannot deliver to {}: {why}", f.addr)
                } else {
                    format!("cannot deliver to {} at {}: {why}", f.label, f.addr)
                };
                self.emit(Event::error_about(&f.label, message)).await;
            }
        }
        for d in done {
            self.settled(d).await;
        }
    }

    pub(super) async fn link_report(&mut self, report: LinkReport) {
        match report {
            LinkReport::Named {
                addr,
                generation,
                name,
                key,
                expected,
                vet,
            } => {
                if let Some(link) = self.links.get_mut(&addr)
                    && link.generation == generation
                {
                    link.name = Some(name.clone());
                    link.key = Some(key);
                }
                let outcome = self.outbox.named(addr, generation, &name);
                let why = format!("that address now belongs to {name}");
                self.settle_all(outcome, &why).await;
                // The handshake demanded the key we hold for the name we meant to reach.
                let vouched = expected.as_ref() == Some(&name);
                self.vet(name, key, vouched, vet).await;
            }
            LinkReport::KeyChanged {
                name,
                expected,
                presented,
            } => {
                if !self.trust.is_blocked(&presented)
                    && let Err(change) =
                        self.trust
                            .presented_listed(&name, presented, Some(expected))
                {
                    self.key_changed(&change).await;
                }
            }
            LinkReport::Refused {
                addr,
                generation,
                id,
                reason,
            } => {
                let (done, failure) = self.outbox.refused(addr, generation, &id);
                let why = format!("refused by the recipient: {reason}");
                let outcome = (done.into_iter().collect(), failure.into_iter().collect());
                self.settle_all(outcome, &why).await;
            }
            LinkReport::Acked {
                addr,
                generation,
                id,
            } => {
                if let Some(quit_at) = &mut self.quit_at {
                    *quit_at = Instant::now() + QUIT_GRACE;
                }
                if let Some(done) = self.outbox.ack(addr, generation, &id) {
                    self.settled(done).await;
                }
            }
            LinkReport::Down {
                addr,
                generation,
                error,
            } => {
                if self.links.get(&addr).map(|l| l.generation) == Some(generation) {
                    self.links.remove(&addr);
                }
                let outcome = self.outbox.link_down(addr, generation);
                self.settle_all(outcome, &error).await;
            }
        }
    }

    pub(super) async fn expire(&mut self) {
        let now = Instant::now();
        self.expire_vets(now).await;
        let outcome = self.outbox.expire(now);
        // A link that swallowed a message without an ack is presumed dead (a half-open
        // connection): drop it, so the next message opens a fresh one.
        for f in &outcome.1 {
            if self.links.get(&f.addr).map(|l| l.generation) == Some(f.generation) {
                self.links.remove(&f.addr);
            }
        }
        let why = format!(
            "no acknowledgement within {}s",
            self.ack_timeout.as_secs_f32()
        );
        self.settle_all(outcome, &why).await;
        let mut late = Vec::new();
        for (name, waiting) in &mut self.lookups {
            waiting.retain(|l| {
                let keep = l.deadline > now;
                if !keep {
                    late.push(name.clone());
                }
                keep
            });
        }
        self.lookups.retain(|_, w| !w.is_empty());
        for name in late {
            let message = format!("no answer from the tracker about {name}");
            self.emit(Event::error(message)).await;
        }
    }

    pub(super) async fn expire_all(&mut self) {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let outcome = self.outbox.expire(far);
        self.settle_all(outcome, "natter is quitting").await;
    }
}
