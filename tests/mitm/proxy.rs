//! A man in the middle that knows dhchat's framing but none of its keys: it
//! forwards SERVER_HELLO (2072 bytes) and CLIENT_KEY (1032 bytes) whole, then
//! the length-prefixed records one by one, and on request flips a bit in one,
//! drops, duplicates, reorders, shortens or cuts it, injects bytes between
//! records, or delivers every byte on its own with a delay.
//!
//! One proxy serves one connection; it runs on plain threads, so the test's
//! async runtime is not involved in its timing.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhchat_core::handshake::{CLIENT_KEY_LEN, SERVER_HELLO_LEN};

/// A direction of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the client to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

/// Where in a record a bit is flipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The low bit of the length field: the length is then never 48 plus a
    /// multiple of 16.
    Length,
    /// The first IV byte.
    Iv,
    /// The last ciphertext byte.
    Ciphertext,
    /// The last tag byte.
    Tag,
}

/// What the proxy does to the next record in a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Flip one bit.
    Flip(Part),
    /// Forward nothing of it.
    Drop,
    /// Forward it twice.
    Duplicate,
    /// Hold it and forward it after the record that follows it.
    Reorder,
    /// Cut its last 16 bytes and lower the length field to match: framing
    /// stays valid, the tag does not.
    Shorten,
    /// Forward its first half, then close both connections.
    Cut,
}

/// One direction's state.
struct Lane {
    /// The socket this direction writes to (`None` once closed).
    out: Mutex<Option<TcpStream>>,
    /// The attack for the next record.
    armed: Mutex<Option<Attack>>,
    /// Every record received in this direction, as received.
    records: Mutex<Vec<Vec<u8>>>,
    /// Bytes written onward.
    forwarded: AtomicUsize,
    /// The source ended (end of stream, error, or a cut).
    ended: AtomicBool,
    /// Delay after each byte, when delivering one byte at a time.
    slow: Option<Duration>,
}

impl Lane {
    fn new(slow: Option<Duration>) -> Lane {
        Lane {
            out: Mutex::new(None),
            armed: Mutex::new(None),
            records: Mutex::new(Vec::new()),
            forwarded: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            slow,
        }
    }

    /// Writes `bytes` onward in one piece (under the lock, so that injected
    /// bytes land between records); false when the other side is gone.
    fn write(&self, bytes: &[u8]) -> bool {
        let mut out = self.out.lock().expect("lane");
        let Some(out) = out.as_mut() else {
            return false;
        };
        let ok = match self.slow {
            None => out.write_all(bytes).is_ok(),
            Some(delay) => bytes.iter().all(|b| {
                let ok = out.write_all(std::slice::from_ref(b)).is_ok();
                std::thread::sleep(delay);
                ok
            }),
        };
        if ok {
            self.forwarded.fetch_add(bytes.len(), Ordering::SeqCst);
        }
        ok
    }

    /// Half-closes the onward socket (the source ended).
    fn finish(&self) {
        if let Some(out) = self.out.lock().expect("lane").take() {
            let _ = out.shutdown(Shutdown::Write);
        }
        self.ended.store(true, Ordering::SeqCst);
    }
}

struct Shared {
    to_server: Lane,
    to_client: Lane,
    /// The proxy's own address on its connection to the server (what the
    /// server logs as the peer).
    upstream_local: Mutex<Option<SocketAddr>>,
    /// Both sockets, to close everything on a cut.
    sockets: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn lane(&self, dir: Dir) -> &Lane {
        match dir {
            Dir::ToServer => &self.to_server,
            Dir::ToClient => &self.to_client,
        }
    }

    fn cut(&self) {
        for s in self.sockets.lock().expect("sockets").iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.to_server.out.lock().expect("lane").take();
        self.to_client.out.lock().expect("lane").take();
    }
}

/// A running proxy for one connection.
pub struct RecordProxy {
    /// Where the client connects.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl RecordProxy {
    /// A proxy toward `server`, forwarding at full speed.
    pub fn start(server: SocketAddr) -> RecordProxy {
        Self::start_with(server, None)
    }

    /// A proxy toward `server` that delivers every byte, in both directions,
    /// in a write of its own followed by `delay`.
    pub fn byte_by_byte(server: SocketAddr, delay: Duration) -> RecordProxy {
        Self::start_with(server, Some(delay))
    }

