//! The table of peer connections: one full-duplex connection per remote key, dialled or
//! accepted, found by the key it authenticated (or the key it was dialled to demand) and,
//! for connections we dialled, by address.
//!
//! Pure bookkeeping. When both sides dial each other at once, both end up with two
//! connections to the same key; both keep the one dialled by the smaller key (so they
//! agree without a word), and the dialler of the other one closes it once nothing waits on
//! it any more.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use natter_protocol::{Name, PublicKey};

use super::ConnId;

/// A connection with no frame either way for this long, and nothing waiting on it, is
/// closed (the next message opens a new one).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Dialling, or waiting for the far side's hello.
    Opening,
    /// The hello came; its name and key are being checked.
    Checking,
    /// Both hellos done and the far side's name and key accepted.
    Open,
    /// A duplicate of another connection to the same key: no new messages go here, and it
    /// closes once nothing waits on it.
    Draining,
}

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// Where we dialled (`None` for an accepted connection).
    pub addr: Option<SocketAddr>,
    /// Whom we dialled: the name we meant to reach and the key the handshake demanded.
    pub dialled_for: Option<(Name, PublicKey)>,
    /// The far side's name and key, once its hello is in.
    pub peer: Option<(Name, PublicKey)>,
    pub phase: Phase,
    /// The last frame in either direction.
    pub last_active: Instant,
    /// Where the far side says it listens (its hello's port at its address's IP).
    pub listen: Option<SocketAddr>,
    /// Let on without a check of its key against a binding for its name (the tracker was
    /// down at first contact): its messages are shown as unverified.
    pub unverified: bool,
}

/// What accepting a connection's hello did to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The only connection to that key.
    Only,
    /// Another connection to the same key exists; `draining` is the one we dialled that
    /// now drains (if either), to be closed once nothing waits on it.
    Duplicate { draining: Option<ConnId> },
}

/// Every connection, by id, by key and (dialled ones) by address.
#[derive(Debug, Default)]
pub struct Connections {
    next_dial: u64,
    conns: HashMap<ConnId, Conn>,
    by_key: HashMap<PublicKey, ConnId>,
    by_addr: HashMap<SocketAddr, ConnId>,
}

impl Connections {
    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    /// The connection to use for a message to `addr`, whose key is `key` when we know it.
    /// Returns the connection and whether it is new (the caller dials it).
    pub fn route(
        &mut self,
        addr: SocketAddr,
        wanted: Option<(Name, PublicKey)>,
        now: Instant,
    ) -> (ConnId, bool) {
        let usable = |c: &Conn| c.phase != Phase::Draining;
        if let Some((_, key)) = &wanted {
            if let Some(id) = self.by_key.get(key)
                && self.conns.get(id).is_some_and(usable)
            {
                return (*id, false);
            }
            if let Some(id) = self.by_addr.get(&addr)
                && let Some(c) = self.conns.get(id)
                && usable(c)
                && c.key() == Some(*key)
            {
                return (*id, false);
            }
        } else if let Some(id) = self.by_addr.get(&addr)
            && self.conns.get(id).is_some_and(usable)
        {
            return (*id, false);
        }
        self.next_dial += 1;
        let id = ConnId::Dialed(self.next_dial);
        if let Some((_, key)) = &wanted {
            self.by_key.entry(*key).or_insert(id);
        }
        self.by_addr.insert(addr, id);
        let conn = Conn {
            addr: Some(addr),
            dialled_for: wanted,
            peer: None,
            phase: Phase::Opening,
            last_active: now,
            listen: None,
            unverified: false,
        };
        self.conns.insert(id, conn);
        (id, true)
    }

    /// Records a connection someone opened to us.
    pub fn accepted(&mut self, id: ConnId, now: Instant) {
        let conn = Conn {
            addr: None,
            dialled_for: None,
            peer: None,
            phase: Phase::Opening,
            last_active: now,
            listen: None,
            unverified: false,
        };
        self.conns.entry(id).or_insert(conn);
    }

