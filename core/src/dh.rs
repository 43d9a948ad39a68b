//! Finite-field Diffie-Hellman: fixed-width packing of DH messages (PROTOCOL.md section
//! 2), public value checks, private exponents and the constant-time exponentiation
//! (section 1).
//!
//! Everything here works on caller-provided buffers: no allocation, and no panic on any
//! input received from a peer.

use core::fmt;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Limb, Odd, Uint, Word, U2048, U3072, U4096};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::group::{self, Group};

/// Width in bytes of the packed prime field of a DH message.
pub const LEN_PRIME: usize = 1024;
/// Width in bytes of the packed generator field of a DH message.
pub const LEN_GEN: usize = 16;
/// Width in bytes of a packed public value (in a DH message and in `CLIENT_KEY`).
pub const LEN_PK: usize = 1024;
/// Length in bytes of a DH message: `pack(p, 1024) || pack(g, 16) || pack(y, 1024)`.
pub const DH_MSG_LEN: usize = LEN_PRIME + LEN_GEN + LEN_PK;
/// The largest `plen` of any supported group (ffdhe4096), in bytes.
pub const MAX_PLEN: usize = 512;

/// The largest private exponent of any supported group, in bytes (`xbits / 8` of
/// ffdhe4096).
const MAX_XLEN: usize = 48;

/// Why a Diffie-Hellman operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DhError {
    /// A value has more significant bytes than the field or size it must fit in.
    ValueTooWide,
    /// A DH message announces a (p, g) that is not one of the supported groups.
    UnknownGroup,
    /// A received public value is not in `2..=p-2`.
    PublicValueOutOfRange,
    /// The computed shared value is 1.
    SharedValueIsOne,
    /// An output buffer is shorter than the value to be written into it.
    BufferTooSmall,
    /// An input has the wrong length for its format.
    BadLength,
    /// A modulus is even, smaller than 3, or wider than the arithmetic chosen for it.
    InvalidModulus,
}

impl fmt::Display for DhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhError::ValueTooWide => {
                "a DH value is wider than its field; the peer sent a malformed DH message"
            }
            DhError::UnknownGroup => {
                "the peer proposed a DH group that is not ffdhe2048, ffdhe3072 or ffdhe4096 \
                 with generator 2; it may be a legacy or misconfigured peer"
            }
            DhError::PublicValueOutOfRange => {
                "the peer's DH public value is outside 2..p-2; the peer is faulty or malicious, \
                 and the handshake was aborted"
            }
            DhError::SharedValueIsOne => {
                "the DH shared value is 1; the peer's public value is invalid, and the \
                 handshake was aborted"
            }
            DhError::BufferTooSmall => "an output buffer is too small for the DH value",
            DhError::BadLength => {
                "a DH message has the wrong length; the peer does not speak this protocol \
                 version"
            }
            DhError::InvalidModulus => {
                "the DH modulus is even, below 3, or too wide for the arithmetic used"
            }
        })
    }
}

impl core::error::Error for DhError {}

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
/// `y` is not range-checked here: pass it to [`check_public`] (or
/// [`PrivateKey::shared_value`], which checks it). Whether the group is large enough is
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
        group_modpow(self.group, &[self.group.generator()], self.exponent(), out)?;
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
const fn xlen(group: Group) -> usize {
    // xbits is at most 384, so this is exact and lossless.
    (group.xbits() / 8) as usize
}

/// `base^exp mod p` of `group`, with the arithmetic sized for the group.
fn group_modpow(group: Group, base: &[u8], exp: &[u8], out: &mut [u8]) -> Result<(), DhError> {
    let xbits = group.xbits();
    match group {
        Group::Ffdhe2048 => monty_pow(&FFDHE2048_PARAMS, base, exp, xbits, out),
        Group::Ffdhe3072 => monty_pow(&FFDHE3072_PARAMS, base, exp, xbits, out),
        Group::Ffdhe4096 => monty_pow(&FFDHE4096_PARAMS, base, exp, xbits, out),
    }
}

