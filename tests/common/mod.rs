//! Shared harness for the end-to-end tests: start the real `dhchat-server`
//! binary on port 0 with a temporary data directory (killed on drop), and
//! connect test clients through the core's async driver.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use dhchat_core::driver::asynch::{self, Connection};
use dhchat_core::driver::{Buffers, DriverError};
use dhchat_core::error::Error;
use dhchat_core::handshake::ClientConfig;
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::message::{msg_type, Message, MessageBuf};
use dhchat_host::net::{BlockingPool, FromTokio};
use dhchat_host::rng::{new_rng, HostRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single wait in a test may take before the test fails.
pub const STEP: Duration = Duration::from_secs(20);

/// A running `dhchat-server` process; killed when dropped.
pub struct TestServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its identity key, as printed at start.
    pub key: PublicKey,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Lines it wrote to stdout and stderr after start (logs), collected in
    /// the background.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 with a fresh temporary data directory.
    pub fn start(args: &[&str]) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Self::start_in(&dir, args);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on 127.0.0.1:0 with the given data directory (which
    /// the caller keeps, e.g. to restart on it).
    pub fn start_in(data_dir: &Path, args: &[&str]) -> TestServer {
        // The server refuses a data directory others can access; temporary
        // directories are made 0755.
        if data_dir.is_dir() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .expect("chmod 700 the data directory");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dhchat-server");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log_out = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                log_out.lock().expect("log").push(line);
            }
        });
        let log_err = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log_err.lock().expect("log").push(line);
            }
        });
        let mut addr = None;
        let mut key = None;
        while addr.is_none() || key.is_none() {
            let line = rx.recv_timeout(STEP).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "server did not print its address and key; log: {:?}",
                    log.lock()
                )
            });
            if let Some(a) = line.strip_prefix("listening on ") {
                addr = Some(a.trim().parse().expect("address"));
            } else if let Some(k) = line.strip_prefix("server key ") {
                key = Some(k.trim().parse().expect("key"));
            }
        }
        TestServer {
            child,
            addr: addr.expect("addr"),
            key: key.expect("key"),
            data_dir: data_dir.to_path_buf(),
            log,
            _tmp: None,
        }
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, sig: i32) {
        // SAFETY-free: libc::kill through std is not available; use the kill command.
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Stops the server with SIGTERM and waits for its exit code.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal(15);
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait")
    }

    /// The server's process id (for /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The log lines so far, joined.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The connection type of a test client.
pub type Conn = Connection<FromTokio<TcpStream>, HostRng, Box<Buffers>>;

/// A client driven through the core's async driver.
pub struct TestClient {
    /// The connection.
    pub conn: Conn,
    /// The nick the server assigned.
    pub nick: String,
}

/// Connects and handshakes as `nick`, pinning the server's key.
pub async fn connect(server: &TestServer, nick: &str) -> TestClient {
    try_connect(server.addr, server.key, nick, None)
        .await
        .expect("connect")
}

/// Connects and handshakes, returning the driver's error on failure.
pub async fn try_connect(
    addr: SocketAddr,
    key: PublicKey,
    nick: &str,
    identity: Option<&IdentityKey>,
) -> Result<TestClient, DriverError<std::io::Error>> {
    let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .map_err(DriverError::Io)?;
    stream.set_nodelay(true).ok();
    let bufs = Box::new(Buffers::new());
    let mut pin = key;
    let mut config = ClientConfig::new(nick);
    config.identity = identity;
    let conn = tokio::time::timeout(
        STEP,
        asynch::connect(
            FromTokio::new(stream),
            &config,
            &mut pin,
            new_rng(),
            &mut BlockingPool::new(1),
            bufs,
        ),
    )
    .await
    .expect("handshake timed out")?;
    let nick = conn
        .welcome()
        .map(|w| w.nick.to_string())
        .unwrap_or_default();
    Ok(TestClient { conn, nick })
}

/// A received message kept for assertions: one owned [`MessageBuf`], matched
/// through [`MessageBuf::message`].
pub type Got = MessageBuf;

/// A live (not history, not legacy) MESSAGE from `from` in `room` saying `text`,
/// as a test expects it: equal to a received [`Got`] that is such a MESSAGE
/// (whatever its time and account flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The sender's nick.
    pub from: String,
    /// The room or `@nick`.
    pub room: String,
    /// The text.
    pub text: String,
}

impl PartialEq<Said> for MessageBuf {
    fn eq(&self, said: &Said) -> bool {
        matches!(self.message(), Message::Message(c)
            if c.from == said.from && c.room == said.room && c.text == said.text
                && !c.history && !c.legacy)
    }
}

impl TestClient {
    /// Sends a message.
    pub async fn send(&mut self, msg: &Message<'_>) {
        tokio::time::timeout(STEP, self.conn.send(msg))
            .await
            .expect("send timed out")
            .expect("send");
    }

    /// Sends SAY.
    pub async fn say(&mut self, room: &str, text: &str) {
        self.send(&Message::Say { room, text }).await;
    }

