//! Who may connect: a cap on established (authenticated) connections, a smaller budget
//! for connections still in their handshake, in which a newcomer evicts the oldest, and a
//! cap per remote address. [`Book`] is the pure bookkeeping; [`Admission`] shares it between
//! the accept loop and the connection tasks, whose [`Ticket`]s give their place back when
//! dropped.
//!
//! Why eviction rather than waiting: a flood of connections that never finish their
//! handshake would otherwise fill every slot (or the kernel's backlog) and lock honest
//! peers out until the handshake timeout frees one. Evicting the oldest unfinished one means
//! a newcomer is always taken at once, and an honest handshake, which takes about a
//! millisecond, finishes long before a flood reaches the budget's worth of newer
//! connections.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio_util::sync::CancellationToken;

/// The address a per-address limit counts under: the IPv4 address itself (an
/// IPv4-mapped IPv6 address is that IPv4 address), or an IPv6 address's /64 prefix (one
/// host usually holds a whole /64).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// True for 127.0.0.0/8, ::1 and their IPv4-mapped forms.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The admission limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Authenticated connections at once; past it [`Ticket::authenticated`] refuses.
    pub established: usize,
    /// Connections at once that have not authenticated yet; a newcomer past it evicts the
    /// oldest of them.
    pub unauthenticated: usize,
    /// Connections at once (of either kind) from one address ([`address_key`]); past it a
    /// newcomer is refused.
    pub per_address: usize,
    /// Whether the per-address cap applies to loopback too. Off, many local peers (tests,
    /// scripts, the host's own client) share 127.0.0.1 freely.
    pub limit_loopback: bool,
}

impl Limits {
    /// These caps (each at least 1), loopback limited like any address.
    pub fn new(established: usize, unauthenticated: usize, per_address: usize) -> Self {
        Self {
            established: established.max(1),
            unauthenticated: unauthenticated.max(1),
            per_address: per_address.max(1),
            limit_loopback: true,
        }
    }

    /// Leaves loopback out of the per-address cap when `exempt`.
    pub fn exempting_loopback(mut self, exempt: bool) -> Self {
        self.limit_loopback = !exempt;
        self
    }
}

/// Why a connection was refused (or lost its place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("too many connections from this address")]
    PerAddress,
    #[error("too many established connections")]
    Full,
    #[error("evicted by newer connections while still in its handshake")]
    Evicted,
}

/// How many connections hold a place, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub established: usize,
    pub unauthenticated: usize,
}

/// A connection let in: its id, and the id of the unauthenticated connection it evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub id: u64,
    pub evicted: Option<u64>,
}

/// The pure bookkeeping: ids in, decisions out, no sockets and no clock.
#[derive(Debug)]
pub struct Book {
    limits: Limits,
    next: u64,
    /// Unauthenticated connections by id: ids only grow, so the first is the oldest.
    pending: BTreeSet<u64>,
    established: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl Book {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            next: 1,
            pending: BTreeSet::new(),
            established: 0,
            per_address: HashMap::new(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn counted(&self, ip: IpAddr) -> bool {
        self.limits.limit_loopback || !is_loopback(ip)
    }

    /// A new connection from `ip`: refused if its address is at its cap, else admitted
    /// unauthenticated, evicting the oldest unauthenticated one if the budget is full. The
    /// evicted one stays counted against its address until it is [`Book::release`]d.
    pub fn admit(&mut self, ip: IpAddr) -> Result<Admitted, Refusal> {
        if self.counted(ip) {
            let count = self.per_address.entry(address_key(ip)).or_insert(0);
            if *count >= self.limits.per_address {
                return Err(Refusal::PerAddress);
            }
            *count += 1;
        }
        let evicted = if self.pending.len() >= self.limits.unauthenticated {
            self.pending.pop_first()
        } else {
            None
        };
        let id = self.next;
        self.next += 1;
        self.pending.insert(id);
        Ok(Admitted { id, evicted })
    }

    /// Moves `id` from the unauthenticated budget to the established ones: refused if it
    /// was evicted, or if no established place is free (then it stays unauthenticated).
    pub fn authenticate(&mut self, id: u64) -> Result<(), Refusal> {
        if !self.pending.contains(&id) {
            return Err(Refusal::Evicted);
        }
        if self.established >= self.limits.established {
            return Err(Refusal::Full);
        }
        self.pending.remove(&id);
        self.established += 1;
        Ok(())
    }

    /// Connection `id` from `ip` ended; `established` says whether it had authenticated.
    pub fn release(&mut self, id: u64, ip: IpAddr, established: bool) {
        if established {
            self.established = self.established.saturating_sub(1);
        } else {
            self.pending.remove(&id);
        }
        if self.counted(ip) {
            let key = address_key(ip);
            if let Some(count) = self.per_address.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_address.remove(&key);
                }
            }
        }
    }

