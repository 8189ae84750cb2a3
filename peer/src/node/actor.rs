//! The node actor: the one task that owns a peer's state (member cache, outbox, link pool,
//! pinned and blocked keys, seen message ids) and turns commands, tracker pushes, link
//! reports and inbound messages into events.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_protocol::tracker::PeerToTracker;
use natter_protocol::{GroupName, Identity, Name, PublicKey};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::api::{Command, Event, Target, TrackerStatus};
use super::cache_file::{self, CacheFile};
use super::ids::IdGen;
use super::link::{LinkHandle, LinkReport};
use super::listener::Inbound;
use super::members::MemberCache;
use super::outbox::Outbox;
use super::tracker_link::TrackerReport;
use super::trust::Trust;

mod sending;
mod stores;
mod tracker;
mod trusting;
mod vetting;

pub use stores::Stores;

/// The longest message text we send (well inside the 1 MiB frame limit).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// How often, at most, `seen.json` is written (it changes with every message).
const SEEN_SAVE_EVERY: Duration = Duration::from_secs(1);
/// How often deadlines (acks, look-ups) are checked.
const TICK: Duration = Duration::from_millis(200);
/// How long `/quit` waits for messages still on their way, counted from the last
/// acknowledgement (so a long backlog that is still moving is not cut off).
const QUIT_GRACE: Duration = Duration::from_secs(3);
/// Commands held while the first tracker connection is attempted.
const MAX_DEFERRED: usize = 256;

/// The channels the actor reads.
pub struct Inputs {
    pub commands: mpsc::Receiver<Command>,
    pub tracker: mpsc::Receiver<TrackerReport>,
    pub links: mpsc::Receiver<LinkReport>,
    pub inbound: mpsc::Receiver<Inbound>,
}

/// A private message waiting for a tracker look-up of its recipient.
struct Lookup {
    text: String,
    deadline: Instant,
}

/// Everything the actor starts with.
pub struct Setup {
    pub name: Name,
    pub identity: Arc<Identity>,
    pub tracker_addr: String,
    pub listen: SocketAddr,
    pub ack_timeout: Duration,
    pub cache_save_every: Duration,
    pub cache_path: PathBuf,
    pub cache: MemberCache,
    pub stores: Stores,
    /// Problems found while loading files, shown once at start.
    pub warnings: Vec<String>,
    pub events: mpsc::Sender<Event>,
    pub to_tracker: mpsc::Sender<PeerToTracker>,
    pub groups: watch::Sender<Vec<GroupName>>,
    pub link_reports: mpsc::Sender<LinkReport>,
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
}

pub struct Actor {
    name: Name,
    identity: Arc<Identity>,
    tracker_addr: String,
    listen: SocketAddr,
    ack_timeout: Duration,
    cache_path: PathBuf,
    cache: MemberCache,
    trust: Trust,
    stores: Stores,
    /// Tracker keys already reported as a change (each is reported once).
    reported_tracker_keys: HashSet<PublicKey>,
    last_seen_save: Instant,
    warnings: Vec<String>,
    events: mpsc::Sender<Event>,
    to_tracker: mpsc::Sender<PeerToTracker>,
    groups: watch::Sender<Vec<GroupName>>,
    link_reports: mpsc::Sender<LinkReport>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    ids: IdGen,
    outbox: Outbox,
    links: HashMap<SocketAddr, LinkHandle>,
    next_generation: u64,
    lookups: HashMap<Name, Vec<Lookup>>,
    /// Links waiting for the tracker to vouch for the key behind a name.
    vets: HashMap<Name, vetting::VetWait>,
    /// `/trust NAME` requests waiting for a look-up, with their deadlines.
    trusts: HashMap<Name, Instant>,
    /// Files that could not be saved, each reported once until a save succeeds.
    unsaved: HashSet<PathBuf>,
    tracker_status: Option<TrackerStatus>,
    last_refusal: Option<String>,
    /// Commands that need the tracker, held until the first connection attempt settles
    /// (so a script may `/join` right after `ready`).
    deferred: Vec<Command>,
    /// Set by `/quit`: when to stop waiting for messages still on their way.
    quit_at: Option<Instant>,
    /// The member cache changed since it was last written.
    dirty: bool,
    cache_save_every: Duration,
    last_cache_save: Instant,
}

impl Actor {
    pub fn new(mut setup: Setup) -> Self {
        Self {
            ids: IdGen::new(setup.name.clone()),
            name: setup.name,
            identity: setup.identity,
            tracker_addr: setup.tracker_addr,
            listen: setup.listen,
            ack_timeout: setup.ack_timeout,
            cache_path: setup.cache_path,
            cache: setup.cache,
            trust: setup.stores.take_trust(),
            stores: setup.stores,
            reported_tracker_keys: HashSet::new(),
            last_seen_save: Instant::now(),
            warnings: setup.warnings,
            events: setup.events,
            to_tracker: setup.to_tracker,
            groups: setup.groups,
            link_reports: setup.link_reports,
            cancel: setup.cancel,
            tasks: setup.tasks,
            outbox: Outbox::default(),
            links: HashMap::new(),
            next_generation: 0,
            lookups: HashMap::new(),
            vets: HashMap::new(),
            trusts: HashMap::new(),
            unsaved: HashSet::new(),
            tracker_status: None,
            last_refusal: None,
            deferred: Vec::new(),
            quit_at: None,
            dirty: false,
            cache_save_every: setup.cache_save_every,
            last_cache_save: Instant::now(),
        }
    }

