//! Batch mode: commands from stdin, one JSON object a line on stdout for
//! every event.
//!
//! Events, in order: `welcome` first, then as received:
//!
//! - `{"type":"welcome","nick":..,"server_key":..,"fingerprint":..,"server_name":..,"motd":..}`
//! - `{"type":"message","time_ms":..,"from":..,"room":..,"text":..,"history":bool,"legacy":bool}`
//!   (`legacy`: the sender is an unauthenticated legacy client)
//! - `{"type":"notice","text":..}`: server notices, and local answers to
//!   `/help`, `/fingerprint` and `/switch`
//! - `{"type":"roster","room":..,"nicks":[..]}`: one per complete roster
//! - `{"type":"error","code":..,"text":..}`: server errors; code 0 is a
//!   local refusal (unknown command, bad arguments, text not allowed):
//!   nothing was sent
//! - `{"type":"closed","reason":..}`: always the last line
//!
//! After stdin ends (or `/quit`), the client stays connected for `--linger`
//! seconds printing events, then sends CLOSE and exits.

use std::io::{BufRead, Write};
use std::time::Duration;

use dhchat_core::message::msg_type;
use dhchat_core::names::is_escaped_char;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::commands::{ChatState, Outcome};
use super::exit::Failure;
use super::session::{Event, Running, WelcomeInfo};

