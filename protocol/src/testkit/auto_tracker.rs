//! [`AutoTracker`]: a tracker that runs by itself in the background, for tests about
//! something else. It welcomes every peer, binds the peer's name to the key it connected
//! with (the latest connection wins, standing in for an operator rebinding a name), answers
//! look-ups from that directory and from names registered by hand, and answers pings. It
//! ignores joins, leaves and snapshots. For scripted tracker behaviour use
//! [`super::FakeTracker`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::secure;
use crate::tracker::{Member, PeerToTracker, TrackerToPeer};
use crate::{Identity, Name, PublicKey};

use super::HANDSHAKE;

type Directory = Arc<Mutex<HashMap<Name, Member>>>;

/// A background tracker; it stops when dropped.
pub struct AutoTracker {
    /// Where peers connect (`127.0.0.1:<port>`).
    pub addr: SocketAddr,
    /// The tracker's identity key.
    pub key: PublicKey,
    names: Directory,
    task: JoinHandle<()>,
}

/// The heartbeat every welcome announces.
pub const AUTO_HEARTBEAT_SECS: u64 = 30;

impl AutoTracker {
    /// Starts a tracker with a fresh identity on 127.0.0.1:0.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let identity = Arc::new(super::build::identity());
        let key = identity.public_key();
        let names: Directory = Arc::default();
        let dir = names.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, remote)) = listener.accept().await {
                tokio::spawn(serve(stream, remote, identity.clone(), dir.clone()));
            }
        });
        Self {
            addr,
            key,
            names,
            task,
        }
    }

    /// Binds `name` to `key` at `addr` (online), replacing any binding.
    pub fn register(&self, name: &str, key: PublicKey, addr: SocketAddr) {
        let member = super::build::member_at(name, key, addr, true);
        lock(&self.names).insert(member.name.clone(), member);
    }

    /// The member `name` is bound to now, if any.
    pub fn lookup(&self, name: &str) -> Option<Member> {
        lock(&self.names).get(&super::build::name(name)).cloned()
    }
}

impl Drop for AutoTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(names: &Directory) -> std::sync::MutexGuard<'_, HashMap<Name, Member>> {
    // A panic elsewhere in a test poisons nothing worth refusing: the map is still whole.
    names
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn serve(stream: TcpStream, remote: SocketAddr, identity: Arc<Identity>, dir: Directory) {
    let Ok((mut conn, key)) =
        secure::accept::<_, PeerToTracker, TrackerToPeer>(stream, &identity, HANDSHAKE).await
    else {
        return;
    };
    let Some(Ok(PeerToTracker::Hello {
        version,
        name,
        listen_port,
        ..
    })) = conn.next().await
    else {
        return;
    };
    let addr = SocketAddr::new(remote.ip(), listen_port);
    let member = Member {
        name: name.clone(),
        addr,
        online: true,
        key,
        last_seen: None,
        status: None,
        role: Default::default(),
    };
    lock(&dir).insert(name.clone(), member);
    let welcome = TrackerToPeer::Welcome {
        version,
        name,
        addr,
        heartbeat_secs: AUTO_HEARTBEAT_SECS,
    };
    if conn.send(welcome).await.is_err() {
        return;
    }
    while let Some(Ok(frame)) = conn.next().await {
        let answer = match frame {
            PeerToTracker::Lookup { name, req } => {
                let member = lock(&dir).get(&name).cloned();
                TrackerToPeer::LookupResult { req, name, member }
            }
            PeerToTracker::Ping { nonce } => TrackerToPeer::Pong { nonce },
            _ => continue,
        };
        if conn.send(answer).await.is_err() {
            return;
        }
    }
}
