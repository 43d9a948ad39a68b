//! Private exponents, public values and their range check, and shared values
//! (PROTOCOL.md section 1).

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::modpow::{group_modpow, group_pow_generator};
use super::{DhError, MAX_PLEN};
use crate::group::Group;

/// The largest private exponent of the groups in this build, in bytes (`xbits / 8`: 48
/// with ffdhe4096).
const MAX_XLEN: usize = (Group::MAX_XBITS / 8) as usize;

/// Checks a received public value: accepted only when `1 < y < p - 1`.
///
/// `y` is big-endian, of any length (leading zero bytes allowed). The value is public, so
/// this runs in variable time.
///
/// # Errors
///
/// [`DhError::PublicValueOutOfRange`] when `y <= 1` or `y >= p - 1`.
pub fn check_public(group: Group, y: &[u8]) -> Result<(), DhError> {
    let first = y.iter().position(|&b| b != 0).unwrap_or(y.len());
    let y = y.get(first..).unwrap_or_default();
    if y.is_empty() || y == [1] {
        return Err(DhError::PublicValueOutOfRange);
    }
    // p - 1, big-endian, with the same length as p (p's top byte is 0xff).
    let p = group.prime();
    let mut p_minus_1 = [0u8; MAX_PLEN];
    let p_minus_1 = p_minus_1.get_mut(..p.len()).unwrap_or_default();
    p_minus_1.copy_from_slice(p);
    for byte in p_minus_1.iter_mut().rev() {
        let (value, borrow) = byte.overflowing_sub(1);
        *byte = value;
        if !borrow {
            break;
        }
    }
    // Equal lengths compare numerically as byte strings; p - 1 has no leading zero.
    if y.len() < p_minus_1.len() || (y.len() == p_minus_1.len() && y < &*p_minus_1) {
        Ok(())
    } else {
        Err(DhError::PublicValueOutOfRange)
    }
}

/// A private exponent `x` of one handshake.
///
/// Zeroized on drop; its `Debug` output never shows `x`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey {
    #[zeroize(skip)]
    group: Group,
    /// `x`, big-endian, in the first `xbits / 8` bytes.
    x: [u8; MAX_XLEN],
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("group", &self.group)
            .field("x", &"<redacted>")
            .finish()
    }
}

impl PrivateKey {
    /// Draws a fresh private exponent for `group`, uniform on `[2, 2^xbits)`.
    ///
    /// Each draw is exactly `xbits / 8` bytes from one `fill_bytes` call, read big-endian
    /// as `x`; a draw with `x < 2` is discarded and drawn again.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(group: Group, rng: &mut R) -> PrivateKey {
        let mut key = PrivateKey {
            group,
            x: [0u8; MAX_XLEN],
        };
        loop {
            let x = key.exponent_mut();
            rng.fill_bytes(x);
            // x >= 2 unless every byte but the last is zero and the last is 0 or 1. This
            // reveals only whether the draw is rejected.
            let acc = match x.split_last() {
                Some((last, high)) => high.iter().fold(last & 0xfe, |acc, &b| acc | b),
                None => 0,
            };
            if acc != 0 {
                return key;
            }
        }
    }

    /// The group this exponent belongs to.
    #[must_use]
    pub fn group(&self) -> Group {
        self.group
    }

    /// The `xbits / 8` bytes of `x`.
    fn exponent(&self) -> &[u8] {
        let len = xlen(self.group);
        self.x.get(..len).unwrap_or_default()
    }

    /// The `xbits / 8` bytes of `x`, writable.
    fn exponent_mut(&mut self) -> &mut [u8] {
        let len = xlen(self.group);
        self.x.get_mut(..len).unwrap_or_default()
    }

    /// Writes the public value `y = g^x mod p` as exactly `plen` big-endian bytes into
    /// `out[..plen]` and returns `plen`. Constant time with respect to `x`.
    ///
    /// # Errors
    ///
    /// [`DhError::BufferTooSmall`] when `out` is shorter than the group's `plen`.
    pub fn public_value(&self, out: &mut [u8]) -> Result<usize, DhError> {
        let plen = self.group.plen();
        let out = out.get_mut(..plen).ok_or(DhError::BufferTooSmall)?;
        group_pow_generator(self.group, self.exponent(), out)?;
        Ok(plen)
    }

    /// Computes the shared value `z = peer_y^x mod p` into `out` as `pack(z, plen)`.
    ///
    /// `peer_y` is big-endian of any length and is checked with [`check_public`] first.
    /// Constant time with respect to `x`. On error `out` is left empty.
    ///
    /// # Errors
    ///
    /// [`DhError::PublicValueOutOfRange`] when `peer_y` is not in `2..=p-2`;
    /// [`DhError::SharedValueIsOne`] when `z` is 1.
    pub fn shared_value(&self, peer_y: &[u8], out: &mut SharedValue) -> Result<(), DhError> {
        out.zeroize();
        check_public(self.group, peer_y)?;
        let plen = self.group.plen();
        let z = out.buf.get_mut(..plen).ok_or(DhError::BufferTooSmall)?;
        if let Err(e) = group_modpow(self.group, peer_y, self.exponent(), z) {
            out.zeroize();
            return Err(e);
        }
        let mut one = [0u8; MAX_PLEN];
        let one = one.get_mut(..plen).unwrap_or_default();
        if let Some(last) = one.last_mut() {
            *last = 1;
        }
        if bool::from(z.ct_eq(one)) {
            out.zeroize();
            return Err(DhError::SharedValueIsOne);
        }
        out.len = plen;
        Ok(())
    }
}

/// `xbits / 8` of `group`.
pub(super) const fn xlen(group: Group) -> usize {
    // xbits is at most 384, so this is exact and lossless.
    (group.xbits() / 8) as usize
}

/// A Diffie-Hellman shared value `Z = pack(z, plen)`.
///
/// Zeroized on drop; its `Debug` output never shows the value.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SharedValue {
    buf: [u8; MAX_PLEN],
    len: usize,
}

impl SharedValue {
    /// The shared value as exactly `plen` big-endian bytes (empty before a successful
    /// [`PrivateKey::shared_value`]).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Default for SharedValue {
    fn default() -> Self {
        SharedValue {
            buf: [0u8; MAX_PLEN],
            len: 0,
        }
    }
}

impl fmt::Debug for SharedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedValue")
            .field("len", &self.len)
            .field("value", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
