//! One bench client: connect through the core's async driver, then a reader
//! task that counts what arrives and a shared sending half.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use dhchat_core::driver::asynch::{self, Receiver, Sender};
use dhchat_core::driver::Buffers;
use dhchat_core::handshake::ClientConfig;
use dhchat_core::identity::PublicKey;
use dhchat_core::message::Message;
use dhchat_core::record::MAX_RECORD;
use tokio::io::BufReader;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpSocket;
use tokio::sync::{oneshot, Mutex};

use crate::net::{BlockingPool, FromTokio};
use crate::rng::{new_rng, HostRng};

/// The receiving half (buffered: one system call per record).
pub type RecvSide = Receiver<FromTokio<BufReader<OwnedReadHalf>>, Box<Buffers>>;
/// The sending half, shared by the sender task and the reader's replies.
pub type SendSide = Arc<Mutex<Sender<FromTokio<OwnedWriteHalf>, HostRng, Vec<u8>>>>;

/// A connected client and how long its handshake took.
pub struct Connected {
    /// The sending half.
    pub send: SendSide,
    /// The receiving half.
    pub recv: RecvSide,
    /// TCP connect to WELCOME, microseconds.
    pub handshake_us: u64,
}

/// Connects client `index` (nick `bench<index>`) from loopback source
/// `127.0.0.<1 + index % sources>` when `sources > 1`.
///
/// # Errors
/// A sentence: the TCP or handshake failure, or the timeout.
pub async fn connect(
    server: SocketAddr,
    key: PublicKey,
    index: u32,
    sources: u8,
    timeout: Duration,
) -> Result<Connected, String> {
    let start = Instant::now();
    let work = async {
        let socket = match server {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| format!("socket: {e}"))?;
        if sources > 1 {
            let last = 1 + (index % u32::from(sources)) as u8;
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let stream = socket
            .connect(server)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let nick = format!("bench{index}");
        let config = ClientConfig::new(&nick);
        let mut pin = key;
        let conn = asynch::connect(
            FromTokio::new(stream),
            &config,
            &mut pin,
            new_rng(),
            &mut BlockingPool::new(1),
            Box::new(Buffers::new()),
        )
        .await
        .map_err(|e| format!("handshake: {e}"))?;
        Ok::<_, String>(conn)
    };
    let conn = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no WELCOME within {} s", timeout.as_secs()))??;
    let handshake_us = micros(start.elapsed());
    let (send, recv, _info) = conn.split(vec![0u8; MAX_RECORD], |io| {
        let (rd, wr) = io.into_inner().into_split();
        (FromTokio::new(BufReader::new(rd)), FromTokio::new(wr))
    });
    Ok(Connected {
        send: Arc::new(Mutex::new(send)),
        recv,
        handshake_us,
    })
}

/// Saturating microseconds of `d`.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What the bench texts look like: `bench SENDER SEQ MICROS ` and padding.
pub fn bench_text(sender: u32, seq: u32, sent_us: u64, size: usize) -> String {
    let mut t = format!("bench {sender} {seq} {sent_us} ");
    while t.len() < size {
        t.push('x');
    }
    t
}

/// Parses a text made by [`bench_text`]: (sender, sequence, send time).
pub fn parse_text(text: &str) -> Option<(u32, u32, u64)> {
    let mut it = text.strip_prefix("bench ")?.split(' ');
    let sender = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    let sent_us = it.next()?.parse().ok()?;
    Some((sender, seq, sent_us))
}

/// Counters every reader adds to, for the run's progress and report.
#[derive(Debug, Default)]
pub struct Shared {
    /// Distinct bench messages received, over all members.
    pub received: AtomicU64,
    /// Copies received again.
    pub duplicates: AtomicU64,
    /// ERROR records received.
    pub errors: AtomicU64,
    /// The first ERROR, as `code: text`.
    pub first_error: StdMutex<Option<String>>,
    /// When the last bench message arrived (microseconds since the epoch of
    /// the run).
    pub last_receipt_us: AtomicU64,
}

/// What one reader saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Send-to-receipt latencies, microseconds.
    pub latencies_us: Vec<u64>,
}

/// The reader task of one member: counts each (sender, sequence) once,
/// records its latency, answers PINGs, and signals `joined` once the answer
/// to its WHO for `room` (the last ROSTER record) has arrived.
#[allow(clippy::too_many_arguments)]
pub async fn read(
    mut recv: RecvSide,
    send: SendSide,
    room: String,
    senders: u32,
    messages: u32,
    epoch: Instant,
    shared: Arc<Shared>,
    joined: oneshot::Sender<()>,
) -> Seen {
    let mut joined = Some(joined);
    let mut got = vec![false; senders as usize * messages as usize];
    let mut seen = Seen::default();
    loop {
        let Ok(received) = recv.recv().await else {
            break;
        };
        if let Some(reply) = received.reply {
            let _ = send.lock().await.send_reply(&reply).await;
        }
        match received.message {
            Ok(Message::Message(c)) if !c.history && c.room == room => {
                let now = micros(epoch.elapsed());
                let Some((s, q, sent)) = parse_text(c.text) else {
                    continue;
                };
                let slot = (s < senders && q < messages)
                    .then(|| s as usize * messages as usize + q as usize)
                    .and_then(|i| got.get_mut(i));
                match slot {
                    Some(seen_before) if *seen_before => {
                        shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(slot) => {
                        *slot = true;
                        seen.latencies_us.push(now.saturating_sub(sent));
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        shared.last_receipt_us.fetch_max(now, Ordering::Relaxed);
                    }
                    None => {}
                }
            }
            Ok(Message::Roster {
                room: r,
                more: false,
                ..
            }) if r == room => {
                if let Some(j) = joined.take() {
                    let _ = j.send(());
                }
            }
            Ok(Message::Error { code, text }) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = shared.first_error.lock() {
                    first.get_or_insert_with(|| format!("{code}: {text}"));
                }
            }
            Ok(Message::Close { .. }) => break,
            _ => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_texts_carry_sender_sequence_and_time_at_the_asked_size() {
        let t = bench_text(3, 17, 123_456, 64);
        assert_eq!(t.len(), 64);
        assert_eq!(parse_text(&t), Some((3, 17, 123_456)));
        assert!(dhchat_core::names::text_check(&t).is_ok());
        let short = bench_text(1, 2, 3, 1);
        assert_eq!(parse_text(&short), Some((1, 2, 3)));
        assert_eq!(parse_text("hello"), None);
    }
}
