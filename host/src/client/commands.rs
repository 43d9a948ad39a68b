//! Commands typed by the user, shared by both modes: parsing a line into a
//! [`Command`], and turning a command into [`Outcome`]s (what to send, what
//! to tell the user) against the local [`ChatState`].
//!
//! Plain text goes to the current room; a line starting with `//` sends the
//! text after the first `/` (so `//help` says "/help"). Unknown commands and
//! bad arguments are reported locally and never sent.

use dhchat_core::names::{is_valid_nick, is_valid_room, names_equal, text_check};

use super::cli::as_room;
use super::session::Action;
use dhchat_core::message::Message;

/// The help text of `/help`.
pub const HELP: &str = "commands: text (say in the current room), /join #room, /part [#room], \
/switch #room, /msg nick text, /nick name, /who [#room], /fingerprint, /help, /quit (or !exit); \
//text sends text starting with /";

/// A parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Say this in the current room.
    Say(String),
    /// Join a room and make it current.
    Join(String),
    /// Leave a room (the current one by default).
    Part(Option<String>),
    /// Make a joined room current.
    Switch(String),
    /// Direct message.
    Msg {
        /// Recipient.
        nick: String,
        /// Text.
        text: String,
    },
    /// Change nick.
    Nick(String),
    /// Ask for a room's members (the current room by default).
    Who(Option<String>),
    /// Show the session fingerprint and server key.
    Fingerprint,
    /// Show the commands.
    Help,
    /// Leave.
    Quit,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// `/name` is not a command.
    Unknown(String),
    /// Wrong arguments; the text says how to use the command.
    Usage(&'static str),
    /// A name that breaks the rules.
    Invalid(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(c) => write!(
                f,
                "unknown command /{}; nothing was sent (/help lists the commands)",
                dhchat_core::names::Escaped(c)
            ),
            Self::Usage(u) => write!(f, "usage: {u}"),
            Self::Invalid(s) => f.write_str(s),
        }
    }
}

fn room_arg(arg: &str) -> Result<String, CommandError> {
    let room = as_room(arg);
    if is_valid_room(&room) {
        Ok(room)
    } else {
        Err(CommandError::Invalid(format!(
            "invalid room \"{}\": a room is # and 1-31 of A-Z a-z 0-9 _ -",
            dhchat_core::names::Escaped(arg)
        )))
    }
}

fn nick_arg(arg: &str) -> Result<String, CommandError> {
    if is_valid_nick(arg) {
        Ok(arg.to_string())
    } else {
        Err(CommandError::Invalid(format!(
            "invalid nick \"{}\": a nick is 1-32 of A-Z a-z 0-9 _ -",
            dhchat_core::names::Escaped(arg)
        )))
    }
}

/// Parses one input line; `Ok(None)` for an empty line.
///
/// # Errors
/// [`CommandError`] for unknown commands and bad arguments.
pub fn parse(line: &str) -> Result<Option<Command>, CommandError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    if line.trim() == "!exit" {
        return Ok(Some(Command::Quit));
    }
    if let Some(text) = line.strip_prefix("//") {
        return Ok(Some(Command::Say(format!("/{text}"))));
    }
    let Some(cmd) = line.strip_prefix('/') else {
        return Ok(Some(Command::Say(line.to_string())));
    };
    let (name, rest) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
    let rest = rest.trim();
    let args: Vec<&str> = rest.split_whitespace().collect();
    let one = |usage| match args.as_slice() {
        [a] => Ok(*a),
        _ => Err(CommandError::Usage(usage)),
    };
    let opt = |usage| match args.as_slice() {
        [] => Ok(None),
        [a] => Ok(Some(*a)),
        _ => Err(CommandError::Usage(usage)),
    };
    let none = |usage| {
        if args.is_empty() {
            Ok(())
        } else {
            Err(CommandError::Usage(usage))
        }
    };
    let c = match name.to_ascii_lowercase().as_str() {
        "join" | "j" => Command::Join(room_arg(one("/join #room")?)?),
        "part" | "leave" => Command::Part(opt("/part [#room]")?.map(room_arg).transpose()?),
        "switch" | "s" => Command::Switch(room_arg(one("/switch #room")?)?),
        "msg" | "m" => {
            let (nick, text) = rest
                .split_once(char::is_whitespace)
                .ok_or(CommandError::Usage("/msg nick text"))?;
            let text = text.trim_start();
            if text.is_empty() {
                return Err(CommandError::Usage("/msg nick text"));
            }
            Command::Msg {
                nick: nick_arg(nick)?,
                text: text.to_string(),
            }
        }
        "nick" => Command::Nick(nick_arg(one("/nick name")?)?),
        "who" | "names" => Command::Who(opt("/who [#room]")?.map(room_arg).transpose()?),
        "fingerprint" | "fp" => {
            none("/fingerprint")?;
            Command::Fingerprint
        }
        "help" | "h" | "?" => Command::Help,
        "quit" | "exit" | "q" => Command::Quit,
        _ => return Err(CommandError::Unknown(name.to_string())),
    };
    Ok(Some(c))
}

