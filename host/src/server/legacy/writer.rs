//! The writer of one legacy client: turns the events queued for it into text lines and
//! writes each as one legacy message, one write call of at most 1024 bytes; the next
//! write waits until the previous one has drained (the kernel's send queue for the
//! socket is empty: the peer's TCP has acknowledged every byte) and then a pause (the
//! original client takes every read as one message, and a coalesced read kills its
//! receive thread).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use dhchat_core::legacy::{self, LegacyKey, IV_LEN, MAX_READ, MAX_TEXT};
use dhchat_core::message::Message;
use rand_core::Rng as _;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::super::event::{Chat, Event};
use super::super::queue_bytes::ClientBytes;
use super::REPLAY_LINES;
use crate::rng::new_rng;

/// The pause between two writes to one legacy client, after the first has drained.
pub const PAUSE: Duration = Duration::from_millis(50);

/// How long a write may take to drain before the client counts as not reading.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the send queue is looked at while a write drains.
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// Bytes in the socket's kernel send queue not yet acknowledged by the peer
/// (`SIOCOUTQ`, the same request as `TIOCOUTQ` on Linux).
fn unacknowledged(fd: std::os::fd::RawFd) -> std::io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: `fd` is the open socket of a live `OwnedWriteHalf`; TIOCOUTQ
    // writes one `c_int` through the pointer, which points to `n`, a live local.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

/// How a writer ended.
#[derive(Debug)]
pub enum End {
    /// A closing line was written (`Acknowledged`, or the server's reason).
    Closed,
    /// Writing failed.
    Failed(String),
    /// Every sender of the queue is gone.
    QueueGone,
}

/// The text line an event becomes for a legacy client, if any.
pub fn line(ev: &Event) -> Option<String> {
    match ev {
        Event::Chat(c) => Some(chat_line(c)),
        Event::Relay(r) => Some(chat_line(r.chat())),
        Event::Message(m) => match m.message() {
            Message::Notice { text } => Some(text.to_owned()),
            Message::Error { text, .. } => Some(format!("error: {text}")),
            Message::Close { reason } => Some(reason.to_owned()),
            _ => None,
        },
    }
}

/// `"<nick>: <text>"`, or `"<nick> (direct): <text>"` for a direct message.
fn chat_line(c: &Chat) -> String {
    if c.room.starts_with('@') {
        format!("{} (direct): {}", c.from, c.text)
    } else {
        format!("{}: {}", c.from, c.text)
    }
}

/// One legacy client's paced writer.
struct Paced {
    wr: OwnedWriteHalf,
    key: LegacyKey,
    rng: crate::rng::HostRng,
    buf: Vec<u8>,
    last: Option<Instant>,
}

impl Paced {
    /// Writes `text` as one or more messages (split at 1007 bytes).
    async fn send(&mut self, text: &str) -> Result<(), String> {
        for piece in legacy::split(text, MAX_TEXT) {
            if let Some(last) = self.last {
                // Drained, then the pause (from the previous write, and never
                // less than a tenth of it after the drain) so the original
                // client's read loop takes the previous message alone.
                self.drained().await?;
                tokio::time::sleep_until((last + PAUSE).max(Instant::now() + PAUSE / 10)).await;
            }
            let mut iv = [0u8; IV_LEN];
            self.rng.fill_bytes(&mut iv);
            let n =
                legacy::seal(&self.key, &iv, piece, &mut self.buf).map_err(|e| e.to_string())?;
            let msg = self.buf.get(..n).unwrap_or_default();
            self.wr.write_all(msg).await.map_err(|e| e.to_string())?;
            self.wr.flush().await.map_err(|e| e.to_string())?;
            self.last = Some(Instant::now());
        }
        Ok(())
    }

    /// Waits until everything written so far has been acknowledged by the
    /// peer (at most [`DRAIN_TIMEOUT`]).
    async fn drained(&self) -> Result<(), String> {
        use std::os::fd::AsRawFd as _;
        let fd = self.wr.as_ref().as_raw_fd();
        let end = Instant::now() + DRAIN_TIMEOUT;
        loop {
            if unacknowledged(fd).map_err(|e| e.to_string())? == 0 {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(format!(
                    "the previous message did not drain within {}s",
                    DRAIN_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }
}

/// Runs the writer until a CLOSE event (its line is written, then the stream is shut
/// down), a write failure, or the end of the queue.
///
/// The history replay that [`Hub::join`](super::super::rooms::Hub::join) queues at once
/// is cut to its last [`REPLAY_LINES`] lines. Each event taken off the queue gives its
/// bytes back to `bytes` (the client's count; `None` for a queue the hub does not
/// count, such as the busy refusal's).
pub async fn run(
    wr: OwnedWriteHalf,
    key: LegacyKey,
    mut rx: mpsc::Receiver<Event>,
    bytes: Option<Arc<ClientBytes>>,
) -> End {
    let taken = |ev: &Event| {
        if let Some(b) = &bytes {
            b.release(ev.queued_bytes());
        }
    };
    let mut out = Paced {
        wr,
        key,
        rng: new_rng(),
        buf: vec![0u8; MAX_READ],
        last: None,
    };
    let mut held: Option<Event> = None;
    loop {
        let ev = match held.take() {
            Some(ev) => ev,
            None => match rx.recv().await {
                Some(ev) => {
                    taken(&ev);
                    ev
                }
                None => return End::QueueGone,
            },
        };
        if let Event::Chat(c) = &ev {
            if c.history {
                let mut replay: VecDeque<Arc<Chat>> = VecDeque::from([c.clone()]);
                while let Ok(next) = rx.try_recv() {
                    taken(&next);
                    match next {
                        Event::Chat(c) if c.history => {
                            replay.push_back(c);
                            if replay.len() > REPLAY_LINES {
                                replay.pop_front();
                            }
                        }
                        other => {
                            held = Some(other);
                            break;
                        }
                    }
                }
                for c in replay {
                    if let Err(e) = out.send(&chat_line(&c)).await {
                        return End::Failed(e);
                    }
                }
                continue;
            }
        }
        if let Some(text) = line(&ev) {
            if let Err(e) = out.send(&text).await {
                return End::Failed(e);
            }
        }
        if ev.is_close() {
            let _ = out.wr.shutdown().await;
            return End::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::queue_bytes::Budget;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn every_event_the_writer_takes_gives_its_bytes_back_to_the_client_budget() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        });
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (_rd, wr) = stream.into_split();
        let bytes = Budget::new(1 << 20, 1 << 20, 64).client();
        let (tx, rx) = mpsc::channel(16);
        let chat = |text: &str| {
            Event::Chat(Arc::new(Chat {
                time_ms: 1,
                history: true,
                from: "bob".into(),
                room: "#lobby".into(),
                text: text.into(),
                legacy: false,
                account: false,
            }))
        };
        let events = [
            Event::welcome("alice", "srv", "motd"),
            chat("one"),
            chat("two"),
            Event::notice("bob left"),
            Event::close("bye"),
        ];
        for ev in events {
            assert!(bytes.try_reserve(ev.queued_bytes(), 1));
            tx.try_send(ev).expect("room in the queue");
        }
        assert!(bytes.queued() > 0);
        let key = LegacyKey::derive(&[7; 32]).expect("a key");
        let end = run(wr, key, rx, Some(bytes.clone())).await;
        assert!(matches!(end, End::Closed), "{end:?}");
        assert_eq!(bytes.queued(), 0, "nothing stays counted once taken");
        peer.await.expect("peer");
    }
}