    /// Receives the next message (fails the test after [`STEP`]).
    pub async fn recv(&mut self) -> Got {
        self.try_recv(STEP)
            .await
            .expect("recv timed out")
            .expect("recv")
    }

    /// Receives with a timeout: `None` on timeout.
    pub async fn try_recv(
        &mut self,
        wait: Duration,
    ) -> Option<Result<Got, DriverError<std::io::Error>>> {
        let r = tokio::time::timeout(wait, self.conn.recv()).await.ok()?;
        Some(r.map(|m| owned(&m)))
    }

    /// Receives until a MESSAGE arrives, skipping notices and the like.
    pub async fn recv_msg(&mut self) -> Got {
        loop {
            let got = self.recv().await;
            if got.msg_type() == msg_type::MESSAGE {
                return got;
            }
        }
    }
}

/// Copies a message out of the receive buffer.
pub fn owned(m: &Message<'_>) -> Got {
    MessageBuf::new(m).expect("a received message encodes again")
}

/// A client driven through the core's handshake state machines directly,
/// holding its [`dhchat_core::Session`], so a test can send any plaintext
/// (malformed bodies, unknown types) once WELCOME has arrived.
pub struct RawClient {
    /// The stream.
    pub io: FromTokio<TcpStream>,
    /// The session.
    pub session: dhchat_core::Session,
    /// Randomness for IVs.
    pub rng: HostRng,
    /// The nick the server assigned.
    pub nick: String,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

/// Reads exactly `buf.len()` bytes.
pub async fn read_exact(io: &mut FromTokio<TcpStream>, buf: &mut [u8]) -> std::io::Result<()> {
    use embedded_io_async::Read as _;
    tokio::time::timeout(STEP, io.read_exact(buf))
        .await
        .map_err(|_| std::io::Error::other("read timed out"))?
        .map_err(|e| match e {
            embedded_io_async::ReadExactError::UnexpectedEof => {
                std::io::ErrorKind::UnexpectedEof.into()
            }
            embedded_io_async::ReadExactError::Other(e) => e,
        })
}

/// Connects and reads SERVER_HELLO, returning the stream and the hello.
pub async fn raw_hello(addr: SocketAddr) -> (FromTokio<TcpStream>, Vec<u8>) {
    let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    stream.set_nodelay(true).ok();
    let mut io = FromTokio::new(stream);
    let mut hello = vec![0u8; dhchat_core::handshake::SERVER_HELLO_LEN];
    read_exact(&mut io, &mut hello).await.expect("SERVER_HELLO");
    (io, hello)
}

/// Waits until the peer closes; returns the bytes received before that.
pub async fn read_to_close(io: &mut FromTokio<TcpStream>) -> usize {
    use tokio::io::AsyncReadExt as _;
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(STEP, io.inner_mut().read(&mut buf)).await {
            Err(_) => panic!("the server did not close the connection"),
            Ok(Ok(0)) | Ok(Err(_)) => return total,
            Ok(Ok(n)) => total += n,
        }
    }
}

/// A client handshake run with the state machines up to the server's
/// SERVER_AUTH record, which is in `rx[..auth_len]`.
pub struct AtServerAuth {
    /// The stream.
    pub io: FromTokio<TcpStream>,
    /// The handshake state.
    pub state: dhchat_core::handshake::ClientExpectAuth,
    /// The RNG.
    pub rng: HostRng,
    /// Receive buffer holding SERVER_AUTH.
    pub rx: Vec<u8>,
    /// Length of SERVER_AUTH in `rx`.
    pub auth_len: usize,
    /// Send buffer.
    pub tx: Vec<u8>,
}

/// Connects, reads SERVER_HELLO, sends CLIENT_KEY and reads SERVER_AUTH.
pub async fn handshake_to_server_auth(server: &TestServer) -> AtServerAuth {
    use dhchat_core::driver::asynch::{read_record, send_bytes};
    use dhchat_core::handshake::{ClientHandshake, MAGIC_LEN};
    let (mut io, hello) = raw_hello(server.addr).await;
    let mut rng = new_rng();
    let mut rx = vec![0u8; dhchat_core::record::MAX_RECORD];
    let mut tx = vec![0u8; dhchat_core::record::MAX_RECORD];
    let magic: [u8; MAGIC_LEN] = hello[..MAGIC_LEN].try_into().expect("magic");
    let st = ClientHandshake::new(2048)
        .read_magic(&magic)
        .expect("magic");
    let (state, n) = st
        .read_dh(&hello[MAGIC_LEN..], &mut rng, &mut tx)
        .expect("dh");
    send_bytes(&mut io, &tx[..n])
        .await
        .expect("send CLIENT_KEY");
    let auth_len = read_record(&mut io, &mut rx)
        .await
        .expect("SERVER_AUTH")
        .len();
    AtServerAuth {
        io,
        state,
        rng,
        rx,
        auth_len,
        tx,
    }
}

