//! Terminal set-up and restore: raw mode, alternate screen, bracketed paste, focus
//! reports (read marks go out only while the terminal has focus), cursor, and the keyboard
//! enhancement that tells Shift-Enter from Enter where the terminal has it. The terminal
//! is also handed over for a while (to `$EDITOR`) and taken back.
//!
//! [`Tui`] restores the terminal when dropped (quit and error paths), and a panic hook
//! restores it before the panic message prints, so the message is readable and the shell
//! usable afterwards.

use std::io::{self, Stdout, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, EnableBracketedPaste, EnableFocusChange,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Backend = CrosstermBackend<Stdout>;

/// The terminal, owned by the UI while it runs; restores it on drop.
pub struct Tui {
    pub terminal: Terminal<Backend>,
}

impl Tui {
    /// Takes over the terminal. On failure whatever was already switched is switched back.
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let entered = execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            EnableFocusChange
        )
        .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(mut terminal) => {
                enhance_keyboard();
                terminal.hide_cursor()?;
                terminal.clear()?;
                Ok(Self { terminal })
            }
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// Puts `text` on the clipboard through the terminal (OSC 52).
    pub fn clipboard(&mut self, text: &str) -> io::Result<()> {
        let mut out = io::stdout();
        out.write_all(super::invite_band::osc52(text).as_bytes())?;
        out.flush()
    }

    /// Rings the terminal bell.
    pub fn bell(&mut self) -> io::Result<()> {
        let mut out = io::stdout();
        out.write_all(b"\x07")?;
        out.flush()
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as the shell expects it. Safe to call more than once; errors are
/// ignored because there is nothing better to do with them while shutting down.
pub fn restore() {
    plain_keyboard();
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        DisableFocusChange,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Set when the keyboard enhancement was pushed, so it is popped once on the way out.
static ENHANCED: AtomicBool = AtomicBool::new(false);

/// Asks a terminal that can tell Shift-Enter from Enter to do so (kitty's protocol); in
/// raw mode. Terminals without it are left as they are.
fn enhance_keyboard() {
    if crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false) {
        let flags = KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES;
        if execute!(io::stdout(), PushKeyboardEnhancementFlags(flags)).is_ok() {
            ENHANCED.store(true, Ordering::Relaxed);
        }
    }
}

fn plain_keyboard() {
    if ENHANCED.swap(false, Ordering::Relaxed) {
        let _ = execute!(io::stdout(), PopKeyboardEnhancementFlags);
    }
}

impl Tui {
    /// Hands the terminal back as the shell had it (for an editor), until [`Tui::resume`].
    pub fn suspend(&mut self) {
        restore();
    }

    /// Takes the terminal over again after [`Tui::suspend`] and repaints everything.
    pub fn resume(&mut self) -> io::Result<()> {
        enable_raw_mode()?;
        execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            EnableFocusChange
        )?;
        enhance_keyboard();
        self.terminal.hide_cursor()?;
        self.terminal.clear()
    }
}

/// Set by the panic hook: some thread panicked and the terminal is already restored.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Whether any thread has panicked since the UI started. A panic in another task (the
/// node's) restores the terminal too, so the UI must stop drawing and exit.
pub fn panicked() -> bool {
    PANICKED.load(Ordering::Relaxed)
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::Relaxed);
            restore();
            previous(info);
        }));
    });
}
