//! Legacy peers written from LEGACY.md for the tests: a legacy client (like the original
//! curses client) and a legacy server (like the original server: the MPI-wrapped
//! composite modulus with g = 258, relays `"<ip>: <text>"`, paces its writes).
//! The cryptographic steps are the core's `legacy` module, whose output is pinned to
//! the original program's by `core/tests/vectors/legacy.json`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhchat_core::legacy::{
    self, respond_to_server, LegacyKey, ServerExchange, CLIENT_KEY_LEN, IV_LEN, MAX_READ,
    SERVER_KEY_LEN,
};
use dhchat_host::rng::new_rng;
use rand_core::Rng as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long any single wait may take.
pub const STEP: Duration = Duration::from_secs(20);

/// Seals `text` as one legacy message with a random IV.
pub fn seal(key: &LegacyKey, text: &str) -> Vec<u8> {
    let mut iv = [0u8; IV_LEN];
    new_rng().fill_bytes(&mut iv);
    let mut out = vec![0u8; MAX_READ];
    let n = legacy::seal(key, &iv, text, &mut out).expect("seal");
    out.truncate(n);
    out
}

/// A legacy client: each read is one message, as in the original.
pub struct LegacyClient {
    /// The connection.
    pub stream: TcpStream,
    /// The key.
    pub key: LegacyKey,
}

impl LegacyClient {
    /// Connects and runs the key exchange as the original client does.
    pub async fn connect(addr: SocketAddr) -> LegacyClient {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        let mut msg = vec![0u8; SERVER_KEY_LEN];
        tokio::time::timeout(STEP, stream.read_exact(&mut msg))
            .await
            .expect("key message timed out")
            .expect("key message");
        let mut reply = vec![0u8; CLIENT_KEY_LEN];
        let key = respond_to_server(&msg, &mut new_rng(), &mut reply).expect("server key");
        stream.write_all(&reply).await.expect("send key");
        LegacyClient { stream, key }
    }

    /// Sends one message in one write.
    pub async fn say(&mut self, text: &str) {
        let msg = seal(&self.key, text);
        self.stream.write_all(&msg).await.expect("write");
    }

    /// Writes `bytes` as they are, reporting a failed write (the server has
    /// dropped this client) instead of panicking.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends raw bytes in one write.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// One read, taken as one message as the original does: it must open, or the
    /// original client's receive thread would have died. `None` at end of stream.
    pub async fn recv(&mut self) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(STEP, self.stream.read(&mut buf))
            .await
            .expect("legacy recv timed out")
            .expect("legacy read");
        if n == 0 {
            return None;
        }
        assert!(
            n <= MAX_READ,
            "a read of {n} bytes: messages were coalesced"
        );
        let text = legacy::open(&self.key, &mut buf[..n])
            .unwrap_or_else(|e| panic!("a read of {n} bytes is not one message: {e}"));
        Some(text.to_owned())
    }

    /// Reads until a line satisfying `f` arrives; returns it.
    pub async fn recv_until(&mut self, f: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.recv().await.expect("legacy stream ended");
            if f(&line) {
                return line;
            }
        }
    }

    /// True if the server closes the connection within [`STEP`] (reads until then).
    pub async fn is_dropped(&mut self) -> bool {
        let mut buf = vec![0u8; 4096];
        let end = tokio::time::Instant::now() + STEP;
        loop {
            match tokio::time::timeout_at(end, self.stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// The original server's modulus as it goes on the wire: OpenSSL's MPI encoding of the
/// ffdhe2048 prime (`0x00000101 || 0x00 || prime`), a 2065-bit composite.
pub fn wrapped_modulus() -> Vec<u8> {
    let prime = dhchat_core::group::Group::Ffdhe2048.prime();
    let mut p = vec![0x00, 0x00, 0x01, 0x01, 0x00];
    p.extend_from_slice(prime);
    p
}

/// A legacy server like the original: g = 258 and the wrapped composite modulus,
/// relays every message as `"<ip>: <text>"` to the other clients, announces joins,
/// answers `!exit` with `Acknowledged`, and paces its writes.
pub struct LegacyServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every text it received, in order.
    pub received: Arc<Mutex<Vec<String>>>,
    /// The connected clients.
    pub clients: Clients,
}

impl LegacyServer {
    /// Starts it on 127.0.0.1:0.
    pub async fn start() -> LegacyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let clients = Arc::new(Mutex::new(Vec::new()));
        let (r, c) = (received.clone(), clients.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let (r, c) = (r.clone(), c.clone());
                tokio::spawn(serve(stream, peer, r, c));
            }
        });
        LegacyServer {
            addr,
            received,
            clients,
        }
    }

    /// The texts received so far.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }

    /// Sends `text` to every connected client (paced).
    pub async fn broadcast(&self, text: &str) {
        let clients = self.clients.lock().expect("lock").clone();
        for (key, wr) in clients {
            let msg = seal(&key, text);
            let mut wr = wr.lock().await;
            let _ = wr.write_all(&msg).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

/// A connected client's write half, shared.
type Writer = Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>;
/// The connected clients of a [`LegacyServer`].
pub type Clients = Arc<Mutex<Vec<(LegacyKey, Writer)>>>;

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
    clients: Clients,
) {
    let server = ServerExchange::with_parameters(&wrapped_modulus(), &[0x01, 0x02], &mut new_rng())
        .expect("parameters");
    let mut msg = vec![0u8; SERVER_KEY_LEN];
    server.write_key_message(&mut msg).expect("key message");
    stream.write_all(&msg).await.expect("write key");
    // The original takes one recv(1024): the client must send its key in one write.
    let mut client_key = vec![0u8; CLIENT_KEY_LEN];
    let n = stream.read(&mut client_key).await.expect("read key");
    assert_eq!(n, CLIENT_KEY_LEN, "the client key came in pieces");
    let key = server.finish(&client_key).expect("client key");
    let (mut rd, wr) = stream.into_split();
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let ip = peer.ip().to_string();
    // Announce, then register.
    let others = clients.lock().expect("lock").clone();
    for (k, w) in &others {
        let _ = w
            .lock()
            .await
            .write_all(&seal(k, &format!("{ip} has joined")))
            .await;
    }
    clients
        .lock()
        .expect("lock")
        .push((key.clone(), wr.clone()));
    let mut buf = vec![0u8; MAX_READ];
    while let Ok(n) = rd.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let Ok(text) = legacy::open(&key, &mut buf[..n]) else {
            received
                .lock()
                .expect("lock")
                .push("<undecryptable read>".into());
            break;
        };
        let text = text.to_owned();
        received.lock().expect("lock").push(text.clone());
        if text == legacy::EXIT_COMMAND {
            let _ = wr
                .lock()
                .await
                .write_all(&seal(&key, legacy::EXIT_ANSWER))
                .await;
            break;
        }
        let relay = format!("{ip}: {text}");
        let others = clients.lock().expect("lock").clone();
        for (k, w) in &others {
            if Arc::ptr_eq(w, &wr) {
                continue;
            }
            let _ = w.lock().await.write_all(&seal(k, &relay)).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    clients
        .lock()
        .expect("lock")
        .retain(|(_, w)| !Arc::ptr_eq(w, &wr));
}
