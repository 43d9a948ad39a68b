//! Drivers of the sans-io connections: feed a peer's byte stream in the
//! pieces a [`Chunks`] says, act on every event as a host does (run the key
//! step, welcome or refuse, seal the replies), and write down what happened.
//! The same stream fed in whole units must give the same transcript: the
//! framing may not depend on how the bytes arrive.

use dhchat_core::connection::{ClientEvent, ServerEvent};
use dhchat_core::dh::{DH_MSG_LEN, LEN_PK};
use dhchat_core::error::{Refusal, TrustError};
use dhchat_core::handshake::{AdmitAll, ClientConfig};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::record::MAX_RECORD;
use dhchat_core::{ClientConnection, Error, ServerConnection};

use crate::checks::check_received;
use crate::stream::Chunks;
use crate::vectors::{ReplayRng, Vector};

/// What a connection did with a stream: the events (as text) and every byte
/// it asked to send, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// One line per event (handshake steps, deliveries, the end).
    pub events: Vec<String>,
    /// What the connection wrote, one entry per write.
    pub sent: Vec<Vec<u8>>,
}

impl Transcript {
    fn event(&mut self, text: String) {
        self.events.push(text);
    }
}

/// The end of a run, checked the same way for both sides: a failed
/// connection asks for no more bytes and keeps failing with its error.
fn failed(t: &mut Transcript, e: Error, space_left: usize, again: Result<bool, Error>) {
    let _ = e.reaction();
    assert_eq!(space_left, 0, "a failed connection asks for more bytes");
    assert_eq!(again, Err(e), "a failed connection does not keep its error");
    t.event(format!("error {e:?}"));
}

/// How a client connection is set up.
#[derive(Debug, Clone, Copy)]
pub struct ClientSetup {
    /// Which handshake vector (its exponent and IV are drawn).
    pub vector: usize,
    /// Whether the client presents the vector's identity key.
    pub identity: bool,
}

/// Feeds `stream` (what a server sends) to a client connection in the
/// pieces `chunks` says, as a client host does, and returns what happened.
/// Any server key is trusted, so that mutated keys reach WELCOME.
pub fn run_client(setup: ClientSetup, stream: &[u8], mut chunks: Chunks) -> Transcript {
    let v: &Vector = &crate::vectors()[setup.vector];
    let identity = IdentityKey::from_seed(&v.client_seed).expect("client seed");
    let mut config = ClientConfig::new("fuzzer");
    if setup.identity {
        config.identity = Some(&identity);
    }
    let mut trust = |_: &PublicKey| -> Result<(), TrustError> { Ok(()) };
    let mut conn = ClientConnection::new(config, &mut trust);
    let mut rng = ReplayRng::new(&[&v.client_x[..], &v.ivs[1]]);
    let mut rx = vec![0u8; MAX_RECORD];
    let mut tx = vec![0u8; 2 * MAX_RECORD];
    let mut t = Transcript::default();
    let mut at = 0;
    loop {
        let space = conn.space(&mut rx);
        if space.is_empty() {
            t.event("asks for nothing".into());
            return t;
        }
        let n = chunks.next_size().min(space.len()).min(stream.len() - at);
        if n == 0 {
            t.event(format!(
                "end of stream, established {}",
                conn.is_established()
            ));
            return t;
        }
        space[..n].copy_from_slice(&stream[at..at + n]);
        at += n;
        let event = conn.received(n, &mut rx, &mut rng, &mut tx);
        let e = match event {
            Ok(ClientEvent::NeedBytes) => continue,
            Ok(ClientEvent::Send(n)) => {
                t.event("sends CLIENT_HELLO".into());
                t.sent.push(tx[..n].to_vec());
                continue;
            }
            Ok(ClientEvent::Compute(step)) => {
                match step.run(&rx[..DH_MSG_LEN], &mut rng, &mut tx) {
                    Ok((done, n)) => {
                        t.event("sends CLIENT_KEY".into());
                        t.sent.push(tx[..n].to_vec());
                        conn.resume(done);
                        continue;
                    }
                    Err(e) => {
                        // The connection waits for the step's result: it is
                        // dropped, as a host drops it.
                        let _ = e.reaction();
                        t.event(format!("key step error {e:?}"));
                        assert!(conn.space(&mut rx).is_empty());
                        return t;
                    }
                }
            }
            Ok(ClientEvent::Welcome(w)) => {
                t.event(format!("{w:?}"));
                continue;
            }
            Ok(ClientEvent::Received(r)) => {
                check_received(&r);
                t.event(format!("{r:?}"));
                if let Some(reply) = r.reply {
                    let send = conn.sender().expect("established");
                    let n = send
                        .seal_reply(&reply, &mut rng, &mut tx)
                        .expect("a reply fits one record");
                    t.sent.push(tx[..n].to_vec());
                }
                continue;
            }
            Err(e) => e,
        };
        let left = conn.space(&mut rx).len();
        let again = conn.fill(0, &rx);
        failed(&mut t, e, left, again);
        return t;
    }
}