/// A JSON line for `value`, with every character that peer text could use to
/// drive a terminal or to spoof what is shown escaped as `\uXXXX` (surrogate
/// pairs beyond the BMP): serde_json escapes C0 controls, `"` and `\` itself;
/// this adds the C1 controls (U+007F-U+009F), the bidirectional controls,
/// invisible and other format characters, and the line and paragraph
/// separators ([`dhchat_core::names::is_escaped_char`]). A JSON reader gets the
/// text back exactly; a person reading the raw line sees every such character
/// as an escape, and a backslash a peer typed as `\\`.
pub fn json_line(value: &Value) -> String {
    let s = value.to_string();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_escaped_char(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The JSON form of the welcome.
pub fn welcome_json(w: &WelcomeInfo) -> Value {
    // LEGACY HOOK: a legacy session has no server key and no fingerprint.
    if w.server_key.is_empty() {
        return json!({
            "type": "welcome",
            "nick": w.nick,
            "server_name": w.server_name,
            "motd": w.motd,
            "legacy": true,
        });
    }
    json!({
        "type": "welcome",
        "nick": w.nick,
        "server_key": w.server_key,
        "fingerprint": w.fingerprint,
        "server_name": w.server_name,
        "motd": w.motd,
    })
}

/// The JSON form of an event.
pub fn event_json(e: &Event) -> Value {
    match e {
        Event::Message(m) => json!({
            "type": "message",
            "time_ms": m.time_ms,
            "from": m.from,
            "room": m.room,
            "text": m.text,
            "history": m.history,
            "legacy": m.legacy,
            "account": m.account,
            "sender": m.sender().name(),
            "offline": m.offline(),
        }),
        Event::Notice(text) => json!({"type": "notice", "text": text}),
        Event::Roster { room, nicks } => json!({"type": "roster", "room": room, "nicks": nicks}),
        Event::Error { code, text } => json!({"type": "error", "code": code, "text": text}),
        Event::Ended { reason, .. } => closed_json(reason),
    }
}

fn closed_json(reason: &str) -> Value {
    json!({"type": "closed", "reason": reason})
}

fn emit(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", json_line(value));
    let _ = out.flush();
}

/// Reads stdin lines on a thread of its own (a blocked read never holds up
/// the exit); the channel closes at end of input.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs batch mode on an established session.
///
/// # Errors
/// The failure that ended the session, after the `closed` line.
pub async fn run(
    mut running: Running,
    welcome: &WelcomeInfo,
    room: Option<String>,
    linger: Duration,
) -> Result<(), Failure> {
    emit(&welcome_json(welcome));
    let mut chat = ChatState::new(&welcome.nick, &welcome.server_key, &welcome.fingerprint);
    let mut nick_pending = false;
    if let Some(room) = room {
        apply(
            &mut chat,
            &running,
            &format!("/join {room}"),
            &mut nick_pending,
        );
    }
    let mut input = stdin_lines();
    let mut input_open = true;
    let linger_end = tokio::time::sleep(Duration::from_secs(365 * 86_400));
    tokio::pin!(linger_end);
    let mut reason = "end of input".to_string();
    loop {
        tokio::select! {
            line = input.recv(), if input_open => match line {
                Some(line) => {
                    if apply(&mut chat, &running, &line, &mut nick_pending) {
                        reason = "quit".to_string();
                        input_open = false;
                        linger_end.as_mut().reset(tokio::time::Instant::now() + linger);
                    }
                }
                None => {
                    input_open = false;
                    linger_end.as_mut().reset(tokio::time::Instant::now() + linger);
                }
            },
            ev = running.events.recv() => match ev {
                Some(Event::Ended { reason, failure }) => {
                    emit(&closed_json(failure.as_ref().map_or(&reason, |f| &f.message)));
                    return failure.map_or(Ok(()), Err);
                }
                Some(ev) => {
                    if let Event::Error { code: 4 | 5, .. } = ev {
                        if nick_pending {
                            chat.nick_refused();
                            nick_pending = false;
                        }
                    }
                    emit(&event_json(&ev));
                }
                None => {
                    let f = Failure::local("the network task ended unexpectedly");
                    emit(&closed_json(&f.message));
                    return Err(f);
                }
            },
            () = &mut linger_end, if !input_open => break,
        }
    }
    running.close(&reason, |ev| emit(&event_json(&ev))).await;
    emit(&closed_json(&reason));
    Ok(())
}

/// Handles one input line; true for `/quit`.
fn apply(chat: &mut ChatState, running: &Running, line: &str, nick_pending: &mut bool) -> bool {
    let mut quit = false;
    for outcome in chat.handle_line(line) {
        match outcome {
            Outcome::Send(action) => {
                if action.msg_type() == msg_type::NICK {
                    *nick_pending = true;
                }
                let _ = running.actions.send(action);
            }
            Outcome::Echo { .. } => {}
            Outcome::Info(text) => emit(&json!({"type": "notice", "text": text})),
            Outcome::Problem(text) => emit(&json!({"type": "error", "code": 0, "text": text})),
            Outcome::Quit => quit = true,
        }
    }
    quit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::session::ChatLine;

    #[test]
    fn json_lines_escape_c0_and_c1_controls_and_parse_back() {
        let v = event_json(&Event::Notice("a\u{1b}[2J\u{9b}b\n".into()));
        let line = json_line(&v);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let back: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(back["text"], "a\u{1b}[2J\u{9b}b\n");
    }

    #[test]
    fn json_lines_escape_bidirectional_and_invisible_characters_and_parse_back() {
        let text = "\u{202e}txt.exe \u{2066}x\u{2069} a\u{200b}b\u{feff} \u{2028} \u{e0041}";
        let v = event_json(&Event::Notice(text.into()));
        let line = json_line(&v);
        assert!(
            !line.chars().any(is_escaped_char),
            "a hidden character is left raw: {line:?}"
        );
        assert!(
            line.contains("\\u202e") && line.contains("\\u2066"),
            "{line}"
        );
        assert!(
            line.contains("\\ufeff") && line.contains("\\u2028"),
            "{line}"
        );
        // Beyond the BMP: a surrogate pair, as JSON requires.
        assert!(line.contains("\\udb40\\udc41"), "{line}");
        let back: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(back["text"], text);
    }

    #[test]
    fn a_backslash_sequence_typed_by_a_peer_stays_distinct_from_an_escape_in_json() {
        let typed = json_line(&event_json(&Event::Notice("\\u202e".into())));
        let real = json_line(&event_json(&Event::Notice("\u{202e}".into())));
        assert_ne!(typed, real);
        assert!(typed.contains(r#""text":"\\u202e""#), "{typed}");
        assert!(real.contains(r#""text":"\u202e""#), "{real}");
        let back: Value = serde_json::from_str(&typed).expect("json");
        assert_eq!(back["text"], "\\u202e");
    }

    #[test]
    fn message_events_carry_history_legacy_account_sender_and_offline() {
        let v = event_json(&Event::Message(ChatLine {
            time_ms: 5,
            from: "a".into(),
            room: "#r".into(),
            text: "t".into(),
            history: true,
            legacy: true,
            account: false,
        }));
        assert_eq!(
            v,
            json!({"type":"message","time_ms":5,"from":"a","room":"#r","text":"t","history":true,
                   "legacy":true,"account":false,"sender":"legacy","offline":false})
        );
        let v = event_json(&Event::Message(ChatLine {
            time_ms: 6,
            from: "bob".into(),
            room: "@alice".into(),
            text: "t".into(),
            history: true,
            legacy: false,
            account: true,
        }));
        assert_eq!(
            v,
            json!({"type":"message","time_ms":6,"from":"bob","room":"@alice","text":"t","history":true,
                   "legacy":false,"account":true,"sender":"account","offline":true})
        );
        let v = event_json(&Event::Message(ChatLine {
            time_ms: 7,
            from: "carol".into(),
            room: "#r".into(),
            text: "t".into(),
            history: false,
            legacy: false,
            account: false,
        }));
        assert_eq!(v["sender"], "anonymous");
        assert_eq!(v["offline"], false);
        let v = event_json(&Event::Roster {
            room: "#r".into(),
            nicks: vec!["a".into(), "b".into()],
        });
        assert_eq!(v, json!({"type":"roster","room":"#r","nicks":["a","b"]}));
    }
}
