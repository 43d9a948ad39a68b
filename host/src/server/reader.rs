//! A session's reader loop: reads records (PING when the client is idle),
//! opens each one, applies the rate limit and hands the message to its
//! command.

use std::time::Duration;

use dhchat_core::driver::{asynch, DriverError};
use dhchat_core::error::{Error, Reaction};
use dhchat_core::message::error_code as code;
use dhchat_core::message::{msg_type, Message};
use dhchat_core::record::MAX_RECORD;
use dhchat_core::session::RecvHalf;
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

/// What PROTOCOL.md section 6 says to do about a record that did not open to
/// a message.
enum Rejected {
    /// Answer with ERROR (this code, this text); the session stays.
    Answer(u16, String),
    /// Drop it without a word.
    Skip,
    /// End the session.
    End(Disconnect),
}

/// Opens one record with the session's receiving half.
fn open_record<'r>(recv: &mut RecvHalf, record: &'r mut [u8]) -> Result<Message<'r>, Rejected> {
    recv.open(record).map_err(|e| match e.reaction() {
        Reaction::ErrorAndStay(c) => Rejected::Answer(c, e.to_string()),
        Reaction::Stop => Rejected::End(Disconnect::Stopped),
        Reaction::CloseSilently | Reaction::ErrorThenClose(_) => {
            Rejected::End(Disconnect::Protocol(e))
        }
        Reaction::Ignore | Reaction::Local => Rejected::Skip,
    })
}

/// Types never answered with ERROR, not even ERROR 7 (PROTOCOL.md
/// section 6).
fn never_answered(t: u8) -> bool {
    matches!(t, msg_type::ERROR | msg_type::PONG | msg_type::CLOSE)
}

/// Reads and acts on the client's records until the session ends; returns
/// why it ended.
pub async fn read_loop(
    cx: &Context<'_>,
    limits: &Limits,
    mut recv: RecvHalf,
    mut io: FromTokio<OwnedReadHalf>,
) -> Disconnect {
    let mut bucket = TokenBucket::new(limits.rate, limits.burst);
    let mut buf = vec![0u8; MAX_RECORD];
    loop {
        let record = match read_or_ping(cx, limits.idle, &mut io, &mut buf).await {
            Ok(r) => r,
            Err(end) => return end,
        };
        let msg = match open_record(&mut recv, record) {
            Ok(m) => m,
            Err(Rejected::Answer(c, text)) => {
                if bucket.take() {
                    cx.error(c, text);
                } else {
                    cx.error(code::RATE_LIMITED, "rate limited".to_owned());
                }
                continue;
            }
            Err(Rejected::Skip) => continue,
            Err(Rejected::End(end)) => return end,
        };
        if !never_answered(msg.msg_type()) && !bucket.take() {
            cx.error(
                code::RATE_LIMITED,
                format!("rate limited: at most {} messages per second", limits.rate),
            );
            continue;
        }
        if let Err(end) = commands::apply(cx, msg).await {
            return end;
        }
    }
}

/// Reads the next record; after `idle` without one, sends PING, and after
/// another `idle`, gives up.
async fn read_or_ping<'b>(
    cx: &Context<'_>,
    idle: Duration,
    io: &mut FromTokio<OwnedReadHalf>,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], Disconnect> {
    let mut pinged = false;
    let fut = asynch::read_record(io, buf);
    tokio::pin!(fut);
    let read = loop {
        tokio::select! {
            r = &mut fut => break r,
            () = tokio::time::sleep(idle) => {
                if pinged {
                    return Err(Disconnect::Idle(idle));
                }
                pinged = true;
                cx.reply(Event::Ping(now_ms().to_be_bytes()));
            }
        }
    };
    read.map_err(|e| match e {
        DriverError::Io(e) => Disconnect::ReadFailed(e),
        DriverError::Protocol(Error::ConnectionLost) => Disconnect::EndOfStream,
        DriverError::Protocol(e) => Disconnect::BadRecord(e),
    })
}
