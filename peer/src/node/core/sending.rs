//! Sending: resolving a target to recipients (and the key each must present), numbering
//! and signing the message, storing it, and only then announcing it and handing it to the
//! outbox, which delivers it per recipient (and retries) over the connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use natter_protocol::identity::sign_chat;
use natter_protocol::peer::{Body, ChatMessage, MessageId, PeerFrame, SignedChat};
use natter_protocol::tracker::Member;
use natter_protocol::{GroupName, Name, PublicKey, RequestId};

use super::addressed::named_target;
use super::outbox::{Dest, Effects, Progress, Record};
use super::storing::AfterWrite;
use super::{ConnId, Core, MAX_TEXT_BYTES, Now, Output, QUIT_GRACE};
use crate::node::api::{About, Event, NodeError, Target};
use crate::node::store::{Conversation, Write};

/// A private message waiting for a tracker look-up of its recipient, or for the hello of
/// the connection dialled to its address.
#[derive(Debug, Clone)]
pub(super) struct WaitingSend {
    pub(super) req: Option<RequestId>,
    text: String,
    pub(super) deadline: Instant,
    /// The target as the user gave it.
    about: About,
}

/// Our message on its way to the store: announced once stored. The outbox has it already
/// (it may go out before the commit, see `numbering.rs`); what the outbox reports of it
/// meanwhile waits here, so its `sending` event always comes first.
#[derive(Debug)]
pub(super) struct Unstored {
    req: Option<RequestId>,
    /// Its `sending` event (none for an action, which is announced by its effect).
    sending: Option<Event>,
    /// Outcomes that came before the commit.
    held_back: Vec<Progress>,
}

impl Core {
    pub(super) fn send(&mut self, now: Now, req: Option<RequestId>, target: Target, text: String) {
        let listed = self.cache.groups().values().flat_map(|g| &g.members);
        let connected = match &target {
            Target::Addr(addr) => self
                .conns
                .open_at(*addr)
                .map(|(_, key)| key)
                .or_else(|| self.conns.listening_at(*addr)),
            _ => None,
        };
        let target = named_target(target, listed, &self.name, connected);
        let about = About::from(&target);
        if text.len() > MAX_TEXT_BYTES {
            let max = MAX_TEXT_BYTES;
            return self.fail(req, NodeError::TooLong { about, max });
        }
        match target {
            Target::Group(group) => {
                let Some((dests, failed)) = self.group_dests(req, &group) else {
                    return self.fail(req, NodeError::NotMemberToSend { group });
                };
                let group = Some(group.clone());
                let body = Body::text_only(text);
                self.store_message(now, req, (about, group, None), body, dests, failed);
            }
            Target::Addr(addr) => match self.conns.open_at(addr) {
                Some((name, key)) => {
                    let dest = Dest {
                        key,
                        name,
                        addr: Some(addr),
                        online: true,
                    };
                    self.send_private(now, req, about, dest, text);
                }
                None => self.dial_and_send(now, req, addr, text),
            },
            Target::Peer(name) => match self.cache.find_peer(&name).cloned() {
                Some(m) => {
                    self.check_listed(&m.name, m.key);
                    match self.trust.expected(&m.name, Some(m.key)) {
                        Ok(_) => self.send_private(now, req, about, dest(&m), text),
                        Err(error) => self.fail(req, error),
                    }
                }
                None => match self.conns.open_named(&name) {
                    // Met directly (say, by address while the tracker is down).
                    Some((key, addr)) => {
                        let dest = Dest {
                            key,
                            name,
                            addr,
                            online: true,
                        };
                        self.send_private(now, req, about, dest, text);
                    }
                    None => self.look_up_and_send(now, req, name, text),
                },
            },
        }
    }

    /// The other members of `group` a message goes to, and the names of those it cannot
    /// (a key change waiting for `/trust`: each also gets an error). `None` when we are
    /// not in `group`.
    pub(super) fn group_dests(
        &mut self,
        req: Option<RequestId>,
        group: &GroupName,
    ) -> Option<(Vec<Dest>, Vec<String>)> {
        let list = self.cache.get(group)?;
        let own = self.identity.public_key();
        // Copies only what a recipient needs of each member, not the whole entry.
        let members: Vec<Dest> = list
            .members
            .iter()
            .filter(|m| m.name != self.name && m.key != own)
            .map(dest)
            .collect();
        let mut dests = Vec::with_capacity(members.len());
        let mut failed = Vec::new();
        for d in members {
            self.check_listed(&d.name, d.key);
            match self.trust.expected(&d.name, Some(d.key)) {
                Ok(_) => dests.push(d),
                Err(error) => {
                    self.fail(req, error);
                    failed.push(d.name.to_string());
                }
            }
        }
        Some((dests, failed))
    }

