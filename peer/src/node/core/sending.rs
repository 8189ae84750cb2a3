//! Sending: resolving a target to recipients (and the key each must present), signing,
//! fanning a message out over the connections, and settling it from acks, nacks, failed
//! connections and deadlines.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use natter_protocol::identity::sign_chat;
use natter_protocol::peer::{Body, ChatMessage, PeerFrame, SignedChat};
use natter_protocol::tracker::Member;
use natter_protocol::{GroupName, Name, PublicKey, RequestId};

use super::{Core, MAX_TEXT_BYTES, Now, Output, QUIT_GRACE};
use crate::node::api::{About, Event, NodeError, Target};
use crate::node::outbox::{Done, Recipient, Settled};

/// A private message waiting for a tracker look-up of its recipient.
#[derive(Debug, Clone)]
pub(super) struct WaitingSend {
    pub(super) req: Option<RequestId>,
    text: String,
    pub(super) deadline: Instant,
}

/// One recipient of a message.
struct Addressee {
    addr: SocketAddr,
    /// How the recipient is shown (its name, or the bare address).
    label: String,
    /// The peer we mean to reach, if we know its name.
    name: Option<Name>,
    /// The key a member list holds for it.
    listed: Option<PublicKey>,
}

impl Addressee {
    fn member(m: &Member) -> Self {
        Self {
            addr: m.addr,
            label: m.name.to_string(),
            name: Some(m.name.clone()),
            listed: Some(m.key),
        }
    }
}

/// Where one message goes, once resolved.
struct Outgoing {
    req: Option<RequestId>,
    /// A private message's recipient, as the `sending` event names it.
    to: Option<String>,
    group: Option<GroupName>,
    text: String,
}

impl Core {
    pub(super) fn send(&mut self, now: Now, req: Option<RequestId>, target: Target, text: String) {
        if text.len() > MAX_TEXT_BYTES {
            let about = About::from(&target);
            return self.fail(
                req,
                NodeError::TooLong {
                    about,
                    max: MAX_TEXT_BYTES,
                },
            );
        }
        match target {
            Target::Group(group) => {
                let Some(list) = self.cache.get(&group) else {
                    return self.fail(req, NodeError::NotMemberToSend { group });
                };
                let mut to = Vec::new();
                let mut failed = Vec::new();
                for m in list.members.iter().filter(|m| m.name != self.name) {
                    if m.online {
                        to.push(Addressee::member(m));
                    } else {
                        failed.push(m.name.to_string());
                    }
                }
                let message = Outgoing {
                    req,
                    to: None,
                    group: Some(group),
                    text,
                };
                self.dispatch(now, message, to, failed);
            }
            Target::Addr(addr) => {
                let to = vec![Addressee {
                    addr,
                    label: addr.to_string(),
                    name: None,
                    listed: None,
                }];
                let message = Outgoing {
                    req,
                    to: Some(addr.to_string()),
                    group: None,
                    text,
                };
                self.dispatch(now, message, to, vec![]);
            }
            Target::Peer(name) => match self.cache.find_peer(&name).cloned() {
                Some(m) if m.online => self.send_to_member(now, req, m, text),
                found => self.look_up_and_send(now, req, name, text, found.is_some()),
            },
        }
    }

    /// A private message to a peer no cached list shows online: ask the tracker where it
    /// is, and send when it answers.
    fn look_up_and_send(
        &mut self,
        now: Now,
        req: Option<RequestId>,
        name: Name,
        text: String,
        cached: bool,
    ) {
        if self.tracker_up() {
            self.look_up(req, &name);
            let deadline = now.at + self.ack_timeout;
            let waiting = WaitingSend {
                req,
                text,
                deadline,
            };
            self.lookups.entry(name).or_default().push(waiting);
        } else if cached {
            self.fail(req, NodeError::PeerOffline { name });
        } else {
            let detail = format!(
                " (not in any cached member list, and tracker {} is not connected)",
                self.tracker_addr
            );
            self.fail(req, NodeError::UnknownPeer { name, detail });
        }
    }

    pub(super) fn send_to_member(
        &mut self,
        now: Now,
        req: Option<RequestId>,
        m: Member,
        text: String,
    ) {
        let to = Addressee::member(&m);
        let message = Outgoing {
            req,
            to: Some(to.label.clone()),
            group: None,
            text,
        };
        self.dispatch(now, message, vec![to], vec![]);
    }

    /// The tracker answered a look-up: the messages waiting for `name` go, or fail.
    pub(super) fn looked_up(&mut self, now: Now, name: &Name, member: Option<&Member>) {
        for waiting in self.lookups.remove(name).unwrap_or_default() {
            match member {
                Some(m) if m.online => {
                    self.send_to_member(now, waiting.req, m.clone(), waiting.text)
                }
                Some(_) => self.fail(waiting.req, NodeError::PeerOffline { name: name.clone() }),
                None => {
                    let name = name.clone();
                    let detail = String::new();
                    self.fail(waiting.req, NodeError::UnknownPeer { name, detail });
                }
            }
        }
    }