/// What a command leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this to the server.
    Send(Action),
    /// Show the user's own line (the server does not echo it).
    Echo {
        /// The room or `@nick`.
        target: String,
        /// The text.
        text: String,
    },
    /// Tell the user something.
    Info(String),
    /// Tell the user that something was refused locally (nothing was sent).
    Problem(String),
    /// End the session.
    Quit,
}

/// [`Outcome::Send`] with `message`, or [`Outcome::Problem`] if it is not one the
/// server would accept (nothing is sent then).
fn send(message: &Message<'_>) -> Outcome {
    match Action::new(message) {
        Ok(action) => Outcome::Send(action),
        Err(e) => Outcome::Problem(format!("not sent: {e}")),
    }
}

/// What the client knows about its own session: nick, joined rooms, the
/// current room, the key and fingerprint to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatState {
    /// Our nick (as last asked for; see [`ChatState::nick_refused`]).
    pub nick: String,
    /// The nick before a pending `/nick`.
    previous_nick: Option<String>,
    /// Rooms joined, in order of joining.
    pub rooms: Vec<String>,
    /// The room plain text goes to.
    pub current: Option<String>,
    /// The server's key, `ed25519:...`.
    pub server_key: String,
    /// The session fingerprint.
    pub fingerprint: String,
}

impl ChatState {
    /// The state right after WELCOME: in `#lobby` (every client starts there).
    pub fn new(nick: &str, server_key: &str, fingerprint: &str) -> Self {
        Self {
            nick: nick.to_string(),
            previous_nick: None,
            rooms: vec!["#lobby".to_string()],
            current: Some("#lobby".to_string()),
            server_key: server_key.to_string(),
            fingerprint: fingerprint.to_string(),
        }
    }

    fn joined(&self, room: &str) -> bool {
        self.rooms.iter().any(|r| names_equal(r, room))
    }

    /// The server refused our last `/nick` (ERROR 4 or 5): the old one stays.
    pub fn nick_refused(&mut self) {
        if let Some(old) = self.previous_nick.take() {
            self.nick = old;
        }
    }

    /// Parses and handles one line.
    pub fn handle_line(&mut self, line: &str) -> Vec<Outcome> {
        match parse(line) {
            Ok(Some(c)) => self.handle(c),
            Ok(None) => Vec::new(),
            Err(e) => vec![Outcome::Problem(e.to_string())],
        }
    }

    fn say(target: String, text: String) -> Vec<Outcome> {
        if let Err(e) = text_check(&text) {
            return vec![Outcome::Problem(format!("not sent: {e}"))];
        }
        let send = send(&Message::Say {
            room: &target,
            text: &text,
        });
        if matches!(send, Outcome::Problem(_)) {
            return vec![send];
        }
        vec![send, Outcome::Echo { target, text }]
    }

