//! What the account tests share: keyed and anonymous clients, received chat
//! lines with their flags, the operator command.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dhchat_core::identity::IdentityKey;
use dhchat_core::message::Message;

use crate::common::{try_connect, Got, TestClient, TestServer, STEP};

/// The server's defaults but the small group (a faster handshake).
pub const ARGS: &[&str] = &["--group", "ffdhe2048"];

/// Connects proving `identity`.
pub async fn keyed(server: &TestServer, nick: &str, identity: &IdentityKey) -> TestClient {
    try_connect(server.addr, server.key, nick, Some(identity))
        .await
        .expect("keyed connect")
}

/// Connects without an identity key.
pub async fn anon(server: &TestServer, nick: &str) -> TestClient {
    try_connect(server.addr, server.key, nick, None)
        .await
        .expect("anonymous connect")
}

/// A MESSAGE with its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub from: String,
    pub room: String,
    pub text: String,
    pub history: bool,
    pub account: bool,
}

impl Line {
    /// A live line.
    pub fn live(from: &str, room: &str, text: &str, account: bool) -> Line {
        Line {
            from: from.into(),
            room: room.into(),
            text: text.into(),
            history: false,
            account,
        }
    }
}

/// What arrived before a ROSTER that ends a WHO answer.
#[derive(Debug, Default)]
pub struct Lines {
    pub chats: Vec<Line>,
    pub errors: Vec<(u16, String)>,
    pub roster: Vec<String>,
}

enum Next {
    Chat(Line),
    Other(Got),
}

async fn recv(c: &mut TestClient) -> Next {
    let got = tokio::time::timeout(STEP, c.conn.recv())
        .await
        .expect("recv timed out")
        .expect("recv");
    match got {
        Message::Message(m) => Next::Chat(Line {
            from: m.from.into(),
            room: m.room.into(),
            text: m.text.into(),
            history: m.history,
            account: m.account,
        }),
        other => Next::Other(crate::common::owned(&other)),
    }
}

/// The next live MESSAGE (skipping history, notices).
pub async fn next_chat(c: &mut TestClient) -> Line {
    loop {
        if let Next::Chat(l) = recv(c).await {
            if !l.history {
                return l;
            }
        }
    }
}

/// Receives until an ERROR, returning its code.
pub async fn expect_error_code(c: &mut TestClient) -> u16 {
    loop {
        match recv(c).await {
            Next::Chat(_) => {}
            Next::Other(got) => match got.message() {
                Message::Error { code, .. } => return code,
                Message::Notice { .. } => {}
                other => panic!("expected ERROR, got {other:?}"),
            },
        }
    }
}

/// Everything up to the last ROSTER record of the next WHO answer.
pub async fn chats_until_roster(c: &mut TestClient) -> Lines {
    let mut lines = Lines::default();
    loop {
        match recv(c).await {
            Next::Chat(l) => lines.chats.push(l),
            Next::Other(got) => match got.message() {
                Message::Error { code, text } => lines.errors.push((code, text.into())),
                Message::Roster { more, nicks, .. } => {
                    lines.roster.extend(nicks.iter().map(String::from));
                    if !more {
                        return lines;
                    }
                }
                _ => {}
            },
        }
    }
}

/// Waits until `nick` is no longer in #lobby, asking as `watcher`.
pub async fn wait_gone(watcher: &mut TestClient, nick: &str) {
    let start = Instant::now();
    loop {
        watcher.send(&Message::Who { room: "#lobby" }).await;
        let roster = chats_until_roster(watcher).await.roster;
        if !roster.iter().any(|n| n.eq_ignore_ascii_case(nick)) {
            return;
        }
        assert!(start.elapsed() < STEP, "{nick} never left: {roster:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Closes `client` and waits until the server has taken it off.
pub async fn leave(mut client: TestClient, watcher: &mut TestClient, nick: &str) {
    client.send(&Message::Close { reason: "bye" }).await;
    drop(client);
    wait_gone(watcher, nick).await;
}

/// Runs `dhchat-server accounts ARGS --data-dir DIR`: success and output.
pub fn accounts_cmd(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
        .arg("accounts")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run dhchat-server accounts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
