//! The outbox: our messages on their way, until every recipient has acked or failed.
//!
//! Pure bookkeeping. Each recipient is keyed by the connection its message went out on, so
//! an answer on one connection cannot settle a message sent over another. Every message
//! settles exactly once, into a [`Done`] that becomes the `sent` event. Deadlines are kept
//! in order, so finding the next one and expiring the late ones costs O(log n).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use natter_protocol::peer::MessageId;
use natter_protocol::{Name, RequestId};

use super::core::ConnId;

/// One recipient still to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// How the recipient is named in `delivered`/`failed`: its name, or the address.
    pub label: String,
    /// The name we expect the connection's hello to carry (`None` for a bare address).
    pub expected: Option<Name>,
    /// Where the message went.
    pub addr: SocketAddr,
}

/// A settled message: the `sent` event's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The request that sent it.
    pub req: Option<RequestId>,
    pub id: MessageId,
    pub delivered: Vec<String>,
    pub failed: Vec<String>,
}

impl Done {
    /// Names sorted, so the `sent` event does not depend on which ack came first.
    fn new(p: Pending, id: MessageId) -> Self {
        let Pending {
            req,
            mut delivered,
            mut failed,
            ..
        } = p;
        delivered.sort();
        failed.sort();
        Self {
            req,
            id,
            delivered,
            failed,
        }
    }
}

/// A recipient that failed, for an error event naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The request that sent the message.
    pub req: Option<RequestId>,
    pub label: String,
    pub addr: SocketAddr,
    /// The connection the message went out on.
    pub conn: ConnId,
}

/// What a change settled: finished messages and the recipients that failed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub done: Vec<Done>,
    pub failures: Vec<Failure>,
}

#[derive(Debug)]
struct Pending {
    req: Option<RequestId>,
    remaining: HashMap<ConnId, Recipient>,
    delivered: Vec<String>,
    failed: Vec<String>,
    deadline: Instant,
}

