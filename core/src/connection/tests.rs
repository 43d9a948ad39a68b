//! A client and a server connection driven against each other in memory,
//! one byte at a time, with no I/O at all.

extern crate std;

use std::collections::VecDeque;
use std::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{ClientConnection, ClientEvent, ServerConnection, ServerEvent};
use crate::dh::{DH_MSG_LEN, LEN_PK};
use crate::error::{code, Error, RecordError};
use crate::group::Group;
use crate::handshake::{AdmitAll, ClientConfig};
use crate::identity::{IdentityKey, PublicKey};
use crate::message::{msg_type, Message};
use crate::record::MAX_RECORD;
use crate::reply::Reply;

/// One end: its buffers, its RNG, and the bytes the peer sent it.
struct End {
    rx: Vec<u8>,
    tx: Vec<u8>,
    rng: ChaCha20Rng,
    inbound: VecDeque<u8>,
}

impl End {
    fn new(seed: u8) -> Self {
        Self {
            rx: std::vec![0; MAX_RECORD],
            tx: std::vec![0; MAX_RECORD],
            rng: ChaCha20Rng::from_seed([seed; 32]),
            inbound: VecDeque::new(),
        }
    }
}

/// Moves one byte from `inbound` into the space the machine asks for.
fn one_byte(inbound: &mut VecDeque<u8>, space: &mut [u8]) -> usize {
    match (space.first_mut(), inbound.pop_front()) {
        (Some(slot), Some(b)) => {
            *slot = b;
            1
        }
        (_, Some(b)) => {
            inbound.push_front(b);
            0
        }
        _ => 0,
    }
}

