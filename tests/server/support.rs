//! What the server tests share: arguments, expected messages, waits.

use std::time::{Duration, Instant};

use dhchat_core::message::{msg_type, Message};

use crate::common::{connect, Got, Said, TestClient, TestServer, STEP};

pub const FAST: &[&str] = &["--group", "ffdhe2048"];

pub fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--group", "ffdhe2048"];
    v.extend_from_slice(extra);
    v
}

pub fn msg(from: &str, room: &str, text: &str) -> Said {
    Said {
        from: from.into(),
        room: room.into(),
        text: text.into(),
    }
}

/// Receives until an ERROR arrives (skipping notices and chat), returning
/// its code.
pub async fn expect_error(c: &mut TestClient) -> u16 {
    loop {
        match c.recv().await.message() {
            Message::Error { code, .. } => return code,
            Message::Notice { .. } | Message::Message(_) => continue,
            other => panic!("expected ERROR, got {other:?}"),
        }
    }
}

/// Receives the next thing that is not a NOTICE.
pub async fn next(c: &mut TestClient) -> Got {
    loop {
        let got = c.recv().await;
        if got.msg_type() != msg_type::NOTICE {
            return got;
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
        if !matches!(got.message(), Message::Message(c) if c.history) {
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
        if let Message::Roster { more: false, .. } = c.recv().await.message() {
            return;
        }
    }
}

/// Connects from the local address `source` (127.0.0.2, ... are this
/// machine) and handshakes as `nick`, pinning the server's key; `rcvbuf`
/// sets the socket's receive buffer first (a small one makes a client that
/// never reads fill the server's queue quickly).
pub async fn connect_from(
    server: &TestServer,
    source: std::net::IpAddr,
    nick: &str,
    rcvbuf: Option<u32>,
) -> TestClient {
    use dhchat_core::driver::asynch;
    use dhchat_core::driver::Buffers;
    use dhchat_core::handshake::ClientConfig;
    use dhchat_host::net::FromTokio;
    use dhchat_host::rng::new_rng;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(n) = rcvbuf {
        socket.set_recv_buffer_size(n).expect("rcvbuf");
    }
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .expect("bind the source address");
    let stream = tokio::time::timeout(STEP, socket.connect(server.addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    stream.set_nodelay(true).ok();
    let bufs = Box::new(Buffers::new());
    let mut pin = server.key;
    let config = ClientConfig::new(nick);
    let conn = tokio::time::timeout(
        STEP,
        asynch::connect(
            FromTokio::new(stream),
            &config,
            &mut pin,
            new_rng(),
            &mut dhchat_host::net::BlockingPool::new(1),
            bufs,
        ),
    )
    .await
    .expect("handshake timed out")
    .expect("handshake");
    let nick = conn
        .welcome()
        .map(|w| w.nick.to_string())
        .unwrap_or_default();
    TestClient { conn, nick }
}

/// The loopback address 127.0.0.`n`.
pub fn loopback(n: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, n])
}

/// The server's resident set size in bytes (VmRSS in /proc/PID/status).
pub fn rss_bytes(server: &TestServer) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("/proc/PID/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Log lines containing `needle`.
pub fn log_lines_with(server: &TestServer, needle: &str) -> usize {
    server
        .log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}