    fn start_with(server: SocketAddr, slow: Option<Duration>) -> RecordProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            to_server: Lane::new(slow),
            to_client: Lane::new(slow),
            upstream_local: Mutex::new(None),
            sockets: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(upstream) = TcpStream::connect(server) else {
                return;
            };
            client.set_nodelay(true).ok();
            upstream.set_nodelay(true).ok();
            *s.upstream_local.lock().expect("addr") = upstream.local_addr().ok();
            {
                let mut sockets = s.sockets.lock().expect("sockets");
                sockets.push(client.try_clone().expect("clone"));
                sockets.push(upstream.try_clone().expect("clone"));
            }
            *s.to_server.out.lock().expect("lane") = Some(upstream.try_clone().expect("clone"));
            *s.to_client.out.lock().expect("lane") = Some(client.try_clone().expect("clone"));
            let s2 = s.clone();
            std::thread::spawn(move || pump(client, &s2, Dir::ToServer));
            pump(upstream, &s, Dir::ToClient);
        });
        RecordProxy { addr, shared }
    }

    /// Applies `attack` to the next record in `dir`.
    pub fn arm(&self, dir: Dir, attack: Attack) {
        *self.shared.lane(dir).armed.lock().expect("armed") = Some(attack);
    }

    /// Writes `bytes` in `dir` now, between two records.
    pub fn inject(&self, dir: Dir, bytes: &[u8]) {
        assert!(
            self.shared.lane(dir).write(bytes),
            "inject: connection gone"
        );
    }

    /// The `i`-th record received in `dir` (0 is the first after the
    /// handshake's fixed-size messages).
    pub fn record(&self, dir: Dir, i: usize) -> Vec<u8> {
        self.shared.lane(dir).records.lock().expect("records")[i].clone()
    }

    /// How many bytes were forwarded in `dir`.
    pub fn forwarded(&self, dir: Dir) -> usize {
        self.shared.lane(dir).forwarded.load(Ordering::SeqCst)
    }

    /// Waits until nothing has been forwarded in `dir` for 300 ms (the
    /// records a server queued on its own, such as notices, are through),
    /// and returns the bytes forwarded so far. Only a precondition: a test
    /// never passes because of this wait.
    pub async fn quiet(&self, dir: Dir) -> usize {
        let mut last = self.forwarded(dir);
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.forwarded(dir);
            if now == last {
                return now;
            }
            last = now;
        }
    }

    /// Waits until the source of `dir` has ended; false after `limit`.
    pub fn wait_ended(&self, dir: Dir, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.shared.lane(dir).ended.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The address the server sees this connection come from.
    pub fn upstream_local(&self) -> SocketAddr {
        self.shared
            .upstream_local
            .lock()
            .expect("addr")
            .expect("the proxy has not connected to the server yet")
    }
}

/// Copies `src` onward in `dir`: the fixed-size handshake message, then
/// record by record, applying the armed attack.
fn pump(mut src: TcpStream, shared: &Shared, dir: Dir) {
    let lane = shared.lane(dir);
    let hello_len = match dir {
        Dir::ToServer => CLIENT_KEY_LEN,
        Dir::ToClient => SERVER_HELLO_LEN,
    };
    let mut hello = vec![0u8; hello_len];
    if src.read_exact(&mut hello).is_err() || !lane.write(&hello) {
        lane.finish();
        return;
    }
    let mut held: Option<Vec<u8>> = None;
    loop {
        let mut header = [0u8; 2];
        if src.read_exact(&mut header).is_err() {
            break;
        }
        let mut record = header.to_vec();
        record.resize(2 + usize::from(u16::from_be_bytes(header)), 0);
        if src.read_exact(&mut record[2..]).is_err() {
            break;
        }
        lane.records.lock().expect("records").push(record.clone());
        let attack = lane.armed.lock().expect("armed").take();
        let ok = match attack {
            None => {
                let ok = lane.write(&record);
                match held.take() {
                    Some(h) => ok && lane.write(&h),
                    None => ok,
                }
            }
            Some(Attack::Flip(part)) => {
                let at = match part {
                    Part::Length => 1,
                    Part::Iv => 2,
                    Part::Ciphertext => record.len() - 33,
                    Part::Tag => record.len() - 1,
                };
                record[at] ^= 0x01;
                lane.write(&record)
            }
            Some(Attack::Drop) => true,
            Some(Attack::Duplicate) => lane.write(&record) && lane.write(&record),
            Some(Attack::Reorder) => {
                held = Some(record);
                true
            }
            Some(Attack::Shorten) => {
                let len = record.len() - 2 - 16;
                let len16 = u16::try_from(len).expect("len");
                record.truncate(2 + len);
                record[..2].copy_from_slice(&len16.to_be_bytes());
                lane.write(&record)
            }
            Some(Attack::Cut) => {
                lane.write(&record[..record.len() / 2]);
                shared.cut();
                break;
            }
        };
        if !ok {
            break;
        }
    }
    lane.finish();
}
