//! A session's reader loop: reads records (PING when the client is idle),
//! opens each one, applies the rate limit and hands the message to its
//! command.

use std::time::Duration;

use dhchat_core::driver::{asynch, DriverError, RecordSpace};
use dhchat_core::error::{code, Error, Reaction};
use dhchat_core::record::MAX_RECORD;
use dhchat_core::{Received, Reply};
use tokio::net::tcp::OwnedReadHalf;

use super::commands::{self, Context};
use super::disconnect::Disconnect;
use super::event::{now_ms, Event};
use super::ratelimit::TokenBucket;
use crate::net::FromTokio;

/// The reader's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Silence after which the server sends PING (and, as long again after
    /// it, ends the session).
    pub idle: Duration,
    /// Messages per second on average (token bucket rate).
    pub rate: u32,
    /// Messages in one burst (token bucket size).
    pub burst: u32,
}

/// The reading end of a session: the socket's read half and the core's
/// cancel-safe receiver over it.
pub type Receiver = asynch::Receiver<FromTokio<OwnedReadHalf>, RecordBuffer>;

/// A session's receive buffer, held only while a record is arriving: an idle
/// session (most of them, most of the time) holds none of its 4 KiB.
#[derive(Default)]
pub struct RecordBuffer(Option<Box<[u8; MAX_RECORD]>>);

impl RecordBuffer {
    /// Gives the buffer back; the next record gets a fresh one.
    fn release(&mut self) {
        self.0 = None;
    }
}

impl RecordSpace for RecordBuffer {
    fn record_space(&mut self) -> &mut [u8; MAX_RECORD] {
        self.0.get_or_insert_with(|| Box::new([0; MAX_RECORD]))
    }
}

/// Reads and acts on the client's records until the session ends; returns
/// why it ended. Opening a record yields the reply PROTOCOL.md section 6
/// prescribes (PONG, or ERROR for a broken rule); the rate limit wraps it:
/// with no token left, ERROR 7 replaces it and the message is not acted on.
pub async fn read_loop(cx: &Context<'_>, limits: &Limits, mut rx: Receiver) -> Disconnect {
    let mut bucket = TokenBucket::new(limits.rate, limits.burst);
    loop {
        let received = match read_or_ping(cx, limits.idle, &mut rx).await {
            Ok(r) => r,
            Err(end) => return end,
        };
        if received.is_answerable() && !bucket.take() {
            cx.error(
                code::RATE_LIMITED,
                format!("rate limited: at most {} messages per second", limits.rate),
            );
            continue;
        }
        match received.reply {
            Some(Reply::Pong(nonce)) => cx.reply(Event::pong(nonce)),
            Some(Reply::Error { code, text }) => cx.error(code, text.as_str().to_owned()),
            None => {}
        }
        let msg = match received.message {
            Ok(m) => m,
            Err(e) => match e.reaction() {
                Reaction::Stop => return Disconnect::Stopped,
                Reaction::CloseSilently | Reaction::ErrorThenClose(_) => {
                    return Disconnect::Protocol(e)
                }
                Reaction::ErrorAndStay(_) | Reaction::Ignore | Reaction::Local => continue,
            },
        };
        if let Err(end) = commands::apply(cx, msg).await {
            return end;
        }
    }
}

/// Reads the next record; after `idle` without one, sends PING, and after
/// another `idle`, gives up.
async fn read_or_ping<'r>(
    cx: &Context<'_>,
    idle: Duration,
    rx: &'r mut Receiver,
) -> Result<Received<'r>, Disconnect> {
    let mut pinged = false;
    // Between records the receive buffer is given back, and the socket is
    // waited on without it: a peek at its first byte (readiness alone may
    // be left over from the last record, read to its exact end).
    if !rx.is_partial() {
        rx.bufs_mut().release();
        let mut first = [0u8; 1];
        loop {
            tokio::select! {
                r = rx.io_mut().inner_mut().peek(&mut first) => {
                    r.map_err(Disconnect::ReadFailed)?;
                    break;
                }
                () = tokio::time::sleep(idle) => ping_or_give_up(cx, idle, &mut pinged)?,
            }
        }
    }
    let fut = rx.recv();
    tokio::pin!(fut);
    let read = loop {
        tokio::select! {
            r = &mut fut => break r,
            () = tokio::time::sleep(idle) => ping_or_give_up(cx, idle, &mut pinged)?,
        }
    };
    read.map_err(|e| match e {
        DriverError::Io(e) => Disconnect::ReadFailed(e),
        DriverError::Protocol(Error::ConnectionLost) => Disconnect::EndOfStream,
        DriverError::Protocol(e) => Disconnect::BadRecord(e),
    })
}

/// After `idle` of silence: PING the first time, give up the second.
fn ping_or_give_up(cx: &Context<'_>, idle: Duration, pinged: &mut bool) -> Result<(), Disconnect> {
    if *pinged {
        return Err(Disconnect::Idle(idle));
    }
    *pinged = true;
    cx.reply(Event::ping(now_ms().to_be_bytes()));
    Ok(())
}
