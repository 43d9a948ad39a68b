//! A hostile server against the real `dhchat-client --batch` (issue 9, item
//! 5): the client bounds what a server can make it hold. The fake server is
//! written here from the core's public API (the async driver's `accept`,
//! then the session's sending half), so it speaks the protocol correctly and
//! abuses only what the protocol allows: a ROSTER continued without end, a
//! flood of PINGs whose PONGs it never reads, a flood of messages at a
//! client whose output nobody reads. The client's peak memory is read from
//! /proc (VmHWM) while it runs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhchat_core::driver::asynch::{accept, Inline};
use dhchat_core::driver::Buffers;
use dhchat_core::group::Group;
use dhchat_core::handshake::AdmitAll;
use dhchat_core::identity::IdentityKey;
use dhchat_core::message::{ChatMessage, Message, Nicks};
use dhchat_core::record::MAX_RECORD;
use dhchat_core::session::SendHalf;
use dhchat_host::net::FromTokio;
use dhchat_host::rng::{new_rng, HostRng};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// The client's exit code for a server that passes one of its bounds.
const EXIT_PROTOCOL: i32 = 7;
/// The most the client may hold, whatever the server sends.
const MEMORY_LIMIT: u64 = 64 << 20;
/// Records the fake server tries to send.
const FLOOD: usize = 200_000;
/// PINGs the fake server tries to send (small records: the socket buffers
/// of loopback hold over 100,000 of them before the client's stop shows).
const PING_FLOOD: usize = 1_000_000;
/// How long a write may wait before the server counts the client as
/// pushing back (it has stopped reading).
const STALL: Duration = Duration::from_secs(3);
/// How long any wait in these tests may take.
const STEP: Duration = Duration::from_secs(60);

/// An established session on the fake server's side.
struct FakeSession {
    stream: TcpStream,
    send: SendHalf,
    rng: HostRng,
    tx: Vec<u8>,
}

impl FakeSession {
    /// Seals and writes `msg`; `false` if the write failed or waited longer
    /// than [`STALL`].
    async fn send(&mut self, msg: &Message<'_>) -> Result<(), &'static str> {
        let n = self
            .send
            .seal(msg, &mut self.rng, &mut self.tx)
            .expect("seal");
        match tokio::time::timeout(STALL, self.stream.write_all(&self.tx[..n])).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("closed"),
            Err(_) => Err("stalled"),
        }
    }
}

/// A listening fake server and its key.
struct FakeServer {
    listener: TcpListener,
    identity: IdentityKey,
}

impl FakeServer {
    async fn bind() -> FakeServer {
        FakeServer {
            listener: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            identity: IdentityKey::generate(&mut new_rng()),
        }
    }

    /// Accepts one client, runs the handshake and welcomes it.
    async fn session(self) -> FakeSession {
        let (stream, _) = tokio::time::timeout(STEP, self.listener.accept())
            .await
            .expect("the client connected")
            .expect("accept");
        let mut io = FromTokio::new(stream);
        let mut bufs = Box::new(Buffers::new());
        let (mut conn, hello, mut rng) = tokio::time::timeout(
            STEP,
            accept(
                &mut io,
                Group::Ffdhe2048,
                self.identity,
                &mut AdmitAll,
                new_rng(),
                &mut Inline,
                &mut bufs,
            ),
        )
        .await
        .expect("handshake in time")
        .expect("handshake");
        let nick = hello.nick.to_string();
        let mut tx = vec![0u8; MAX_RECORD];
        let n = conn
            .welcome(&nick, "hostile", "", &mut rng, &mut tx)
            .expect("welcome");
        let mut stream = io.into_inner();
        stream.write_all(&tx[..n]).await.expect("WELCOME");
        let (send, _reader, _info) = conn.split().expect("established");
        FakeSession {
            stream,
            send,
            rng,
            tx,
        }
    }
}

/// The real batch client, its peak memory sampled from /proc.
struct Victim {
    child: Child,
    peak: Arc<AtomicU64>,
    samples: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    stderr: Arc<Mutex<String>>,
    _stdin: Option<std::process::ChildStdin>,
    _unread: Option<std::process::ChildStdout>,
    _dir: tempfile::TempDir,
}

/// VmHWM of `pid` in bytes, while it runs.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