    /// The peer with `key` as a recipient: from a member list, else an open connection.
    pub(super) fn dest_for_key(&self, key: &PublicKey) -> Option<Dest> {
        let listed = self
            .cache
            .groups()
            .values()
            .flat_map(|g| &g.members)
            .find(|m| m.key == *key);
        if let Some(m) = listed {
            return Some(dest(m));
        }
        let conn = self.conns.open_for(key)?;
        let (name, _) = self.conns.get(conn)?.peer.clone()?;
        Some(Dest {
            key: *key,
            name,
            addr: None,
            online: true,
        })
    }

    /// A private message to a peer no cached list holds: ask the tracker where it is and
    /// which key it has, and send when it answers.
    fn look_up_and_send(&mut self, now: Now, req: Option<RequestId>, name: Name, text: String) {
        if self.tracker_up() {
            self.look_up(req, &name);
            let waiting = WaitingSend {
                req,
                text,
                deadline: now.at + self.ack_timeout,
                about: About::Peer(name.clone()),
            };
            self.lookups.entry(name).or_default().push(waiting);
        } else {
            let detail = format!(
                " (not in any cached member list, and tracker {} is not connected)",
                self.tracker_addr
            );
            self.fail(req, NodeError::UnknownPeer { name, detail });
        }
    }

    /// A private message to an address we have no connection to: dial it, and send once
    /// its hello says who is there.
    fn dial_and_send(&mut self, now: Now, req: Option<RequestId>, addr: SocketAddr, text: String) {
        let (conn, new) = self.conns.route(addr, None, now.at);
        if new {
            self.out.push_back(Output::Dial {
                conn,
                addr,
                expect: None,
            });
        }
        let waiting = WaitingSend {
            req,
            text,
            deadline: now.at + self.ack_timeout,
            about: About::Addr(addr),
        };
        self.addr_sends.entry(conn).or_default().push(waiting);
    }

    /// The connection dialled for messages to an address said hello: they go to whoever is
    /// there. One who proved the key of a listed member (reached at another of its
    /// addresses) is that member: the messages are about it by name, so they land in the
    /// conversation with it, not in one named by the address. Anyone else stays the
    /// address the conversation was opened with, as when a connection is already open.
    pub(super) fn addr_conn_open(&mut self, now: Now, conn: ConnId) {
        let Some(waiting) = self.addr_sends.remove(&conn) else {
            return;
        };
        let Some((name, key)) = self.conns.get(conn).and_then(|c| c.peer.clone()) else {
            return;
        };
        // By the key its hello proved only: whoever is listed at the address may not be
        // the one who answered there.
        let member = self
            .cache
            .groups()
            .values()
            .flat_map(|g| &g.members)
            .find(|m| m.key == key && m.name != self.name)
            .map(|m| m.name.clone());
        for w in waiting {
            let addr = match &w.about {
                About::Addr(addr) => Some(*addr),
                _ => None,
            };
            let dest = Dest {
                key,
                name: name.clone(),
                addr,
                online: true,
            };
            let about = member.clone().map_or(w.about, About::Peer);
            self.send_private(now, w.req, about, dest, w.text);
        }
    }

    /// The connection dialled for messages to an address failed: nothing was stored, so
    /// they fail here.
    pub(super) fn addr_conn_failed(&mut self, conn: ConnId, reason: &str) {
        for w in self.addr_sends.remove(&conn).unwrap_or_default() {
            let to = w.about.to_string();
            let why = format!("cannot reach it: {reason}");
            self.fail(w.req, NodeError::CannotSend { to, why });
        }
    }

    fn send_private(
        &mut self,
        now: Now,
        req: Option<RequestId>,
        about: About,
        dest: Dest,
        text: String,
    ) {
        let to = Some(about.to_string());
        let body = Body::text_only(text);
        self.store_message(now, req, (about, None, to), body, vec![dest], Vec::new());
    }

