//! Refusals: bad handshake input, bad CLIENT_HELLOs, broken rules after WELCOME
//! (PROTOCOL.md section 6).

use dhchat_core::error::Error;
use dhchat_core::group::Group;
use dhchat_core::handshake::MAGIC;
use dhchat_core::message::{msg_type, Message};
use tokio::io::AsyncWriteExt;

use crate::common::{connect, hello_with, raw_hello, read_to_close, RawClient, TestServer};
use crate::support::{args, msg, still_serves, FAST};

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
        match raw.recv_skip_notices().await.message() {
            Message::Error { code: c, .. } => assert_eq!(c, code, "{what}"),
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
    assert_eq!(
        raw.recv_skip_notices().await,
        Message::Pong {
            nonce: *b"12345678"
        }
    );
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
    match raw.recv_skip_notices().await.message() {
        Message::Error { code, .. } => assert_eq!(code, 7),
        other => panic!("expected ERROR 7, got {other:?}"),
    }
}
