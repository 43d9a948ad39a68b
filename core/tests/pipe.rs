//! A client and a server complete the handshake with each other over an
//! in-memory pipe, through the blocking driver, for every group, then
//! exchange every message type each side may send.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use dhchat_core::driver::blocking;
use dhchat_core::driver::{Buffers, DriverError};
use dhchat_core::error::{Error, Refusal};
use dhchat_core::group::Group;
use dhchat_core::handshake::{AdmitAll, ClientConfig};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::message::{ChatMessage, Message, Nicks};
use dhchat_core::record::MAX_RECORD;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// One direction of the pipe: a byte queue; reading an empty queue whose
/// writer has gone is end of stream.
#[derive(Default)]
struct Queue {
    bytes: Mutex<(VecDeque<u8>, bool)>,
    ready: Condvar,
}

/// One end of an in-memory duplex stream.
struct End {
    rx: Arc<Queue>,
    tx: Arc<Queue>,
}

fn pipe() -> (End, End) {
    let a = Arc::new(Queue::default());
    let b = Arc::new(Queue::default());
    (
        End {
            rx: a.clone(),
            tx: b.clone(),
        },
        End { rx: b, tx: a },
    )
}

impl Drop for End {
    fn drop(&mut self) {
        let mut q = self.tx.bytes.lock().expect("lock");
        q.1 = true;
        self.tx.ready.notify_all();
    }
}

impl embedded_io::ErrorType for End {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for End {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut q = self.rx.bytes.lock().expect("lock");
        while q.0.is_empty() && !q.1 {
            q = self.rx.ready.wait(q).expect("wait");
        }
        let n = buf.len().min(q.0.len());
        for b in buf.iter_mut().take(n) {
            *b = q.0.pop_front().unwrap_or(0);
        }
        Ok(n)
    }
}

impl embedded_io::Write for End {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut q = self.tx.bytes.lock().expect("lock");
        q.0.extend(buf);
        self.tx.ready.notify_all();
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn server_sends() -> Vec<Message<'static>> {
    static NICKS: [&str; 3] = ["alice", "bob", "carol"];
    vec![
        Message::Message(ChatMessage {
            time_ms: 1_700_000_000_000,
            history: true,
            legacy: false,
            account: true,
            from: "bob",
            room: "#lobby",
            text: "from history",
        }),
        Message::Message(ChatMessage {
            time_ms: 1_700_000_000_001,
            history: false,
            legacy: true,
            account: false,
            from: "legacy-0a1b2c3d",
            room: "@alice",
            text: "direct\tmessage",
        }),
        Message::Roster {
            room: "#lobby",
            more: false,
            nicks: Nicks::List(&NICKS),
        },
        Message::Notice {
            text: "bob joined #lobby",
        },
        Message::Error {
            code: 6,
            text: "no such nick",
        },
        Message::Ping {
            nonce: [1, 2, 3, 4, 5, 6, 7, 8],
        },
        Message::Pong {
            nonce: [8, 7, 6, 5, 4, 3, 2, 1],
        },
        Message::Close {
            reason: "server shutting down",
        },
    ]
}

fn client_sends() -> Vec<Message<'static>> {
    vec![
        Message::Say {
            room: "#lobby",
            text: "hello, world",
        },
        Message::Say {
            room: "@bob",
            text: "psst",
        },
        Message::Join { room: "#rust" },
        Message::Part { room: "#rust" },
        Message::Nick { nick: "alice2" },
        Message::Who { room: "#lobby" },
        Message::Error {
            code: 1,
            text: "client-side complaint",
        },
        Message::Pong {
            nonce: [1, 2, 3, 4, 5, 6, 7, 8],
        },
        Message::Ping { nonce: [9; 8] },
        Message::Close { reason: "bye" },
    ]
}