/// Handshakes up to SERVER_AUTH, then sends `plaintext` as the first record
/// in place of a valid CLIENT_HELLO (core feature `test-tools`) and returns
/// how the server answered: `Ok` on WELCOME, or the client-side error (a
/// refusal carries the server's ERROR code; a silent close is a lost
/// connection).
pub async fn hello_with(server: &TestServer, plaintext: &[u8]) -> Result<(), Error> {
    use dhchat_core::driver::asynch::{read_record, send_bytes};
    let AtServerAuth {
        mut io,
        state,
        mut rng,
        mut rx,
        auth_len,
        mut tx,
    } = handshake_to_server_auth(server).await;
    let mut pin = server.key;
    let (st, n) = state
        .read_server_auth_sending(&mut rx[..auth_len], &mut pin, plaintext, &mut rng, &mut tx)
        .expect("auth");
    send_bytes(&mut io, &tx[..n])
        .await
        .expect("send first record");
    let record = match tokio::time::timeout(STEP, read_record(&mut io, &mut rx)).await {
        Err(_) => panic!("the server neither answered nor closed"),
        Ok(Ok(record)) => record,
        Ok(Err(DriverError::Protocol(e))) => return Err(e),
        Ok(Err(DriverError::Io(_))) => return Err(Error::ConnectionLost),
    };
    st.read_welcome(record).map(|_| ())
}

impl RawClient {
    /// Handshakes as `nick` (anonymous) with the state machines.
    pub async fn connect(server: &TestServer, nick: &str) -> RawClient {
        use dhchat_core::driver::asynch::{read_record, send_bytes};
        let AtServerAuth {
            mut io,
            state: st,
            mut rng,
            mut rx,
            auth_len,
            mut tx,
        } = handshake_to_server_auth(server).await;
        let record = &mut rx[..auth_len];
        let mut pin = server.key;
        let config = ClientConfig::new(nick);
        let (st, n) = st
            .read_server_auth(record, &mut pin, &config, &mut rng, &mut tx)
            .expect("auth");
        send_bytes(&mut io, &tx[..n])
            .await
            .expect("send CLIENT_HELLO");
        let record = read_record(&mut io, &mut rx).await.expect("WELCOME");
        let (session, welcome) = st.read_welcome(record).expect("welcome");
        let nick = welcome.nick.to_string();
        RawClient {
            io,
            session,
            rng,
            nick,
            rx,
            tx,
        }
    }

    /// Seals and sends raw plaintext (`type || body`), valid or not.
    pub async fn send_plain(&mut self, plaintext: &[u8]) {
        let n = self
            .session
            .seal_plaintext(plaintext, &mut self.rng, &mut self.tx)
            .expect("seal");
        asynch::send_bytes(&mut self.io, &self.tx[..n])
            .await
            .expect("send");
    }

    /// Sends a message.
    pub async fn send(&mut self, msg: &Message<'_>) {
        let n = self
            .session
            .seal(msg, &mut self.rng, &mut self.tx)
            .expect("seal");
        asynch::send_bytes(&mut self.io, &self.tx[..n])
            .await
            .expect("send");
    }

    /// Sends bytes as they are.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        asynch::send_bytes(&mut self.io, bytes).await.expect("send");
    }

    /// Receives the next message (no automatic PONG).
    pub async fn recv(&mut self) -> Result<Got, DriverError<std::io::Error>> {
        let record = tokio::time::timeout(STEP, asynch::read_record(&mut self.io, &mut self.rx))
            .await
            .expect("recv timed out")?;
        Ok(owned(&self.session.open(record)?.message?))
    }

    /// Receives, skipping NOTICEs.
    pub async fn recv_skip_notices(&mut self) -> Got {
        loop {
            let got = self.recv().await.expect("recv");
            if got.msg_type() != msg_type::NOTICE {
                return got;
            }
        }
    }
}

/// A proxy between one client and the server that flips one bit in the
/// first chunk of bytes sent in the chosen direction after `arm` is set.
pub async fn tampering_proxy(
    server: std::net::SocketAddr,
    arm: Arc<AtomicBool>,
    to_server: bool,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.expect("accept");
        let upstream = TcpStream::connect(server).await.expect("connect");
        client.set_nodelay(true).ok();
        upstream.set_nodelay(true).ok();
        let (cr, cw) = client.into_split();
        let (sr, sw) = upstream.into_split();
        let (up_arm, down_arm) = if to_server {
            (Some(arm), None)
        } else {
            (None, Some(arm))
        };
        tokio::join!(pump(cr, sw, up_arm), pump(sr, cw, down_arm));
    });
    addr
}

/// Copies `from` to `to`; while `arm` is set, the next chunk gets its last
/// bit flipped (and `arm` is cleared).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    arm: Option<Arc<AtomicBool>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if arm
            .as_ref()
            .is_some_and(|a| a.swap(false, Ordering::SeqCst))
        {
            buf[n - 1] ^= 0x01;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}