    /// Handles one command.
    pub fn handle(&mut self, cmd: Command) -> Vec<Outcome> {
        match cmd {
            Command::Say(text) => match self.current.clone() {
                Some(room) => Self::say(room, text),
                None => vec![Outcome::Problem(
                    "no current room: /join #room first; nothing was sent".to_string(),
                )],
            },
            Command::Msg { nick, text } => Self::say(format!("@{nick}"), text),
            Command::Join(room) => {
                if !self.joined(&room) {
                    self.rooms.push(room.clone());
                }
                self.current = Some(room.clone());
                vec![send(&Message::Join { room: &room })]
            }
            Command::Part(room) => {
                let Some(room) = room.or_else(|| self.current.clone()) else {
                    return vec![Outcome::Problem("no current room to leave".to_string())];
                };
                self.rooms.retain(|r| !names_equal(r, &room));
                if self
                    .current
                    .as_deref()
                    .is_some_and(|c| names_equal(c, &room))
                {
                    self.current = self.rooms.first().cloned();
                }
                vec![send(&Message::Part { room: &room })]
            }
            Command::Switch(room) => {
                if let Some(r) = self.rooms.iter().find(|r| names_equal(r, &room)) {
                    self.current = Some(r.clone());
                    vec![Outcome::Info(format!("current room is now {r}"))]
                } else {
                    vec![Outcome::Problem(format!(
                        "not in {room}: /join {room} first"
                    ))]
                }
            }
            Command::Nick(nick) => {
                self.previous_nick = Some(std::mem::replace(&mut self.nick, nick.clone()));
                vec![send(&Message::Nick { nick: &nick })]
            }
            Command::Who(room) => match room.or_else(|| self.current.clone()) {
                Some(room) => vec![send(&Message::Who { room: &room })],
                None => vec![Outcome::Problem("no current room: /who #room".to_string())],
            },
            Command::Fingerprint => vec![Outcome::Info(format!(
                "session fingerprint {} (the server's operator sees the same one if no one is in \
                 the middle); server key {}",
                self.fingerprint, self.server_key
            ))],
            Command::Help => vec![Outcome::Info(HELP.to_string())],
            Command::Quit => vec![Outcome::Quit],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(message: Message<'_>) -> Outcome {
        Outcome::Send(Action::new(&message).expect("a valid message"))
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        let p = |s| parse(s).expect(s).expect("some");
        assert_eq!(p("hello there"), Command::Say("hello there".into()));
        assert_eq!(p("/join #rust"), Command::Join("#rust".into()));
        assert_eq!(p("/join rust"), Command::Join("#rust".into()));
        assert_eq!(p("/part"), Command::Part(None));
        assert_eq!(p("/part #x"), Command::Part(Some("#x".into())));
        assert_eq!(p("/switch #x"), Command::Switch("#x".into()));
        assert_eq!(
            p("/msg bob hi  there"),
            Command::Msg {
                nick: "bob".into(),
                text: "hi  there".into()
            }
        );
        assert_eq!(p("/nick carol"), Command::Nick("carol".into()));
        assert_eq!(p("/who"), Command::Who(None));
        assert_eq!(p("/who #x"), Command::Who(Some("#x".into())));
        assert_eq!(p("/fingerprint"), Command::Fingerprint);
        assert_eq!(p("/help"), Command::Help);
        assert_eq!(p("/quit"), Command::Quit);
        assert_eq!(p("!exit"), Command::Quit);
        assert_eq!(p("/QUIT"), Command::Quit);
        assert_eq!(p("//not a command"), Command::Say("/not a command".into()));
        assert_eq!(parse("   "), Ok(None));
    }

    #[test]
    fn unknown_commands_and_bad_arguments_are_errors_not_text() {
        assert_eq!(
            parse("/frobnicate x"),
            Err(CommandError::Unknown("frobnicate".into()))
        );
        assert!(parse("/frobnicate")
            .expect_err("unknown")
            .to_string()
            .contains("unknown command /frobnicate"));
        assert_eq!(parse("/join"), Err(CommandError::Usage("/join #room")));
        assert_eq!(
            parse("/msg bob"),
            Err(CommandError::Usage("/msg nick text"))
        );
        assert!(matches!(
            parse("/join #bad.room"),
            Err(CommandError::Invalid(_))
        ));
        assert!(matches!(
            parse("/nick no spaces"),
            Err(CommandError::Usage(_))
        ));
        assert!(matches!(parse("/nick b@d"), Err(CommandError::Invalid(_))));
        assert!(matches!(
            parse("/msg b@d hi"),
            Err(CommandError::Invalid(_))
        ));
    }

    #[test]
    fn chat_state_tracks_current_room_and_turns_commands_into_actions() {
        let mut s = ChatState::new("me", "k", "f");
        assert_eq!(
            s.handle_line("hi"),
            vec![
                sent(Message::Say {
                    room: "#lobby",
                    text: "hi"
                }),
                Outcome::Echo {
                    target: "#lobby".into(),
                    text: "hi".into()
                },
            ]
        );
        assert_eq!(
            s.handle_line("/join #a"),
            vec![sent(Message::Join { room: "#a" })]
        );
        assert_eq!(s.current.as_deref(), Some("#a"));
        assert!(matches!(
            s.handle_line("/switch #lobby")[0],
            Outcome::Info(_)
        ));
        assert_eq!(s.current.as_deref(), Some("#lobby"));
        assert!(matches!(
            s.handle_line("/switch #nope")[0],
            Outcome::Problem(_)
        ));
        assert_eq!(
            s.handle_line("/part"),
            vec![sent(Message::Part { room: "#lobby" })]
        );
        assert_eq!(s.current.as_deref(), Some("#a"));
        assert_eq!(
            s.handle_line("/who"),
            vec![sent(Message::Who { room: "#a" })]
        );
        s.handle_line("/part #a");
        assert_eq!(s.current, None);
        assert!(matches!(s.handle_line("text")[0], Outcome::Problem(_)));
        assert_eq!(
            s.handle_line("/msg bob yo")[0],
            sent(Message::Say {
                room: "@bob",
                text: "yo"
            })
        );
        assert!(matches!(s.handle_line("/bogus")[0], Outcome::Problem(_)));
        assert_eq!(s.handle_line("/quit"), vec![Outcome::Quit]);
    }

    #[test]
    fn refused_nick_change_restores_the_old_nick() {
        let mut s = ChatState::new("me", "k", "f");
        s.handle_line("/nick you");
        assert_eq!(s.nick, "you");
        s.nick_refused();
        assert_eq!(s.nick, "me");
    }

    #[test]
    fn text_with_control_characters_is_refused_locally() {
        let mut s = ChatState::new("me", "k", "f");
        assert!(matches!(
            s.handle_line("a\u{1b}[2Jb")[0],
            Outcome::Problem(_)
        ));
    }
}