    pub async fn run(mut self, mut inputs: Inputs) {
        self.emit(Event::Ready {
            name: self.name.clone(),
            listen: self.listen,
            tracker: self.tracker_addr.clone(),
            key: self.identity.public_key(),
        })
        .await;
        for warning in std::mem::take(&mut self.warnings) {
            tracing::warn!("{warning}");
            self.emit(Event::error(warning)).await;
        }
        self.check_cached_keys().await;
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                cmd = inputs.commands.recv(), if self.quit_at.is_none() => match cmd {
                    Some(Command::Quit) | None => self.quit_at = Some(Instant::now() + QUIT_GRACE),
                    Some(cmd) => self.command(cmd).await,
                },
                Some(report) = inputs.tracker.recv() => self.tracker_report(report).await,
                Some(report) = inputs.links.recv() => self.link_report(report).await,
                Some(req) = inputs.inbound.recv() => self.inbound(req).await,
                _ = tick.tick() => self.expire().await,
            }
            if self.dirty && self.last_cache_save.elapsed() >= self.cache_save_every {
                self.save().await;
            }
            self.save_trust(false).await;
            let idle = self.outbox.is_empty() && self.lookups.is_empty();
            if self.quit_at.is_some_and(|t| idle || Instant::now() >= t) {
                break;
            }
        }
        // Settle whatever is still on its way, so every `sending` gets its `sent`.
        self.expire_all().await;
        self.save().await;
        self.cancel.cancel();
        // Every message a link is waiting to acknowledge is in this queue: decide (and
        // show) it before going.
        inputs.inbound.close();
        while let Ok(req) = inputs.inbound.try_recv() {
            self.inbound(req).await;
        }
        self.save_trust(true).await;
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.tasks.wait()).await;
    }

    async fn emit(&self, event: Event) {
        // A front end that went away does not stop the node.
        let _ = self.events.send(event).await;
    }

    async fn save(&mut self) {
        self.dirty = false;
        self.last_cache_save = Instant::now();
        let file = CacheFile {
            tracker: self.tracker_addr.clone(),
            groups: self.cache.groups().clone(),
        };
        let saved = cache_file::save(&self.cache_path, &file);
        let path = self.cache_path.clone();
        self.saved(&path, saved).await;
    }

    /// Reports a file that cannot be saved: logged every time, shown to the user once
    /// (again only after a save of it has succeeded).
    async fn saved(&mut self, path: &std::path::Path, result: std::io::Result<()>) {
        match result {
            Ok(()) => {
                self.unsaved.remove(path);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot save");
                if self.unsaved.insert(path.to_path_buf()) {
                    let message = format!(
                        "cannot save {}: {e} (changes are kept in memory only)",
                        path.display()
                    );
                    self.emit(Event::error(message)).await;
                }
            }
        }
    }

    fn groups_changed(&mut self) {
        self.dirty = true;
        self.groups.send_replace(self.cache.group_names());
    }

    fn tracker_up(&self) -> bool {
        self.tracker_status == Some(TrackerStatus::Connected)
    }

    async fn command(&mut self, cmd: Command) {
        if self.tracker_status.is_none() && self.needs_tracker(&cmd) {
            if self.deferred.len() < MAX_DEFERRED {
                self.deferred.push(cmd);
            } else {
                let message = "still connecting to the tracker; try again in a moment";
                self.emit(Event::error(message)).await;
            }
            return;
        }
        match cmd {
            Command::Join(group) => {
                if let Err(e) = self.ask_tracker(PeerToTracker::Join {
                    req: None,
                    group: group.clone(),
                }) {
                    let message = format!("{e}; cannot join {group} now");
                    self.emit(Event::error_about(&group, message)).await;
                }
            }
            Command::Leave(group) => {
                if !self.cache.contains(&group) {
                    let message = format!("you are not in {group}");
                    self.emit(Event::error_about(&group, message)).await;
                } else if let Err(e) = self.ask_tracker(PeerToTracker::Leave {
                    req: None,
                    group: group.clone(),
                }) {
                    let message = format!("{e}; cannot leave {group} now");
                    self.emit(Event::error_about(&group, message)).await;
                }
            }
            Command::Members(group) => {
                let event = match self.cache.get(&group) {
                    Some(list) => Event::Members {
                        group,
                        version: list.version,
                        members: list.members.clone(),
                        change: None,
                    },
                    None => Event::error_about(&group, format!("you are not in {group}")),
                };
                self.emit(event).await;
            }
            Command::Groups => {
                let groups = self.cache.group_names();
                self.emit(Event::Groups { groups }).await;
            }
            Command::Send { target, text } => self.send(target, text).await,
            Command::Block(name) => self.block(name).await,
            Command::Unblock(name) => self.unblock(name).await,
            Command::Trust(name) => self.trust_key(name).await,
            Command::Quit => {}
        }
    }

    fn needs_tracker(&self, cmd: &Command) -> bool {
        match cmd {
            Command::Join(_) | Command::Leave(_) => true,
            Command::Send {
                target: Target::Peer(name),
                ..
            } => !self.cache.find_peer(name).is_some_and(|m| m.online),
            _ => false,
        }
    }

    /// Queues a request to the tracker, if the link is up.
    fn ask_tracker(&self, request: PeerToTracker) -> Result<(), String> {
        if !self.tracker_up() {
            return Err(format!("tracker {} is not connected", self.tracker_addr));
        }
        self.to_tracker
            .try_send(request)
            .map_err(|_| format!("tracker {} is busy", self.tracker_addr))
    }
}