    /// The tracker answered a look-up: the messages waiting for `name` go, or fail.
    pub(super) fn looked_up(&mut self, now: Now, name: &Name, member: Option<&Member>) {
        for waiting in self.lookups.remove(name).unwrap_or_default() {
            if let Some(m) = member {
                self.check_listed(&m.name, m.key);
            }
            match member {
                Some(m) => match self.trust.expected(&m.name, Some(m.key)) {
                    Ok(_) => {
                        self.send_private(now, waiting.req, waiting.about, dest(m), waiting.text)
                    }
                    Err(error) => self.fail(waiting.req, error),
                },
                None => {
                    let name = name.clone();
                    let detail = String::new();
                    self.fail(waiting.req, NodeError::UnknownPeer { name, detail });
                }
            }
        }
    }

    /// Numbers, signs and stores a message (a text or an action); it is announced and
    /// sent once stored.
    pub(super) fn store_message(
        &mut self,
        now: Now,
        req: Option<RequestId>,
        (about, group, to): (About, Option<GroupName>, Option<String>),
        body: Body,
        dests: Vec<Dest>,
        failed: Vec<String>,
    ) {
        let keys: Vec<PublicKey> = dests.iter().map(|d| d.key).collect();
        if let Some(why) = self.outbox.refusal(&keys) {
            return self.fail(req, NodeError::OutboxFull { about, why });
        }
        let (seq, reserve) = self.numbering.next();
        if let Some(up_to) = reserve {
            // Written before the message, in the same transaction when the store is busy.
            self.write(Write::ReserveSeqs(up_to), AfterWrite::Reserved(up_to));
        }
        let own = self.identity.public_key();
        let private_to = match &group {
            None => keys.first().copied(),
            Some(_) => None,
        };
        let message = ChatMessage {
            id: MessageId {
                sender: self.name.clone(),
                seq,
            },
            from: self.name.clone(),
            key: own,
            group: group.clone(),
            to: private_to,
            body,
            sent_at: now.unix_millis(),
        };
        let chat = SignedChat {
            sig: sign_chat(&self.identity, &message),
            message,
        };
        self.held.insert(own, group.as_ref(), seq);
        let conversation = match (&group, private_to) {
            (Some(g), _) => Conversation::Group(g.clone()),
            (None, Some(key)) => Conversation::Peer(key),
            (None, None) => Conversation::Peer(own),
        };
        let expires_at = now
            .unix_millis()
            .saturating_add(u64::try_from(self.expire_after.as_millis()).unwrap_or(u64::MAX));
        let write = Write::Own {
            chat: chat.clone(),
            conversation,
            recipients: dests.iter().map(|d| (d.key, d.name.clone())).collect(),
            stored_at: now.unix_millis(),
            expires_at,
        };
        self.write(write, AfterWrite::Own(seq));
        let message = &chat.message;
        let sending = match &message.body {
            Body::Text { text, reply_to } => Some(Event::Sending {
                id: message.id.clone(),
                to,
                group: message.group.clone(),
                text: text.clone(),
                sent_at: message.sent_at,
                reply_to: reply_to.clone(),
            }),
            _ => {
                self.quiet.insert(seq);
                None
            }
        };
        let unstored = Unstored {
            req,
            sending,
            held_back: Vec::new(),
        };
        self.unstored.insert(seq, unstored);
        let id = message.id.clone();
        let frame = Arc::new(PeerFrame::Chat(chat));
        let sent = self
            .outbox
            .add((seq, id, req), frame, expires_at, &dests, Some(failed));
        if let Some(progress) = sent {
            self.progress(progress);
        }
        self.deliver_due = true;
    }

    /// Our numbers up to `up_to` are reserved in the store: those messages may go out
    /// before their own writes commit.
    pub(super) fn seqs_reserved(&mut self, up_to: u64) {
        self.numbering.reserved(up_to);
        self.outbox.set_sendable(self.numbering.sendable());
        self.deliver_due = true;
    }

    /// Our message `seq` is stored, on the disk: announce it, then whatever the outbox
    /// reported of it meanwhile; it may go out now if it has not.
    pub(super) fn own_stored(&mut self, seq: u64) {
        self.numbering.stored(seq);
        self.outbox.set_sendable(self.numbering.sendable());
        self.deliver_due = true;
        let Some(s) = self.unstored.remove(&seq) else {
            return;
        };
        // An action's effect, told at its commit, answered the request already.
        if let Some(sending) = s.sending {
            self.emit_for(s.req, sending);
        }
        for progress in s.held_back {
            self.progress(progress);
        }
    }