    /// The far side's hello came with `name` and `key` (listening at `listen`); it is
    /// being checked.
    pub fn checking(&mut self, id: ConnId, name: Name, key: PublicKey, listen: Option<SocketAddr>) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.peer = Some((name, key));
            c.phase = Phase::Checking;
            c.listen = listen;
        }
    }

    /// The connection is let on without a check of its key (see [`Conn::unverified`]).
    pub fn set_unverified(&mut self, id: ConnId, unverified: bool) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.unverified = unverified;
        }
    }

    /// The open connection to `key`, if there is one.
    pub fn open_for(&self, key: &PublicKey) -> Option<ConnId> {
        let id = self.by_key.get(key)?;
        (self.conns.get(id)?.phase == Phase::Open).then_some(*id)
    }

    /// Who is on the open connection we dialled to `addr`, if there is one.
    pub fn open_at(&self, addr: SocketAddr) -> Option<(Name, PublicKey)> {
        let c = self.conns.get(self.by_addr.get(&addr)?)?;
        (c.phase == Phase::Open).then(|| c.peer.clone()).flatten()
    }

    /// The open connection whose far side said hello as `name`: its key and where it
    /// listens.
    pub fn open_named(&self, name: &Name) -> Option<(PublicKey, Option<SocketAddr>)> {
        self.conns
            .values()
            .filter(|c| c.phase == Phase::Open)
            .find_map(|c| match &c.peer {
                Some((n, key)) if n == name => Some((*key, c.listen.or(c.addr))),
                _ => None,
            })
    }

    /// The key of the open connection whose far side listens at `addr` (by its hello).
    pub fn listening_at(&self, addr: SocketAddr) -> Option<PublicKey> {
        self.conns
            .values()
            .filter(|c| c.phase == Phase::Open && c.listen == Some(addr))
            .find_map(|c| c.peer.as_ref().map(|(_, key)| *key))
    }

    /// The open connections let on without a key check.
    pub fn unverified(&self) -> Vec<(ConnId, Name, PublicKey)> {
        self.conns
            .iter()
            .filter(|(_, c)| c.unverified && c.phase == Phase::Open)
            .filter_map(|(id, c)| c.peer.clone().map(|(n, k)| (*id, n, k)))
            .collect()
    }

    /// The far side's name and key were accepted. `own_key` decides which of two
    /// connections to the same key is kept.
    pub fn open(&mut self, id: ConnId, own_key: &PublicKey) -> Opened {
        let Some(key) = self.conns.get(&id).and_then(Conn::key) else {
            return Opened::Only;
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.phase = Phase::Open;
        }
        let other = match self.by_key.get(&key) {
            Some(other) if *other != id => *other,
            _ => {
                self.by_key.insert(key, id);
                return Opened::Only;
            }
        };
        if !self
            .conns
            .get(&other)
            .is_some_and(|c| c.phase != Phase::Draining)
        {
            self.by_key.insert(key, id);
            return Opened::Only;
        }
        let dialled_by = |c: ConnId| match c {
            ConnId::Dialed(_) => *own_key,
            ConnId::Accepted(_) => key,
        };
        let keep_new = match (other, id) {
            // Both sides dialled at once: keep the one dialled by the smaller key.
            (ConnId::Dialed(_), ConnId::Accepted(_)) | (ConnId::Accepted(_), ConnId::Dialed(_)) => {
                dialled_by(id) < dialled_by(other)
            }
            // The far side dialled again (its old connection may be half-open): the new one.
            (ConnId::Accepted(_), ConnId::Accepted(_)) => true,
            // Two of ours (to two addresses): the first.
            (ConnId::Dialed(_), ConnId::Dialed(_)) => false,
        };
        let (kept, dropped) = if keep_new { (id, other) } else { (other, id) };
        self.by_key.insert(key, kept);
        let draining = match dropped {
            ConnId::Dialed(_) => {
                if let Some(c) = self.conns.get_mut(&dropped) {
                    c.phase = Phase::Draining;
                }
                Some(dropped)
            }
            ConnId::Accepted(_) => None,
        };
        Opened::Duplicate { draining }
    }

    /// A frame went or came on `id`.
    pub fn touch(&mut self, id: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.last_active = now;
        }
    }

    /// Forgets a connection (closed, failed or refused).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        self.by_key.retain(|_, c| *c != id);
        // Another open connection to the same key (one the far side dialled, while ours was
        // the one kept) takes over: a peer we cannot dial can still be reached on its own.
        if let Some(key) = conn.key()
            && !self.by_key.contains_key(&key)
            && let Some((other, _)) = self
                .conns
                .iter()
                .find(|(_, c)| c.phase == Phase::Open && c.key() == Some(key))
        {
            self.by_key.insert(key, *other);
        }
        if let Some(addr) = conn.addr
            && self.by_addr.get(&addr) == Some(&id)
        {
            self.by_addr.remove(&addr);
        }
        Some(conn)
    }

    /// Connections to `name` whose key is not `key` (after `/trust NAME` took a new key,
    /// they go; the next message opens a new one).
    pub fn others_of(&self, name: &Name, key: PublicKey) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| {
                let named = c.peer.as_ref().or(c.dialled_for.as_ref());
                named.is_some_and(|(n, k)| n == name && *k != key)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Connections idle since `now - IDLE_TIMEOUT` or earlier.
    pub fn idle(&self, now: Instant) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.last_active + IDLE_TIMEOUT <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// When the next connection becomes idle.
    pub fn next_idle(&self) -> Option<Instant> {
        self.conns
            .values()
            .map(|c| c.last_active + IDLE_TIMEOUT)
            .min()
    }

    /// Every connection's id.
    pub fn ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }
}

