//! The TUI's state and its one update function: actions in, effects out, no I/O.
//!
//! Keys, pasted text, node events and the clock all arrive as [`Action`]s; what the outside
//! world must do (send a command, ring the bell, quit) leaves as [`Effect`]s, so every
//! behaviour here is tested without a terminal or a node.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;

use natter_protocol::peer::MessageId;
use natter_protocol::tracker::MemberChange;
use natter_protocol::{GroupName, Name, RequestId};

use super::UiInfo;
use super::conversation::{ConvId, Conversation, Line, LineKind, Own};
use super::doctor::DoctorView;
use super::help::welcome;
use super::input::{EditOp, Editor};
use super::memo::RowMemo;
use super::message::{Extra, Quote};
use super::ui;
use crate::command::{self, Input};
use crate::invite::Invite;
use crate::node::api::DeliveryState;
use crate::node::members::apply_change;
use crate::node::{About, Command, Event, Notice, Request, Target, TrackerStatus};

#[path = "activity.rs"]
mod activity;
#[path = "alerts.rs"]
mod alerts;
#[path = "changes.rs"]
mod changes;
#[path = "found.rs"]
pub mod found;
#[path = "help_popup.rs"]
pub mod help_popup;
#[path = "history.rs"]
mod history;
#[path = "select.rs"]
pub mod select;

use select::{Compose, Mode};

/// Own messages whose delivery mark still waits for news, at most, kept with their
/// conversation (beyond that, news finds its message by a search of every conversation).
const MAX_PENDING: usize = 10_000;

/// Something that happened: a key, a paste, a node event, the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Edit(EditOp),
    Submit,
    /// Up: input history, or selecting a message (see `select.rs`).
    Up,
    /// Down: input history, or the next message.
    Down,
    /// Esc: leaves selection, a question, the picker, a reply or an edit.
    Escape,
    /// The terminal gained (true) or lost focus.
    Focus(bool),
    NextConv,
    PrevConv,
    /// Select the conversation at this index (Alt-1 is 0).
    SelectConv(usize),
    PageUp,
    PageDown,
    /// Home: start of the input, or the oldest message when the input is empty.
    Home,
    /// End: end of the input, or the newest message when the input is empty.
    End,
    ScrollTop,
    ScrollBottom,
    ToggleMembers,
    /// Repaint the whole screen (Ctrl-L).
    Redraw,
    Quit,
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// The clock, in Unix milliseconds.
    Tick(u64),
    Node(Event),
    /// A node event caused by one of our requests.
    Notice(Notice),
    /// The node's event stream ended.
    NodeGone,
    /// A command could not be queued to the node.
    CommandFailed(String),
    /// Go to the first conversation of the hotlist (Alt-A).
    NextActive,
    /// Ctrl-X Ctrl-E: write the input in an external editor.
    OpenEditor,
    /// The editor closed: the text it saved, or why there is none.
    EditorDone(Result<String, String>),
}

impl Action {
    /// Time, news, resizing and quitting: what goes on whatever view or mode is open (a
    /// popup or a selection takes only the keys).
    pub(super) fn goes_on_under_views(&self) -> bool {
        matches!(
            self,
            Action::Tick(_)
                | Action::Node(_)
                | Action::Notice(_)
                | Action::NodeGone
                | Action::Resize(..)
                | Action::Focus(_)
                | Action::CommandFailed(_)
                | Action::Redraw
                | Action::Quit
        )
    }
}