    /// Gives the message an id, announces it, signs it, queues it on each recipient's
    /// connection and tracks it in the outbox.
    fn dispatch(
        &mut self,
        now: Now,
        message: Outgoing,
        recipients: Vec<Addressee>,
        mut failed: Vec<String>,
    ) {
        let Outgoing {
            req,
            to,
            group,
            text,
        } = message;
        let id = self.ids.next_at(now.unix_micros);
        let sent_at = now.unix_millis();
        let sending = Event::Sending {
            id: id.clone(),
            to,
            group: group.clone(),
            text: text.clone(),
            sent_at,
        };
        self.emit_for(req, sending);
        let message = ChatMessage {
            id: id.clone(),
            from: self.name.clone(),
            key: self.identity.public_key(),
            group,
            to: None,
            body: Body::Text { text },
            sent_at,
        };
        let chat = SignedChat {
            sig: sign_chat(&self.identity, &message),
            message,
        };
        // One frame, shared by every recipient's queue.
        let frame = Arc::new(PeerFrame::Chat(chat));
        let mut remaining = HashMap::new();
        for Addressee {
            addr,
            mut label,
            name,
            listed,
        } in recipients
        {
            if let (Some(name), Some(listed)) = (&name, listed) {
                self.check_listed(name, listed);
            }
            let wanted = match &name {
                None => None,
                Some(name) => match self.trust.expected(name, listed) {
                    Ok(key) => Some((name.clone(), key)),
                    Err(error) => {
                        self.fail(req, error);
                        failed.push(label);
                        continue;
                    }
                },
            };
            let (conn, new) = self.conns.route(addr, wanted.clone(), now.at);
            // A connection whose hello is in tells us who is at this address.
            if let Some(known) = self.conns.get(conn).and_then(|c| c.name()).cloned() {
                match &name {
                    None => label = known.to_string(),
                    Some(meant) if meant != &known => {
                        let owner = known;
                        self.fail(
                            req,
                            NodeError::AddressMismatch {
                                to: label.clone(),
                                addr,
                                owner,
                            },
                        );
                        failed.push(label);
                        continue;
                    }
                    Some(_) => {}
                }
            }
            if remaining.contains_key(&conn) {
                // Two names on one key and address: the connection answers for one.
                failed.push(label);
                continue;
            }
            if new {
                let expect = wanted.as_ref().map(|(_, key)| *key);
                self.out.push_back(Output::Dial { conn, addr, expect });
            }
            let frame = frame.clone();
            self.out.push_back(Output::Send { conn, frame });
            let recipient = Recipient {
                label,
                expected: name,
                addr,
            };
            remaining.insert(conn, recipient);
        }
        let deadline = now.at + self.ack_timeout;
        if let Some(done) = self.outbox.insert((req, id), remaining, failed, deadline) {
            self.settled(done);
        }
    }

    fn settled(&mut self, done: Done) {
        let sent = Event::Sent {
            id: done.id,
            delivered: done.delivered,
            failed: done.failed,
        };
        self.emit_for(done.req, sent);
    }

    /// Reports the recipients that failed (once per recipient and connection) and the
    /// messages that settled. `error` words the failure for a label and address.
    pub(super) fn settle(
        &mut self,
        settled: Settled,
        error: impl Fn(String, SocketAddr) -> NodeError,
    ) {
        let mut seen = HashSet::new();
        for f in settled.failures {
            if seen.insert((f.label.clone(), f.addr)) {
                self.fail(f.req, error(f.label, f.addr));
            }
        }
        for done in settled.done {
            self.settled(done);
        }
    }

    /// A recipient acknowledged one of our messages on `conn`.
    pub(super) fn acked(
        &mut self,
        now: Now,
        conn: super::ConnId,
        id: &natter_protocol::peer::MessageId,
    ) {
        if let Some(quit_at) = &mut self.quit_at {
            *quit_at = now.at + QUIT_GRACE;
        }
        if let Some(done) = self.outbox.ack(conn, id) {
            self.settled(done);
        }
        self.close_if_drained(conn);
    }

    /// A recipient refused one of our messages on `conn`.
    pub(super) fn nacked(
        &mut self,
        conn: super::ConnId,
        id: &natter_protocol::peer::MessageId,
        reason: &str,
    ) {
        let settled = self.outbox.refused(conn, id);
        self.settle(settled, |to, addr| NodeError::RefusedByPeer {
            to,
            addr,
            why: reason.to_owned(),
        });
        self.close_if_drained(conn);
    }

    /// A duplicate connection we dialled closes once nothing waits on it.
    pub(super) fn close_if_drained(&mut self, conn: super::ConnId) {
        let draining = self
            .conns
            .get(conn)
            .is_some_and(|c| c.phase == super::connections::Phase::Draining);
        if draining && !self.outbox.waits_on(conn) {
            self.conns.remove(conn);
            self.out.push_back(Output::Close {
                conn,
                parting: None,
            });
        }
    }

    /// Fails the messages that waited too long for a tracker look-up.
    pub(super) fn expire_lookups(&mut self, now: Instant) {
        let mut late = Vec::new();
        for (name, waiting) in &mut self.lookups {
            waiting.retain(|w| {
                let keep = w.deadline > now;
                if !keep {
                    late.push((w.req, name.clone()));
                }
                keep
            });
        }
        self.lookups.retain(|_, w| !w.is_empty());
        for (req, name) in late {
            self.fail(req, NodeError::LookupUnanswered { name });
        }
    }
}