impl Conn {
    /// The key the far side authenticated, else the one we dialled it to demand.
    pub fn key(&self) -> Option<PublicKey> {
        self.peer
            .as_ref()
            .or(self.dialled_for.as_ref())
            .map(|(_, k)| *k)
    }

    /// The far side's name, once its hello was accepted.
    pub fn name(&self) -> Option<&Name> {
        match self.phase {
            Phase::Open | Phase::Draining => self.peer.as_ref().map(|(n, _)| n),
            Phase::Opening | Phase::Checking => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_protocol::Identity;

    fn key() -> PublicKey {
        Identity::generate().expect("identity").public_key()
    }

    fn name(s: &str) -> Name {
        s.parse().expect("name")
    }

    fn addr(port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    #[test]
    fn one_connection_per_key_and_per_address() {
        let now = Instant::now();
        let mut t = Connections::default();
        let bob = key();
        let (a, new) = t.route(addr(1), Some((name("bob"), bob)), now);
        assert!(new);
        assert_eq!(t.route(addr(1), Some((name("bob"), bob)), now), (a, false));
        // The same address by itself shares it; another key at that address does not.
        assert_eq!(t.route(addr(1), None, now), (a, false));
        let (b, new) = t.route(addr(1), Some((name("carol"), key())), now);
        assert!(new && b != a);
        t.remove(a);
        assert!(t.route(addr(1), Some((name("bob"), bob)), now).1);
    }

    #[test]
    fn an_accepted_connection_carries_our_messages_too() {
        let now = Instant::now();
        let (mine, bob) = (key(), key());
        let mut t = Connections::default();
        let inbound = ConnId::Accepted(1);
        t.accepted(inbound, now);
        t.checking(inbound, name("bob"), bob, None);
        assert_eq!(t.open(inbound, &mine), Opened::Only);
        assert_eq!(
            t.route(addr(9), Some((name("bob"), bob)), now),
            (inbound, false)
        );
    }

    #[test]
    fn both_sides_keep_the_connection_dialled_by_the_smaller_key() {
        let now = Instant::now();
        let (k1, k2) = (key(), key());
        let (small, large) = if k1 < k2 { (k1, k2) } else { (k2, k1) };
        // Each side: its own dial, then the other's dial arrives.
        let side = |own: PublicKey, other: PublicKey| {
            let mut t = Connections::default();
            let (dialled, _) = t.route(addr(1), Some((name("x"), other)), now);
            t.checking(dialled, name("x"), other, None);
            assert_eq!(t.open(dialled, &own), Opened::Only);
            let accepted = ConnId::Accepted(7);
            t.accepted(accepted, now);
            t.checking(accepted, name("x"), other, None);
            let opened = t.open(accepted, &own);
            let (used, _) = t.route(addr(1), Some((name("x"), other)), now);
            (opened, used, dialled, accepted)
        };
        // The smaller key's own dial wins on its side...
        let (opened, used, dialled, _) = side(small, large);
        assert_eq!(opened, Opened::Duplicate { draining: None });
        assert_eq!(used, dialled);
        // ...and on the larger key's side the accepted one (that same connection) wins.
        let (opened, used, dialled, accepted) = side(large, small);
        assert_eq!(
            opened,
            Opened::Duplicate {
                draining: Some(dialled)
            }
        );
        assert_eq!(used, accepted);
    }

    #[test]
    fn idle_connections_are_found() {
        let now = Instant::now();
        let mut t = Connections::default();
        let (a, _) = t.route(addr(1), None, now);
        let (b, _) = t.route(addr(2), None, now);
        t.touch(b, now + IDLE_TIMEOUT);
        assert_eq!(t.next_idle(), Some(now + IDLE_TIMEOUT));
        assert_eq!(t.idle(now + IDLE_TIMEOUT), vec![a]);
    }
}