/// What the shell around the app must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A command for the node; its events will carry `req`.
    Node(Request),
    /// Ring the terminal bell once.
    Bell,
    /// Clear and repaint the terminal.
    Redraw,
    Quit,
    /// Show a desktop notification (the terminal does not have focus); how is the shell's
    /// choice (`notify::delivery`).
    Notify(super::notify::Note),
    /// Put this text on the clipboard (OSC 52).
    Clipboard(String),
    /// Hand the terminal to `$VISUAL`/`$EDITOR` on this text; `EditorDone` follows.
    OpenEditor(String),
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
pub struct App {
    pub name: Name,
    /// The address the node bound (`0.0.0.0:PORT` for every interface).
    pub listen: Option<SocketAddr>,
    /// This machine as others name it, for showing where peers reach `listen`.
    pub host: String,
    pub tracker_addr: String,
    /// The tracker link's state and since when (Unix ms); `None` until the first report.
    pub tracker: Option<(TrackerStatus, u64)>,
    pub convs: Vec<Conversation>,
    pub selected: usize,
    pub input: Editor,
    pub show_members: bool,
    /// Unix milliseconds, from the last tick.
    pub now: u64,
    /// Terminal size (columns, rows), for page scrolling.
    pub size: (u16, u16),
    /// Which conversation each of our messages still waiting for news is in.
    pending: HashMap<MessageId, ConvId>,
    /// Conversations opened since the last update, whose history is still to be asked for.
    opened: Vec<ConvId>,
    /// Our requests for the history of a conversation that just opened.
    loading: HashSet<RequestId>,
    /// Groups whose member list the user asked for with /members.
    asked_members: HashSet<GroupName>,
    /// Groups the user asked to join; each opens (and is selected) when its member list
    /// comes.
    joining: HashSet<GroupName>,
    /// The id of our last request to the node.
    last_req: RequestId,
    /// The selected conversation's lines as the message view last laid them out.
    pub(super) rows: RowMemo,
    /// What the keys do now: typing, or acting on a selected message.
    pub mode: Mode,
    /// What the input line is being written for: a reply or an edit.
    pub compose: Option<Compose>,
    /// Who is typing where, and until when (Unix ms).
    typing: HashMap<ConvId, Vec<(Name, u64)>>,
    /// Our last typing notice: where and when.
    typing_sent: Option<(ConvId, u64)>,
    /// Whether the terminal has focus (assumed until it says otherwise).
    pub focused: bool,
    /// Our latest typing and read requests, whose errors are not shown.
    quiet: VecDeque<RequestId>,
    /// What `/search` or `/mentions` found, while its view is open.
    pub found: Option<found::FoundView>,
    /// A jump from that view to a message whose history is still coming.
    jump: Option<found::Jump>,
    /// How messages that want attention are signalled (`--notify`).
    pub notify: super::notify::NotifyMode,
    /// The invite to our tracker, when its key is known.
    pub invite: Option<Invite>,
    /// What `/invite-link` put on the invite band (until the next command or Esc).
    pub invite_shown: Option<Invite>,
    /// The `/help` popup, while it is open.
    pub help: Option<help_popup::HelpPopup>,
    /// The `/doctor` popup, while it is open.
    pub doctor: Option<DoctorView>,
}

impl App {
    pub fn new(info: &UiInfo, now: u64) -> Self {
        let mut status = Conversation::new(ConvId::Status);
        for line in welcome(info) {
            status.push(Line::system(None, line));
        }
        Self {
            name: info.name.clone(),
            listen: None,
            host: info.host.clone(),
            tracker_addr: info.tracker.clone(),
            tracker: None,
            convs: vec![status],
            selected: 0,
            input: Editor::default(),
            show_members: true,
            now,
            size: (80, 24),
            pending: HashMap::new(),
            opened: Vec::new(),
            loading: HashSet::new(),
            asked_members: HashSet::new(),
            joining: HashSet::new(),
            last_req: 0,
            rows: RowMemo::default(),
            mode: Mode::Normal,
            compose: None,
            typing: HashMap::new(),
            typing_sent: None,
            focused: true,
            quiet: VecDeque::new(),
            found: None,
            jump: None,
            notify: info.notify,
            invite: info.invite.clone(),
            invite_shown: None,
            help: None,
            doctor: None,
        }
    }

    /// A command for the node, with a fresh request id.
    fn request(&mut self, command: Command) -> (RequestId, Effect) {
        self.last_req += 1;
        let req = self.last_req;
        (
            req,
            Effect::Node(Request {
                req: Some(req),
                command,
            }),
        )
    }

    pub fn selected(&self) -> &Conversation {
        &self.convs[self.selected_index()]
    }

    fn selected_mut(&mut self) -> &mut Conversation {
        let i = self.selected_index();
        &mut self.convs[i]
    }

    fn selected_index(&self) -> usize {
        // `selected` is kept in range and the status conversation is never removed.
        self.selected.min(self.convs.len() - 1)
    }

    /// Distinct online members across all groups, without ourselves.
    pub fn reachable(&self) -> usize {
        let mut names = HashSet::new();
        for c in &self.convs {
            names.extend(c.online().filter(|n| *n != self.name.as_str()));
        }
        names.len()
    }

