//! Limits: client cap, slow consumers, deadlines, idle clients, connection floods.

use std::time::{Duration, Instant};

use dhchat_core::driver::DriverError;
use dhchat_core::error::Error;
use dhchat_core::message::{msg_type, Message};
use tokio::net::TcpSocket;

use crate::common::{connect, raw_hello, read_to_close, try_connect, RawClient, TestServer, STEP};
use crate::support::{args, live_msg, msg, still_serves, wait_for_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_error_8_and_serves_the_clients_it_has() {
    let server = TestServer::start(&args(&["--max-clients", "2"]));
    let mut a = connect(&server, "a").await;
    let mut b = connect(&server, "b").await;
    match try_connect(server.addr, server.key, "c", None).await {
        Err(DriverError::Protocol(Error::RefusedByServer { code, .. })) => assert_eq!(code, 8),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("admitted beyond --max-clients"),
    }
    a.say("#lobby", "still fine").await;
    assert_eq!(b.recv_msg().await, msg("a", "#lobby", "still fine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_disconnected_while_others_keep_receiving() {
    let server = TestServer::start(&args(&[
        "--queue",
        "200",
        "--history",
        "0",
        "--retain",
        "100",
        "--rate",
        "100000",
        "--burst",
        "100000",
    ]));
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let mut slow = connect(&server, "slow").await;
    for c in [&mut alice, &mut bob, &mut slow] {
        c.send(&Message::Join { room: "#flood" }).await;
        c.send(&Message::Who { room: "#flood" }).await;
    }
    // Bob's JOIN is done when his ROSTER arrives; drain it and the notices.
    loop {
        if bob.recv().await.msg_type() == msg_type::ROSTER {
            break;
        }
    }
    const N: usize = 3000;
    const ROUND: usize = 50;
    let text = "x".repeat(3990);
    // Alice sends in rounds that Bob reads in full: Bob keeps up, the slow
    // client reads nothing and falls ever further behind.
    for round in 0..N / ROUND {
        for i in 0..ROUND {
            alice
                .say("#flood", &format!("{} {text}", round * ROUND + i))
                .await;
        }
        for i in 0..ROUND {
            match live_msg(&mut bob).await.message() {
                Message::Message(c) => {
                    assert_eq!(c.from, "alice");
                    assert!(c.text.starts_with(&format!("{} ", round * ROUND + i)));
                }
                other => panic!("{other:?}"),
            }
        }
    }
    wait_for_log(&server, "cannot keep up").await;
    // The slow client finds its connection ended after what was buffered.
    let mut received = 0;
    let end = loop {
        match slow.try_recv(STEP).await {
            Some(Ok(got)) if got.msg_type() == msg_type::MESSAGE => received += 1,
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("slow client's connection was not closed"),
        }
    };
    assert!(
        received < N,
        "the slow client got everything: it was not cut off"
    );
    assert!(end.is_fatal(), "{end}");
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_dropped_at_the_deadline_while_others_are_served() {
    let server = TestServer::start(&args(&["--handshake-timeout", "2"]));
    let start = Instant::now();
    let (mut silent, _hello) = raw_hello(server.addr).await;
    still_serves(&server).await;
    assert_eq!(
        read_to_close(&mut silent).await,
        0,
        "no byte after SERVER_HELLO"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "closed before the deadline"
    );
    wait_for_log(&server, "not finished within 2s").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_gets_ping_and_is_dropped_if_it_stays_silent() {
    let server = TestServer::start(&args(&["--idle-timeout", "1"]));
    let mut raw = RawClient::connect(&server, "quiet").await;
    let mut live = connect(&server, "live").await;
    // The live client keeps reading, so its driver answers every PING.
    let live_task = tokio::spawn(async move {
        let got = live_msg(&mut live).await;
        (live, got)
    });
    assert_eq!(raw.recv_skip_notices().await.msg_type(), msg_type::PING);
    // The silent one is dropped after another interval.
    loop {
        match raw.recv().await {
            Ok(_) => continue,
            Err(e) => {
                assert!(e.is_fatal());
                break;
            }
        }
    }
    wait_for_log(&server, "idle timeout").await;
    // Long enough for the live client to have been pinged (and to answer).
    let mut other = connect(&server, "other").await;
    other.say("#lobby", "are you there").await;
    let (_live, got) = live_task.await.expect("live");
    assert_eq!(got, msg("other", "#lobby", "are you there"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_does_not_stop_a_good_client() {
    let server = TestServer::start(&args(&["--max-per-ip", "16", "--handshake-timeout", "5"]));
    // The flood comes from another loopback address and never sends a byte.
    let mut flood = Vec::new();
    for _ in 0..300 {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind 127.0.0.2");
        if let Ok(Ok(s)) = tokio::time::timeout(STEP, socket.connect(server.addr)).await {
            flood.push(s);
        }
    }
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    alice.say("#lobby", "despite the flood").await;
    assert_eq!(
        bob.recv_msg().await,
        msg("alice", "#lobby", "despite the flood")
    );
    wait_for_log(&server, "from this address").await;
    drop(flood);
}
