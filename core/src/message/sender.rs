//! Which side may send each message type (the direction column of PROTOCOL.md
//! section 5).

use super::msg_type;

/// Which side may send a message type (the direction column of section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// Only the client sends it (C->S).
    Client,
    /// Only the server sends it (S->C).
    Server,
    /// Either side sends it.
    Both,
}

/// Which side may send `msg_type`, or `None` for a type section 5 does not define.
pub fn sender_of(msg_type: u8) -> Option<Sender> {
    use msg_type::*;
    match msg_type {
        SERVER_AUTH | WELCOME | MESSAGE | ROSTER | NOTICE => Some(Sender::Server),
        CLIENT_HELLO | SAY | JOIN | PART | NICK | WHO => Some(Sender::Client),
        ERROR | PING | PONG | CLOSE => Some(Sender::Both),
        _ => None,
    }
}