/// The Montgomery parameters of a group's prime, computed at compile time.
///
/// Computing them at run time (`FixedMontyParams::new_vartime`) costs a 4096-bit
/// remainder and a squaring whose Karatsuba temporaries take about 25 KiB of stack on
/// thumbv7m; as constants they cost nothing at run time.
const fn group_params<const LIMBS: usize>(group: Group) -> FixedMontyParams<LIMBS> {
    // Compile-time only: a prime of the wrong length or an even one fails the build.
    let prime = Uint::<LIMBS>::from_be_slice(group.prime());
    FixedMontyParams::new_vartime(prime.to_odd().expect_copied("RFC 7919 primes are odd"))
}

/// Montgomery parameters of the ffdhe2048 prime.
static FFDHE2048_PARAMS: FixedMontyParams<{ U2048::LIMBS }> = group_params(Group::Ffdhe2048);
/// Montgomery parameters of the ffdhe3072 prime.
static FFDHE3072_PARAMS: FixedMontyParams<{ U3072::LIMBS }> = group_params(Group::Ffdhe3072);
/// Montgomery parameters of the ffdhe4096 prime.
static FFDHE4096_PARAMS: FixedMontyParams<{ U4096::LIMBS }> = group_params(Group::Ffdhe4096);

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

/// Modular exponentiation `out = pack(base^exp mod modulus, out.len())`, constant time
/// with respect to `exp`, in arithmetic of `LIMBS` limbs.
///
/// - `modulus`: big-endian (leading zeros allowed), odd, at least 3, and with at most
///   `LIMBS` limbs of significant bytes. It is public: its Montgomery setup runs in
///   variable time, at every call.
/// - `base`: big-endian (leading zeros allowed), public, below `modulus`.
/// - `exp`: big-endian secret exponent of at most `exp_bits` significant bits; every one
///   of the `exp_bits` bits is processed, whatever its value, and `exp_bits` (public)
///   sets the running time.
/// - `out`: receives the result left-padded with zeros; it must be at least as long as
///   the modulus's significant bytes.
///
/// The ffdhe groups do not go through here (their Montgomery parameters are constants);
/// it is for other odd moduli, e.g. a legacy peer's, up to 8192 bits with
/// `LIMBS = U8192::LIMBS`. The run-time setup needs a large stack for wide moduli (its
/// Karatsuba squaring): about 25 KiB on thumbv7m for 4096 bits, on top of the
/// exponentiation's own.
///
/// The exponent, the result and its Montgomery form are zeroized before returning.
/// Copies that crypto-bigint makes on the stack inside its own routines are not.
///
/// # Errors
///
/// [`DhError::InvalidModulus`] when `modulus` is even, below 3 or wider than `LIMBS`
/// limbs; [`DhError::PublicValueOutOfRange`] when `base` is not below `modulus`;
/// [`DhError::ValueTooWide`] when `exp` has a bit set above `exp_bits` or `exp_bits`
/// exceeds `LIMBS` limbs; [`DhError::BufferTooSmall`] when `out` is shorter than the
/// modulus's significant bytes.
pub fn modpow<const LIMBS: usize>(
    base: &[u8],
    exp: &[u8],
    exp_bits: u32,
    modulus: &[u8],
    out: &mut [u8],
) -> Result<(), DhError> {
    let modulus = uint_from_be::<LIMBS>(modulus).ok_or(DhError::InvalidModulus)?;
    if modulus < Uint::from_u8(3) {
        return Err(DhError::InvalidModulus);
    }
    let modulus = Odd::new(modulus)
        .into_option()
        .ok_or(DhError::InvalidModulus)?;
    monty_pow(
        &FixedMontyParams::new_vartime(modulus),
        base,
        exp,
        exp_bits,
        out,
    )
}

