//! Encoding and decoding of every message type (PROTOCOL.md section 5): lengths,
//! field rules and flag bits, checked the same way in both directions.

use super::fields::{
    check_encoded_nicks, check_nick, check_room, check_target, nick, room, str16_len, str8_len,
    str8_wire, target, text, utf8, Reader, Writer,
};
use super::{msg_type, sender_of, ChatMessage, Message, MessageError, Nicks, MAX_BODY};
use crate::names::text_check;

/// Flag bit of CLIENT_HELLO: an identity key and signature follow.
const HELLO_IDENTITY: u8 = 0x01;
/// Flag bit of MESSAGE: the message comes from the room's history.
const MESSAGE_HISTORY: u8 = 0x01;
/// Flag bit of MESSAGE: the sender is an unauthenticated legacy client.
const MESSAGE_LEGACY: u8 = 0x02;
/// Flag bit of MESSAGE: the sender's nick is an account and its session proved the
/// account's key (section 5.1).
const MESSAGE_ACCOUNT: u8 = 0x04;
/// Flag bit of ROSTER: more ROSTER records for this room follow.
const ROSTER_MORE: u8 = 0x01;

impl<'a> Message<'a> {
    /// The type byte of this message ([`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::ServerAuth { .. } => msg_type::SERVER_AUTH,
            Message::ClientHello { .. } => msg_type::CLIENT_HELLO,
            Message::Welcome { .. } => msg_type::WELCOME,
            Message::Say { .. } => msg_type::SAY,
            Message::Message(_) => msg_type::MESSAGE,
            Message::Join { .. } => msg_type::JOIN,
            Message::Part { .. } => msg_type::PART,
            Message::Nick { .. } => msg_type::NICK,
            Message::Who { .. } => msg_type::WHO,
            Message::Roster { .. } => msg_type::ROSTER,
            Message::Notice { .. } => msg_type::NOTICE,
            Message::Error { .. } => msg_type::ERROR,
            Message::Ping { .. } => msg_type::PING,
            Message::Pong { .. } => msg_type::PONG,
            Message::Close { .. } => msg_type::CLOSE,
        }
    }

    /// Length of the encoded plaintext, `type || body`: what [`Message::encode`] writes
    /// when it succeeds. (For a value `encode` refuses, the length its fields would
    /// take, saturating at `usize::MAX`.)
    pub fn encoded_len(&self) -> usize {
        1usize.saturating_add(self.body_len())
    }

    fn body_len(&self) -> usize {
        match *self {
            Message::ServerAuth { .. } => 32 + 64,
            Message::ClientHello { identity, nick } => {
                let id: usize = if identity.is_some() { 32 + 64 } else { 0 };
                (1 + id).saturating_add(str8_wire(nick))
            }
            Message::Welcome {
                nick,
                server_name,
                motd,
            } => str8_wire(nick)
                .saturating_add(str8_wire(server_name))
                .saturating_add(motd.len().saturating_add(2)),
            Message::Say { room, text } => str8_wire(room).saturating_add(text.len()),
            Message::Message(m) => (8 + 1usize)
                .saturating_add(str8_wire(m.from))
                .saturating_add(str8_wire(m.room))
                .saturating_add(m.text.len()),
            Message::Join { room } | Message::Part { room } | Message::Who { room } => {
                str8_wire(room)
            }
            Message::Nick { nick } => str8_wire(nick),
            Message::Roster { room, nicks, .. } => str8_wire(room)
                .saturating_add(1 + 2)
                .saturating_add(nicks.wire_len()),
            Message::Notice { text } => text.len(),
            Message::Error { text, .. } => text.len().saturating_add(2),
            Message::Ping { .. } | Message::Pong { .. } => 8,
            Message::Close { reason } => reason.len(),
        }
    }

    /// Checks every field rule, in the order decoding checks them (the body length is
    /// checked before this).
    fn validate(&self) -> Result<(), MessageError> {
        match *self {
            Message::ServerAuth { .. } | Message::Ping { .. } | Message::Pong { .. } => Ok(()),
            Message::ClientHello { nick, .. } | Message::Nick { nick } => check_nick(nick),
            Message::Welcome {
                nick,
                server_name,
                motd,
            } => {
                str8_len(server_name)?;
                str16_len(motd)?;
                check_nick(nick)
            }
            Message::Say { room, text } => {
                check_target(room)?;
                Ok(text_check(text)?)
            }
            Message::Message(m) => {
                check_nick(m.from)?;
                check_target(m.room)?;
                Ok(text_check(m.text)?)
            }
            Message::Join { room } | Message::Part { room } | Message::Who { room } => {
                check_room(room)
            }
            Message::Roster { room, nicks, .. } => {
                match nicks {
                    Nicks::Encoded { count, bytes } => {
                        // Structure first, as decoding does.
                        let mut r = Reader { rest: bytes };
                        for _ in 0..count {
                            r.str8()?;
                        }
                        r.finish()?;
                        check_room(room)?;
                        check_encoded_nicks(count, bytes)
                    }
                    Nicks::List(list) => {
                        u16::try_from(list.len()).map_err(|_| MessageError::FieldTooLong)?;
                        check_room(room)?;
                        list.iter().try_for_each(|n| check_nick(n))
                    }
                }
            }
            Message::Notice { .. } | Message::Error { .. } | Message::Close { .. } => Ok(()),
        }
    }

    /// Writes `type || body` to the start of `out` and returns its length
    /// ([`Message::encoded_len`]).
    ///
    /// # Errors
    ///
    /// Every value [`Message::decode`] would refuse after decoding the output is refused
    /// here, with the same error where the wire can express the fault:
    /// [`MessageError::BodyTooLong`] (body over [`MAX_BODY`]), [`MessageError::BadNick`],
    /// [`MessageError::BadRoom`], [`MessageError::BadTarget`],
    /// [`MessageError::BadText`], and for a hand-built [`Nicks::Encoded`] also
    /// [`MessageError::Truncated`], [`MessageError::TrailingBytes`] and
    /// [`MessageError::NotUtf8`]. [`MessageError::FieldTooLong`] if a WELCOME server
    /// name is over 255 bytes. [`MessageError::BufferTooSmall`] if the value is valid
    /// but `out` is shorter than `encoded_len()`; then `out` is left unchanged.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, MessageError> {
        let len = self.encoded_len();
        if len.saturating_sub(1) > MAX_BODY {
            return Err(MessageError::BodyTooLong);
        }
        self.validate()?;
        let out = out.get_mut(..len).ok_or(MessageError::BufferTooSmall)?;
        let mut w = Writer { out, pos: 0 };
        w.u8(self.msg_type())?;
        match *self {
            Message::ServerAuth {
                server_key,
                signature,
            } => {
                w.bytes(server_key)?;
                w.bytes(signature)?;
            }
            Message::ClientHello { identity, nick } => {
                match identity {
                    Some((key, sig)) => {
                        w.u8(HELLO_IDENTITY)?;
                        w.bytes(key)?;
                        w.bytes(sig)?;
                    }
                    None => w.u8(0)?,
                }
                w.str8(nick)?;
            }
            Message::Welcome {
                nick,
                server_name,
                motd,
            } => {
                w.str8(nick)?;
                w.str8(server_name)?;
                w.str16(motd)?;
            }
            Message::Say { room, text } => {
                w.str8(room)?;
                w.bytes(text.as_bytes())?;
            }
            Message::Message(m) => {
                w.bytes(&m.time_ms.to_be_bytes())?;
                let mut flags = 0;
                if m.history {
                    flags |= MESSAGE_HISTORY;
                }
                if m.legacy {
                    flags |= MESSAGE_LEGACY;
                }
                if m.account {
                    flags |= MESSAGE_ACCOUNT;
                }
                w.u8(flags)?;
                w.str8(m.from)?;
                w.str8(m.room)?;
                w.bytes(m.text.as_bytes())?;
            }
            Message::Join { room } | Message::Part { room } | Message::Who { room } => {
                w.str8(room)?;
            }
            Message::Nick { nick } => w.str8(nick)?,
            Message::Roster { room, more, nicks } => {
                w.str8(room)?;
                w.u8(if more { ROSTER_MORE } else { 0 })?;
                let count = u16::try_from(nicks.len()).map_err(|_| MessageError::FieldTooLong)?;
                w.u16(count)?;
                match nicks {
                    Nicks::Encoded { bytes, .. } => w.bytes(bytes)?,
                    Nicks::List(list) => {
                        for n in list {
                            w.str8(n)?;
                        }
                    }
                }
            }
            Message::Notice { text } => w.bytes(text.as_bytes())?,
            Message::Error { code, text } => {
                w.u16(code)?;
                w.bytes(text.as_bytes())?;
            }
            Message::Ping { nonce } | Message::Pong { nonce } => w.bytes(&nonce)?,
            Message::Close { reason } => w.bytes(reason.as_bytes())?,
        }
        Ok(w.pos)
    }

    /// Parses and validates a record's plaintext, `type:u8 || body`.
    ///
    /// The structure of the body (lengths, overruns, flags, trailing bytes) is checked
    /// before the contents of its fields (UTF-8, names, text), so a body that is both
    /// malformed and holds a bad name is reported as malformed.
    ///
    /// # Errors
    ///
    /// [`MessageError::Empty`] for no bytes; [`MessageError::UnknownType`];
    /// [`MessageError::BodyTooLong`] for a body over [`MAX_BODY`];
    /// [`MessageError::Truncated`] if a field overruns the body;
    /// [`MessageError::UnknownFlags`] for undefined flag bits in CLIENT_HELLO, MESSAGE
    /// or ROSTER; [`MessageError::TrailingBytes`]; [`MessageError::NotUtf8`];
    /// [`MessageError::BadNick`], [`MessageError::BadRoom`],
    /// [`MessageError::BadTarget`] and [`MessageError::BadText`] for fields that break
    /// the rules of [`crate::names`].
    pub fn decode(plaintext: &'a [u8]) -> Result<Message<'a>, MessageError> {
        let (&ty, body) = plaintext.split_first().ok_or(MessageError::Empty)?;
        if sender_of(ty).is_none() {
            return Err(MessageError::UnknownType(ty));
        }
        if body.len() > MAX_BODY {
            return Err(MessageError::BodyTooLong);
        }
        let mut r = Reader { rest: body };
        let msg = match ty {
            msg_type::SERVER_AUTH => {
                let server_key = r.array::<32>()?;
                let signature = r.array::<64>()?;
                r.finish()?;
                Message::ServerAuth {
                    server_key,
                    signature,
                }
            }
            msg_type::CLIENT_HELLO => {
                let flags = r.u8()?;
                if flags & !HELLO_IDENTITY != 0 {
                    return Err(MessageError::UnknownFlags);
                }
                let identity = if flags & HELLO_IDENTITY != 0 {
                    Some((r.array::<32>()?, r.array::<64>()?))
                } else {
                    None
                };
                let n = r.str8()?;
                r.finish()?;
                Message::ClientHello {
                    identity,
                    nick: nick(n)?,
                }
            }
            msg_type::WELCOME => {
                let n = r.str8()?;
                let server_name = r.str8()?;
                let motd = r.str16()?;
                r.finish()?;
                Message::Welcome {
                    nick: nick(n)?,
                    server_name: utf8(server_name)?,
                    motd: utf8(motd)?,
                }
            }
            msg_type::SAY => {
                let room = r.str8()?;
                let t = r.rest();
                Message::Say {
                    room: target(room)?,
                    text: text(t)?,
                }
            }
            msg_type::MESSAGE => {
                let time_ms = r.u64()?;
                let flags = r.u8()?;
                if flags & !(MESSAGE_HISTORY | MESSAGE_LEGACY | MESSAGE_ACCOUNT) != 0 {
                    return Err(MessageError::UnknownFlags);
                }
                let from = r.str8()?;
                let room = r.str8()?;
                let t = r.rest();
                Message::Message(ChatMessage {
                    time_ms,
                    history: flags & MESSAGE_HISTORY != 0,
                    legacy: flags & MESSAGE_LEGACY != 0,
                    account: flags & MESSAGE_ACCOUNT != 0,
                    from: nick(from)?,
                    room: target(room)?,
                    text: text(t)?,
                })
            }
            msg_type::JOIN | msg_type::PART | msg_type::WHO => {
                let b = r.str8()?;
                r.finish()?;
                let room = room(b)?;
                match ty {
                    msg_type::JOIN => Message::Join { room },
                    msg_type::PART => Message::Part { room },
                    _ => Message::Who { room },
                }
            }
            msg_type::NICK => {
                let b = r.str8()?;
                r.finish()?;
                Message::Nick { nick: nick(b)? }
            }
            msg_type::ROSTER => {
                let room_bytes = r.str8()?;
                let flags = r.u8()?;
                if flags & !ROSTER_MORE != 0 {
                    return Err(MessageError::UnknownFlags);
                }
                let count = r.u16()?;
                let bytes = r.rest();
                // Checks the structure of the list before the room's name.
                let mut list = Reader { rest: bytes };
                for _ in 0..count {
                    list.str8()?;
                }
                list.finish()?;
                let room = room(room_bytes)?;
                check_encoded_nicks(count, bytes)?;
                Message::Roster {
                    room,
                    more: flags & ROSTER_MORE != 0,
                    nicks: Nicks::Encoded { count, bytes },
                }
            }
            msg_type::NOTICE => Message::Notice {
                text: utf8(r.rest())?,
            },
            msg_type::ERROR => {
                let code = r.u16()?;
                Message::Error {
                    code,
                    text: utf8(r.rest())?,
                }
            }
            msg_type::PING | msg_type::PONG => {
                let nonce = *r.array::<8>()?;
                r.finish()?;
                if ty == msg_type::PING {
                    Message::Ping { nonce }
                } else {
                    Message::Pong { nonce }
                }
            }
            msg_type::CLOSE => Message::Close {
                reason: utf8(r.rest())?,
            },
            other => return Err(MessageError::UnknownType(other)),
        };
        Ok(msg)
    }
}
