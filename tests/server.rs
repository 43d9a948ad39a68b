//! End-to-end tests of `dhchat-server`: the real binary on port 0 with a
//! temporary data directory, real clients through the core's async driver
//! (and the core's handshake state machines directly, for malformed input).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    connect, hello_with, raw_hello, read_to_close, tampering_proxy, try_connect, Got, RawClient,
    TestClient, TestServer, STEP,
};
use dhchat_core::driver::DriverError;
use dhchat_core::error::{Error, RecordError};
use dhchat_core::group::Group;
use dhchat_core::handshake::MAGIC;
use dhchat_core::identity::IdentityKey;
use dhchat_core::message::{msg_type, Message};
use dhchat_host::rng::new_rng;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

const FAST: &[&str] = &["--group", "ffdhe2048"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--group", "ffdhe2048"];
    v.extend_from_slice(extra);
    v
}

fn msg(from: &str, room: &str, text: &str) -> Got {
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
async fn expect_error(c: &mut TestClient) -> u16 {
    loop {
        match c.recv().await {
            Got::Error(code, _) => return code,
            Got::Notice(_) | Got::Msg { .. } => continue,
            other => panic!("expected ERROR, got {other:?}"),
        }
    }
}

/// Receives the next thing that is not a NOTICE.
async fn next(c: &mut TestClient) -> Got {
    loop {
        match c.recv().await {
            Got::Notice(_) => continue,
            other => return other,
        }
    }
}

/// Polls the server's log until it contains `needle`.
async fn wait_for_log(server: &TestServer, needle: &str) {
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
async fn still_serves(server: &TestServer) {
    let mut a = connect(server, "check-a").await;
    let mut b = connect(server, "check-b").await;
    a.say("#lobby", "still up").await;
    assert_eq!(live_msg(&mut b).await, msg(&a.nick, "#lobby", "still up"));
}

/// Receives the next live (not history) MESSAGE.
async fn live_msg(c: &mut TestClient) -> Got {
    loop {
        let got = c.recv_msg().await;
        if !matches!(got, Got::Msg { history: true, .. }) {
            return got;
        }
    }
}

/// Joins a room and waits until the server has done it (its answer to a
/// following WHO arrives), skipping what comes before.
async fn join(c: &mut TestClient, room: &str) {
    c.send(&Message::Join { room }).await;
    c.send(&Message::Who { room }).await;
    loop {
        if let Got::Roster { more: false, .. } = c.recv().await {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_message_reaches_every_other_member_and_not_the_sender() {
    let server = TestServer::start(FAST);
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let mut carol = connect(&server, "carol").await;
    alice.say("#lobby", "hello all").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#lobby", "hello all"));
    assert_eq!(carol.recv_msg().await, msg("alice", "#lobby", "hello all"));
    // Alice's next message is Bob's, not her own echo.
    bob.say("#lobby", "hi alice").await;
    assert_eq!(alice.recv_msg().await, msg("bob", "#lobby", "hi alice"));
    // Rooms: only members receive; JOIN creates; a non-member's SAY is refused.
    join(&mut alice, "#Rust").await;
    bob.send(&Message::Join { room: "#rust" }).await;
    // Bob's JOIN is done once the server answers his WHO.
    bob.send(&Message::Who { room: "#rust" }).await;
    match next(&mut bob).await {
        Got::Roster {
            room,
            more: false,
            nicks,
        } => {
            assert_eq!(room, "#Rust", "first spelling is kept");
            assert_eq!(nicks, ["alice", "bob"]);
        }
        other => panic!("expected ROSTER, got {other:?}"),
    }
    alice.say("#rust", "rusty").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#Rust", "rusty"));
    carol.say("#rust", "let me in").await;
    assert_eq!(expect_error(&mut carol).await, 6);
    carol.say("#lobby", "lobby only").await;
    assert_eq!(alice.recv_msg().await, msg("carol", "#lobby", "lobby only"));
    // PART: no longer receives that room.
    bob.send(&Message::Part { room: "#RUST" }).await;
    bob.send(&Message::Part { room: "#rust" }).await;
    assert_eq!(expect_error(&mut bob).await, 6, "PART of a room not joined");
    alice.say("#rust", "alone").await;
    alice.say("#lobby", "marker").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#lobby", "marker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_one_sender_arrive_in_order() {
    let server = TestServer::start(&args(&["--rate", "100000", "--burst", "100000"]));
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    const N: usize = 500;
    let sender = tokio::spawn(async move {
        for i in 0..N {
            alice.say("#lobby", &format!("message {i}")).await;
        }
        alice
    });
    for i in 0..N {
        assert_eq!(
            bob.recv_msg().await,
            msg("alice", "#lobby", &format!("message {i}"))
        );
    }
    sender.await.expect("sender");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_reach_only_their_recipient() {
    let server = TestServer::start(FAST);
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "Bob").await;
    let mut carol = connect(&server, "carol").await;
    alice.say("@bob", "psst").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "@Bob", "psst"));
    alice.say("@alice", "note to self").await;
    assert_eq!(
        alice.recv_msg().await,
        msg("alice", "@alice", "note to self")
    );
    alice.say("@nobody", "hello?").await;
    assert_eq!(expect_error(&mut alice).await, 6);
    // Carol saw none of it: her next message is a room message.
    bob.say("#lobby", "public").await;
    assert_eq!(carol.recv_msg().await, msg("Bob", "#lobby", "public"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nicks_get_free_variants_and_nick_changes_follow_the_rules() {
    let server = TestServer::start(FAST);
    let mut alice = connect(&server, "alice").await;
    let second = connect(&server, "ALICE").await;
    assert_eq!(alice.nick, "alice");
    assert_eq!(
        second.nick, "ALICE2",
        "taken nick gets a free variant (case-insensitive)"
    );
    let mut bob = connect(&server, "bob").await;
    bob.send(&Message::Nick { nick: "Alice" }).await;
    assert_eq!(expect_error(&mut bob).await, 5);
    bob.send(&Message::Nick { nick: "robert" }).await;
    bob.say("#lobby", "renamed").await;
    assert_eq!(alice.recv_msg().await, msg("robert", "#lobby", "renamed"));
    // The old nick is free again.
    let bob2 = connect(&server, "bob").await;
    assert_eq!(bob2.nick, "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_replayed_on_join_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), &args(&["--history", "3"]));
    let first_key = server.key;
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    for i in 0..5 {
        alice.say("#lobby", &format!("old {i}")).await;
        assert_eq!(
            bob.recv_msg().await,
            msg("alice", "#lobby", &format!("old {i}"))
        );
    }
    join(&mut alice, "#side").await;
    alice.say("#side", "side note").await;
    // JOINs are processed in order with stored messages: once this one is
    // done, "side note" is stored.
    join(&mut alice, "#sync").await;
    // History on JOIN: oldest first, flagged, before live messages.
    bob.send(&Message::Join { room: "#side" }).await;
    match bob.recv_msg().await {
        Got::Msg {
            from,
            room,
            text,
            history: true,
            ..
        } => {
            assert_eq!(
                (from.as_str(), room.as_str(), text.as_str()),
                ("alice", "#side", "side note")
            );
        }
        other => panic!("expected history, got {other:?}"),
    }
    alice.say("#side", "live").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#side", "live"));

    // Graceful shutdown: CLOSE to every client, exit 0.
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    assert!(matches!(next(&mut bob).await, Got::Close(_)));

    let server = TestServer::start_in(dir.path(), &args(&["--history", "3"]));
    assert_eq!(server.key, first_key, "identity unchanged across restarts");
    let mut carol = connect(&server, "carol").await;
    for i in 2..5 {
        match carol.recv_msg().await {
            Got::Msg {
                from,
                room,
                text,
                history,
                ..
            } => {
                assert!(history);
                assert_eq!((from.as_str(), room.as_str()), ("alice", "#lobby"));
                assert_eq!(text, format!("old {i}"));
            }
            other => panic!("{other:?}"),
        }
    }
    let mut dave = connect(&server, "dave").await;
    dave.say("#lobby", "new").await;
    assert_eq!(carol.recv_msg().await, msg("dave", "#lobby", "new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_readable_by_others_stops_the_server_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    drop(TestServer::start_in(dir.path(), FAST));
    let key = dir.path().join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorized_keys_admit_listed_clients_and_refuse_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listed = IdentityKey::generate(&mut new_rng());
    let other = IdentityKey::generate(&mut new_rng());
    let file = dir.path().join("authorized_keys");
    std::fs::write(&file, format!("# team\n\n{} alice\n", listed.public_key())).expect("write");

    // A bad line refuses the start, naming the line.
    let bad = dir.path().join("bad_keys");
    std::fs::write(&bad, "# ok\nssh-rsa AAAA nope\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data-bad"))
        .arg("--authorized-keys")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));

    let data = dir.path().join("data");
    let file_arg = file.to_str().expect("utf8");
    let server = TestServer::start_in(&data, &args(&["--authorized-keys", file_arg]));
    let mut alice = try_connect(server.addr, server.key, "alice", Some(&listed))
        .await
        .expect("listed key admitted");
    for (identity, what) in [(Some(&other), "unlisted key"), (None, "anonymous")] {
        match try_connect(server.addr, server.key, "mallory", identity).await {
            Err(DriverError::Protocol(Error::RefusedByServer { code, .. })) => {
                assert_eq!(code, 3, "{what}")
            }
            Err(e) => panic!("{what}: unexpected error {e}"),
            Ok(_) => panic!("{what} was admitted"),
        }
    }
    // SIGHUP re-reads the file.
    std::fs::write(
        &file,
        format!(
            "{} alice\n{} bob\n",
            listed.public_key(),
            other.public_key()
        ),
    )
    .expect("write");
    server.signal(1);
    wait_for_log(&server, "authorized keys reloaded").await;
    let mut bob = try_connect(server.addr, server.key, "bob", Some(&other))
        .await
        .expect("admitted after reload");
    // A broken file on reload keeps the old list.
    std::fs::write(&file, "garbage\n").expect("write");
    server.signal(1);
    wait_for_log(&server, "keeping the old list").await;
    let _again = try_connect(server.addr, server.key, "bob2", Some(&other))
        .await
        .expect("old list kept");
    bob.say("#lobby", "in").await;
    assert_eq!(alice.recv_msg().await, msg("bob", "#lobby", "in"));
}

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
        if let Got::Roster { .. } = bob.recv().await {
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
            match live_msg(&mut bob).await {
                Got::Msg { from, text, .. } => {
                    assert_eq!(from, "alice");
                    assert!(text.starts_with(&format!("{} ", round * ROUND + i)));
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
            Some(Ok(Got::Msg { .. })) => received += 1,
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
    assert_eq!(raw.recv_skip_notices().await, Got::Ping);
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
async fn a_flipped_bit_from_the_client_ends_only_that_session() {
    let server = TestServer::start(FAST);
    let mut bob = connect(&server, "bob").await;
    let arm = Arc::new(AtomicBool::new(false));
    let proxy = tampering_proxy(server.addr, arm.clone(), true).await;
    let mut victim = try_connect(proxy, server.key, "victim", None)
        .await
        .expect("handshake through proxy");
    arm.store(true, Ordering::SeqCst);
    victim.say("#lobby", "tampered").await;
    wait_for_log(&server, "authentication failed").await;
    // The victim's session is over: the server closed it without a word.
    loop {
        match victim.try_recv(STEP).await {
            Some(Ok(Got::Notice(_))) => continue,
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(e)) => {
                assert!(e.is_fatal());
                break;
            }
            None => panic!("session not ended"),
        }
    }
    // Nothing of the tampered record was delivered; others carry on.
    let mut carol = connect(&server, "carol").await;
    carol.say("#lobby", "after").await;
    assert_eq!(bob.recv_msg().await, msg("carol", "#lobby", "after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_from_the_server_is_an_authentication_error_at_the_client() {
    let server = TestServer::start(FAST);
    let mut bob = connect(&server, "bob").await;
    let arm = Arc::new(AtomicBool::new(false));
    let proxy = tampering_proxy(server.addr, arm.clone(), false).await;
    let mut victim = try_connect(proxy, server.key, "victim", None)
        .await
        .expect("handshake through proxy");
    arm.store(true, Ordering::SeqCst);
    bob.say("#lobby", "to be tampered").await;
    match victim.try_recv(STEP).await {
        Some(Ok(got)) => panic!("a tampered record was delivered: {got:?}"),
        Some(Err(e)) => assert!(
            matches!(e, DriverError::Protocol(Error::Record(RecordError::BadTag))),
            "expected an authentication error, got {e}"
        ),
        None => panic!("no record arrived"),
    }
    drop(victim);
    still_serves(&server).await;
    bob.say("#lobby", "bob still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshake_input_is_closed_without_a_byte() {
    let server = TestServer::start(FAST);
    let p = Group::Ffdhe2048.prime().to_vec();
    let mut p_minus_1 = p.clone();
    *p_minus_1.last_mut().expect("p") -= 1;
    let mut one = vec![0u8; 256];
    one[255] = 1;
    let pack = |v: &[u8]| {
        let mut key = MAGIC.to_vec();
        key.extend(std::iter::repeat_n(0u8, 1024 - v.len()));
        key.extend_from_slice(v);
        key
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage instead of CLIENT_KEY",
            (0..1032u32).map(|i| (i * 7 + 3) as u8).collect(),
        ),
        ("legacy all-zero first bytes", vec![0u8; 1032]),
        ("public value 1", pack(&one)),
        ("public value p-1", pack(&p_minus_1)),
        ("public value p", pack(&p)),
        ("public value 0", pack(&[0])),
    ];
    for (what, bytes) in cases {
        let (mut io, _hello) = raw_hello(server.addr).await;
        io.inner_mut().write_all(&bytes).await.expect("write");
        assert_eq!(
            read_to_close(&mut io).await,
            0,
            "{what}: the server must send nothing"
        );
    }
    still_serves(&server).await;
}

/// The code of the ERROR a refused CLIENT_HELLO got.
fn refusal_code(result: Result<(), Error>) -> u16 {
    match result {
        Err(Error::RefusedByServer { code, .. }) => code,
        other => panic!("expected ERROR then CLOSE, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_client_hello_gets_error_1_then_close() {
    let server = TestServer::start(FAST);
    // Unknown flag bit 1.
    let unknown_flag = [msg_type::CLIENT_HELLO, 0x02, 3, b'b', b'o', b'b'];
    assert_eq!(refusal_code(hello_with(&server, &unknown_flag).await), 1);
    // Trailing byte after the nick.
    let trailing = [msg_type::CLIENT_HELLO, 0x00, 3, b'b', b'o', b'b', 0];
    assert_eq!(refusal_code(hello_with(&server, &trailing).await), 1);
    // Identity flag set but the key and signature missing.
    let overrun = [msg_type::CLIENT_HELLO, 0x01, 3, b'b', b'o', b'b'];
    assert_eq!(refusal_code(hello_with(&server, &overrun).await), 1);
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_nick_in_client_hello_gets_error_4_then_close() {
    let server = TestServer::start(FAST);
    let bad = [msg_type::CLIENT_HELLO, 0x00, 4, b'b', b'!', b'o', b'b'];
    assert_eq!(refusal_code(hello_with(&server, &bad).await), 4);
    let mut long = vec![msg_type::CLIENT_HELLO, 0x00, 33];
    long.extend_from_slice(&[b'a'; 33]);
    assert_eq!(refusal_code(hello_with(&server, &long).await), 4);
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_record_that_is_not_client_hello_is_closed_without_a_byte() {
    let server = TestServer::start(FAST);
    let mut say = vec![msg_type::SAY, 7];
    say.extend_from_slice(b"#lobbyhi");
    assert_eq!(hello_with(&server, &say).await, Err(Error::ConnectionLost));
    still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_length_of_65535_ends_that_session_only() {
    let server = TestServer::start(FAST);
    let mut bob = connect(&server, "bob").await;
    let mut raw = RawClient::connect(&server, "raw").await;
    raw.send_bytes(&[0xff, 0xff, 1, 2, 3, 4]).await;
    loop {
        match raw.recv().await {
            Ok(Got::Notice(_)) | Ok(Got::Msg { .. }) => continue,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => {
                assert!(e.is_fatal());
                break;
            }
        }
    }
    wait_for_log(&server, "record length 65535").await;
    let mut carol = connect(&server, "carol").await;
    carol.say("#lobby", "fine").await;
    assert_eq!(bob.recv_msg().await, msg("carol", "#lobby", "fine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_rules_after_welcome_get_their_error_code_and_the_session_stays() {
    let server = TestServer::start(&args(&["--rate", "1", "--burst", "40"]));
    let mut bob = connect(&server, "bob").await;
    let mut raw = RawClient::connect(&server, "raw").await;
    let mut say = vec![msg_type::SAY, 7];
    say.extend_from_slice(b"#lobby");
    let with = |tail: &[u8]| {
        let mut v = say.clone();
        v.extend_from_slice(tail);
        v
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("control character in text", with(b"red \x1b[31m"), 1),
        ("empty text", with(b""), 1),
        (
            "field overruns the body",
            vec![msg_type::SAY, 40, b'#', b'a'],
            1,
        ),
        (
            "trailing bytes after JOIN",
            [&[msg_type::JOIN, 3][..], b"#ab", b"x"].concat(),
            1,
        ),
        ("invalid UTF-8", with(&[0xff, 0xfe]), 1),
        ("unknown type", vec![0x7f, 1, 2], 2),
        ("server-only type", vec![msg_type::NOTICE], 2),
        (
            "second CLIENT_HELLO",
            [&[msg_type::CLIENT_HELLO, 0, 3][..], b"raw"].concat(),
            2,
        ),
        (
            "bad room name",
            [&[msg_type::JOIN, 5][..], b"lobby"].concat(),
            4,
        ),
        ("bad nick", [&[msg_type::NICK, 3][..], b"a b"].concat(), 4),
        (
            "nick in use",
            [&[msg_type::NICK, 3][..], b"BOB"].concat(),
            5,
        ),
        (
            "SAY to a room not joined",
            [&[msg_type::SAY, 5][..], b"#none", b"hi"].concat(),
            6,
        ),
        (
            "DM to nobody",
            [&[msg_type::SAY, 7][..], b"@nobody", b"hi"].concat(),
            6,
        ),
        (
            "WHO of no room",
            [&[msg_type::WHO, 5][..], b"#none"].concat(),
            6,
        ),
        (
            "PART of a room not joined",
            [&[msg_type::PART, 5][..], b"#none"].concat(),
            6,
        ),
    ];
    for (what, plaintext, code) in cases {
        raw.send_plain(&plaintext).await;
        match raw.recv_skip_notices().await {
            Got::Error(c, _) => assert_eq!(c, code, "{what}"),
            other => panic!("{what}: expected ERROR {code}, got {other:?}"),
        }
    }
    // ERROR and PONG, even malformed, are never answered with ERROR.
    raw.send_plain(&[msg_type::ERROR, 0]).await;
    raw.send_plain(&[msg_type::ERROR, 0, 9, 0xff]).await;
    raw.send_plain(&[msg_type::PONG, 1, 2]).await;
    raw.send(&Message::Ping {
        nonce: *b"12345678",
    })
    .await;
    assert_eq!(raw.recv_skip_notices().await, Got::Pong(*b"12345678"));
    // The session stayed open through all of it.
    raw.send(&Message::Say {
        room: "#lobby",
        text: "still here",
    })
    .await;
    assert_eq!(bob.recv_msg().await, msg("raw", "#lobby", "still here"));
    // Rate limit: the burst is spent; further messages get ERROR 7.
    for _ in 0..60 {
        raw.send(&Message::Say {
            room: "#lobby",
            text: "flood",
        })
        .await;
    }
    match raw.recv_skip_notices().await {
        Got::Error(code, _) => assert_eq!(code, 7),
        other => panic!("expected ERROR 7, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_all_receive_a_broadcast_and_who_lists_them_all() {
    const N: usize = 200;
    let server = Arc::new(TestServer::start(FAST));
    let mut tasks = Vec::new();
    for i in 0..N {
        let server = server.clone();
        // Long nicks, so that WHO needs several ROSTER records.
        tasks.push(tokio::spawn(async move {
            connect(&server, &format!("client-{i:03}-{}", "n".repeat(20))).await
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("connect"));
    }
    let mut sender = clients.pop().expect("sender");
    sender.say("#lobby", "hello everyone").await;
    let mut receivers = Vec::new();
    for mut c in clients {
        let from = sender.nick.clone();
        receivers.push(tokio::spawn(async move {
            assert_eq!(c.recv_msg().await, msg(&from, "#lobby", "hello everyone"));
            c
        }));
    }
    let mut clients = Vec::new();
    for r in receivers {
        clients.push(r.await.expect("receiver"));
    }
    sender.send(&Message::Who { room: "#lobby" }).await;
    let mut nicks = Vec::new();
    let mut records = 0;
    loop {
        match sender.recv().await {
            Got::Roster {
                room,
                more,
                nicks: part,
            } => {
                assert_eq!(room, "#lobby");
                records += 1;
                nicks.extend(part);
                if !more {
                    break;
                }
            }
            Got::Notice(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(records > 1, "one ROSTER record for {N} long nicks");
    nicks.sort();
    nicks.dedup();
    assert_eq!(nicks.len(), N);
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
    wait_for_log(&server, "too many connections from this address").await;
    drop(flood);
}