fn run_pipe(group: Group) {
    let identity = IdentityKey::from_seed(&[0x11; 32]).expect("seed");
    let server_key = identity.public_key();
    let (client_end, mut server_end) = pipe();

    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let mut bufs = Buffers::new();
        let (mut conn, hello) = blocking::accept(
            &mut server_end,
            group,
            &identity,
            &mut AdmitAll,
            &mut rng,
            &mut bufs,
        )
        .expect("server handshake");
        assert_eq!(hello.nick, "alice");
        assert_eq!(hello.client_key, None);
        let fingerprint = conn.info().expect("admitted").fingerprint;
        let mut out = vec![0u8; MAX_RECORD];
        let n = conn
            .welcome("alice", "pipe", "hi", &mut rng, &mut out)
            .expect("welcome");
        embedded_io::Write::write_all(&mut server_end, &out[..n]).expect("write");
        let Some((mut send_half, mut reader, _)) = conn.split() else {
            panic!("welcomed")
        };
        let mut send = |end: &mut End, m: &Message<'_>| {
            let n = send_half.seal(m, &mut rng, &mut out).expect("seal");
            embedded_io::Write::write_all(end, &out[..n]).expect("write");
        };
        // Receive everything the client sends, in order.
        let mut rx = vec![0u8; MAX_RECORD];
        for expected in client_sends() {
            let received = loop {
                let n =
                    embedded_io::Read::read(&mut server_end, reader.space(&mut rx)).expect("read");
                if let Some(r) = reader.received(n, &mut rx).expect("open") {
                    break r;
                }
            };
            assert_eq!(received.message, Ok(expected));
        }
        for m in server_sends() {
            send(&mut server_end, &m);
        }
        fingerprint
    });

    let rng = ChaCha20Rng::from_seed([2; 32]);
    let mut bufs = Buffers::new();
    let mut pin: PublicKey = server_key;
    let config = ClientConfig::new("alice");
    let mut conn =
        blocking::connect(client_end, &config, &mut pin, rng, &mut bufs).expect("connect");
    let welcome = conn.welcome().expect("welcome");
    assert_eq!(
        (welcome.nick, welcome.server_name, welcome.motd),
        ("alice", "pipe", "hi")
    );
    assert_eq!(conn.info().group, group);
    assert_eq!(conn.info().peer_key, Some(server_key));
    let client_fp = conn.info().fingerprint;
    for m in client_sends() {
        conn.send(&m).expect("send");
    }
    for expected in server_sends() {
        let got = conn.recv().expect("recv");
        assert_eq!(got, expected);
    }
    // After CLOSE the connection is closed.
    assert!(matches!(
        conn.recv(),
        Err(DriverError::Protocol(Error::PeerClosed))
    ));
    let server_fp = server.join().expect("server thread");
    assert_eq!(client_fp, server_fp, "both ends show the same fingerprint");
}

#[test]
fn ffdhe2048_client_and_server_handshake_and_exchange_every_type() {
    run_pipe(Group::Ffdhe2048);
}

#[test]
fn ffdhe3072_client_and_server_handshake_and_exchange_every_type() {
    run_pipe(Group::Ffdhe3072);
}

#[test]
fn ffdhe4096_client_and_server_handshake_and_exchange_every_type() {
    run_pipe(Group::Ffdhe4096);
}

#[test]
fn a_client_below_its_minimum_group_refuses_the_server() {
    let identity = IdentityKey::from_seed(&[0x12; 32]).expect("seed");
    let key = identity.public_key();
    let (client_end, mut server_end) = pipe();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let mut bufs = Buffers::new();
        blocking::accept(
            &mut server_end,
            Group::Ffdhe2048,
            &identity,
            &mut AdmitAll,
            &mut rng,
            &mut bufs,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    let mut bufs = Buffers::new();
    let mut pin = key;
    let config = ClientConfig {
        min_group_bits: 3072,
        ..ClientConfig::new("alice")
    };
    let err = blocking::connect(
        client_end,
        &config,
        &mut pin,
        ChaCha20Rng::from_seed([4; 32]),
        &mut bufs,
    )
    .expect_err("group too small");
    assert!(matches!(
        err,
        DriverError::Protocol(Error::GroupTooSmall {
            offered_bits: 2048,
            minimum_bits: 3072
        })
    ));
    // The client hung up without sending CLIENT_KEY: the server sees the loss.
    assert!(server.join().expect("thread").is_err());
}

#[test]
fn an_unauthorized_client_gets_error_3_then_close() {
    let identity = IdentityKey::from_seed(&[0x13; 32]).expect("seed");
    let key = identity.public_key();
    let client_id = IdentityKey::from_seed(&[0x14; 32]).expect("seed");
    let (client_end, mut server_end) = pipe();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let mut bufs = Buffers::new();
        let allowed = IdentityKey::from_seed(&[0x15; 32])
            .expect("seed")
            .public_key();
        let mut policy = move |k: Option<&PublicKey>| k == Some(&allowed);
        blocking::accept(
            &mut server_end,
            Group::Ffdhe2048,
            &identity,
            &mut policy,
            &mut rng,
            &mut bufs,
        )
        .map(|_| ())
    });
    let mut bufs = Buffers::new();
    let mut pin = key;
    let config = ClientConfig {
        identity: Some(&client_id),
        ..ClientConfig::new("alice")
    };
    let err = blocking::connect(
        client_end,
        &config,
        &mut pin,
        ChaCha20Rng::from_seed([6; 32]),
        &mut bufs,
    )
    .expect_err("refused");
    match err {
        DriverError::Protocol(Error::RefusedByServer { code, text }) => {
            assert_eq!(code, 3);
            assert!(
                text.as_str().contains("not authorized"),
                "{}",
                text.as_str()
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        server.join().expect("thread"),
        Err(DriverError::Protocol(Error::Refused(
            Refusal::NotAuthorized
        )))
    ));
}