/// How a server connection is set up.
#[derive(Debug, Clone, Copy)]
pub struct ServerSetup {
    /// Which handshake vector (its exponent and IVs are drawn).
    pub vector: usize,
    /// An authorized-keys list that admits no one (else everyone).
    pub admit_none: bool,
    /// Refuse an admitted client as busy (ERROR 8) instead of welcoming it.
    pub busy: bool,
}

/// Feeds `stream` (what a client sends) to a server connection in the
/// pieces `chunks` says, as the server host does, and returns what happened.
pub fn run_server(setup: ServerSetup, stream: &[u8], mut chunks: Chunks) -> Transcript {
    let v: &Vector = &crate::vectors()[setup.vector];
    let identity = IdentityKey::from_seed(&v.server_seed).expect("server seed");
    let mut rng = ReplayRng::new(&[&v.server_x[..], &v.ivs[0], &v.ivs[2]]);
    let mut rx = vec![0u8; MAX_RECORD];
    let mut tx = vec![0u8; 2 * MAX_RECORD];
    let (mut conn, n) = ServerConnection::start(v.group, &mut rng, &mut tx).expect("start");
    assert_eq!(&tx[..n], &v.server_hello[..]);
    let mut admit_none = |_: Option<&PublicKey>| false;
    let mut t = Transcript::default();
    let mut at = 0;
    loop {
        let space = conn.space(&mut rx);
        if space.is_empty() {
            t.event("asks for nothing".into());
            return t;
        }
        let n = chunks.next_size().min(space.len()).min(stream.len() - at);
        if n == 0 {
            t.event("end of stream".into());
            return t;
        }
        space[..n].copy_from_slice(&stream[at..at + n]);
        at += n;
        let event = if setup.admit_none {
            conn.received(n, &mut rx, &mut admit_none, &mut rng, &mut tx)
        } else {
            conn.received(n, &mut rx, &mut AdmitAll, &mut rng, &mut tx)
        };
        let e = match event {
            Ok(ServerEvent::NeedBytes) => continue,
            Ok(ServerEvent::Compute(step)) => {
                match step.run(&rx[..LEN_PK], &identity, &mut rng, &mut tx) {
                    Ok((done, n)) => {
                        t.event("sends SERVER_AUTH".into());
                        t.sent.push(tx[..n].to_vec());
                        conn.resume(done);
                        continue;
                    }
                    Err(e) => {
                        let _ = e.reaction();
                        t.event(format!("key step error {e:?}"));
                        assert!(conn.space(&mut rx).is_empty());
                        return t;
                    }
                }
            }
            Ok(ServerEvent::Hello(hello)) => {
                assert!(
                    !setup.admit_none,
                    "a client got past a list that admits no one"
                );
                t.event(format!("{hello:?}"));
                let nick = hello.nick.to_string();
                let n = if setup.busy {
                    conn.refuse(&Refusal::ServerBusy, &mut rng, &mut tx)
                        .expect("ERROR and CLOSE fit")
                } else {
                    conn.welcome(&nick, "fuzz", "", &mut rng, &mut tx)
                        .expect("WELCOME with the client's valid nick fits")
                };
                t.sent.push(tx[..n].to_vec());
                continue;
            }
            Ok(ServerEvent::Refused { send, refusal }) => {
                t.event(format!("refused {refusal:?}"));
                t.sent.push(tx[..send].to_vec());
                assert!(
                    conn.space(&mut rx).is_empty(),
                    "a refused connection reads on"
                );
                continue;
            }
            Ok(ServerEvent::Received(r)) => {
                check_received(&r);
                t.event(format!("{r:?}"));
                if let Some(reply) = r.reply {
                    let send = conn.sender().expect("established");
                    let n = send
                        .seal_reply(&reply, &mut rng, &mut tx)
                        .expect("a reply fits one record");
                    t.sent.push(tx[..n].to_vec());
                }
                continue;
            }
            Err(e) => e,
        };
        let left = conn.space(&mut rx).len();
        let again = conn.fill(0, &rx);
        failed(&mut t, e, left, again);
        return t;
    }
}
