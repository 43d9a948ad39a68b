//! The automatic answers of PROTOCOL.md section 6, decided in one place.
//!
//! Opening a record after WELCOME ([`crate::session::RecvHalf::open`]) yields
//! a [`Received`]: the message (or the non-fatal error), the received type
//! byte, and the [`Reply`] to send, if section 6 prescribes one: PONG with
//! the nonce of a PING, ERROR with its code for a broken rule. ERROR, PONG
//! and CLOSE are never answered with ERROR.
//!
//! A reply is a value: a server that limits the message rate replaces it with
//! [`Reply::rate_limited`] before sealing it.

use core::fmt::Write as _;

use crate::error::{code, Error, Reaction, ShortText};
use crate::message::{msg_type, Message};

/// What to send back for a received record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// PONG with this nonce (the answer to PING).
    Pong([u8; 8]),
    /// ERROR with this code and text (a broken rule; the session stays).
    Error {
        /// The ERROR code ([`crate::error::code`]).
        code: u16,
        /// The text: what rule was broken, never peer data or key material.
        text: ShortText,
    },
}

impl Reply {
    /// ERROR 7, for a peer over its message rate.
    pub fn rate_limited() -> Self {
        Self::Error {
            code: code::RATE_LIMITED,
            text: ShortText::new("rate limited"),
        }
    }

    /// The message that carries this reply.
    pub fn message(&self) -> Message<'_> {
        match self {
            Self::Pong(nonce) => Message::Pong { nonce: *nonce },
            Self::Error { code, text } => Message::Error {
                code: *code,
                text: text.as_str(),
            },
        }
    }

    /// The reply section 6 prescribes for `outcome`, the result of opening a
    /// record of type `t`.
    pub(crate) fn to(t: u8, outcome: &Result<Message<'_>, Error>) -> Option<Self> {
        if !is_answerable(t) {
            return None;
        }
        match outcome {
            Ok(Message::Ping { nonce }) => Some(Self::Pong(*nonce)),
            Ok(_) => None,
            Err(e) => match e.reaction() {
                Reaction::ErrorAndStay(code) => {
                    let mut text = ShortText::default();
                    let _ = write!(text, "{e}");
                    Some(Self::Error { code, text })
                }
                _ => None,
            },
        }
    }
}

/// False for the types that are never answered with ERROR (nor PONG):
/// ERROR, PONG and CLOSE (PROTOCOL.md section 6).
pub fn is_answerable(t: u8) -> bool {
    !matches!(t, msg_type::ERROR | msg_type::PONG | msg_type::CLOSE)
}

/// One record opened after WELCOME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'r> {
    /// The received type byte.
    pub msg_type: u8,
    /// The message, or why it is not delivered (a non-fatal error: the
    /// session stays; [`Received::reply`] says what to answer).
    pub message: Result<Message<'r>, Error>,
    /// What to send back, if anything.
    pub reply: Option<Reply>,
}

impl Received<'_> {
    /// True unless the record was ERROR, PONG or CLOSE, which are never
    /// answered: what a rate limit counts.
    pub fn is_answerable(&self) -> bool {
        is_answerable(self.msg_type)
    }

    /// True when the peer sent CLOSE: stop sending and close.
    pub fn is_close(&self) -> bool {
        self.msg_type == msg_type::CLOSE
    }
}
