//! The node's shell: one task around the [`Core`]. It feeds the core what arrives (front
//! end commands, tracker reports, connection reports, the writer's results) with the
//! time, sleeps until the core's next deadline, and carries out the core's outputs:
//! events to the front end, frames to the tracker link and to connection tasks, new
//! connections, and files to the writer. It decides nothing.

use std::collections::HashMap;
use std::time::Duration;

use natter_protocol::GroupName;
use natter_protocol::tracker::PeerToTracker;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::api::{Command, Notice, Request};
use super::connection::{self, ConnHandle, Local, Outgoing, Report};
use super::core::{ConnEvent, ConnId, Core, Input, Now, Output, TrackerInput};
use super::data_files::{Saved, Writer};
use super::store::{Reply, StoreThread};

/// How long shutdown waits for connection tasks and the writer.
const DRAIN: Duration = Duration::from_secs(2);
/// Inputs taken in one go before the outputs are carried out (fewer wake-ups per message
/// under load, without starving any input).
const BATCH: usize = 64;

/// The channels the shell reads.
pub struct Inputs {
    pub commands: mpsc::Receiver<Request>,
    /// False once the front end has gone (its going was taken as a `/quit`).
    pub commands_open: bool,
    pub tracker: mpsc::Receiver<TrackerInput>,
    pub conns: mpsc::Receiver<Report>,
    pub saved: mpsc::UnboundedReceiver<Saved>,
    pub stored: mpsc::UnboundedReceiver<Reply>,
}

/// Where the shell's outputs go.
pub struct Wiring {
    pub events: mpsc::Sender<Notice>,
    pub to_tracker: mpsc::Sender<PeerToTracker>,
    pub groups: watch::Sender<Vec<GroupName>>,
    /// Dialled connections report here (accepted ones get it from the listener).
    pub conn_reports: mpsc::Sender<Report>,
    pub local: Local,
    pub writer: Writer,
    pub store: StoreThread,
    /// Held until the node stops: one process per data directory.
    pub lock: super::store::DirLock,
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The clock, read once per input.
pub fn now() -> Now {
    Now {
        at: std::time::Instant::now(),
        unix_micros: unix_micros(),
    }
}

/// What arrived.
// Nearly every value is the large variant (a frame); boxing it would cost an allocation
// per frame for nothing.
#[allow(clippy::large_enum_variant)]
enum Arrived {
    Input(Input),
    Opened(ConnId, ConnHandle),
    Deadline,
    /// Every input is closed: nothing more can happen.
    Nothing,
}

struct Shell {
    core: Core,
    wiring: Wiring,
    conns: HashMap<ConnId, ConnHandle>,
}

/// Runs the node until `/quit` has finished (or every input is gone).
pub async fn run(core: Core, mut inputs: Inputs, wiring: Wiring) {
    let mut shell = Shell {
        core,
        wiring,
        conns: HashMap::new(),
    };
    loop {
        shell.carry_out().await;
        if shell.core.is_finished() {
            break;
        }
        let deadline = shell.core.poll_timeout();
        match next(&mut inputs, deadline).await {
            Arrived::Nothing => break,
            arrived => shell.take(arrived),
        }
        // Whatever else is already waiting goes in before the outputs are carried out.
        for _ in 1..BATCH {
            match ready(&mut inputs) {
                Some(arrived) => shell.take(arrived),
                None => break,
            }
        }
    }
    // Frames already read (messages our peers wait to have acknowledged) are decided
    // before going.
    inputs.conns.close();
    while let Ok(report) = inputs.conns.try_recv() {
        shell.take(from_conn(report));
    }
    shell.carry_out().await;
    let Shell { wiring, conns, .. } = shell;
    for (_, handle) in conns {
        let _ = handle.queue.try_send(Outgoing::Close(None));
    }
    wiring.cancel.cancel();
    wiring.tasks.close();
    let _ = tokio::time::timeout(DRAIN, wiring.tasks.wait()).await;
    wiring.writer.finish(DRAIN).await;
    wiring.store.finish(DRAIN).await;
    // Only now may another natter open the data directory.
    drop(wiring.lock);
}

fn from_conn(report: Report) -> Arrived {
    match report {
        Report::Opened { conn, handle } => Arrived::Opened(conn, handle),
        Report::Event { conn, event } => Arrived::Input(Input::Conn { conn, event }),
    }
}

fn from_command(request: Option<Request>, open: &mut bool) -> Arrived {
    // The front end went away: that is a /quit (and the closed channel is read no more).
    let request = request.unwrap_or_else(|| {
        *open = false;
        Request {
            req: None,
            command: Command::Quit,
        }
    });
    Arrived::Input(Input::Request(request))
}

async fn next(inputs: &mut Inputs, deadline: Option<std::time::Instant>) -> Arrived {
    let sleep = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        request = inputs.commands.recv(), if inputs.commands_open => {
            from_command(request, &mut inputs.commands_open)
        }
        Some(report) = inputs.tracker.recv() => Arrived::Input(Input::Tracker(report)),
        Some(report) = inputs.conns.recv() => from_conn(report),
        Some((file, result)) = inputs.saved.recv() => Arrived::Input(Input::Saved { file, result }),
        Some(reply) = inputs.stored.recv() => Arrived::Input(Input::Stored(reply)),
        () = sleep => Arrived::Deadline,
        else => Arrived::Nothing,
    }
}