    /// Our message `seq` is committed: if it is an action, its effect (which the store
    /// reports in the same reply) answers the request.
    pub(super) fn own_committed(&mut self, seq: u64) {
        if let Some(s) = self.unstored.get(&seq)
            && s.sending.is_none()
        {
            self.acted.insert(seq, s.req);
        }
    }

    /// Our message `seq` could not be stored: never announced, and no longer sent or
    /// retried. Its number was reserved if it went out already, so it is never reused.
    pub(super) fn own_not_stored(&mut self, seq: u64, error: &str) {
        self.outbox.remove(seq);
        self.quiet.remove(&seq);
        if let Some(s) = self.unstored.remove(&seq) {
            let why = if seq <= self.numbering.sendable() {
                format!(
                    "the message was not stored, so it will not be sent again (it may have \
                     reached recipients who were online): {error}"
                )
            } else {
                format!("the message was not stored, so it was not sent: {error}")
            };
            self.fail(s.req, NodeError::Store(why));
        }
    }

    /// Opens or uses connections for every recipient with messages waiting, and sends
    /// what can go now.
    pub(super) fn deliver(&mut self, now: Now) {
        for dial in self.outbox.dials(now.at) {
            let wanted = Some((dial.name.clone(), dial.key));
            let (conn, new) = self.conns.route(dial.addr, wanted, now.at);
            if new {
                let (addr, expect) = (dial.addr, Some(dial.key));
                self.out.push_back(Output::Dial { conn, addr, expect });
            }
            self.outbox.dialling(&dial.key, conn);
        }
        for key in self.outbox.recipients() {
            if let Some(conn) = self.conns.open_for(&key) {
                self.outbox.connected(&key, conn, now.at);
            }
            if let Some((conn, frames)) = self.outbox.to_send(&key, now.at) {
                for frame in frames {
                    self.out.push_back(Output::Send { conn, frame });
                }
            }
        }
        let effects = self.outbox.unreachable_now(now.at);
        self.apply(effects);
    }

    /// Reports what the outbox settled and records it in the store.
    pub(super) fn apply(&mut self, effects: Effects) {
        for record in effects.records {
            let write = match record {
                Record::Delivered { seq, to } => Write::Delivered { seq, to },
                Record::Failed { seq, to, reason } => Write::Failed { seq, to, reason },
            };
            self.record(write, self.now.at);
        }
        for progress in effects.progress {
            self.progress(progress);
        }
    }

    fn progress(&mut self, progress: Progress) {
        let seq = progress.id().seq;
        if let Some(unstored) = self.unstored.get_mut(&seq) {
            unstored.held_back.push(progress);
            return;
        }
        if self.quiet.contains(&seq) {
            // An action or a receipt: nothing to tell, and forgotten once it is settled.
            if !self.outbox.holds(seq) {
                self.quiet.remove(&seq);
            }
            return;
        }
        match progress {
            Progress::Sent {
                req,
                id,
                delivered,
                failed,
                pending,
            } => {
                let receipts = (id.clone(), delivered.clone());
                let sent = Event::Sent {
                    id,
                    delivered,
                    failed,
                    pending,
                };
                self.emit_for(req, sent);
                for to in &receipts.1 {
                    self.receipt_delivered(&receipts.0, to);
                }
            }
            Progress::Delivered { id, to } => {
                let receipt = (id.clone(), to.to_string());
                self.emit(Event::Delivered { id, to });
                self.receipt_delivered(&receipt.0, &receipt.1);
            }
            Progress::Failed {
                req,
                id,
                to,
                reason,
                in_first_round,
                refused,
            } => {
                if in_first_round {
                    let to = to.to_string();
                    let error = if refused {
                        NodeError::Refused { to, why: reason }
                    } else {
                        NodeError::CannotSend { to, why: reason }
                    };
                    self.fail(req, error);
                } else {
                    self.emit(Event::Failed { id, to, reason });
                }
            }
        }
    }

    /// A recipient acknowledged one of our messages on `conn`.
    pub(super) fn acked(&mut self, now: Now, conn: ConnId, key: &PublicKey, id: &MessageId) {
        if let Some(quit_at) = &mut self.quit_at {
            *quit_at = now.at + QUIT_GRACE;
        }
        if id.sender != self.name {
            return;
        }
        let effects = self.outbox.acked(conn, key, id.seq);
        self.apply(effects);
        self.send_more(now, key);
        self.close_if_drained(conn);
    }

