//! Interactive mode: a full-screen ratatui UI over the session's events.
//!
//! The terminal is restored by a guard when the UI ends for any reason
//! (`/quit`, Ctrl-C, a lost connection, SIGTERM/SIGHUP) and by a panic hook
//! before a panic message is printed.

pub mod app;
pub mod input;
pub mod render;

use std::io::Stdout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use time::UtcOffset;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use self::app::{App, KeyOutcome};
use super::exit::Failure;
use super::session::{Event, Running, WelcomeInfo};

/// Whether the terminal is in the UI's modes (raw, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen, once.
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(
            std::io::stdout(),
            LeaveAlternateScreen,
            crossterm::cursor::Show
        );
    }
}

/// Puts the terminal into the UI's modes; restores it when dropped.
#[derive(Debug)]
pub struct TerminalGuard(());

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, and installs the panic hook.
    ///
    /// # Errors
    /// A local failure if the terminal cannot be set up.
    pub fn enter() -> Result<Self, Failure> {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_terminal();
                previous(info);
            }));
        });
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = Self(());
        enable_raw_mode()
            .map_err(|e| Failure::local(format!("cannot set up the terminal: {e}")))?;
        execute!(std::io::stdout(), EnterAlternateScreen)
            .map_err(|e| Failure::local(format!("cannot set up the terminal: {e}")))?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Reads terminal events on a thread of its own until `stop` is set.
fn terminal_events(stop: Arc<AtomicBool>) -> mpsc::UnboundedReceiver<TermEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
    rx
}

/// Runs the UI until the user quits or the session ends.
///
/// # Errors
/// The failure that ended the session (the terminal is restored first).
pub async fn run(
    mut running: Running,
    server: &str,
    welcome: &WelcomeInfo,
    room: Option<String>,
    offset: UtcOffset,
) -> Result<(), Failure> {
    let mut app = App::new(server, welcome, offset);
    if let Some(room) = room {
        if let KeyOutcome::Send(actions) = app.submit(&format!("/join {room}")) {
            for a in actions {
                let _ = running.actions.send(a);
            }
        }
    }
    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .map_err(|e| Failure::local(format!("cannot set up the terminal: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut keys = terminal_events(stop.clone());
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let result = loop {
        if let Err(e) = draw(&mut terminal, &app) {
            break Err(Failure::local(format!("cannot draw on the terminal: {e}")));
        }
        tokio::select! {
            ev = keys.recv() => match ev {
                Some(TermEvent::Key(k)) => match app.on_key(k) {
                    KeyOutcome::None => {}
                    KeyOutcome::Send(actions) => {
                        for a in actions {
                            let _ = running.actions.send(a);
                        }
                    }
                    KeyOutcome::Quit => break Ok(true),
                },
                Some(_) => {}
                None => break Ok(true),
            },
            ev = running.events.recv() => match ev {
                Some(Event::Ended { failure: Some(f), .. }) => break Err(f),
                Some(Event::Ended { failure: None, .. }) => break Ok(false),
                Some(ev) => app.apply(ev),
                None => break Err(Failure::local("the network task ended unexpectedly")),
            },
            _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break Ok(true),
            _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break Ok(true),
        }
    };
    stop.store(true, Ordering::SeqCst);
    drop(terminal);
    drop(guard);
    match result {
        Ok(true) => {
            running.close("quit", |_| {}).await;
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(f) => Err(f),
    }
}

fn draw(terminal: &mut Terminal<CrosstermBackend<Stdout>>, app: &App) -> std::io::Result<()> {
    terminal.draw(|f| render::draw(f, app)).map(|_| ())
}
