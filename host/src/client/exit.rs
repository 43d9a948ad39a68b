//! Exit codes of `dhchat-client`, and the classification of failures.
//!
//! | code | meaning |
//! |-----:|---------|
//! | 0 | clean end: `/quit`, end of input (batch), Ctrl-C (interactive) |
//! | 1 | local error: unreadable identity or known-hosts file, terminal failure |
//! | 2 | bad command line (usage) |
//! | 3 | connection failed, was lost, or was closed by the server |
//! | 4 | trust failure: server key mismatch, unknown key refused, bad server signature |
//! | 5 | authentication of a record failed (tampering, replay, reordering, or a man in the middle) |
//! | 6 | refused by the server (ERROR during the handshake, or ERROR then CLOSE) |
//! | 7 | the server passed a bound the client sets (e.g. a roster continued without end) |

use std::fmt;
use std::process::ExitCode;

use dhchat_core::error::{Error, RecordError};

/// The exit-code table, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  clean end (/quit, end of input in batch mode, Ctrl-C)
  1  local error (identity or known-hosts file, terminal)
  2  bad command line
  3  connection failed, lost, or closed by the server
  4  server key mismatch, unknown server key refused, or bad server signature
  5  authentication of a record failed (tampering or a man in the middle)
  6  refused by the server
  7  the server passed a bound the client sets (a roster without end)";

/// What kind of failure ended the client; each has its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exit code 1.
    Local,
    /// Exit code 3.
    Connection,
    /// Exit code 4.
    Trust,
    /// Exit code 5.
    RecordAuth,
    /// Exit code 6.
    Refused,
    /// Exit code 7: the server broke a bound of the client (a roster
    /// continued without end, see the session's roster bounds).
    Protocol,
}

impl Kind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Kind::Local => 1,
            Kind::Connection => 3,
            Kind::Trust => 4,
            Kind::RecordAuth => 5,
            Kind::Refused => 6,
            Kind::Protocol => 7,
        }
    }
}

/// A failure: its kind and one sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind (exit code).
    pub kind: Kind,
    /// One clear sentence (no trailing newline).
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A local failure (exit code 1).
    pub fn local(message: impl Into<String>) -> Self {
        Self::new(Kind::Local, message)
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The kind of a protocol error reported by the core.
pub fn kind_of(e: &Error) -> Kind {
    match e {
        Error::Trust(_) | Error::BadServerSignature => Kind::Trust,
        Error::Record(RecordError::BufferTooSmall) => Kind::Local,
        Error::Record(_) => Kind::RecordAuth,
        Error::RefusedByServer { .. } | Error::Refused(_) => Kind::Refused,
        Error::InvalidOutgoing(_) | Error::WrongDirection(_) | Error::HandshakeType(_) => {
            Kind::Local
        }
        _ => Kind::Connection,
    }
}

/// A failure for a protocol error.
pub fn from_error(e: &Error) -> Failure {
    Failure::new(kind_of(e), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhchat_core::error::{ShortText, TrustError};
    use dhchat_core::identity::IdentityKey;

    #[test]
    fn each_failure_class_has_its_own_exit_code() {
        let k = IdentityKey::from_seed(&[1; 32]).expect("key").public_key();
        let cases = [
            (Error::ConnectionLost, 3),
            (Error::PeerClosed, 3),
            (Error::Trust(TrustError::UnknownKey { received: k }), 4),
            (
                Error::Trust(TrustError::Mismatch {
                    recorded: k,
                    received: k,
                }),
                4,
            ),
            (Error::BadServerSignature, 4),
            (Error::Record(RecordError::BadTag), 5),
            (
                Error::RefusedByServer {
                    code: 3,
                    text: ShortText::new("no"),
                },
                6,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(kind_of(&e).code(), code, "{e:?}");
        }
        assert_eq!(Kind::Local.code(), 1);
        assert_eq!(Kind::Protocol.code(), 7);
    }
}
