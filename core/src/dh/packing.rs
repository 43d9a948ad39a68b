//! Fixed-width packing of integers into DH messages (PROTOCOL.md section 2):
//! `DH_MSG = pack(p, 1024) || pack(g, 16) || pack(y, 1024)`, left-padded with zero bytes;
//! a value wider than its field is an error, never truncated.

use super::{DhError, DH_MSG_LEN, LEN_GEN, LEN_PK, LEN_PRIME};
use crate::group::{self, Group};

/// Packs the big-endian `value` into `field`, left-padding with zero bytes.
///
/// `value` may carry leading zero bytes; only its significant bytes have to fit. The
/// time taken depends on the lengths only, not on the bytes. `field` is left unchanged on
/// error.
///
/// # Errors
///
/// [`DhError::ValueTooWide`] when `value` has more significant bytes than `field` is
/// long (the value is never truncated).
pub fn pack(value: &[u8], field: &mut [u8]) -> Result<(), DhError> {
    let (excess, tail) = value.split_at(value.len().saturating_sub(field.len()));
    if excess.iter().fold(0u8, |acc, &b| acc | b) != 0 {
        return Err(DhError::ValueTooWide);
    }
    let (pad, rest) = field.split_at_mut(field.len() - tail.len());
    pad.fill(0);
    rest.copy_from_slice(tail);
    Ok(())
}

/// The last `len` bytes of `field`, provided every byte before them is zero.
///
/// # Errors
///
/// [`DhError::ValueTooWide`] when a byte before the last `len` is not zero;
/// [`DhError::BadLength`] when `field` is shorter than `len`.
pub fn unpack(field: &[u8], len: usize) -> Result<&[u8], DhError> {
    let pad_len = field.len().checked_sub(len).ok_or(DhError::BadLength)?;
    let (pad, value) = field.split_at(pad_len);
    if pad.iter().any(|&b| b != 0) {
        return Err(DhError::ValueTooWide);
    }
    Ok(value)
}

/// Writes the DH message `pack(p, 1024) || pack(2, 16) || pack(y, 1024)` of `group` into
/// `out[..DH_MSG_LEN]` and returns [`DH_MSG_LEN`].
///
/// # Errors
///
/// [`DhError::BufferTooSmall`] when `out` is shorter than [`DH_MSG_LEN`];
/// [`DhError::ValueTooWide`] when `y` has more significant bytes than the group's `plen`
/// (a peer would refuse it).
pub fn write_dh_message(group: Group, y: &[u8], out: &mut [u8]) -> Result<usize, DhError> {
    let msg = out.get_mut(..DH_MSG_LEN).ok_or(DhError::BufferTooSmall)?;
    let (p_field, rest) = msg.split_at_mut(LEN_PRIME);
    let (g_field, y_field) = rest.split_at_mut(LEN_GEN);
    // y goes into the last plen bytes of its field so that a y wider than plen is refused.
    let (y_pad, y_value) = y_field.split_at_mut(LEN_PK - group.plen());
    pack(y, y_value)?;
    y_pad.fill(0);
    pack(group.prime(), p_field)?;
    pack(&[group.generator()], g_field)?;
    Ok(DH_MSG_LEN)
}

/// Parses a received DH message (exactly [`DH_MSG_LEN`] bytes) into its group and the
/// public value `y` as exactly `plen` big-endian bytes.
///
/// `y` is not range-checked here: pass it to [`check_public`](super::check_public) (or
/// [`PrivateKey::shared_value`](super::PrivateKey::shared_value), which checks it). Whether the group is large enough is
/// for the caller to decide, with [`Group::bits`].
///
/// # Errors
///
/// [`DhError::BadLength`] when `msg` is not [`DH_MSG_LEN`] bytes;
/// [`DhError::UnknownGroup`] when (p, g) is not a supported group;
/// [`DhError::ValueTooWide`] when `y` has more significant bytes than the group's `plen`.
pub fn parse_dh_message(msg: &[u8]) -> Result<(Group, &[u8]), DhError> {
    if msg.len() != DH_MSG_LEN {
        return Err(DhError::BadLength);
    }
    let (p_field, rest) = msg.split_at(LEN_PRIME);
    let (g_field, y_field) = rest.split_at(LEN_GEN);
    let group = group::identify(p_field, g_field).ok_or(DhError::UnknownGroup)?;
    let y = unpack(y_field, group.plen())?;
    Ok((group, y))
}

#[cfg(test)]
#[path = "packing_tests.rs"]
mod tests;
