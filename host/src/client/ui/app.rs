//! The interactive state: what the screen shows, and how events and keys
//! change it. Nothing here touches the terminal or the network.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use time::UtcOffset;

use super::input::LineEditor;
use crate::client::commands::{ChatState, Outcome};
use crate::client::session::{Action, ChatLine, Event, WelcomeInfo};

/// Most entries kept in the message pane.
const SCROLLBACK: usize = 5000;

/// One entry of the message pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A chat message (received, or our own echoed).
    Chat(ChatLine),
    /// A server notice.
    Notice(String),
    /// A server error.
    Error {
        /// Code (0: local).
        code: u16,
        /// Text.
        text: String,
    },
    /// A remark of the client itself.
    Info(String),
}

/// What the UI loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Nothing beyond redrawing.
    None,
    /// Send these actions.
    Send(Vec<Action>),
    /// Leave.
    Quit,
}

/// The interactive client's state.
#[derive(Debug, Clone)]
pub struct App {
    /// Server address as typed (`HOST:PORT`).
    pub server: String,
    /// Nick, rooms, key, fingerprint.
    pub chat: ChatState,
    /// The message pane.
    pub entries: Vec<Entry>,
    /// Lines scrolled back from the bottom.
    pub scroll: usize,
    /// The input line.
    pub input: LineEditor,
    /// Local time offset for timestamps.
    pub offset: UtcOffset,
    /// Clock for our own echoed lines (ms since the epoch).
    pub now_ms: fn() -> u64,
}

fn system_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl App {
    /// The state after WELCOME.
    pub fn new(server: &str, welcome: &WelcomeInfo, offset: UtcOffset) -> Self {
        let mut app = Self {
            server: server.to_string(),
            chat: ChatState::new(&welcome.nick, &welcome.server_key, &welcome.fingerprint),
            entries: Vec::new(),
            scroll: 0,
            input: LineEditor::new(),
            offset,
            now_ms: system_now_ms,
        };
        let name = if welcome.server_name.is_empty() {
            "the server"
        } else {
            &welcome.server_name
        };
        app.push(Entry::Info(format!(
            "connected to {name} as {}; session fingerprint {} (/fingerprint, /help)",
            welcome.nick, welcome.fingerprint
        )));
        if !welcome.motd.is_empty() {
            app.push(Entry::Notice(welcome.motd.clone()));
        }
        app
    }

    fn push(&mut self, e: Entry) {
        self.entries.push(e);
        if self.entries.len() > SCROLLBACK {
            self.entries.drain(..self.entries.len() - SCROLLBACK);
        }
    }

    /// Applies a network event (not [`Event::Ended`], which ends the loop).
    pub fn apply(&mut self, ev: Event) {
        match ev {
            Event::Message(m) => self.push(Entry::Chat(m)),
            Event::Notice(t) => self.push(Entry::Notice(t)),
            Event::Roster { room, nicks } => {
                self.push(Entry::Info(format!("in {room}: {}", nicks.join(" "))));
            }
            Event::Error { code, text } => {
                if matches!(code, 4 | 5) {
                    self.chat.nick_refused();
                }
                self.push(Entry::Error { code, text });
            }
            Event::Ended { reason, .. } => {
                self.push(Entry::Info(format!("session ended: {reason}")))
            }
        }
    }

    /// Handles a submitted line.
    pub fn submit(&mut self, line: &str) -> KeyOutcome {
        let mut actions = Vec::new();
        for outcome in self.chat.handle_line(line) {
            match outcome {
                Outcome::Send(a) => actions.push(a),
                Outcome::Echo { target, text } => {
                    let line = ChatLine {
                        time_ms: (self.now_ms)(),
                        from: self.chat.nick.clone(),
                        room: target,
                        text,
                        history: false,
                        legacy: false,
                        account: false,
                    };
                    self.push(Entry::Chat(line));
                }
                Outcome::Info(t) => self.push(Entry::Info(t)),
                Outcome::Problem(t) => self.push(Entry::Error { code: 0, text: t }),
                Outcome::Quit => return KeyOutcome::Quit,
            }
        }
        self.scroll = 0;
        if actions.is_empty() {
            KeyOutcome::None
        } else {
            KeyOutcome::Send(actions)
        }
    }

    /// Handles a key: Ctrl-C (or Ctrl-D on an empty line) quits, PageUp and
    /// PageDown scroll, everything else edits the input line.
    pub fn on_key(&mut self, key: KeyEvent) -> KeyOutcome {
        if key.kind == KeyEventKind::Release {
            return KeyOutcome::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => KeyOutcome::Quit,
            KeyCode::Char('d') if ctrl && self.input.is_empty() => KeyOutcome::Quit,
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_add(10);
                KeyOutcome::None
            }
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_sub(10);
                KeyOutcome::None
            }
            _ => match self.input.handle_key(key) {
                Some(line) => self.submit(&line),
                None => KeyOutcome::None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhchat_core::message::Message;

    pub(crate) fn welcome() -> WelcomeInfo {
        WelcomeInfo {
            nick: "alice".into(),
            server_name: "test".into(),
            motd: String::new(),
            server_key: "ed25519:AAAA".into(),
            fingerprint: "0011-2233-4455-6677-8899-aabb-ccdd-eeff".into(),
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_line(app: &mut App, s: &str) -> KeyOutcome {
        for c in s.chars() {
            assert_eq!(app.on_key(key(KeyCode::Char(c))), KeyOutcome::None);
        }
        app.on_key(key(KeyCode::Enter))
    }

    #[test]
    fn typed_text_is_sent_to_the_current_room_and_echoed() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        app.now_ms = || 0;
        assert_eq!(
            type_line(&mut app, "hi all"),
            KeyOutcome::Send(vec![Action::new(&Message::Say {
                room: "#lobby",
                text: "hi all"
            })
            .expect("a valid SAY")])
        );
        assert!(
            matches!(app.entries.last(), Some(Entry::Chat(c)) if c.from == "alice" && c.text == "hi all")
        );
    }

    #[test]
    fn ctrl_c_and_quit_commands_quit_and_unknown_commands_are_not_sent() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            KeyOutcome::Quit
        );
        assert_eq!(type_line(&mut app, "/quit"), KeyOutcome::Quit);
        assert_eq!(type_line(&mut app, "!exit"), KeyOutcome::Quit);
        assert_eq!(type_line(&mut app, "/nope"), KeyOutcome::None);
        assert!(
            matches!(app.entries.last(), Some(Entry::Error { code: 0, text }) if text.contains("unknown command"))
        );
    }

    #[test]
    fn refused_nick_is_reverted_on_error_5() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        assert_eq!(
            type_line(&mut app, "/nick bob"),
            KeyOutcome::Send(vec![
                Action::new(&Message::Nick { nick: "bob" }).expect("a valid NICK")
            ])
        );
        assert_eq!(app.chat.nick, "bob");
        app.apply(Event::Error {
            code: 5,
            text: "taken".into(),
        });
        assert_eq!(app.chat.nick, "alice");
    }
}
