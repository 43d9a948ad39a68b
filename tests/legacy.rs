//! Legacy interoperability (issue 12, LEGACY.md): original clients on a dhchat server's
//! legacy listener, and the dhchat legacy client on an original-style server. The
//! legacy peers are written in `legacy/peer.rs` from LEGACY.md. All at default
//! settings.

mod common;
#[path = "legacy/peer.rs"]
mod peer;

use std::net::SocketAddr;
use std::time::Duration;

use common::{TestClient, TestServer};
use dhchat_core::legacy::{LegacyNick, CLIENT_KEY_LEN, SERVER_KEY_LEN};
use dhchat_core::message::{ChatMessage, Message};
use peer::{seal, LegacyClient, LegacyServer, STEP};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a server with a legacy listener; returns it and the legacy address.
async fn server_with_legacy() -> (TestServer, SocketAddr) {
    let server = TestServer::start(&["--legacy-listen", "127.0.0.1:0"]);
    let end = tokio::time::Instant::now() + STEP;
    loop {
        let log = server.log_text();
        if let Some(line) = log
            .lines()
            .find_map(|l| l.strip_prefix("legacy listening on "))
        {
            let addr = line.trim().parse().expect("legacy address");
            return (server, addr);
        }
        assert!(
            tokio::time::Instant::now() < end,
            "no legacy address: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the server's log contains `needle`.
async fn wait_for_log(server: &TestServer, needle: &str) {
    let end = tokio::time::Instant::now() + STEP;
    while !server.log_text().contains(needle) {
        assert!(
            tokio::time::Instant::now() < end,
            "log never said {needle:?}: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The nick the server gives the legacy client `c`.
fn nick_of(c: &LegacyClient) -> String {
    let local = c.stream.local_addr().expect("local addr");
    LegacyNick::of(&local.to_string()).to_string()
}

/// Waits until `v1` sees the notice that `nick` joined.
async fn wait_joined(v1: &mut TestClient, nick: &str) {
    loop {
        if let Message::Notice { text: t } = v1.recv().await.message() {
            if t.starts_with(&format!("{nick} joined")) {
                return;
            }
        }
    }
}

/// The next MESSAGE `v1` receives.
async fn next_msg(v1: &mut TestClient) -> (String, String, bool) {
    match v1.recv_msg().await.message() {
        Message::Message(m) => (m.from.into(), m.text.into(), m.legacy),
        other => unreachable!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_between_a_legacy_client_and_a_version_1_client_both_ways() {
    let (server, legacy_addr) = server_with_legacy().await;
    wait_for_log(&server, "NO authentication and NO integrity").await;
    let mut alice = common::connect(&server, "alice").await;
    let mut old = LegacyClient::connect(legacy_addr).await;
    let nick = nick_of(&old);
    wait_joined(&mut alice, &nick).await;

    old.say("hello from 2018").await;
    let (from, text, legacy) = next_msg(&mut alice).await;
    assert_eq!(
        (from.as_str(), text.as_str(), legacy),
        (nick.as_str(), "hello from 2018", true)
    );

    alice.say("#lobby", "welcome back").await;
    let line = old.recv_until(|l| l.starts_with("alice:")).await;
    assert_eq!(line, "alice: welcome back");

    // A direct message and a long message (split, nothing lost) reach it too.
    alice.say(&format!("@{nick}"), "just for you").await;
    assert_eq!(
        old.recv_until(|l| l.contains("just for you")).await,
        "alice (direct): just for you"
    );
    let long = "x".repeat(1500);
    alice.say("#lobby", &long).await;
    let first = old.recv_until(|l| l.starts_with("alice: x")).await;
    let second = old.recv().await.expect("second piece");
    assert_eq!(format!("{first}{second}"), format!("alice: {long}"));

    // !exit is answered with Acknowledged, then the connection closes; alice is told.
    old.say("!exit").await;
    assert_eq!(old.recv().await.as_deref(), Some("Acknowledged"));
    assert!(old.is_dropped().await);
    loop {
        if let Message::Notice { text: t } = alice.recv().await.message() {
            if t.starts_with(&format!("{nick} left")) {
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_gets_the_last_lobby_lines_on_connect_and_history_keeps_the_legacy_mark() {
    let (server, legacy_addr) = server_with_legacy().await;
    let mut alice = common::connect(&server, "alice").await;
    let mut old = LegacyClient::connect(legacy_addr).await;
    let nick = nick_of(&old);
    wait_joined(&mut alice, &nick).await;
    old.say("said by the old client").await;
    next_msg(&mut alice).await;
    let mut carol = common::connect(&server, "carol").await;
    for i in 0..15 {
        alice.say("#lobby", &format!("line {i}")).await;
    }
    // Once carol saw the last line live, all 15 are stored.
    while next_msg(&mut carol).await.1 != "line 14" {}
    // A second legacy client gets the last 10 lines, each as its own message.
    let mut late = LegacyClient::connect(legacy_addr).await;
    let mut replay = Vec::new();
    for _ in 0..10 {
        replay.push(late.recv().await.expect("replay"));
    }
    let expected: Vec<String> = (5..15).map(|i| format!("alice: line {i}")).collect();
    assert_eq!(replay, expected);

    // A version 1 client joining later sees the legacy line flagged in its replay.
    let mut bob = common::connect(&server, "bob").await;
    loop {
        if let Message::Message(ChatMessage {
            from,
            history,
            legacy,
            text,
            ..
        }) = bob.recv().await.message()
        {
            if from == nick {
                assert!(history && legacy, "{text}");
                break;
            }
            assert!(!legacy);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_oversize_misaligned_and_non_utf8_legacy_input_each_drop_only_that_client() {
    let (server, legacy_addr) = server_with_legacy().await;
    let mut alice = common::connect(&server, "alice").await;
    let mut good = LegacyClient::connect(legacy_addr).await;
    wait_joined(&mut alice, &nick_of(&good)).await;

    type Attack = fn(&LegacyClient) -> Vec<u8>;
    let attacks: [(&str, Attack); 4] = [
        ("coalesced", |c| {
            // Two messages in one write; the second's IV decrypts to noise. Retry
            // IVs until that noise is not UTF-8 (the case the spec drops).
            loop {
                let mut both = seal(&c.key, "one");
                both.extend(seal(&c.key, "two"));
                let mut copy = both.clone();
                if dhchat_core::legacy::open(&c.key, &mut copy).is_err() {
                    return both;
                }
            }
        }),
        ("oversize", |c| {
            let mut big = seal(&c.key, &"y".repeat(1000));
            big.extend(seal(&c.key, &"z".repeat(1000)));
            big
        }),
        ("misaligned", |c| {
            let mut m = seal(&c.key, "hello");
            m.push(0);
            m
        }),
        ("not utf-8", |c| {
            // A valid message whose plaintext block is 0xff bytes: encrypt the
            // bytes directly through a message of the right shape.
            let mut m = seal(&c.key, &"a".repeat(15));
            // Flip the IV so the first block decrypts to 0xff-ish bytes.
            for (i, b) in m.iter_mut().take(16).enumerate() {
                *b ^= b'a' ^ if i < 15 { 0xff } else { b' ' };
            }
            m
        }),
    ];
    for (what, attack) in attacks {
        let mut bad = LegacyClient::connect(legacy_addr).await;
        let bad_nick = nick_of(&bad);
        wait_joined(&mut alice, &bad_nick).await;
        let bytes = attack(&bad);
        bad.send_raw(&bytes).await;
        assert!(bad.is_dropped().await, "{what}: not dropped");
        // The others keep chatting, both ways.
        good.say(&format!("still here after {what}")).await;
        loop {
            let (from, text, _) = next_msg(&mut alice).await;
            assert_ne!(from, bad_nick, "{what}: relayed bad input {text}");
            if text == format!("still here after {what}") {
                break;
            }
        }
        alice.say("#lobby", &format!("ok {what}")).await;
        good.recv_until(|l| l == format!("alice: ok {what}")).await;
        wait_for_log(&server, "bad legacy input").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_legacy_client_is_dropped_at_the_default_limits_and_the_others_keep_chatting() {
    let (server, legacy_addr) = server_with_legacy().await;
    let mut alice = common::connect(&server, "alice").await;
    let mut flood = LegacyClient::connect(legacy_addr).await;
    let flood_nick = nick_of(&flood);
    wait_joined(&mut alice, &flood_nick).await;
    // The default limit is 50 messages a second with a burst of 200: 400
    // messages, each its own write 8 ms apart (so each is its own read), pass
    // it after about 330, within about 3 s.
    let mut dropped = false;
    for i in 0..400 {
        if flood
            .try_send_raw(&seal(&flood.key, &format!("flood {i}")))
            .await
            .is_err()
        {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(8)).await;
    }
    assert!(
        dropped || flood.is_dropped().await,
        "the flooding legacy client was not dropped"
    );
    // By the rate limit ("flood: more than 50 messages per second") when each
    // message is read alone, or as bad input when a busy server reads two at
    // once (a legacy read is one message): either way only this client.
    wait_for_log(&server, "legacy disconnect").await;
    let log = server.log.lock().expect("log").join("\n");
    assert!(
        log.contains("legacy disconnect: flood: more than 50 messages per second")
            || log.contains("legacy disconnect: bad legacy input"),
        "the flooding client was not dropped for its input: {log}"
    );
    // The version 1 client was relayed the flood's first messages and stays;
    // a legacy client chats both ways with it. (The test's legacy peer reads
    // only when asked, so one connected during the flood would find the
    // relays coalesced in its socket, which says nothing about the server.)
    let mut good = LegacyClient::connect(legacy_addr).await;
    wait_joined(&mut alice, &nick_of(&good)).await;
    good.say("still here after the flood").await;
    while next_msg(&mut alice).await.1 != "still here after the flood" {}
    alice.say("#lobby", "ok after the flood").await;
    good.recv_until(|l| l == "alice: ok after the flood").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_stalling_mid_exchange_holds_one_slot_until_the_deadline_only() {
    let (server, legacy_addr) = server_with_legacy().await;
    let mut alice = common::connect(&server, "alice").await;
    // Reads the key message, sends half its key, and stalls.
    let mut stall = TcpStream::connect(legacy_addr).await.expect("connect");
    let mut msg = vec![0u8; SERVER_KEY_LEN];
    stall.read_exact(&mut msg).await.expect("key message");
    stall
        .write_all(&[0u8; CLIENT_KEY_LEN / 2])
        .await
        .expect("half");
    // Meanwhile others connect and chat.
    let mut good = LegacyClient::connect(legacy_addr).await;
    wait_joined(&mut alice, &nick_of(&good)).await;
    good.say("not blocked").await;
    assert_eq!(next_msg(&mut alice).await.1, "not blocked");
    let _bob = common::connect(&server, "bob").await;
    // The staller is dropped at the handshake deadline (10 s by default).
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(STEP, stall.read(&mut buf))
        .await
        .expect("stalled client not dropped by the deadline");
    assert!(matches!(n, Ok(0) | Err(_)));
    wait_for_log(&server, "not finished within 10s").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_help_warns_that_the_legacy_listener_has_no_authentication() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
        .arg("--help")
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--legacy-listen"), "{help}");
    assert!(help.contains("NO authentication"), "{help}");
}

/// Reads the client's JSON lines until one satisfies `f`.
async fn json_until(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<serde_json::Value>,
    f: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let line = tokio::time::timeout(STEP, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("client output timed out; so far {seen:?}"))
            .expect("read")
            .unwrap_or_else(|| panic!("client output ended; so far {seen:?}"));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
        seen.push(v.clone());
        if f(&v) {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_client_binary_chats_with_an_original_style_server_using_g258() {
    use tokio::io::AsyncBufReadExt;
    let server = LegacyServer::start().await;
    let mut other = LegacyClient::connect(server.addr).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dhchat-client"))
        .arg("--legacy")
        .arg(server.addr.to_string())
        .arg("--batch")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start dhchat-client");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    let welcome = json_until(&mut lines, &mut seen, |v| v["type"] == "welcome").await;
    assert!(welcome.get("server_key").is_none() && welcome.get("fingerprint").is_none());
    assert_eq!(welcome["legacy"], true);
    other.recv_until(|l| l.ends_with("has joined")).await;

    // Refused locally, never sent: non-ASCII text, text over 990 bytes, a DM.
    let long = "a".repeat(991);
    stdin
        .write_all(format!("héllo\n{long}\n/msg bob hi\nhello old server\n").as_bytes())
        .await
        .expect("stdin");
    for _ in 0..3 {
        let e = json_until(&mut lines, &mut seen, |v| v["type"] == "error").await;
        assert_eq!(e["code"], 0, "{e}");
    }
    assert_eq!(
        other.recv().await.as_deref(),
        Some("127.0.0.1: hello old server")
    );

    // The other client's message arrives as a legacy message from its IP.
    other.say("hi from the old client").await;
    let m = json_until(&mut lines, &mut seen, |v| v["type"] == "message").await;
    assert_eq!(m["from"], "127.0.0.1");
    assert_eq!(m["text"], "hi from the old client");
    assert_eq!(m["legacy"], true);

    // The longest allowed text goes through whole.
    let longest = "b".repeat(990);
    stdin
        .write_all(format!("{longest}\n/quit\n").as_bytes())
        .await
        .expect("stdin");
    assert_eq!(other.recv().await, Some(format!("127.0.0.1: {longest}")));
    let closed = json_until(&mut lines, &mut seen, |v| v["type"] == "closed").await;
    assert_eq!(closed["reason"], "quit");
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("client did not exit")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    // The server saw exactly the sendable text and !exit (and the other client's line):
    // nothing refused was sent.
    assert_eq!(
        server.received(),
        [
            "hello old server".to_owned(),
            "hi from the old client".to_owned(),
            longest,
            "!exit".to_owned()
        ]
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .await
        .expect("stderr");
    assert!(err.contains("NO authentication"), "{err}");
}
