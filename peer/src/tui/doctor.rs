//! The `/doctor` view: a popup over the chat with one entry per check (✓ or ✗, what was
//! found, and for a failed check what to do), until Esc closes it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::node::api::Check;

/// What the view shows: the answer, or that one is on its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoctorView {
    /// `/doctor` was sent; its answer takes a few seconds.
    Running,
    Done(Vec<Check>),
}

/// The popup's lines.
pub fn lines(view: &DoctorView) -> Vec<TextLine<'static>> {
    let checks = match view {
        DoctorView::Running => {
            return vec![TextLine::from(
                "checking the tracker, your reachability, the clock, the members and the disk…",
            )];
        }
        DoctorView::Done(checks) => checks,
    };
    let failed = checks.iter().filter(|c| !c.ok).count();
    let mut out = vec![TextLine::from(match failed {
        0 => "all is well".to_owned(),
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    })];
    for c in checks {
        let (mark, colour) = if c.ok {
            ("✓", Color::Green)
        } else {
            ("✗", Color::Red)
        };
        out.push(TextLine::from(vec![
            Span::styled(format!("{mark} "), Style::new().fg(colour)),
            Span::styled(c.name.clone(), Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!(": {}", c.detail)),
        ]));
        if let Some(fix) = &c.fix {
            out.push(TextLine::from(vec![
                Span::raw("  "),
                Span::styled("fix: ", Style::new().fg(Color::Yellow)),
                Span::raw(fix.clone()),
            ]));
        }
    }
    out
}

/// Draws the popup over `area` (the screen): most of it, centred.
pub fn draw(frame: &mut Frame, area: Rect, view: &DoctorView) {
    let width = area.width.saturating_sub(4).clamp(area.width.min(20), 100);
    // Below the top row and above the status bar and the input (the last two rows).
    let height = area.height.saturating_sub(3);
    if width < 10 || height < 3 {
        return;
    }
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + 1,
        width,
        height,
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" /doctor — Esc or Enter closes ");
    let text = Paragraph::new(lines(view))
        .block(block)
        .wrap(Wrap { trim: false });
    frame.render_widget(Clear, popup);
    frame.render_widget(text, popup);
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::node::api::{Notice, Request};
    use crate::node::{Command, Event};
    use crate::tui::app::tests::info;
    use crate::tui::app::{Action, App, Effect};
    use crate::tui::input::EditOp;
    use crate::tui::ui;

    fn screen(app: &App, w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        terminal.draw(|f| ui::draw(f, app)).expect("draw");
        let buf = terminal.backend().buffer();
        let mut out = String::new();
        for y in 0..h {
            for x in 0..w {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    fn check(name: &str, ok: bool, detail: &str, fix: Option<&str>) -> Check {
        Check {
            name: name.into(),
            ok,
            detail: detail.into(),
            fix: fix.map(str::to_owned),
        }
    }

    #[test]
    fn doctor_opens_a_popup_with_each_check_and_esc_closes_it() {
        let mut app = App::new(&info(), 0);
        for c in "/doctor".chars() {
            app.update(Action::Edit(EditOp::Insert(c)));
        }
        let effects = app.update(Action::Submit);
        let req = effects
            .iter()
            .find_map(|e| match e {
                Effect::Node(Request {
                    req,
                    command: Command::Doctor,
                }) => Some(*req),
                _ => None,
            })
            .expect("a /doctor request");
        assert_eq!(app.doctor, Some(DoctorView::Running));
        assert!(screen(&app, 100, 24).contains("checking the tracker"));

        let checks = vec![
            check(
                "tracker",
                true,
                "connected to the tracker at 10.0.0.5:7700",
                None,
            ),
            check(
                "reachable",
                false,
                "the tracker sees you at 203.0.113.7:4000 but could not connect back",
                Some("open port 4000 (TCP) in your firewall"),
            ),
        ];
        app.update(Action::Notice(Notice {
            req,
            event: Event::Doctor { checks },
        }));
        let shown = screen(&app, 100, 24);
        for needle in [
            "/doctor — Esc or Enter closes",
            "1 problem",
            "✓ tracker: connected to the tracker at 10.0.0.5:7700",
            "✗ reachable: the tracker sees you at 203.0.113.7:4000",
            "fix: open port 4000 (TCP) in your firewall",
        ] {
            assert!(shown.contains(needle), "{needle:?} not in\n{shown}");
        }
        // The status bar and the input line stay in sight below it (its border covered
        // the status bar).
        let rows: Vec<&str> = shown.lines().collect();
        assert!(rows[22].contains("| tracker: "), "{shown}");
        assert!(!rows[22].contains('└'), "{shown}");
        // Enter with text typed behind it closes it and sends nothing: the text stays.
        for c in "hi".chars() {
            app.update(Action::Edit(EditOp::Insert(c)));
        }
        assert!(app.update(Action::Submit).is_empty());
        assert_eq!(app.doctor, None);
        assert_eq!(app.input.text(), "hi");
        app.doctor = Some(DoctorView::Running);
        // Esc closes it, and only that.
        assert!(app.update(Action::Escape).is_empty());
        assert_eq!(app.doctor, None);
        assert!(!screen(&app, 100, 24).contains("/doctor — Esc or Enter closes"));
    }
}