    /// Scrolls the selected conversation: `rows` up (negative: down), `None` to the top.
    fn scroll(&mut self, rows: Option<isize>) {
        let (width, height) = ui::message_view(self);
        let memo = &self.rows;
        let line_rows = |seq, line: &Line| ui::line_rows(memo, seq, line, width);
        let i = self.selected_index();
        let conv = &mut self.convs[i];
        match rows {
            None => conv.scroll_top(height, line_rows),
            Some(up) if up >= 0 => conv.scroll_up(up.unsigned_abs(), height, line_rows),
            Some(down) => conv.scroll_down(down.unsigned_abs(), line_rows),
        }
    }

    /// One page: the message view's height less one row kept for context.
    fn page(&self) -> isize {
        let (_, height) = ui::message_view(self);
        isize::try_from(height.saturating_sub(1).max(1)).unwrap_or(1)
    }

    /// Handles one action; conversations it opened ask for their history, and the one on
    /// screen is marked read when it has news.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        if self.doctor_closed(&action) {
            return Vec::new();
        }
        if action == Action::Escape {
            // Esc puts away the band `/invite-link` showed, whatever else it does.
            self.invite_shown = None;
        }
        let taken = self
            .in_help(&action)
            .or_else(|| self.in_found(&action))
            .or_else(|| self.in_mode(&action));
        let mut effects = match taken {
            Some(effects) => effects,
            None => self.handle(action),
        };
        effects.extend(self.load_history());
        self.finish_jump();
        effects.extend(self.read_marks());
        self.doctor_started(&effects);
        effects
    }

    /// Esc or Enter closes the `/doctor` popup (and does nothing else): Enter must not send
    /// what was typed behind it, unseen, to the conversation it hides (as in /help).
    fn doctor_closed(&mut self, action: &Action) -> bool {
        if self.doctor.is_some() && matches!(action, Action::Escape | Action::Submit) {
            self.doctor = None;
            return true;
        }
        false
    }

    /// A `/doctor` went to the node: the popup opens until its answer comes.
    fn doctor_started(&mut self, effects: &[Effect]) {
        let asked = effects.iter().any(|e| {
            matches!(
                e,
                Effect::Node(Request {
                    command: Command::Doctor,
                    ..
                })
            )
        });
        if asked {
            self.doctor = Some(DoctorView::Running);
        }
    }

    fn handle(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Edit(op) => {
                self.input.apply(op.clone());
                return self.typing_notice(&op).into_iter().collect();
            }
            Action::Submit => return self.submit(),
            // Taken by the mode (`select.rs`) unless a message is selected.
            Action::Up => self.input.apply(EditOp::LineUp),
            Action::Down => self.input.apply(EditOp::LineDown),
            Action::Escape => {}
            Action::Focus(focused) => self.on_focus(focused),
            Action::NextConv => self.select(self.selected + 1),
            Action::PrevConv => self.select(self.selected + self.convs.len() - 1),
            Action::SelectConv(i) if i < self.convs.len() => self.select(i),
            Action::SelectConv(_) => {}
            Action::PageUp => self.scroll(Some(self.page())),
            Action::PageDown => self.scroll(Some(-self.page())),
            Action::Home if self.input.is_empty() => self.scroll(None),
            Action::Home => self.input.apply(EditOp::Home),
            Action::End if self.input.is_empty() => self.selected_mut().scroll_bottom(),
            Action::End => self.input.apply(EditOp::End),
            Action::ScrollTop => self.scroll(None),
            Action::ScrollBottom => self.selected_mut().scroll_bottom(),
            Action::ToggleMembers => self.show_members = !self.show_members,
            Action::Redraw => return vec![Effect::Redraw],
            Action::Quit => return vec![self.request(Command::Quit).1, Effect::Quit],
            Action::Resize(w, h) => self.size = (w, h),
            Action::Tick(now) => {
                self.now = now;
                self.expire_typing();
            }
            Action::Node(event) => return self.on_event(None, event),
            Action::Notice(Notice { req, event }) => return self.on_event(req, event),
            // The node stopped (a signal, /quit from elsewhere, or a failure): nothing is
            // left to drive, so the UI goes too and gives the terminal back.
            Action::NodeGone => return vec![Effect::Quit],
            Action::CommandFailed(why) => self.push_selected(Line::error(Some(self.now), why)),
            Action::NextActive => {
                if let Some(&i) = super::hotlist::hotlist(self).first() {
                    self.select(i);
                }
            }
            Action::OpenEditor => return vec![Effect::OpenEditor(self.input.text().to_owned())],
            Action::EditorDone(Ok(text)) => self.input.replace(&text),
            Action::EditorDone(Err(why)) => self.push_selected(Line::error(Some(self.now), why)),
        }
        Vec::new()
    }

    /// Selects conversation `i` (wrapping), clearing its unread count and mention mark.
    fn select(&mut self, i: usize) {
        let i = i % self.convs.len();
        if i != self.selected {
            self.mode = Mode::Normal;
        }
        self.selected = i;
        let c = self.selected_mut();
        c.unread = 0;
        c.mention = false;
    }

    fn find(&self, id: &ConvId) -> Option<usize> {
        self.convs.iter().position(|c| &c.id == id)
    }

    /// The index of conversation `id`, opened at the end of the sidebar if new (then its
    /// history is asked for).
    fn open(&mut self, id: ConvId) -> usize {
        match self.find(&id) {
            Some(i) => i,
            None => {
                if id != ConvId::Status {
                    self.opened.push(id.clone());
                }
                self.convs.push(Conversation::new(id));
                self.convs.len() - 1
            }
        }
    }

    fn push_selected(&mut self, line: Line) {
        self.selected_mut().push(line);
    }

    /// `/invite-link`: the invite (with the selected group, if one is) on the band at the
    /// top of the screen and on the clipboard.
    fn invite_link(&mut self) -> Vec<Effect> {
        let now = Some(self.now);
        let Some(mut invite) = self.invite.clone() else {
            let why = "no invite: the tracker's key is not known here (host the tracker, or \
                       start with --tracker-key KEY or --join INVITE)";
            self.push_selected(Line::system(now, why.to_owned()));
            return Vec::new();
        };
        invite.group = match &self.selected().id {
            ConvId::Group(g) => Some(g.clone()),
            _ => None,
        };
        let line = invite.to_string();
        self.invite_shown = Some(invite);
        self.push_selected(Line::system(
            now,
            "copied the invite to the clipboard; it is also at the top of the screen".to_owned(),
        ));
        vec![Effect::Clipboard(line)]
    }

    /// Adds a line to conversation `id` (opened if new). A line for the status window
    /// while another conversation is selected counts as unread there.
    fn push_to(&mut self, id: ConvId, line: Line) {
        let i = self.open(id);
        let c = &mut self.convs[i];
        c.push(line);
        if i != self.selected && c.id == ConvId::Status {
            c.unread = c.unread.saturating_add(1);
        }
    }

    fn submit(&mut self) -> Vec<Effect> {
        let line = self.input.submit();
        if line.trim().is_empty() {
            return Vec::new();
        }
        let now = Some(self.now);
        self.invite_shown = None;
        match command::parse(&line) {
            Ok(Input::InviteLink) => self.invite_link(),
            Ok(Input::Text(text)) => {
                // The next keystroke tells the others at once that we type again.
                self.typing_sent = None;
                match self.compose.take() {
                    Some(compose) => self.send_composed(compose, text),
                    None => self.send_text(text),
                }
            }
            Ok(Input::Help) => {
                self.open_help();
                Vec::new()
            }
            Ok(Input::Clear) => {
                self.selected_mut().clear();
                Vec::new()
            }
            Ok(Input::Query(name)) => {
                let i = self.open(ConvId::Peer(name.to_string()));
                self.select(i);
                Vec::new()
            }
            Ok(Input::Node(Command::Quit)) => vec![self.request(Command::Quit).1, Effect::Quit],
            Ok(Input::Node(cmd)) => {
                match &cmd {
                    Command::Join(g) => {
                        // The conversation opens when the node confirms with the list.
                        self.joining.insert(g.clone());
                        self.push_selected(Line::system(now, format!("joining {g}…")));
                    }
                    Command::Members(g) => {
                        self.asked_members.insert(g.clone());
                    }
                    _ => {}
                }
                vec![self.request(cmd).1]
            }
            Err(e) => {
                self.push_selected(Line::error(now, e.to_string()));
                Vec::new()
            }
        }
    }

    /// Plain text: a message to the selected conversation.
    fn send_text(&mut self, text: String) -> Vec<Effect> {
        if self.selected().id == ConvId::Status {
            let hint = "this is natter's status window: /join #room to join a group, \
                        /msg NAME text to message someone, /help for more";
            self.push_selected(Line::error(Some(self.now), hint));
            return Vec::new();
        }
        let Some(target) = target_of(&self.selected().id) else {
            return Vec::new();
        };
        // Shown at once, marked when the node announces it (or refuses it).
        let (req, effect) = self.request(Command::Send {
            target,
            text: text.clone(),
        });
        let group = matches!(self.selected().id, ConvId::Group(_));
        let kind = LineKind::Message {
            from: self.name.to_string(),
            id: None,
            own: Some(Own::new(Some(req), group)),
            verified: true,
            extra: Extra::default(),
        };
        self.push_selected(Line::new(Some(self.now), kind, text));
        vec![effect]
    }

    fn on_event(&mut self, req: Option<RequestId>, event: Event) -> Vec<Effect> {
        let now = Some(self.now);
        match event {
            Event::Ready {
                name,
                listen,
                tracker,
                key,
                ..
            } => {
                // Where peers reach us, not the bound `0.0.0.0:PORT`.
                let reached = crate::reach::reachable_addr(listen, &self.host);
                let line = format!(
                    "you are {name} (key {key}, fingerprint {}), reached at {reached}; tracker {tracker}",
                    key.fingerprint()
                );
                self.name = name;
                self.listen = Some(listen);
                self.tracker_addr = tracker;
                self.push_to(ConvId::Status, Line::system(now, line));
            }
            Event::Tracker { status, tracker } => {
                if self.tracker.map(|(s, _)| s) != Some(status) {
                    self.tracker = Some((status, self.now));
                    let line = match status {
                        TrackerStatus::Connected => format!("connected to the tracker {tracker}"),
                        TrackerStatus::Disconnected => format!(
                            "the tracker {tracker} is unreachable; retrying (chat with known members goes on)"
                        ),
                    };
                    self.push_to(ConvId::Status, Line::system(now, line));
                }
            }
            Event::Members {
                group,
                members,
                change,
                topic,
                private,
                by,
                ..
            } => {
                if let Some(by) = by {
                    let line = format!("{by} added you to {group}");
                    self.push_to(ConvId::Status, Line::system(Some(self.now), line));
                }
                self.on_members(group, members, change, (topic, private));
            }
            Event::Left {
                group,
                by,
                reason,
                disbanded,
            } => {
                if let Some(i) = self.find(&ConvId::Group(group.clone())) {
                    self.convs.remove(i);
                    if self.selected > i {
                        self.selected -= 1;
                    }
                    self.select(self.selected.min(self.convs.len() - 1));
                }
                let by = by.map(|n| format!(" by {n}")).unwrap_or_default();
                let line = match (disbanded, reason) {
                    (true, _) => format!("{group} was disbanded{by}"),
                    (false, Some(reason)) => format!("you were removed from {group}{by}: {reason}"),
                    (false, None) if !by.is_empty() => format!("you were removed from {group}{by}"),
                    (false, None) => format!("you left {group}"),
                };
                self.push_to(ConvId::Status, Line::system(now, line));
            }
            Event::Governed { .. } => {}
            Event::Invited { group, by } => {
                let line = format!("{by} invited you to {group}: /join {group} to accept");
                self.push_to(ConvId::Status, Line::system(now, line));
            }
            Event::Invites { invites } => {
                let line = if invites.is_empty() {
                    "no invites waiting".to_owned()
                } else {
                    let list: Vec<String> = invites
                        .iter()
                        .map(|i| format!("{} (from {})", i.group, i.by))
                        .collect();
                    format!("invites waiting: {} — /join to accept", list.join(", "))
                };
                self.push_selected(Line::system(now, line));
            }
            Event::Sending {
                id,
                to,
                group,
                text,
                sent_at,
                reply_to,
            } => {
                let in_group = group.is_some();
                let conv = match (group, to) {
                    (Some(g), _) => ConvId::Group(g),
                    (None, Some(to)) => ConvId::Peer(to),
                    (None, None) => ConvId::Status,
                };
                // The typed line is in the conversation it was typed in: this one, or an
                // address's, when the address turned out to be a member's (announced as
                // the member's).
                let typed_in = req.and_then(|req| {
                    let here = self.find(&conv);
                    if let Some(i) = here.filter(|&i| self.convs[i].announce(req, &id)) {
                        return Some(i);
                    }
                    (0..self.convs.len()).find(|&i| {
                        Some(i) != here
                            && matches!(&self.convs[i].id, ConvId::Peer(p) if p.parse::<SocketAddr>().is_ok())
                            && self.convs[i].announce(req, &id)
                    })
                });
                let tracked = typed_in.map_or_else(|| conv.clone(), |i| self.convs[i].id.clone());
                self.track(id.clone(), &tracked);
                if typed_in.is_none() {
                    // Sent by a command from elsewhere (or the typed line is gone).
                    let kind = LineKind::Message {
                        from: self.name.to_string(),
                        id: Some(id),
                        own: Some(Own::new(req, in_group)),
                        verified: true,
                        extra: reply_extra(reply_to),
                    };
                    let i = self.open(conv);
                    self.convs[i].push(Line::new(Some(sent_at), kind, text));
                    self.convs[i].quote_last();
                }
            }
            Event::Message {
                id,
                from,
                group,
                text,
                sent_at,
                verified,
                reply_to,
            } => {
                let kind = LineKind::Message {
                    from: from.to_string(),
                    id: Some(id),
                    own: None,
                    verified,
                    extra: reply_extra(reply_to),
                };
                return self.on_message(from, group, Line::new(Some(sent_at), kind, text));
            }
            Event::Sent {
                id,
                delivered,
                failed,
                pending,
            } => {
                let state = DeliveryState {
                    delivered,
                    pending,
                    failed,
                    read: Vec::new(),
                };
                self.on_sent(&id, state);
            }
            Event::Delivered { id, to } => self.on_delivered(&id, &to),
            Event::Failed { id, to, reason } => self.on_failed(&id, &to, &reason),
            Event::History { target, messages } => self.on_history(req, &target, messages),
            // Private conversations of earlier runs reopen (their history follows).
            Event::Conversations { peers } => {
                for peer in peers {
                    self.open(ConvId::Peer(peer.to_string()));
                }
            }
            Event::Groups { groups } => {
                let list: Vec<String> = groups.iter().map(ToString::to_string).collect();
                let line = if list.is_empty() {
                    "you are in no group; /join #room to join one".to_owned()
                } else {
                    format!("your groups: {}", list.join(", "))
                };
                self.push_selected(Line::system(now, line));
            }
            Event::Blocked { name, blocked } => {
                let line = if blocked {
                    format!(
                        "blocked {name}: nothing from their key reaches you (/unblock {name} to undo)"
                    )
                } else {
                    format!("unblocked {name}")
                };
                self.push_selected(Line::system(now, line));
            }
            Event::KeyChanged {
                name,
                pinned,
                presented,
            } => {
                let line = format!(
                    "{name}'s key changed: pinned {}, now {}; their messages are refused until /trust {name}",
                    pinned.fingerprint(),
                    presented.fingerprint()
                );
                self.push_to(ConvId::Status, Line::system(now, line));
                if let Some(i) = self.find(&ConvId::Status)
                    && i != self.selected
                {
                    self.convs[i].mention = true;
                }
                return vec![Effect::Bell];
            }
            Event::Trusted { name, key } => {
                let line = format!("now trusting {name}'s key {}", key.fingerprint());
                self.push_selected(Line::system(now, line));
            }
            Event::Edited { id, text, .. } => self.on_edited(&id, text),
            Event::Deleted { id, .. } => self.on_deleted(&id),
            Event::Reaction {
                id,
                from,
                emoji,
                on,
            } => self.on_reaction(&id, &from, &emoji, on),
            Event::Receipt {
                id,
                from,
                state,
                target,
            } => self.on_receipt(&id, &from, state, target),
            Event::Typing { from, target } => self.on_typing(from, &target),
            Event::Whois {
                name,
                key,
                online,
                last_seen,
                status,
                groups,
            } => self.on_whois(&name, &key, (online, last_seen), status, &groups),
            Event::Status { status } => self.on_status(status),
            Event::Setting { name, on } => self.on_setting(&name, on),
            Event::Error {
                code,
                message,
                about,
            } => {
                if !self.quiet_history_error(req, code) && !self.quiet_error(req) {
                    self.on_error(now, req, message, about);
                }
            }
            Event::Search {
                text,
                target,
                messages,
            } => {
                let place = target.map(|t| format!(" in {t}")).unwrap_or_default();
                let none = format!("no stored message has {text}{place}");
                self.on_found(format!("search {text}{place}"), messages, none);
            }
            Event::Mentions { messages } => {
                let none = "no unread mentions or private messages".to_owned();
                self.on_found(
                    "unread mentions and private messages".to_owned(),
                    messages,
                    none,
                );
            }
            Event::Doctor { checks } => self.doctor = Some(DoctorView::Done(checks)),
        }
        Vec::new()
    }

    /// Shows an error in the conversation it is about (the node says which), else in the
    /// selected one. A /join that failed opens no conversation; a typed line the node could
    /// not send is marked failed.
    fn on_error(
        &mut self,
        now: Option<u64>,
        req: Option<RequestId>,
        message: String,
        about: Option<About>,
    ) {
        let line = Line::error(now, message);
        let conv = about.as_ref().map(conv_of);
        if let Some(ConvId::Group(group)) = &conv {
            self.joining.remove(group);
        }
        // The typed line this error refuses, found by the request that sent it.
        if let Some(req) = req {
            let who = about.as_ref().map(ToString::to_string).unwrap_or_default();
            let at = conv.as_ref().and_then(|c| self.find(c));
            let refused = at.is_some_and(|i| self.convs[i].refuse(req, &who));
            if !refused {
                for c in &mut self.convs {
                    if c.refuse(req, &who) {
                        break;
                    }
                }
            }
        }
        match conv.as_ref().and_then(|c| self.find(c)) {
            Some(i) => self.convs[i].push(line),
            None => self.push_selected(line),
        }
    }

    /// A full list (`members`), or one `change` to the list this conversation holds.
    fn on_members(
        &mut self,
        group: GroupName,
        members: Option<Vec<natter_protocol::tracker::Member>>,
        change: Option<MemberChange>,
        (topic, private): (Option<String>, bool),
    ) {
        let now = Some(self.now);
        let asked = self.asked_members.remove(&group);
        let i = self.open(ConvId::Group(group.clone()));
        if self.joining.remove(&group) {
            self.select(i);
        }
        let own = self.name.clone();
        let conv = &mut self.convs[i];
        conv.topic = topic;
        conv.private = private;
        match (members, &change) {
            (Some(members), _) => conv.members = members.into(),
            (None, Some(change)) => {
                apply_change(&mut conv.members, change);
                // A tracker that does not say when: they were last seen now.
                if let MemberChange::Offline {
                    name,
                    last_seen: None,
                } = change
                {
                    conv.members
                        .edit_named(name, |m| m.last_seen = Some(self.now));
                }
            }
            (None, None) => {}
        }
        let line = match change {
            None if asked || !conv.joined => {
                let list: Vec<String> = conv
                    .members
                    .iter()
                    .map(|m| format!("{}{}", m.name, if m.online { "" } else { " (offline)" }))
                    .collect();
                let what = if conv.joined {
                    "members of"
                } else {
                    "you joined"
                };
                Some(format!("{what} {group}: {}", list.join(", ")))
            }
            None => None,
            Some(change) if governance_line(&change, &group).is_some() => {
                governance_line(&change, &group)
            }
            Some(change) if change.member_name() == Some(&own) => None,
            Some(MemberChange::Joined { member }) => {
                Some(format!("{} joined {group}", member.name))
            }
            Some(MemberChange::Left { name }) => Some(format!("{name} left {group}")),
            Some(MemberChange::Offline { name, .. }) => Some(format!("{name} went offline")),
            Some(MemberChange::Online { member }) => {
                Some(format!("{} is back online", member.name))
            }
            // A status line changed: the member list shows it, the conversation does not.
            Some(MemberChange::Updated { .. }) => None,
            Some(_) => None,
        };
        conv.joined = true;
        if let Some(line) = line {
            conv.push(Line::system(now, line));
        }
    }

    /// A message for us (`line`, from `from`): shown in its conversation, which rings when
    /// it is private or mentions us, and is marked read when it is on screen.
    fn on_message(&mut self, from: Name, group: Option<GroupName>, line: Line) -> Vec<Effect> {
        let private = group.is_none();
        let conv = match group {
            Some(g) => ConvId::Group(g),
            None => ConvId::Peer(from.to_string()),
        };
        let ring = private || mentions(&line.text, self.name.as_str());
        let note = ring.then(|| alerts::note_of(&from, &conv, &line.text));
        self.typing_done(&conv, &from);
        let i = self.open(conv);
        let verified = !matches!(
            line.kind,
            LineKind::Message {
                verified: false,
                ..
            }
        );
        let reply = matches!(&line.kind, LineKind::Message { extra, .. } if extra.reply.is_some());
        let c = &mut self.convs[i];
        c.push(line);
        c.unmarked = true;
        if reply {
            c.quote_last();
        }
        if !verified && !c.unverified_noted {
            c.unverified_noted = true;
            c.push(unverified_note(Some(self.now), from.as_str()));
        }
        if i != self.selected {
            c.unread = c.unread.saturating_add(1);
            c.mention |= ring;
        }
        note.map(|note| self.attention(note)).unwrap_or_default()
    }
}