/// An input that is already waiting, if any.
fn ready(inputs: &mut Inputs) -> Option<Arrived> {
    if let Ok(report) = inputs.conns.try_recv() {
        return Some(from_conn(report));
    }
    if let Ok(report) = inputs.tracker.try_recv() {
        return Some(Arrived::Input(Input::Tracker(report)));
    }
    if let Ok(reply) = inputs.stored.try_recv() {
        return Some(Arrived::Input(Input::Stored(reply)));
    }
    if inputs.commands_open
        && let Ok(request) = inputs.commands.try_recv()
    {
        return Some(from_command(Some(request), &mut inputs.commands_open));
    }
    None
}

impl Shell {
    fn take(&mut self, arrived: Arrived) {
        let now = now();
        match arrived {
            Arrived::Input(input) => self.core.handle(now, input),
            Arrived::Opened(conn, handle) => {
                self.conns.insert(conn, handle);
                let event = ConnEvent::Accepted;
                self.core.handle(now, Input::Conn { conn, event });
            }
            Arrived::Deadline => self.core.handle_timeout(now),
            Arrived::Nothing => {}
        }
    }

    async fn carry_out(&mut self) {
        // The store's jobs go together at the end: writes alone may commit at once.
        let mut jobs = Vec::new();
        let mut sent = false;
        while let Some(output) = self.core.poll_output() {
            match output {
                // A front end that went away does not stop the node.
                Output::Notice(notice) => {
                    let _ = self.wiring.events.send(notice).await;
                }
                Output::Tracker(request) => {
                    if let Err(e) = self.wiring.to_tracker.try_send(request) {
                        let (request, reason) = match e {
                            mpsc::error::TrySendError::Full(r) => (r, "the tracker link is busy"),
                            mpsc::error::TrySendError::Closed(r) => (r, "the tracker link is gone"),
                        };
                        let reason = reason.to_owned();
                        let input = Input::Tracker(TrackerInput::Unsent { request, reason });
                        self.core.handle(now(), input);
                    }
                }
                Output::Groups(groups) => {
                    self.wiring.groups.send_replace(groups);
                }
                Output::Dial { conn, addr, expect } => {
                    let local = self.wiring.local.clone();
                    let reports = self.wiring.conn_reports.clone();
                    let cancel = self.wiring.cancel.child_token();
                    let (handle, task) =
                        connection::dial(conn, addr, expect, local, reports, cancel);
                    self.wiring.tasks.spawn(task);
                    self.conns.insert(conn, handle);
                }
                Output::Accept { conn } => self.queue(conn, Outgoing::Accept),
                Output::Send { conn, frame } => {
                    self.queue(conn, Outgoing::Frame(frame));
                    sent = true;
                }
                Output::Close { conn, parting } => {
                    if let Some(handle) = self.conns.remove(&conn)
                        && handle.queue.try_send(Outgoing::Close(parting)).is_err()
                    {
                        handle.cancel.cancel();
                    }
                }
                Output::Save(save) => self.wiring.writer.submit(save),
                Output::Store(job) => jobs.push(job),
            }
        }
        if !jobs.is_empty() {
            if sent {
                // The connections first (on this one-thread runtime they run now; on
                // another, likely): a message leaves before our write of it, which may
                // commit on this thread, rather than after.
                tokio::task::yield_now().await;
            }
            self.wiring.store.run_or_submit(jobs);
        }
    }

    /// Queues on a connection; a peer whose queue is full is dropped, never waited on.
    fn queue(&mut self, conn: ConnId, item: Outgoing) {
        let Some(handle) = self.conns.get(&conn) else {
            return;
        };
        match handle.queue.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if let Some(handle) = self.conns.remove(&conn) {
                    handle.cancel.cancel();
                }
                let reason = "the peer is too slow (its queue is full)".to_owned();
                let event = ConnEvent::Ended {
                    reason,
                    parting: None,
                };
                self.core.handle(now(), Input::Conn { conn, event });
            }
            // The task ended; its report is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.conns.remove(&conn);
            }
        }
    }
}
