//! The outbox: our messages on their way, until every recipient has acked or failed.
//!
//! Pure bookkeeping. Each recipient is keyed by the address its message went to and the
//! generation of the pooled link that carries it, so a report from a link that has since
//! been replaced cannot settle a message sent over the new one. Every message settles
//! exactly once, into a [`Done`] that becomes the `sent` event.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use natter_protocol::Name;
use natter_protocol::peer::MessageId;

/// One recipient still to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// How the recipient is named in `delivered`/`failed`: its name, or the address.
    pub label: String,
    /// The name we expect the link's hello to carry (`None` for a bare address).
    pub expected: Option<Name>,
    /// The generation of the link the message was queued on.
    pub generation: u64,
}

/// A settled message: the `sent` event's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub id: MessageId,
    pub delivered: Vec<String>,
    pub failed: Vec<String>,
}

impl Done {
    /// Names sorted, so the `sent` event does not depend on which ack came first.
    fn new(id: MessageId, mut delivered: Vec<String>, mut failed: Vec<String>) -> Self {
        delivered.sort();
        failed.sort();
        Self {
            id,
            delivered,
            failed,
        }
    }
}

/// A recipient that failed, for an error event naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub label: String,
    pub addr: SocketAddr,
    /// The link the message was queued on.
    pub generation: u64,
}

#[derive(Debug)]
struct Pending {
    remaining: HashMap<SocketAddr, Recipient>,
    delivered: Vec<String>,
    failed: Vec<String>,
    deadline: Instant,
}

