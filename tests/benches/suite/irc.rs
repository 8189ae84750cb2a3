//! The peer to beat: a stock IRC server, ngIRCd, on loopback, driven the way the headless
//! peers are (`script`): the bench writes a `PRIVMSG` line to one client's socket and times
//! the line the receiving clients read. A private message crosses two hops (A → server →
//! B); a channel message is one write fanned out by the server. Skipped, with one line
//! saying so, when `ngircd` is not installed.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::report::{Measure, Report, Row};
use crate::script::{Inbox, Line, last_arrival, write_line};
use crate::stats::WAIT;
use crate::stats::sampled_trips;
use crate::util::{self, Tail};

/// Clients connected; all of them join the channel.
const CHANNEL_SIZE: usize = 30;
const CHANNEL: &str = "#bench";
/// Untimed trips before each measurement.
const WARM_UP: usize = 50;
const PRIVATE_TRIPS: usize = 2_000;
const CHANNEL_TRIPS: usize = 500;

pub async fn run(report: &mut Report) {
    let Some(ngircd) = find_ngircd() else {
        eprintln!("  ngircd not installed (apt-get install ngircd): irc section skipped");
        return;
    };
    let dir = util::temp();
    let server = Server::start(&ngircd, dir.path()).await;
    let mut inbox = Inbox::new();
    let mut clients: Vec<TcpStream> = (0..CHANNEL_SIZE)
        .map(|i| connect(server.addr, &nick(i), i, &inbox))
        .collect();
    let everyone: Vec<usize> = (0..CHANNEL_SIZE).collect();
    inbox
        .wait_each("registration (001)", &everyone, |l| numeric(l, "001"))
        .await;

    // A private message: c00 → server → c01.
    let to = nick(1);
    let stats = sampled_trips(WARM_UP, PRIVATE_TRIPS, async |i| {
        let text = format!("private {i}");
        let t0 = write_line(&mut clients[0], &format!("PRIVMSG {to} :{text}\r\n"));
        let line = inbox
            .wait_one(&format!("{to} to read {text:?}"), 1, |l| is_text(l, &text))
            .await;
        line.at.duration_since(t0)
    })
    .await;
    report.add(Row::new(
        "irc",
        "private",
        "IRC private (ngIRCd; A → server → B)",
        Measure::Latency(stats),
    ));

    // A channel of 30: c00 writes once, the server sends it to the 29 others.
    for client in &mut clients {
        write_line(client, &format!("JOIN {CHANNEL}\r\n"));
    }
    // 366: the end of the names list, the last line of a join's answer.
    inbox
        .wait_each("every client in the channel", &everyone, |l| {
            numeric(l, "366")
        })
        .await;
    let others: Vec<usize> = (1..CHANNEL_SIZE).collect();
    let stats = sampled_trips(WARM_UP, CHANNEL_TRIPS, async |i| {
        let text = format!("channel {i}");
        let t0 = write_line(&mut clients[0], &format!("PRIVMSG {CHANNEL} :{text}\r\n"));
        let lines = inbox
            .wait_each(&format!("the channel to read {text:?}"), &others, |l| {
                is_text(l, &text)
            })
            .await;
        last_arrival(lines.values(), t0)
    })
    .await;
    report.add(Row::new(
        "irc",
        "channel_30",
        "IRC channel of 30 (last of 29 received)",
        Measure::Latency(stats),
    ));
    drop(server);
}

/// A running `ngircd -n` (foreground), killed when dropped.
struct Server {
    _child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(ngircd: &Path, dir: &Path) -> Server {
        // A free port: the kernel picks one, we let it go, ngIRCd binds it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        std::fs::create_dir_all(dir.join("conf.d")).expect("ngircd include dir");
        let conf = dir.join("ngircd.conf");
        std::fs::write(&conf, config(dir, port)).expect("write ngircd.conf");
        let mut child = Command::new(ngircd)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ngircd");
        let tail = Tail::default();
        util::spawn_stderr_tail(child.stdout.take().unwrap(), tail.clone());
        util::spawn_stderr_tail(child.stderr.take().unwrap(), tail.clone());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("ngircd exited ({status}):\n{}", tail.text());
            }
            assert!(
                Instant::now() < deadline,
                "ngircd did not listen on {addr}:\n{}",
                tail.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Server {
            _child: child,
            addr,
        }
    }
}

/// The server's configuration (see `man ngircd.conf`): loopback only, no look-ups, and
/// flood control as low as ngIRCd goes.
fn config(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    // `MaxPenaltyTime = 0` caps every penalty below 10 s at nothing: commands no longer
    // put a connection to sleep, nor does ngIRCd's throttle when a client sends more than
    // 3 commands in one pass of its loop (only the 10 s penalty after a wrong password
    // stays, never met here). Those 3 commands a pass per client remain (not
    // configurable), so a client's backlog takes more passes, never a pause; each trip
    // here sends one command. DNS, IDENT and PAM off: nothing to look up at connect.
    // No connection limits (30 clients from one address); pings once an hour, so no PING
    // crosses a measurement; no MOTD file; an empty include dir, so the system's
    // `/etc/ngircd/conf.d` snippets are not read.
    format!(
        "[Global]
Name = bench.natter.invalid
Info = natter benchmark
AdminInfo1 = natter benchmark
AdminInfo2 = loopback only
AdminEMail = bench@localhost
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = bench

[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxPenaltyTime = 0
PingTimeout = 3600
PongTimeout = 3600

[Options]
DNS = no
Ident = no
PAM = no
IncludeDir = {dir}/conf.d
"
    )
}

/// `ngircd` on PATH, or where Debian installs it (`/usr/sbin` is not on every user's PATH).
fn find_ngircd() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("ngircd"))
        .find(|p| p.is_file())
}

fn nick(i: usize) -> String {
    format!("c{i:02}")
}

/// A registered-to-be client: connects, is read by the inbox as `source`, says who it is.
fn connect(addr: SocketAddr, nick: &str, source: usize, inbox: &Inbox) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect to ngircd");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    inbox.read_from(source, stream.try_clone().expect("clone the socket"));
    write_line(
        &mut stream,
        &format!("NICK {nick}\r\nUSER {nick} 0 * :natter bench\r\n"),
    );
    stream
}

/// True for the server's numeric reply `code` (`:server CODE nick ...`).
fn numeric(line: &Line, code: &str) -> bool {
    line.text.split(' ').nth(1) == Some(code)
}

/// True when `line` is the `PRIVMSG` carrying `expected`; panics on any other `PRIVMSG`
/// (a lost, duplicated or reordered message).
fn is_text(line: &Line, expected: &str) -> bool {
    let Some((_, rest)) = line.text.split_once(" PRIVMSG ") else {
        return false;
    };
    let text = rest.split_once(" :").map_or("", |(_, text)| text);
    assert_eq!(
        text, expected,
        "client {} read {:?}: lost, duplicated or reordered",
        line.source, line.text
    );
    true
}
