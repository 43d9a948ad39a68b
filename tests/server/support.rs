//! What the server tests share: arguments, expected messages, waits.

use std::time::{Duration, Instant};

use dhchat_core::message::Message;

use crate::common::{connect, Got, TestClient, TestServer, STEP};

pub const FAST: &[&str] = &["--group", "ffdhe2048"];

pub fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--group", "ffdhe2048"];
    v.extend_from_slice(extra);
    v
}

pub fn msg(from: &str, room: &str, text: &str) -> Got {
    Got::Msg {
        from: from.into(),
        room: room.into(),
        text: text.into(),
        history: false,
        legacy: false,
    }
}

/// Receives until an ERROR arrives (skipping notices and chat), returning
/// its code.
pub async fn expect_error(c: &mut TestClient) -> u16 {
    loop {
        match c.recv().await {
            Got::Error(code, _) => return code,
            Got::Notice(_) | Got::Msg { .. } => continue,
            other => panic!("expected ERROR, got {other:?}"),
        }
    }
}

/// Receives the next thing that is not a NOTICE.
pub async fn next(c: &mut TestClient) -> Got {
    loop {
        match c.recv().await {
            Got::Notice(_) => continue,
            other => return other,
        }
    }
}

/// Polls the server's log until it contains `needle`.
pub async fn wait_for_log(server: &TestServer, needle: &str) {
    let start = Instant::now();
    while !server.log_text().contains(needle) {
        assert!(
            start.elapsed() < STEP,
            "log never showed {needle:?}:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Proves that the server is still up and relaying between fresh clients.
pub async fn still_serves(server: &TestServer) {
    let mut a = connect(server, "check-a").await;
    let mut b = connect(server, "check-b").await;
    a.say("#lobby", "still up").await;
    assert_eq!(live_msg(&mut b).await, msg(&a.nick, "#lobby", "still up"));
}

/// Receives the next live (not history) MESSAGE.
pub async fn live_msg(c: &mut TestClient) -> Got {
    loop {
        let got = c.recv_msg().await;
        if !matches!(got, Got::Msg { history: true, .. }) {
            return got;
        }
    }
}

/// Joins a room and waits until the server has done it (its answer to a
/// following WHO arrives), skipping what comes before.
pub async fn join(c: &mut TestClient, room: &str) {
    c.send(&Message::Join { room }).await;
    c.send(&Message::Who { room }).await;
    loop {
        if let Got::Roster { more: false, .. } = c.recv().await {
            return;
        }
    }
}