/// Every message of ours not yet settled.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: HashMap<MessageId, Pending>,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Tracks a message sent to `remaining`, with `failed` already known. Settles at once
    /// when nobody is left to answer.
    pub fn insert(
        &mut self,
        id: MessageId,
        remaining: HashMap<SocketAddr, Recipient>,
        failed: Vec<String>,
        deadline: Instant,
    ) -> Option<Done> {
        let pending = Pending {
            remaining,
            delivered: Vec::new(),
            failed,
            deadline,
        };
        self.pending.insert(id.clone(), pending);
        self.settle_if_done(&id)
    }

    /// The recipient at `addr` acknowledged `id` over link `generation`.
    pub fn ack(&mut self, addr: SocketAddr, generation: u64, id: &MessageId) -> Option<Done> {
        let pending = self.pending.get_mut(id)?;
        if pending.remaining.get(&addr)?.generation != generation {
            return None;
        }
        let r = pending.remaining.remove(&addr)?;
        pending.delivered.push(r.label);
        self.settle_if_done(id)
    }

    /// The recipient at `addr` refused `id` over link `generation`: that recipient fails.
    /// Returns its failure (for the error shown) and the settled message, if it was last.
    pub fn refused(
        &mut self,
        addr: SocketAddr,
        generation: u64,
        id: &MessageId,
    ) -> (Option<Done>, Option<Failure>) {
        let Some(pending) = self.pending.get_mut(id) else {
            return (None, None);
        };
        if pending.remaining.get(&addr).map(|r| r.generation) != Some(generation) {
            return (None, None);
        }
        let Some(r) = pending.remaining.remove(&addr) else {
            return (None, None);
        };
        let failure = Failure {
            label: r.label.clone(),
            addr,
            generation,
        };
        pending.failed.push(r.label);
        (self.settle_if_done(id), Some(failure))
    }

    /// The link to `addr` said hello as `name`: address-only recipients take that name;
    /// recipients expecting someone else fail (the address now belongs to another peer).
    pub fn named(
        &mut self,
        addr: SocketAddr,
        generation: u64,
        name: &Name,
    ) -> (Vec<Done>, Vec<Failure>) {
        self.fail_where(|a, r| {
            if a != addr || r.generation != generation {
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

    /// The link to `addr` (generation `generation`) is gone: everything on it fails.
    pub fn link_down(&mut self, addr: SocketAddr, generation: u64) -> (Vec<Done>, Vec<Failure>) {
        self.fail_where(|a, r| a == addr && r.generation == generation)
    }

    /// Fails every recipient of every message past its deadline.
    pub fn expire(&mut self, now: Instant) -> (Vec<Done>, Vec<Failure>) {
        let late: Vec<MessageId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut done = Vec::new();
        let mut failures = Vec::new();
        for id in late {
            if let Some(mut p) = self.pending.remove(&id) {
                for (addr, r) in p.remaining.drain() {
                    failures.push(Failure {
                        label: r.label.clone(),
                        addr,
                        generation: r.generation,
                    });
                    p.failed.push(r.label);
                }
                done.push(Done::new(id, p.delivered, p.failed));
            }
        }
        (done, failures)
    }

    fn fail_where(
        &mut self,
        mut fails: impl FnMut(SocketAddr, &mut Recipient) -> bool,
    ) -> (Vec<Done>, Vec<Failure>) {
        let mut touched = Vec::new();
        let mut failures = Vec::new();
        for (id, p) in &mut self.pending {
            let gone: Vec<SocketAddr> = p
                .remaining
                .iter_mut()
                .filter_map(|(a, r)| fails(*a, r).then_some(*a))
                .collect();
            for addr in gone {
                if let Some(r) = p.remaining.remove(&addr) {
                    failures.push(Failure {
                        label: r.label.clone(),
                        addr,
                        generation: r.generation,
                    });
                    p.failed.push(r.label);
                    touched.push(id.clone());
                }
            }
        }
        let done = touched
            .iter()
            .filter_map(|id| self.settle_if_done(id))
            .collect();
        (done, failures)
    }

    fn settle_if_done(&mut self, id: &MessageId) -> Option<Done> {
        if !self.pending.get(id)?.remaining.is_empty() {
            return None;
        }
        let p = self.pending.remove(id)?;
        Some(Done::new(id.clone(), p.delivered, p.failed))
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

    fn to(name: Option<&str>, label: &str, generation: u64) -> Recipient {
        Recipient {
            label: label.into(),
            expected: name.map(|n| n.parse().expect("name")),
            generation,
        }
    }

    #[test]
    fn settles_once_after_acks_and_failures() {
        let mut out = Outbox::default();
        let later = Instant::now() + Duration::from_secs(10);
        let remaining = HashMap::from([
            (addr(1), to(Some("a"), "a", 1)),
            (addr(2), to(Some("b"), "b", 1)),
        ]);
        assert_eq!(out.insert(id(1), remaining, vec!["c".into()], later), None);
        assert_eq!(out.ack(addr(1), 2, &id(1)), None, "wrong generation");
        assert_eq!(out.ack(addr(1), 1, &id(1)), None);
        assert_eq!(out.ack(addr(1), 1, &id(1)), None, "repeated ack");
        let (done, failures) = out.link_down(addr(2), 1);
        assert_eq!(
            done,
            vec![Done {
                id: id(1),
                delivered: vec!["a".into()],
                failed: vec!["b".into(), "c".into()]
            }]
        );
        assert_eq!(failures[0].addr, addr(2));
        assert!(out.is_empty());
        assert_eq!(out.ack(addr(1), 1, &id(1)), None);
    }

    #[test]
    fn a_refusal_fails_that_recipient_at_once() {
        let mut outbox = Outbox::default();
        let remaining = HashMap::from([
            (addr(1), to(Some("bob"), "bob", 1)),
            (addr(2), to(Some("carol"), "carol", 1)),
        ]);
        let far = Instant::now() + std::time::Duration::from_secs(60);
        assert!(outbox.insert(id(1), remaining, vec![], far).is_none());
        assert_eq!(outbox.refused(addr(1), 2, &id(1)), (None, None));
        let (done, failure) = outbox.refused(addr(1), 1, &id(1));
        assert!(done.is_none());
        assert_eq!(failure.map(|f| f.label), Some("bob".to_owned()));
        let done = outbox.ack(addr(2), 1, &id(1)).expect("settled");
        assert_eq!(
            (done.delivered, done.failed),
            (vec!["carol".to_owned()], vec!["bob".to_owned()])
        );
    }

    #[test]
    fn nobody_to_send_to_settles_at_once() {
        let mut out = Outbox::default();
        let done = out.insert(id(1), HashMap::new(), vec!["x".into()], Instant::now());
        assert_eq!(done.map(|d| d.failed), Some(vec!["x".to_string()]));
    }

    #[test]
    fn hello_names_address_recipients_and_refuses_impostors() {
        let mut out = Outbox::default();
        let later = Instant::now() + Duration::from_secs(10);
        let by_addr = HashMap::from([(addr(1), to(None, "127.0.0.1:1", 3))]);
        out.insert(id(1), by_addr, vec![], later);
        let by_name = HashMap::from([(addr(1), to(Some("bob"), "bob", 3))]);
        out.insert(id(2), by_name, vec![], later);
        let (done, failures) = out.named(addr(1), 3, &"carol".parse().expect("name"));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].failed, vec!["bob".to_string()]);
        assert_eq!(failures.len(), 1);
        let done = out.ack(addr(1), 3, &id(1)).expect("settled");
        assert_eq!(done.delivered, vec!["carol".to_string()]);
    }

    #[test]
    fn expiry_fails_the_silent() {
        let mut out = Outbox::default();
        let now = Instant::now();
        let remaining = HashMap::from([(addr(1), to(Some("a"), "a", 1))]);
        out.insert(id(1), remaining, vec![], now + Duration::from_secs(1));
        assert!(out.expire(now).0.is_empty());
        let (done, failures) = out.expire(now + Duration::from_secs(2));
        assert_eq!(done[0].failed, vec!["a".to_string()]);
        assert_eq!(failures[0].label, "a");
        assert!(out.is_empty());
    }
}