/// [`modpow`] with the Montgomery parameters of the modulus already set up.
///
/// Not inlined, so that only one width's temporaries are on the stack at a time.
#[inline(never)]
fn monty_pow<const LIMBS: usize>(
    params: &FixedMontyParams<LIMBS>,
    base: &[u8],
    exp: &[u8],
    exp_bits: u32,
    out: &mut [u8],
) -> Result<(), DhError> {
    // Public checks first (variable time is fine for public values).
    let modulus = params.modulus().as_ref();
    let modulus_len = usize::try_from(modulus.bit_width_vartime().div_ceil(8))
        .map_err(|_| DhError::InvalidModulus)?;
    if out.len() < modulus_len {
        return Err(DhError::BufferTooSmall);
    }
    if exp_bits > Uint::<LIMBS>::BITS {
        return Err(DhError::ValueTooWide);
    }
    // Temporaries live in blocks so that their stack slots can be reused.
    let base = {
        let base = uint_from_be::<LIMBS>(base).ok_or(DhError::PublicValueOutOfRange)?;
        if base >= *modulus {
            return Err(DhError::PublicValueOutOfRange);
        }
        FixedMontyForm::new(&base, params)
    };

    // The exponent: its bytes are read with accesses that depend only on lengths.
    let mut exponent = uint_from_be::<LIMBS>(exp).ok_or(DhError::ValueTooWide)?;
    // Bits at or above exp_bits would be silently ignored by pow_bounded_exp; refuse them.
    // Only the validity of the call is revealed, not the exponent.
    let too_wide = {
        let mut high = exponent.wrapping_shr_vartime(exp_bits);
        let too_wide = high.is_nonzero().to_bool();
        high.zeroize();
        too_wide
    };
    if too_wide {
        exponent.zeroize();
        return Err(DhError::ValueTooWide);
    }

    // crypto-bigint 0.7.11 `pow_bounded_exp` (src/modular/pow.rs,
    // `multi_exponentiate_montgomery_form_internal` with VARTIME = false) is a fixed
    // 4-bit-window exponentiation over exactly `exp_bits` bits: the loop bounds depend
    // only on `exp_bits`; every window does 4 squarings and one multiplication, even for a
    // zero window; the table entry is chosen by a masked select over all 16 entries
    // (`Uint::select` with `choice_from_eq`), never by an index derived from exponent bits;
    // the Montgomery multiplication's final subtraction is a masked select
    // (`try_sub_with_carry`). No branch or memory index depends on exponent bits.
    let mut result = base.pow_bounded_exp(&exponent, exp_bits);
    exponent.zeroize();
    {
        let mut value = result.retrieve();
        result.zeroize();
        uint_to_be(&value, out);
        value.zeroize();
    }
    Ok(())
}

/// Reads big-endian `bytes` (leading zeros allowed) into a `Uint<LIMBS>`, or `None` when
/// its significant bytes do not fit.
///
/// The memory accesses and branches depend only on `bytes.len()`, not on the bytes (the
/// only value-dependent outcome is whether it fits).
fn uint_from_be<const LIMBS: usize>(bytes: &[u8]) -> Option<Uint<LIMBS>> {
    let mut value = Uint::<LIMBS>::ZERO;
    let mut overflow = 0u8;
    {
        let words = value.as_mut_words();
        for (k, &byte) in bytes.iter().rev().enumerate() {
            match words.get_mut(k / Limb::BYTES) {
                Some(word) => *word |= Word::from(byte) << (8 * (k % Limb::BYTES)),
                None => overflow |= byte,
            }
        }
    }
    if overflow == 0 {
        Some(value)
    } else {
        value.zeroize();
        None
    }
}