    /// A recipient refused one of our messages on `conn`: for good, or (`not_member`: it
    /// does not list us in the group yet) until a retry.
    pub(super) fn nacked(
        &mut self,
        now: Now,
        conn: ConnId,
        key: &PublicKey,
        id: &MessageId,
        code: natter_protocol::ErrorCode,
        reason: &str,
    ) {
        if id.sender != self.name {
            return;
        }
        let effects = if code == natter_protocol::ErrorCode::NotMember {
            tracing::debug!(%id, %reason, "not a member there yet; retried later");
            let jitter = self.random();
            self.outbox.retry_later(key, now.at, jitter)
        } else {
            self.outbox.refused(conn, key, id.seq, reason)
        };
        self.apply(effects);
        self.send_more(now, key);
        self.close_if_drained(conn);
    }

    /// Sends what the window now has room for to `key`.
    fn send_more(&mut self, now: Now, key: &PublicKey) {
        if let Some((conn, frames)) = self.outbox.to_send(key, now.at) {
            for frame in frames {
                self.out.push_back(Output::Send { conn, frame });
            }
        }
    }

    /// A duplicate connection we dialled closes; what was in flight on it goes again on
    /// the connection kept (the recipient drops the copies it already has).
    pub(super) fn close_if_drained(&mut self, conn: ConnId) {
        let draining = self
            .conns
            .get(conn)
            .is_some_and(|c| c.phase == super::connections::Phase::Draining);
        if draining {
            self.outbox.moved(conn);
            self.deliver_due = true;
            self.conns.remove(conn);
            self.sync_conn_gone(conn);
            self.out.push_back(Output::Close {
                conn,
                parting: None,
            });
        }
    }

    /// Fails the messages that waited too long for a tracker look-up or a hello.
    pub(super) fn expire_waiting_sends(&mut self, now: Instant) {
        let mut late = Vec::new();
        for waiting in self.lookups.values_mut() {
            waiting.retain(|w| {
                let keep = w.deadline > now;
                if !keep {
                    late.push((w.req, w.about.clone()));
                }
                keep
            });
        }
        self.lookups.retain(|_, w| !w.is_empty());
        let mut dead = Vec::new();
        for (conn, waiting) in &mut self.addr_sends {
            waiting.retain(|w| {
                let keep = w.deadline > now;
                if !keep {
                    late.push((w.req, w.about.clone()));
                }
                keep
            });
            if waiting.is_empty() {
                dead.push(*conn);
            }
        }
        for conn in dead {
            self.addr_sends.remove(&conn);
        }
        for (req, about) in late {
            match about {
                About::Peer(name) => self.fail(req, NodeError::LookupUnanswered { name }),
                About::Addr(addr) => self.fail(req, NodeError::NoHello { addr }),
                About::Group(_) | About::Message(_) => {}
            }
        }
    }

    /// The earliest deadline of a message waiting for a look-up or a hello.
    pub(super) fn waiting_sends_deadline(&self) -> Option<Instant> {
        self.lookups
            .values()
            .chain(self.addr_sends.values())
            .flatten()
            .map(|w| w.deadline)
            .min()
    }

    /// Messages found unsent in the store at start go back into the outbox (no `sent` event
    /// again: that was for the run that sent them).
    pub(super) fn restore_unsent(&mut self, unsent: Vec<crate::node::store::Unsent>) {
        let known: HashMap<PublicKey, Member> = self
            .cache
            .groups()
            .values()
            .flat_map(|g| &g.members)
            .map(|m| (m.key, m.clone()))
            .collect();
        for u in unsent {
            let dests: Vec<Dest> = u
                .pending
                .iter()
                .map(|(key, name)| match known.get(key) {
                    Some(m) => dest(m),
                    None => Dest {
                        key: *key,
                        name: name.clone(),
                        addr: None,
                        online: true,
                    },
                })
                .collect();
            let seq = u.chat.message.id.seq;
            if !u.chat.message.body.is_text() {
                self.quiet.insert(seq);
            }
            let id = u.chat.message.id.clone();
            let frame = Arc::new(PeerFrame::Chat(u.chat));
            self.outbox
                .add((seq, id, None), frame, u.expires_at, &dests, None);
        }
        self.deliver_due = true;
    }
}

fn dest(m: &Member) -> Dest {
    Dest {
        key: m.key,
        name: m.name.clone(),
        addr: Some(m.addr),
        online: m.online,
    }
}