/// A message's extra state as it arrives: the message it answers, if any.
fn reply_extra(reply_to: Option<MessageId>) -> Extra {
    Extra {
        reply: reply_to.map(|to| Box::new(Quote::unresolved(to))),
        ..Extra::default()
    }
}

/// Whether `text` mentions `name` as a whole word (`@name` too), ignoring case: the same
/// rule as `/mentions` in the store.
pub fn mentions(text: &str, name: &str) -> bool {
    crate::node::store::mentions(text, name)
}

/// What a conversation's messages go to; `None` for the status window.
fn target_of(conv: &ConvId) -> Option<Target> {
    match conv {
        ConvId::Group(g) => Some(Target::Group(g.clone())),
        ConvId::Peer(p) => match (p.parse::<Name>(), p.parse::<SocketAddr>()) {
            (Ok(name), _) => Some(Target::Peer(name)),
            (_, Ok(addr)) => Some(Target::Addr(addr)),
            _ => None,
        },
        ConvId::Status => None,
    }
}

/// The conversation an error or answer is about.
fn conv_of(about: &About) -> ConvId {
    match about {
        About::Group(group) => ConvId::Group(group.clone()),
        About::Peer(_) | About::Addr(_) => ConvId::Peer(about.to_string()),
        About::Message(_) => ConvId::Status,
    }
}

