//! Why an established session ended: one typed value that gives both the
//! line in the server's log and the short reason the other members of the
//! client's rooms are told (`alice left (quit)`).

use std::fmt;
use std::time::Duration;

use dhchat_core::error::Error;

/// The end of an established session.
#[derive(Debug)]
pub enum Disconnect {
    /// The client sent CLOSE; its reason, escaped for the log.
    ClientClosed(String),
    /// The client's outgoing queue overflowed.
    TooSlow,
    /// The client's key was taken off the authorized keys (SIGHUP).
    Revoked,
    /// Nothing received for the idle interval after a PING.
    Idle(Duration),
    /// The server sent CLOSE (shutdown).
    ServerClosed,
    /// The history store is gone (the server is shutting down).
    HistoryGone,
    /// The client is no longer registered in the hub.
    Unregistered,
    /// Reading failed.
    ReadFailed(std::io::Error),
    /// The stream ended without CLOSE.
    EndOfStream,
    /// A record could not be read (its framing was wrong).
    BadRecord(Error),
    /// A record's contents end the session (PROTOCOL.md section 6).
    Protocol(Error),
    /// A record's contents end the session without a word.
    Stopped,
    /// Writing failed.
    WriteFailed(String),
    /// The client's queue was closed under its writer.
    QueueGone,
    /// The writer task ended abnormally.
    WriterFailed,
}

impl Disconnect {
    /// The reason the other members of the client's rooms are told.
    pub fn short_reason(&self) -> &'static str {
        match self {
            Disconnect::ClientClosed(_) => "quit",
            Disconnect::TooSlow => "too slow",
            Disconnect::Revoked => "key no longer authorized",
            Disconnect::Idle(_) => "idle timeout",
            Disconnect::ServerClosed => "server shutting down",
            Disconnect::HistoryGone
            | Disconnect::Unregistered
            | Disconnect::ReadFailed(_)
            | Disconnect::EndOfStream
            | Disconnect::BadRecord(_)
            | Disconnect::Protocol(_)
            | Disconnect::Stopped
            | Disconnect::WriteFailed(_)
            | Disconnect::QueueGone
            | Disconnect::WriterFailed => "connection lost",
        }
    }
}

/// The log text.
impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disconnect::ClientClosed(reason) => write!(f, "client closed: {reason}"),
            Disconnect::TooSlow => {
                f.write_str("disconnected: cannot keep up (outgoing queue full)")
            }
            Disconnect::Revoked => {
                f.write_str("key no longer authorized (removed from --authorized-keys)")
            }
            Disconnect::Idle(idle) => write!(
                f,
                "idle timeout: nothing received for {}s after PING",
                idle.as_secs()
            ),
            Disconnect::ServerClosed => f.write_str("server closed the session"),
            Disconnect::HistoryGone => f.write_str("server shutting down"),
            Disconnect::Unregistered => f.write_str("unregistered"),
            Disconnect::ReadFailed(e) => write!(f, "connection lost: {e}"),
            Disconnect::EndOfStream => f.write_str("connection lost: end of stream without CLOSE"),
            Disconnect::BadRecord(e) => write!(f, "bad record: {e}"),
            Disconnect::Protocol(e) => write!(f, "protocol error: {e}"),
            Disconnect::Stopped => f.write_str("connection lost"),
            Disconnect::WriteFailed(e) => write!(f, "connection lost (write: {e})"),
            Disconnect::QueueGone => f.write_str("queue closed"),
            Disconnect::WriterFailed => f.write_str("internal error in the writer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_hear_quit_too_slow_idle_or_shutdown_and_otherwise_connection_lost() {
        let cases = [
            (Disconnect::ClientClosed("bye".into()), "quit"),
            (Disconnect::TooSlow, "too slow"),
            (Disconnect::Idle(Duration::from_secs(3)), "idle timeout"),
            (Disconnect::ServerClosed, "server shutting down"),
            (Disconnect::EndOfStream, "connection lost"),
            (Disconnect::Stopped, "connection lost"),
            (
                Disconnect::WriteFailed("broken pipe".into()),
                "connection lost",
            ),
        ];
        for (end, short) in cases {
            assert_eq!(end.short_reason(), short, "{end}");
        }
    }

    #[test]
    fn the_short_reason_follows_the_kind_of_end_not_the_text_in_it() {
        let end = Disconnect::ClientClosed("idle, cannot keep up".into());
        assert_eq!(end.short_reason(), "quit");
        assert_eq!(end.to_string(), "client closed: idle, cannot keep up");
    }
}