/// Writes the low `out.len()` bytes of `value` big-endian into `out` (zeros above
/// `value`'s width). Accesses depend only on the lengths.
fn uint_to_be<const LIMBS: usize>(value: &Uint<LIMBS>, out: &mut [u8]) {
    let words = value.as_words();
    for (k, byte) in out.iter_mut().rev().enumerate() {
        *byte = match words.get(k / Limb::BYTES) {
            // Truncation to the addressed byte is the point.
            #[allow(clippy::cast_possible_truncation)]
            Some(word) => (word >> (8 * (k % Limb::BYTES))) as u8,
            None => 0,
        };
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::convert::Infallible;
    use crypto_bigint::U8192;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{SeedableRng, TryCryptoRng, TryRng};
    use std::time::Instant;
    use std::vec::Vec;
    use std::{format, println, vec};

    /// Includes a test vector file; the vectors' directory is named only here.
    macro_rules! vector {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/vectors/",
                $name
            ))
        };
    }

    /// An RNG that returns given bytes in order and records the length of each request.
    struct ReplayRng {
        data: Vec<u8>,
        pos: usize,
        requests: Vec<usize>,
    }

    impl ReplayRng {
        fn new(chunks: &[&[u8]]) -> Self {
            ReplayRng {
                data: chunks.concat(),
                pos: 0,
                requests: Vec::new(),
            }
        }
    }

    impl TryRng for ReplayRng {
        type Error = Infallible;

        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }

        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }

        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            let end = self.pos + dst.len();
            assert!(end <= self.data.len(), "replay RNG exhausted");
            dst.copy_from_slice(&self.data[self.pos..end]);
            self.pos = end;
            self.requests.push(dst.len());
            Ok(())
        }
    }

    impl TryCryptoRng for ReplayRng {}

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    /// Decodes a hex string that may have an odd number of digits.
    fn unhex(s: &str) -> Vec<u8> {
        if s.len() % 2 == 1 {
            hex::decode(format!("0{s}")).unwrap()
        } else {
            hex::decode(s).unwrap()
        }
    }

    fn field(v: &serde_json::Value, name: &str) -> Vec<u8> {
        unhex(v[name].as_str().unwrap())
    }

    fn key_from(group: Group, x: &[u8]) -> PrivateKey {
        let mut rng = ReplayRng::new(&[x]);
        let key = PrivateKey::generate(group, &mut rng);
        assert_eq!(rng.requests, vec![xlen(group)]);
        assert_eq!(rng.pos, x.len());
        key
    }

    fn check_handshake_vector(text: &str, group: Group) {
        let v = json(text);
        assert_eq!(v["group"].as_str().unwrap(), group.name());
        let server_hello = field(&v, "server_hello");
        let client_key = field(&v, "client_key");
        let shared = field(&v, "shared_Z");
        assert_eq!(server_hello.len(), 8 + DH_MSG_LEN);
        assert_eq!(client_key.len(), 8 + LEN_PK);

        let server = key_from(group, &field(&v, "server_x"));
        let client = key_from(group, &field(&v, "client_x"));
        assert_eq!(server.group(), group);

        // The server's public value and DH message.
        let mut y_s = [0u8; MAX_PLEN];
        let n = server.public_value(&mut y_s).unwrap();
        assert_eq!(n, group.plen());
        let y_s = &y_s[..n];
        let (parsed_group, parsed_y) = parse_dh_message(&server_hello[8..]).unwrap();
        assert_eq!(parsed_group, group);
        assert_eq!(parsed_y, y_s);
        let mut msg = [0u8; DH_MSG_LEN];
        assert_eq!(write_dh_message(group, y_s, &mut msg), Ok(DH_MSG_LEN));
        assert_eq!(&msg[..], &server_hello[8..]);

        // The client's public value.
        let mut y_c = [0u8; MAX_PLEN];
        let n = client.public_value(&mut y_c).unwrap();
        let y_c = &y_c[..n];
        let mut packed = [0u8; LEN_PK];
        pack(y_c, &mut packed).unwrap();
        assert_eq!(&packed[..], &client_key[8..]);
        assert_eq!(unpack(&client_key[8..], group.plen()).unwrap(), y_c);

        // Both shared values.
        let mut z_client = SharedValue::default();
        client.shared_value(parsed_y, &mut z_client).unwrap();
        assert_eq!(z_client.as_bytes(), &shared[..]);
        let mut z_server = SharedValue::default();
        server
            .shared_value(&client_key[8..], &mut z_server)
            .unwrap();
        assert_eq!(z_server.as_bytes(), &shared[..]);
        assert_eq!(z_server.as_bytes().len(), group.plen());
    }

    #[test]
    fn handshake_vector_ffdhe2048() {
        check_handshake_vector(vector!("handshake-ffdhe2048.json"), Group::Ffdhe2048);
    }

    #[test]
    fn handshake_vector_ffdhe3072() {
        check_handshake_vector(vector!("handshake-ffdhe3072.json"), Group::Ffdhe3072);
    }

    #[test]
    fn edge_cases() {
        let v = json(vector!("dh-edge-cases.json"));
        let group = Group::from_name(v["group"].as_str().unwrap()).unwrap();
        let rejected = v["rejected_public_values"].as_array().unwrap();
        let accepted = v["accepted_public_values"].as_array().unwrap();
        assert!(!rejected.is_empty() && !accepted.is_empty());
        let key = PrivateKey::generate(group, &mut ChaCha20Rng::seed_from_u64(7));
        for case in rejected {
            let y = field(case, "y");
            let why = case["why"].as_str().unwrap();
            assert_eq!(
                check_public(group, &y),
                Err(DhError::PublicValueOutOfRange),
                "{why}"
            );
            let mut z = SharedValue::default();
            assert_eq!(
                key.shared_value(&y, &mut z),
                Err(DhError::PublicValueOutOfRange),
                "{why}"
            );
            assert!(z.as_bytes().is_empty());
            // As it would arrive in a DH message: too wide, or out of range.
            let mut msg = [0u8; DH_MSG_LEN];
            let mut wide = [0u8; LEN_PK];
            if pack(&y, &mut wide).is_ok() {
                msg[..LEN_PRIME + LEN_GEN].copy_from_slice(
                    &{
                        let mut m = [0u8; DH_MSG_LEN];
                        write_dh_message(group, &[2], &mut m).unwrap();
                        m
                    }[..LEN_PRIME + LEN_GEN],
                );
                msg[LEN_PRIME + LEN_GEN..].copy_from_slice(&wide);
                match parse_dh_message(&msg) {
                    Ok((_, y)) => assert_eq!(
                        check_public(group, y),
                        Err(DhError::PublicValueOutOfRange),
                        "{why}"
                    ),
                    Err(e) => assert_eq!(e, DhError::ValueTooWide, "{why}"),
                }
            }
        }
        for case in accepted {
            let y = field(case, "y");
            let why = case["why"].as_str().unwrap();
            assert_eq!(check_public(group, &y), Ok(()), "{why}");
            // With leading zeros, as in a packed field.
            let mut packed = [0u8; LEN_PK];
            pack(&y, &mut packed).unwrap();
            assert_eq!(check_public(group, &packed), Ok(()), "{why}");
            let mut z = SharedValue::default();
            key.shared_value(&y, &mut z).unwrap();
            assert_eq!(z.as_bytes().len(), group.plen());
        }

        // pack_too_wide: a 17-byte value does not fit LEN_GEN (16).
        let wide = &v["pack_too_wide"];
        let n = usize::try_from(wide["value_bytes"].as_u64().unwrap()).unwrap();
        assert!(wide["field"].as_str().unwrap().starts_with("LEN_GEN"));
        let mut gen_field = [0xaau8; LEN_GEN];
        for value in [vec![0xffu8; n], {
            let mut one_then_zeros = vec![0u8; n];
            one_then_zeros[0] = 1;
            one_then_zeros
        }] {
            assert_eq!(pack(&value, &mut gen_field), Err(DhError::ValueTooWide));
            assert_eq!(gen_field, [0xaa; LEN_GEN], "field untouched on error");
        }
        // Leading zeros do not count.
        let mut value = vec![0u8; n];
        value[n - 1] = 2;
        pack(&value, &mut gen_field).unwrap();
        assert_eq!(gen_field[..15], [0; 15]);
        assert_eq!(gen_field[15], 2);
    }

    #[test]
    fn check_public_bounds_all_groups() {
        for group in Group::ALL {
            let p = group.prime();
            let mut p_minus_2 = p.to_vec();
            *p_minus_2.last_mut().unwrap() -= 2;
            let mut p_minus_1 = p.to_vec();
            *p_minus_1.last_mut().unwrap() -= 1;
            assert_eq!(check_public(group, &p_minus_2), Ok(()));
            assert_eq!(check_public(group, &[0, 0, 2]), Ok(()));
            for bad in [&[][..], &[0], &[0, 1], &p_minus_1, p, &[0xff; 513]] {
                assert_eq!(
                    check_public(group, bad),
                    Err(DhError::PublicValueOutOfRange)
                );
            }
        }
        // A value just above the 2048-bit range is fine for 4096.
        let mut y = vec![1u8];
        y.extend_from_slice(&[0u8; 256]);
        assert!(check_public(Group::Ffdhe2048, &y).is_err());
        assert!(check_public(Group::Ffdhe4096, &y).is_ok());
    }

    #[test]
    fn pack_and_unpack() {
        let mut f = [0xeeu8; 8];
        pack(&[1, 2, 3], &mut f).unwrap();
        assert_eq!(f, [0, 0, 0, 0, 0, 1, 2, 3]);
        pack(&[], &mut f).unwrap();
        assert_eq!(f, [0; 8]);
        pack(&[0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2], &mut f).unwrap();
        assert_eq!(f, [9, 8, 7, 6, 5, 4, 3, 2]);
        assert_eq!(
            pack(&[0, 1, 9, 8, 7, 6, 5, 4, 3, 2], &mut f),
            Err(DhError::ValueTooWide)
        );

        assert_eq!(unpack(&[0, 0, 1, 2], 2), Ok(&[1u8, 2][..]));
        assert_eq!(unpack(&[0, 0, 1, 2], 4), Ok(&[0u8, 0, 1, 2][..]));
        assert_eq!(unpack(&[0, 3, 1, 2], 2), Err(DhError::ValueTooWide));
        assert_eq!(unpack(&[0, 0, 1, 2], 5), Err(DhError::BadLength));
        // A too-wide packed public value.
        let mut y_field = [0u8; LEN_PK];
        y_field[LEN_PK - 257] = 1;
        assert_eq!(unpack(&y_field, 256), Err(DhError::ValueTooWide));
        assert_eq!(unpack(&y_field, 257).map(<[u8]>::len), Ok(257));
    }

    #[test]
    fn dh_message_errors() {
        let mut msg = [0u8; DH_MSG_LEN];
        assert_eq!(
            write_dh_message(Group::Ffdhe2048, &[2], &mut msg[..DH_MSG_LEN - 1]),
            Err(DhError::BufferTooSmall)
        );
        assert_eq!(
            write_dh_message(Group::Ffdhe2048, &[1u8; 257], &mut msg),
            Err(DhError::ValueTooWide)
        );
        for group in Group::ALL {
            write_dh_message(group, &[0, 0, 7], &mut msg).unwrap();
            let (g, y) = parse_dh_message(&msg).unwrap();
            assert_eq!(g, group);
            assert_eq!(y.len(), group.plen());
            assert_eq!(y[group.plen() - 1], 7);
            assert_eq!(parse_dh_message(&msg[1..]), Err(DhError::BadLength));
            let mut longer = [0u8; DH_MSG_LEN + 1];
            longer[1..].copy_from_slice(&msg);
            assert_eq!(parse_dh_message(&longer), Err(DhError::BadLength));
            // y wider than plen.
            let mut wide = msg;
            wide[DH_MSG_LEN - group.plen() - 1] = 1;
            assert_eq!(parse_dh_message(&wide), Err(DhError::ValueTooWide));
            // g = 5.
            let mut g5 = msg;
            g5[LEN_PRIME + LEN_GEN - 1] = 5;
            assert_eq!(parse_dh_message(&g5), Err(DhError::UnknownGroup));
            // One bit of p changed.
            let mut bad_p = msg;
            bad_p[LEN_PRIME - 100] ^= 0x10;
            assert_eq!(parse_dh_message(&bad_p), Err(DhError::UnknownGroup));
        }
        assert_eq!(parse_dh_message(&[]), Err(DhError::BadLength));
        assert_eq!(
            parse_dh_message(&[0u8; DH_MSG_LEN]),
            Err(DhError::UnknownGroup)
        );
    }

    #[test]
    fn random_round_trip_each_group() {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        for group in Group::ALL {
            let a = PrivateKey::generate(group, &mut rng);
            let b = PrivateKey::generate(group, &mut rng);
            let mut ya = [0u8; MAX_PLEN];
            let mut yb = [0u8; MAX_PLEN];
            let na = a.public_value(&mut ya).unwrap();
            let nb = b.public_value(&mut yb).unwrap();
            assert_eq!((na, nb), (group.plen(), group.plen()));
            check_public(group, &ya[..na]).unwrap();
            check_public(group, &yb[..nb]).unwrap();
            assert_ne!(ya[..na], yb[..nb]);
            // Through the wire format.
            let mut msg = [0u8; DH_MSG_LEN];
            write_dh_message(group, &ya[..na], &mut msg).unwrap();
            let (g, ya_received) = parse_dh_message(&msg).unwrap();
            assert_eq!(g, group);
            let mut za = SharedValue::default();
            let mut zb = SharedValue::default();
            a.shared_value(&yb[..nb], &mut za).unwrap();
            b.shared_value(ya_received, &mut zb).unwrap();
            assert_eq!(za.as_bytes(), zb.as_bytes());
            assert_eq!(za.as_bytes().len(), group.plen());
            assert!(za.as_bytes().iter().any(|&x| x > 1));
        }
    }

    #[test]
    fn generate_redraws_below_two() {
        for group in Group::ALL {
            let n = xlen(group);
            let zero = vec![0u8; n];
            let mut one = vec![0u8; n];
            one[n - 1] = 1;
            let mut good = vec![0u8; n];
            good[n - 1] = 2;
            let mut rng = ReplayRng::new(&[&zero, &one, &good, &[0x77; 64]]);
            let key = PrivateKey::generate(group, &mut rng);
            assert_eq!(rng.requests, vec![n, n, n], "{group}");
            assert_eq!(key.exponent(), &good[..]);
            // x = 2: y = 4.
            let mut y = [0u8; MAX_PLEN];
            let len = key.public_value(&mut y).unwrap();
            assert!(y[..len - 1].iter().all(|&b| b == 0));
            assert_eq!(y[len - 1], 4);
            // A top-bit-only exponent (all xbits processed) gives g^(2^(xbits-1)).
            let mut top = vec![0u8; n];
            top[0] = 0x80;
            let k = key_from(group, &top);
            assert_eq!(k.exponent(), &top[..]);
        }
    }

    #[test]
    fn output_buffers_and_debug() {
        let key = PrivateKey::generate(Group::Ffdhe3072, &mut ChaCha20Rng::seed_from_u64(1));
        let mut short = [0u8; 383];
        assert_eq!(key.public_value(&mut short), Err(DhError::BufferTooSmall));
        let mut long = [0xffu8; 600];
        assert_eq!(key.public_value(&mut long), Ok(384));
        assert!(long[384..].iter().all(|&b| b == 0xff));

        let text = format!("{key:?}");
        assert!(
            text.contains("redacted") && text.contains("Ffdhe3072"),
            "{text}"
        );
        assert!(!text.contains(&format!("{:?}", &key.x[..4])));
        let mut z = SharedValue::default();
        key.shared_value(&long[..384], &mut z).unwrap();
        let text = format!("{z:?}");
        assert!(text.contains("redacted") && text.contains("384"), "{text}");
        assert!(!format!("{}", DhError::UnknownGroup).is_empty());
    }

    #[test]
    fn shared_value_one_is_refused() {
        // Not reachable with a valid y in these safe-prime groups (it needs q | x), so
        // check the refusal through an exponent of 0, which `generate` never yields.
        let mut key = key_from(Group::Ffdhe2048, &[0x11; 32]);
        key.exponent_mut().fill(0);
        let mut z = SharedValue::default();
        assert_eq!(
            key.shared_value(&[5], &mut z),
            Err(DhError::SharedValueIsOne)
        );
        assert!(z.as_bytes().is_empty());
        assert!(z.buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn modpow_errors_and_small_values() {
        type L = crypto_bigint::U256;
        const N: usize = L::LIMBS;
        let mut out = [0u8; 2];
        // 1000 is even.
        assert_eq!(
            modpow::<N>(&[3], &[5], 8, &[0x03, 0xe8], &mut out),
            Err(DhError::InvalidModulus)
        );
        // 3^5 mod 1001 = 243; modulus with leading zeros.
        modpow::<N>(&[3], &[5], 8, &[0, 0x03, 0xe9], &mut out).unwrap();
        assert_eq!(u16::from_be_bytes(out), 243);
        modpow::<N>(&[3], &[0, 5], 3, &[0x03, 0xe9], &mut out).unwrap();
        assert_eq!(u16::from_be_bytes(out), 243);
        assert_eq!(
            modpow::<N>(&[3], &[5], 2, &[0x03, 0xe9], &mut out),
            Err(DhError::ValueTooWide),
            "exponent bit above exp_bits"
        );
        assert_eq!(
            modpow::<N>(&[3], &[5], 257, &[0x03, 0xe9], &mut out),
            Err(DhError::ValueTooWide)
        );
        assert_eq!(
            modpow::<N>(&[0x03, 0xe9], &[5], 8, &[0x03, 0xe9], &mut out),
            Err(DhError::PublicValueOutOfRange)
        );
        assert_eq!(
            modpow::<N>(&[3], &[5], 8, &[0x03, 0xe9], &mut out[..1]),
            Err(DhError::BufferTooSmall)
        );
        assert_eq!(
            modpow::<N>(&[3], &[5], 8, &[1], &mut out),
            Err(DhError::InvalidModulus)
        );
        assert_eq!(
            modpow::<N>(&[3], &[5], 8, &[0xff; 33], &mut [0u8; 33]),
            Err(DhError::InvalidModulus)
        );
        // exp_bits = 0: the empty product.
        modpow::<N>(&[3], &[], 0, &[0x03, 0xe9], &mut out).unwrap();
        assert_eq!(u16::from_be_bytes(out), 1);
    }

    #[test]
    fn constant_params_match_run_time_setup() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        for group in Group::ALL {
            let key = PrivateKey::generate(group, &mut rng);
            let mut y = [0u8; MAX_PLEN];
            let n = key.public_value(&mut y).unwrap();
            let mut y2 = [0u8; MAX_PLEN];
            let (p, x, xbits) = (group.prime(), key.exponent(), group.xbits());
            let out = &mut y2[..n];
            match group {
                Group::Ffdhe2048 => modpow::<{ U2048::LIMBS }>(&[2], x, xbits, p, out),
                Group::Ffdhe3072 => modpow::<{ U3072::LIMBS }>(&[2], x, xbits, p, out),
                Group::Ffdhe4096 => modpow::<{ U4096::LIMBS }>(&[2], x, xbits, p, out),
            }
            .unwrap();
            assert_eq!(y[..n], y2[..n], "{group}");
            // Wider arithmetic than needed gives the same result.
            modpow::<{ U8192::LIMBS }>(&[2], x, xbits, p, &mut y2[..n]).unwrap();
            assert_eq!(y[..n], y2[..n], "{group}");
        }
    }

    #[test]
    fn modpow_wider_legacy_modulus() {
        // legacy.json's "original server" case: a 2065-bit odd (composite) modulus,
        // computed with 4096-bit and with 8192-bit arithmetic.
        let v = json(vector!("legacy.json"));
        let case = &v["cases"][1];
        let p = field(case, "p");
        assert_eq!(p.len(), 259);
        let x = field(case, "server_x");
        let y_c = field(case, "client_key");
        let z = field(case, "shared_z_minimal");
        let y = unpack(&y_c, p.len()).unwrap();
        let mut out = [0u8; 259];
        modpow::<{ U4096::LIMBS }>(y, &x, 512, &p, &mut out).unwrap();
        assert_eq!(&out[259 - z.len()..], &z[..]);
        let mut out2 = [0u8; 259];
        modpow::<{ U8192::LIMBS }>(y, &x, 512, &p, &mut out2).unwrap();
        assert_eq!(out, out2);
    }

    #[test]
    fn timing_report() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for group in Group::ALL {
            let key = PrivateKey::generate(group, &mut rng);
            let mut y = [0u8; MAX_PLEN];
            let runs = 5u32;
            let start = Instant::now();
            for _ in 0..runs {
                key.public_value(&mut y).unwrap();
            }
            println!("{group}: public_value {:?}", start.elapsed() / runs);
        }
    }
}