/// Runs both handshakes byte by byte; returns the established pair.
fn established(
    identity: &IdentityKey,
    pin: &mut PublicKey,
) -> (
    ClientConnection<'static, PublicKey>,
    ServerConnection,
    End,
    End,
) {
    let pin: &'static mut PublicKey = std::boxed::Box::leak(std::boxed::Box::new(*pin));
    let mut c = End::new(1);
    let mut s = End::new(2);
    let mut client = ClientConnection::new(ClientConfig::new("alice"), pin);
    let (mut server, n) =
        ServerConnection::start(Group::Ffdhe2048, &mut s.rng, &mut s.tx).expect("server start");
    c.inbound.extend(&s.tx[..n]);
    let mut welcomed = false;
    while !welcomed {
        let progress_before = c.inbound.len() + s.inbound.len();
        // Client: one byte.
        let n = one_byte(&mut c.inbound, client.space(&mut c.rx));
        if n == 1 {
            match client
                .received(n, &mut c.rx, &mut c.rng, &mut c.tx)
                .expect("client")
            {
                ClientEvent::NeedBytes => {}
                ClientEvent::Send(n) => s.inbound.extend(&c.tx[..n]),
                ClientEvent::Compute(step) => {
                    let dh: Vec<u8> = c.rx[..DH_MSG_LEN].to_vec();
                    let (done, n) = step.run(&dh, &mut c.rng, &mut c.tx).expect("key");
                    s.inbound.extend(&c.tx[..n]);
                    client.resume(done);
                }
                ClientEvent::Welcome(w) => {
                    assert_eq!(w.nick, "alice");
                    assert_eq!(w.motd, "hello");
                    welcomed = true;
                }
                ClientEvent::Received(_) => panic!("no record after WELCOME yet"),
            }
        }
        // Server: one byte.
        let n = one_byte(&mut s.inbound, server.space(&mut s.rx));
        if n == 1 {
            match server
                .received(n, &mut s.rx, &mut AdmitAll, &mut s.rng, &mut s.tx)
                .expect("server")
            {
                ServerEvent::NeedBytes => {}
                ServerEvent::Compute(step) => {
                    let y: Vec<u8> = s.rx[..LEN_PK].to_vec();
                    let (done, n) = step.run(&y, identity, &mut s.rng, &mut s.tx).expect("key");
                    c.inbound.extend(&s.tx[..n]);
                    server.resume(done);
                }
                ServerEvent::Hello(h) => {
                    assert_eq!(h.nick, "alice");
                    let n = server
                        .welcome("alice", "test", "hello", &mut s.rng, &mut s.tx)
                        .expect("welcome");
                    c.inbound.extend(&s.tx[..n]);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            welcomed || c.inbound.len() + s.inbound.len() > 0 || progress_before > 0,
            "the handshake stalled"
        );
    }
    (client, server, c, s)
}

/// Delivers what is in `s.inbound` to the server one byte at a time and
/// returns each opened record's (type, message ok?, reply).
fn server_reads(
    server: &mut ServerConnection,
    s: &mut End,
) -> Vec<(u8, Result<(), Error>, Option<Reply>)> {
    let mut out = Vec::new();
    while !s.inbound.is_empty() {
        let n = one_byte(&mut s.inbound, server.space(&mut s.rx));
        match server
            .received(n, &mut s.rx, &mut AdmitAll, &mut s.rng, &mut s.tx)
            .expect("server")
        {
            ServerEvent::NeedBytes => {}
            ServerEvent::Received(r) => out.push((r.msg_type, r.message.map(|_| ()), r.reply)),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

fn setup() -> (
    ClientConnection<'static, PublicKey>,
    ServerConnection,
    End,
    End,
) {
    let identity = IdentityKey::from_seed(&[9; 32]).expect("seed");
    let mut pin = identity.public_key();
    established(&identity, &mut pin)
}

#[test]
fn a_client_and_a_server_fed_one_byte_at_a_time_reach_welcome_and_exchange_messages() {
    let (mut client, mut server, mut c, mut s) = setup();
    assert!(client.is_established());
    assert_eq!(
        client.info().map(|i| i.fingerprint),
        server.info().map(|i| i.fingerprint)
    );
    let say = Message::Say {
        room: "#lobby",
        text: "hi there",
    };
    let n = client
        .sender()
        .expect("open")
        .seal(&say, &mut c.rng, &mut c.tx)
        .expect("seal");
    s.inbound.extend(&c.tx[..n]);
    let mut got = None;
    while !s.inbound.is_empty() {
        let n = one_byte(&mut s.inbound, server.space(&mut s.rx));
        if let ServerEvent::Received(r) = server
            .received(n, &mut s.rx, &mut AdmitAll, &mut s.rng, &mut s.tx)
            .expect("server")
        {
            assert_eq!(r.message, Ok(say));
            assert_eq!(r.reply, None);
            got = Some(());
        }
    }
    assert!(got.is_some(), "the SAY arrived");
    // And back, byte by byte.
    let notice = Message::Notice { text: "bob joined" };
    let n = server
        .sender()
        .expect("open")
        .seal(&notice, &mut s.rng, &mut s.tx)
        .expect("seal");
    c.inbound.extend(&s.tx[..n]);
    let mut got = None;
    while !c.inbound.is_empty() {
        let n = one_byte(&mut c.inbound, client.space(&mut c.rx));
        if let ClientEvent::Received(r) = client
            .received(n, &mut c.rx, &mut c.rng, &mut c.tx)
            .expect("client")
        {
            assert_eq!(r.message, Ok(notice));
            got = Some(());
        }
    }
    assert!(got.is_some(), "the NOTICE arrived");
}

#[test]
fn ping_gets_pong_with_the_same_nonce() {
    let (mut client, mut server, mut c, mut s) = setup();
    let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
    let n = client
        .sender()
        .expect("open")
        .seal(&Message::Ping { nonce }, &mut c.rng, &mut c.tx)
        .expect("seal");
    s.inbound.extend(&c.tx[..n]);
    let got = server_reads(&mut server, &mut s);
    assert_eq!(
        got,
        std::vec![(msg_type::PING, Ok(()), Some(Reply::Pong(nonce)))]
    );
}

#[test]
fn a_broken_rule_gets_its_error_code_and_the_session_stays() {
    let (mut client, mut server, mut c, mut s) = setup();
    let send = client.sender().expect("open");
    // A SAY to a bad room (ERROR 4), an unknown type (ERROR 2), a type the
    // client never receives sent back to the server (MESSAGE: ERROR 2), a
    // second CLIENT_HELLO (ERROR 2), then a good JOIN.
    for pt in [
        &b"\x10\x05lobbyhi"[..],
        &b"\x7f"[..],
        &b"\x11"[..],
        &b"\x02\x00\x03bob"[..],
        &b"\x12\x04#dev"[..],
    ] {
        let n = send
            .seal_plaintext(pt, &mut c.rng, &mut c.tx)
            .expect("seal");
        s.inbound.extend(&c.tx[..n]);
    }
    let got = server_reads(&mut server, &mut s);
    let codes: Vec<(u8, Option<u16>)> = got
        .iter()
        .map(|(t, _, r)| {
            let code = match r {
                Some(Reply::Error { code, .. }) => Some(*code),
                _ => None,
            };
            (*t, code)
        })
        .collect();
    assert_eq!(
        codes,
        std::vec![
            (msg_type::SAY, Some(code::BAD_NAME)),
            (0x7f, Some(code::UNSUPPORTED_TYPE)),
            (msg_type::MESSAGE, Some(code::UNSUPPORTED_TYPE)),
            (msg_type::CLIENT_HELLO, Some(code::UNSUPPORTED_TYPE)),
            (msg_type::JOIN, None),
        ]
    );
    assert_eq!(got[4].1, Ok(()), "the session stayed open");
}

#[test]
fn error_pong_and_close_are_never_answered_with_error() {
    let (mut client, mut server, mut c, mut s) = setup();
    let send = client.sender().expect("open");
    // Malformed ERROR (no code), malformed PONG (short nonce), a valid
    // ERROR and PONG, then a malformed CLOSE (not UTF-8).
    for pt in [
        &b"\x18\x01"[..],
        &b"\x1a\x01\x02"[..],
        &b"\x18\x00\x01oops"[..],
        &b"\x1a\x01\x02\x03\x04\x05\x06\x07\x08"[..],
        &b"\x1f\xff"[..],
    ] {
        let n = send
            .seal_plaintext(pt, &mut c.rng, &mut c.tx)
            .expect("seal");
        s.inbound.extend(&c.tx[..n]);
    }
    let got = server_reads(&mut server, &mut s);
    assert_eq!(got.len(), 5);
    for (t, _, reply) in &got {
        assert_eq!(*reply, None, "type 0x{t:02x} was answered");
    }
    assert!(matches!(got[0].1, Err(Error::MalformedControl { .. })));
    assert_eq!(got[4].1, Err(Error::PeerClosed));
    // After CLOSE the connection has ended.
    assert!(server.space(&mut s.rx).is_empty());
}

#[test]
fn a_session_refuses_to_seal_handshake_message_types() {
    let (mut client, mut server, mut c, mut s) = setup();
    let key = [0u8; 32];
    let sig = [0u8; 64];
    let cs = client.sender().expect("open");
    assert_eq!(
        cs.seal(
            &Message::ClientHello {
                identity: None,
                nick: "again"
            },
            &mut c.rng,
            &mut c.tx
        ),
        Err(Error::HandshakeType(msg_type::CLIENT_HELLO))
    );
    let ss = server.sender().expect("open");
    assert_eq!(
        ss.seal(
            &Message::Welcome {
                nick: "x",
                server_name: "",
                motd: ""
            },
            &mut s.rng,
            &mut s.tx
        ),
        Err(Error::HandshakeType(msg_type::WELCOME))
    );
    assert_eq!(
        ss.seal(
            &Message::ServerAuth {
                server_key: &key,
                signature: &sig
            },
            &mut s.rng,
            &mut s.tx
        ),
        Err(Error::HandshakeType(msg_type::SERVER_AUTH))
    );
    // Nothing was sealed: the sequence numbers did not move.
    assert_eq!(cs.sent(), 1);
    assert_eq!(ss.sent(), 2);
}

#[test]
fn a_bad_length_field_ends_the_connection_before_the_rest_is_read() {
    let (mut client, _server, mut c, _s) = setup();
    c.inbound.extend([0x00, 0x3f, 0xaa]);
    let n = one_byte(&mut c.inbound, client.space(&mut c.rx));
    assert!(matches!(
        client.received(n, &mut c.rx, &mut c.rng, &mut c.tx),
        Ok(ClientEvent::NeedBytes)
    ));
    let n = one_byte(&mut c.inbound, client.space(&mut c.rx));
    assert_eq!(
        client.received(n, &mut c.rx, &mut c.rng, &mut c.tx).err(),
        Some(Error::Record(RecordError::LengthTooShort(63)))
    );
    assert_eq!(
        c.inbound.len(),
        1,
        "nothing after the length field was read"
    );
}

#[cfg(feature = "alloc")]
#[test]
fn an_encoded_message_is_sealed_as_it_is_only_in_the_direction_and_phase_its_type_allows() {
    use crate::message::MessageBuf;
    let (mut client, mut server, mut c, mut s) = setup();
    // A client's SAY, encoded once, reaches the server as a SAY.
    let say = MessageBuf::new(&Message::Say {
        room: "#lobby",
        text: "encoded once",
    })
    .expect("valid SAY");
    let cs = client.sender().expect("open");
    let n = cs.seal_buf(&say, &mut c.rng, &mut c.tx).expect("seal");
    s.inbound.extend(&c.tx[..n]);
    assert_eq!(
        server_reads(&mut server, &mut s),
        std::vec![(msg_type::SAY, Ok(()), None)]
    );
    // A type the client never sends, and a handshake type, are refused and
    // nothing is sealed.
    let notice = MessageBuf::new(&Message::Notice { text: "not yours" }).expect("valid");
    let sent = cs.sent();
    assert_eq!(
        cs.seal_buf(&notice, &mut c.rng, &mut c.tx),
        Err(Error::WrongDirection(msg_type::NOTICE))
    );
    assert_eq!(cs.sent(), sent);
    let welcome = MessageBuf::new(&Message::Welcome {
        nick: "x",
        server_name: "",
        motd: "",
    })
    .expect("valid");
    let ss = server.sender().expect("open");
    let sent = ss.sent();
    assert_eq!(
        ss.seal_buf(&welcome, &mut s.rng, &mut s.tx),
        Err(Error::HandshakeType(msg_type::WELCOME))
    );
    assert_eq!(ss.sent(), sent);
}
