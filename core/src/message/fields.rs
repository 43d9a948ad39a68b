//! The field codec of PROTOCOL.md section 5: bounds-checked readers and writers of
//! `u8`, `u16`, `u64`, `str8`, `str16` and byte fields, and the name and text rules
//! applied to decoded strings.

use super::MessageError;
use crate::names::{is_valid_nick, is_valid_room, is_valid_target, text_check};

/// A cursor over a body; every read is bounds-checked.
pub(super) struct Reader<'a> {
    pub(super) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], MessageError> {
        let (field, rest) = self
            .rest
            .split_at_checked(n)
            .ok_or(MessageError::Truncated)?;
        self.rest = rest;
        Ok(field)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], MessageError> {
        self.take(N)?
            .try_into()
            .map_err(|_| MessageError::Truncated)
    }

    pub(super) fn u8(&mut self) -> Result<u8, MessageError> {
        Ok(u8::from_be_bytes(*self.array()?))
    }

    pub(super) fn u16(&mut self) -> Result<u16, MessageError> {
        Ok(u16::from_be_bytes(*self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, MessageError> {
        Ok(u64::from_be_bytes(*self.array()?))
    }

    pub(super) fn str8(&mut self) -> Result<&'a [u8], MessageError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    pub(super) fn str16(&mut self) -> Result<&'a [u8], MessageError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    pub(super) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    pub(super) fn finish(self) -> Result<(), MessageError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(MessageError::TrailingBytes)
        }
    }
}

pub(super) fn utf8(b: &[u8]) -> Result<&str, MessageError> {
    core::str::from_utf8(b).map_err(|_| MessageError::NotUtf8)
}

pub(super) fn check_nick(s: &str) -> Result<(), MessageError> {
    if is_valid_nick(s) {
        Ok(())
    } else {
        Err(MessageError::BadNick)
    }
}

pub(super) fn check_room(s: &str) -> Result<(), MessageError> {
    if is_valid_room(s) {
        Ok(())
    } else {
        Err(MessageError::BadRoom)
    }
}

pub(super) fn check_target(s: &str) -> Result<(), MessageError> {
    if is_valid_target(s) {
        Ok(())
    } else {
        Err(MessageError::BadTarget)
    }
}

pub(super) fn nick(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    check_nick(s)?;
    Ok(s)
}

pub(super) fn room(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    check_room(s)?;
    Ok(s)
}

pub(super) fn target(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    check_target(s)?;
    Ok(s)
}

pub(super) fn text(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    text_check(s)?;
    Ok(s)
}

/// Checks that `bytes` is exactly `count` `str8` fields, each a valid nick: first the
/// structure (overrun, trailing bytes), then each nick in order.
pub(super) fn check_encoded_nicks(count: u16, bytes: &[u8]) -> Result<(), MessageError> {
    let mut r = Reader { rest: bytes };
    for _ in 0..count {
        r.str8()?;
    }
    r.finish()?;
    let mut r = Reader { rest: bytes };
    for _ in 0..count {
        nick(r.str8()?)?;
    }
    Ok(())
}

/// Length of a `str8` field holding `s`, or `FieldTooLong`.
pub(super) fn str8_len(s: &str) -> Result<u8, MessageError> {
    u8::try_from(s.len()).map_err(|_| MessageError::FieldTooLong)
}

/// Length of a `str16` field holding `s`, or `FieldTooLong`.
pub(super) fn str16_len(s: &str) -> Result<u16, MessageError> {
    u16::try_from(s.len()).map_err(|_| MessageError::FieldTooLong)
}

/// A cursor over an output buffer; every write is bounds-checked.
pub(super) struct Writer<'o> {
    pub(super) out: &'o mut [u8],
    pub(super) pos: usize,
}

impl Writer<'_> {
    pub(super) fn bytes(&mut self, b: &[u8]) -> Result<(), MessageError> {
        let end = self
            .pos
            .checked_add(b.len())
            .ok_or(MessageError::BufferTooSmall)?;
        self.out
            .get_mut(self.pos..end)
            .ok_or(MessageError::BufferTooSmall)?
            .copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    pub(super) fn u8(&mut self, v: u8) -> Result<(), MessageError> {
        self.bytes(&[v])
    }

    pub(super) fn u16(&mut self, v: u16) -> Result<(), MessageError> {
        self.bytes(&v.to_be_bytes())
    }

    pub(super) fn str8(&mut self, s: &str) -> Result<(), MessageError> {
        self.u8(str8_len(s)?)?;
        self.bytes(s.as_bytes())
    }

    pub(super) fn str16(&mut self, s: &str) -> Result<(), MessageError> {
        self.u16(str16_len(s)?)?;
        self.bytes(s.as_bytes())
    }
}

/// `1 + s.len()`, saturating.
pub(super) fn str8_wire(s: &str) -> usize {
    s.len().saturating_add(1)
}