    pub fn counts(&self) -> Counts {
        Counts {
            established: self.established,
            unauthenticated: self.pending.len(),
        }
    }

    /// Live connections (evicted ones not yet released included) from `ip`'s address.
    pub fn from_address(&self, ip: IpAddr) -> usize {
        self.per_address.get(&address_key(ip)).copied().unwrap_or(0)
    }
}

/// The shared admission state: cheap to clone, locked only for a map update, never across
/// an `.await`.
#[derive(Debug, Clone)]
pub struct Admission {
    shared: Arc<Mutex<Shared>>,
}

#[derive(Debug)]
struct Shared {
    book: Book,
    /// The cancellation token of each unauthenticated connection, to evict it.
    tokens: HashMap<u64, CancellationToken>,
}

impl Admission {
    pub fn new(limits: Limits) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                book: Book::new(limits),
                tokens: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The bookkeeping stays consistent across a panic elsewhere: every update is a
        // few plain statements.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `remote` ([`Book::admit`]). `token` becomes the ticket's
    /// token (pass a child of the shutdown token); an evicted connection's token is
    /// cancelled here.
    pub fn admit(&self, remote: SocketAddr, token: CancellationToken) -> Result<Ticket, Refusal> {
        let mut shared = self.lock();
        let admitted = shared.book.admit(remote.ip())?;
        shared.tokens.insert(admitted.id, token.clone());
        let evicted = admitted.evicted.and_then(|id| shared.tokens.remove(&id));
        drop(shared);
        if let Some(evicted) = evicted {
            evicted.cancel();
        }
        Ok(Ticket {
            admission: self.clone(),
            id: admitted.id,
            remote,
            token,
            established: false,
        })
    }

    pub fn counts(&self) -> Counts {
        self.lock().book.counts()
    }

    pub fn limits(&self) -> Limits {
        self.lock().book.limits()
    }

    /// Live connections from `ip`'s address (see [`address_key`]).
    pub fn from_address(&self, ip: IpAddr) -> usize {
        self.lock().book.from_address(ip)
    }
}

/// One admitted connection's place; dropping it gives the place back.
#[derive(Debug)]
pub struct Ticket {
    admission: Admission,
    id: u64,
    remote: SocketAddr,
    token: CancellationToken,
    established: bool,
}

impl Ticket {
    /// Unique among the connections of one [`Admission`], never reused.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Cancelled when the connection is evicted or its parent token (shutdown) is: the
    /// connection's task must end promptly then.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn is_authenticated(&self) -> bool {
        self.established
    }

    /// The connection finished its handshake (and hello): it leaves the unauthenticated
    /// budget for an established place, and can no longer be evicted. Refused with
    /// [`Refusal::Full`] when no established place is free, or [`Refusal::Evicted`].
    /// Idempotent once it succeeded.
    pub fn authenticated(&mut self) -> Result<(), Refusal> {
        if self.established {
            return Ok(());
        }
        let mut shared = self.admission.lock();
        shared.book.authenticate(self.id)?;
        shared.tokens.remove(&self.id);
        self.established = true;
        Ok(())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut shared = self.admission.lock();
        shared
            .book
            .release(self.id, self.remote.ip(), self.established);
        shared.tokens.remove(&self.id);
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