/// The system line for a governance change of `group`: who did what, when the node could
/// check who (a change the tracker made alone, or whose actor's signature did not check
/// out, names nobody).
fn governance_line(change: &MemberChange, group: &GroupName) -> Option<String> {
    let by = |by: &natter_protocol::tracker::ActedBy| {
        by.by
            .as_ref()
            .map(|n| format!(" by {n}"))
            .unwrap_or_default()
    };
    Some(match change {
        MemberChange::Added { member, by: b } => {
            format!("{} was added to {group}{}", member.name, by(b))
        }
        MemberChange::Kicked {
            name,
            reason,
            by: b,
        } => {
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            format!("{name} was removed from {group}{}{why}", by(b))
        }
        MemberChange::Role { name, role, by: b } => match role {
            natter_protocol::govern::Role::Owner => format!("{name} now owns {group}{}", by(b)),
            natter_protocol::govern::Role::Admin => {
                format!("{name} is now an admin of {group}{}", by(b))
            }
            natter_protocol::govern::Role::Member => {
                format!("{name} is no longer an admin of {group}{}", by(b))
            }
        },
        MemberChange::Topic {
            topic: Some(topic),
            by: b,
        } => format!("topic of {group}{}: {topic}", by(b)),
        MemberChange::Topic { topic: None, by: b } => format!("topic of {group} cleared{}", by(b)),
        MemberChange::Private { on: true, by: b } => format!("{group} is now invite-only{}", by(b)),
        MemberChange::Private { on: false, by: b } => {
            format!("{group} is now open to anyone{}", by(b))
        }
        _ => return None,
    })
}

/// Says what the mark of an unverified sender means (once per conversation).
fn unverified_note(at: Option<u64>, from: &str) -> Line {
    Line::system(
        at,
        format!(
            "<{from}?>: not verified: natter met this key while the tracker was unreachable, \
             so nothing confirms it is {from}'s; it checks once the tracker is back"
        ),
    )
}

#[cfg(test)]
#[path = "app_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "history_tests.rs"]
mod history_tests;

#[cfg(test)]
#[path = "select_tests.rs"]
mod select_tests;

#[cfg(test)]
#[path = "activity_tests.rs"]
mod activity_tests;

#[cfg(test)]
#[path = "found_tests.rs"]
pub(crate) mod found_tests;