/// Every message of ours not yet settled.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: HashMap<MessageId, Pending>,
    deadlines: BTreeSet<(Instant, MessageId)>,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// The earliest deadline of a message still waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Whether any message still waits for an answer on `conn`.
    pub fn waits_on(&self, conn: ConnId) -> bool {
        self.pending
            .values()
            .any(|p| p.remaining.contains_key(&conn))
    }

    /// Tracks a message sent to `remaining`, with `failed` already known. Settles at once
    /// when nobody is left to answer.
    pub fn insert(
        &mut self,
        (req, id): (Option<RequestId>, MessageId),
        remaining: HashMap<ConnId, Recipient>,
        failed: Vec<String>,
        deadline: Instant,
    ) -> Option<Done> {
        let pending = Pending {
            req,
            remaining,
            delivered: Vec::new(),
            failed,
            deadline,
        };
        if let Some(old) = self.pending.insert(id.clone(), pending) {
            self.deadlines.remove(&(old.deadline, id.clone()));
        }
        self.deadlines.insert((deadline, id.clone()));
        self.settle_if_done(&id)
    }

    /// The recipient on `conn` acknowledged `id`.
    pub fn ack(&mut self, conn: ConnId, id: &MessageId) -> Option<Done> {
        let pending = self.pending.get_mut(id)?;
        let r = pending.remaining.remove(&conn)?;
        pending.delivered.push(r.label);
        self.settle_if_done(id)
    }

    /// The recipient on `conn` refused `id`: that recipient fails.
    pub fn refused(&mut self, conn: ConnId, id: &MessageId) -> Settled {
        let Some(pending) = self.pending.get_mut(id) else {
            return Settled::default();
        };
        let Some(r) = pending.remaining.remove(&conn) else {
            return Settled::default();
        };
        let failure = Failure {
            req: pending.req,
            label: r.label.clone(),
            addr: r.addr,
            conn,
        };
        pending.failed.push(r.label);
        Settled {
            done: self.settle_if_done(id).into_iter().collect(),
            failures: vec![failure],
        }
    }

    /// The connection `conn` said hello as `name`: address-only recipients take that name;
    /// recipients expecting someone else fail (the address now belongs to another peer).
    pub fn named(&mut self, conn: ConnId, name: &Name) -> Settled {
        self.fail_where(|c, r| {
            if c != conn {
                return false;
            }
            match &r.expected {
                None => {
                    r.label = name.to_string();
                    false
                }
                Some(expected) => expected != name,
            }
        })
    }

    /// The connection `conn` is gone: everything waiting on it fails.
    pub fn conn_down(&mut self, conn: ConnId) -> Settled {
        self.fail_where(|c, _| c == conn)
    }

    /// Fails every recipient of every message whose deadline is at or before `now`.
    pub fn expire(&mut self, now: Instant) -> Settled {
        let mut out = Settled::default();
        while let Some((at, id)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, id.clone()));
            if let Some(mut p) = self.pending.remove(&id) {
                for (conn, r) in p.remaining.drain() {
                    out.failures.push(Failure {
                        req: p.req,
                        label: r.label.clone(),
                        addr: r.addr,
                        conn,
                    });
                    p.failed.push(r.label);
                }
                out.done.push(Done::new(p, id));
            }
        }
        out
    }

    fn fail_where(&mut self, mut fails: impl FnMut(ConnId, &mut Recipient) -> bool) -> Settled {
        let mut touched = Vec::new();
        let mut out = Settled::default();
        for (id, p) in &mut self.pending {
            let gone: Vec<ConnId> = p
                .remaining
                .iter_mut()
                .filter_map(|(c, r)| fails(*c, r).then_some(*c))
                .collect();
            for conn in gone {
                if let Some(r) = p.remaining.remove(&conn) {
                    out.failures.push(Failure {
                        req: p.req,
                        label: r.label.clone(),
                        addr: r.addr,
                        conn,
                    });
                    p.failed.push(r.label);
                    touched.push(id.clone());
                }
            }
        }
        out.done = touched
            .iter()
            .filter_map(|id| self.settle_if_done(id))
            .collect();
        out
    }

    fn settle_if_done(&mut self, id: &MessageId) -> Option<Done> {
        if !self.pending.get(id)?.remaining.is_empty() {
            return None;
        }
        let p = self.pending.remove(id)?;
        self.deadlines.remove(&(p.deadline, id.clone()));
        Some(Done::new(p, id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn id(seq: u64) -> MessageId {
        MessageId {
            sender: "me".parse().expect("name"),
            seq,
        }
    }

    fn addr(port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    fn conn(n: u64) -> ConnId {
        ConnId::Dialed(n)
    }

    fn to(name: Option<&str>, label: &str, port: u16) -> Recipient {
        Recipient {
            label: label.into(),
            expected: name.map(|n| n.parse().expect("name")),
            addr: addr(port),
        }
    }

    #[test]
    fn settles_once_after_acks_and_failures() {
        let mut out = Outbox::default();
        let later = Instant::now() + Duration::from_secs(10);
        let remaining = HashMap::from([
            (conn(1), to(Some("a"), "a", 1)),
            (conn(2), to(Some("b"), "b", 2)),
        ]);
        assert_eq!(
            out.insert((None, id(1)), remaining, vec!["c".into()], later),
            None
        );
        assert_eq!(out.ack(conn(3), &id(1)), None, "another connection");
        assert!(out.waits_on(conn(1)));
        assert_eq!(out.ack(conn(1), &id(1)), None);
        assert!(!out.waits_on(conn(1)));
        assert_eq!(out.ack(conn(1), &id(1)), None, "repeated ack");
        let settled = out.conn_down(conn(2));
        assert_eq!(
            settled.done,
            vec![Done {
                req: None,
                id: id(1),
                delivered: vec!["a".into()],
                failed: vec!["b".into(), "c".into()]
            }]
        );
        assert_eq!(settled.failures[0].addr, addr(2));
        assert!(out.is_empty());
        assert_eq!(out.next_deadline(), None);
        assert_eq!(out.ack(conn(1), &id(1)), None);
    }

    #[test]
    fn a_refusal_fails_that_recipient_at_once() {
        let mut outbox = Outbox::default();
        let remaining = HashMap::from([
            (conn(1), to(Some("bob"), "bob", 1)),
            (conn(2), to(Some("carol"), "carol", 2)),
        ]);
        let far = Instant::now() + Duration::from_secs(60);
        assert!(
            outbox
                .insert((None, id(1)), remaining, vec![], far)
                .is_none()
        );
        assert_eq!(outbox.refused(conn(3), &id(1)), Settled::default());
        let settled = outbox.refused(conn(1), &id(1));
        assert!(settled.done.is_empty());
        assert_eq!(settled.failures[0].label, "bob");
        let done = outbox.ack(conn(2), &id(1)).expect("settled");
        assert_eq!(
            (done.delivered, done.failed),
            (vec!["carol".to_owned()], vec!["bob".to_owned()])
        );
    }

    #[test]
    fn nobody_to_send_to_settles_at_once() {
        let mut out = Outbox::default();
        let done = out.insert(
            (None, id(1)),
            HashMap::new(),
            vec!["x".into()],
            Instant::now(),
        );
        assert_eq!(done.map(|d| d.failed), Some(vec!["x".to_string()]));
        assert_eq!(out.next_deadline(), None);
    }

    #[test]
    fn hello_names_address_recipients_and_refuses_impostors() {
        let mut out = Outbox::default();
        let later = Instant::now() + Duration::from_secs(10);
        let by_addr = HashMap::from([(conn(3), to(None, "127.0.0.1:1", 1))]);
        out.insert((None, id(1)), by_addr, vec![], later);
        let by_name = HashMap::from([(conn(3), to(Some("bob"), "bob", 1))]);
        out.insert((None, id(2)), by_name, vec![], later);
        let settled = out.named(conn(3), &"carol".parse().expect("name"));
        assert_eq!(settled.done.len(), 1);
        assert_eq!(settled.done[0].failed, vec!["bob".to_string()]);
        assert_eq!(settled.failures.len(), 1);
        let done = out.ack(conn(3), &id(1)).expect("settled");
        assert_eq!(done.delivered, vec!["carol".to_string()]);
    }

    #[test]
    fn expiry_fails_the_silent_in_deadline_order() {
        let mut out = Outbox::default();
        let now = Instant::now();
        for (seq, secs) in [(1, 3), (2, 1), (3, 2)] {
            let remaining = HashMap::from([(conn(seq), to(Some("a"), "a", 1))]);
            out.insert(
                (None, id(seq)),
                remaining,
                vec![],
                now + Duration::from_secs(secs),
            );
        }
        assert_eq!(out.next_deadline(), Some(now + Duration::from_secs(1)));
        assert!(out.expire(now).done.is_empty());
        let settled = out.expire(now + Duration::from_secs(2));
        let ids: Vec<u64> = settled.done.iter().map(|d| d.id.seq).collect();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(settled.failures[0].label, "a");
        assert_eq!(out.next_deadline(), Some(now + Duration::from_secs(3)));
        assert!(!out.is_empty());
    }
}