impl Victim {
    /// Starts `dhchat-client --batch` against `server`, pinning its key;
    /// its standard output is read only if `read_stdout`; its standard
    /// input stays open (the client does not end for lack of input).
    fn start(server: &FakeServer, read_stdout: bool) -> Victim {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = server.listener.local_addr().expect("addr").to_string();
        let key = server.identity.public_key().to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dhchat-client"))
            .arg(&addr)
            .arg("--batch")
            .arg("--known-hosts")
            .arg(dir.path().join("known_hosts"))
            .args(["--nick", "victim", "--server-key", &key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dhchat-client");
        let stdout = child.stdout.take().expect("stdout");
        // Held unread when the consumer is to be slow: the pipe fills.
        let unread =
            if read_stdout {
                std::thread::spawn(move || {
                    for _ in BufReader::new(stdout).lines().map_while(Result::ok) {}
                });
                None
            } else {
                Some(stdout)
            };
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            let pipe = child.stderr.take().expect("stderr");
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut e = stderr.lock().expect("stderr");
                    e.push_str(&line);
                    e.push('\n');
                }
            });
        }
        let peak = Arc::new(AtomicU64::new(0));
        let samples = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (peak, samples, stop, pid) =
                (peak.clone(), samples.clone(), stop.clone(), child.id());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match vm_hwm(pid) {
                        Some(b) => {
                            peak.fetch_max(b, Ordering::SeqCst);
                            samples.fetch_add(1, Ordering::SeqCst);
                        }
                        None => return,
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        }
        Victim {
            _stdin: child.stdin.take(),
            _unread: unread,
            child,
            peak,
            samples,
            stop,
            stderr,
            _dir: dir,
        }
    }

    /// Waits for the client's exit code (the test fails after [`STEP`]).
    fn wait(&mut self) -> i32 {
        let end = std::time::Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                self.stop.store(true, Ordering::SeqCst);
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < end, "the client did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the client still runs.
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The peak memory seen so far, and how many samples it rests on.
    fn peak(&self) -> (u64, u64) {
        (
            self.peak.load(Ordering::SeqCst),
            self.samples.load(Ordering::SeqCst),
        )
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 32-byte nicks, as many as fill one ROSTER record.
fn full_roster_nicks() -> Vec<String> {
    (0..120).map(|i| format!("{i:0>32}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_continued_for_200000_records_ends_the_client_with_the_protocol_code_under_64_mib()
{
    let server = FakeServer::bind().await;
    let mut victim = Victim::start(&server, true);
    let mut session = server.session().await;
    let nicks = full_roster_nicks();
    let list: Vec<&str> = nicks.iter().map(String::as_str).collect();
    let mut sent = 0;
    let mut outcome = "sent all";
    for _ in 0..FLOOD {
        let roster = Message::Roster {
            room: "#endless",
            more: true,
            nicks: Nicks::List(&list),
        };
        match session.send(&roster).await {
            Ok(()) => sent += 1,
            Err(why) => {
                outcome = why;
                break;
            }
        }
    }
    let code = victim.wait();
    let (peak, samples) = victim.peak();
    let stderr = victim.stderr();
    eprintln!(
        "ROSTER records sent: {sent} ({outcome}); client exit {code}, peak RSS {} KiB over \
         {samples} samples; stderr: {stderr}",
        peak >> 10
    );
    assert_eq!(code, EXIT_PROTOCOL, "stderr: {stderr}");
    assert!(stderr.contains("without ending them"), "stderr: {stderr}");
    assert!(samples > 0, "the client's memory was never sampled");
    assert!(
        peak < MEMORY_LIMIT,
        "the client's peak RSS was {} KiB",
        peak >> 10
    );
    assert!(sent < FLOOD, "the client read all {FLOOD} records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_whose_pongs_are_never_read_stalls_against_the_client_instead_of_growing_it() {
    let server = FakeServer::bind().await;
    let mut victim = Victim::start(&server, true);
    // The fake server never reads: every PONG stays in the client.
    let mut session = server.session().await;
    let mut sent = 0;
    let mut outcome = "sent all";
    for i in 0..PING_FLOOD as u64 {
        match session
            .send(&Message::Ping {
                nonce: i.to_be_bytes(),
            })
            .await
        {
            Ok(()) => sent += 1,
            Err(why) => {
                outcome = why;
                break;
            }
        }
    }
    let (peak, samples) = victim.peak();
    eprintln!(
        "PINGs sent: {sent} ({outcome}); client peak RSS {} KiB over {samples} samples",
        peak >> 10
    );
    assert_eq!(
        outcome, "stalled",
        "the client kept reading PINGs it cannot answer"
    );
    assert!(victim.running(), "stderr: {}", victim.stderr());
    assert!(samples > 0, "the client's memory was never sampled");
    assert!(
        peak < MEMORY_LIMIT,
        "the client's peak RSS was {} KiB",
        peak >> 10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_at_a_client_whose_output_is_not_read_stalls_instead_of_growing_it() {
    let server = FakeServer::bind().await;
    let mut victim = Victim::start(&server, false);
    let mut session = server.session().await;
    let text = "x".repeat(4000);
    let mut sent = 0;
    let mut outcome = "sent all";
    for i in 0..FLOOD as u64 {
        let msg = Message::Message(ChatMessage {
            time_ms: i,
            history: false,
            legacy: false,
            account: false,
            from: "flooder",
            room: "#lobby",
            text: &text,
        });
        match session.send(&msg).await {
            Ok(()) => sent += 1,
            Err(why) => {
                outcome = why;
                break;
            }
        }
    }
    let (peak, samples) = victim.peak();
    eprintln!(
        "4,000-byte messages sent: {sent} ({outcome}); client peak RSS {} KiB over {samples} \
         samples",
        peak >> 10
    );
    assert_eq!(
        outcome, "stalled",
        "the client kept reading what it cannot pass on"
    );
    assert!(victim.running(), "stderr: {}", victim.stderr());
    assert!(samples > 0, "the client's memory was never sampled");
    assert!(
        peak < MEMORY_LIMIT,
        "the client's peak RSS was {} KiB",
        peak >> 10
    );
}
