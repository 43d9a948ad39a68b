//! The legacy key exchange (LEGACY.md, "Key exchange") and the key it yields.
//!
//! The server sends `pack(p, 1024) || pack(g, 16) || pack(y_s, 1024)` in one write, the
//! client answers `pack(y_c, 1024)` in one write, and both take
//! `SHA-256(minimal big-endian bytes of z)` as the AES-256 key. Nothing authenticates
//! either side.
//!
//! The exponentiation is the core's constant-time [`dh::modpow`], sized to the
//! modulus. Private exponents are 512 bits, drawn with one `fill_bytes` call, and
//! zeroized on drop.

use core::fmt;

use crypto_bigint::{U2048, U3072, U4096, U6144, U8192};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{LegacyError, CLIENT_KEY_LEN, SERVER_KEY_LEN};
use crate::dh::{self, LEN_GEN, LEN_PK, LEN_PRIME};
use crate::group::Group;

/// Length in bytes of a private exponent.
pub const EXPONENT_LEN: usize = 64;
/// Bits of a private exponent.
const EXPONENT_BITS: u32 = 512;
/// The smallest modulus a client accepts, in bits.
pub const MIN_MODULUS_BITS: u32 = 2048;
/// The largest modulus a client accepts, in bits (it fills the 1024-byte field).
pub const MAX_MODULUS_BITS: u32 = 8192;

/// The AES-256 key of a legacy connection. Zeroized on drop; `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LegacyKey([u8; 32]);

impl LegacyKey {
    /// The key derived from the shared value `z` (big-endian, leading zeros allowed):
    /// `SHA-256` of its minimal big-endian bytes.
    ///
    /// # Errors
    ///
    /// [`LegacyError::DegenerateSharedValue`] when `z` is 0 or 1.
    pub fn derive(z: &[u8]) -> Result<LegacyKey, LegacyError> {
        let z = significant(z);
        if z.is_empty() || z == [1] {
            return Err(LegacyError::DegenerateSharedValue);
        }
        Ok(LegacyKey(Sha256::digest(z).into()))
    }

    /// The 32 key bytes, for the cipher.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacyKey(<redacted>)")
    }
}

/// A private exponent, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Exponent([u8; EXPONENT_LEN]);

impl Exponent {
    /// Draws an exponent in `[2, 2^512)` with one `fill_bytes` call per draw.
    fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Exponent {
        let mut x = Exponent([0u8; EXPONENT_LEN]);
        loop {
            rng.fill_bytes(&mut x.0);
            let acc = match x.0.split_last() {
                Some((last, high)) => high.iter().fold(last & 0xfe, |acc, &b| acc | b),
                None => 0,
            };
            if acc != 0 {
                return x;
            }
        }
    }
}

/// The server's side of one legacy key exchange.
///
/// Zeroized on drop (the exponent); `Debug` never shows the exponent.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ServerExchange {
    /// `pack(p, 1024)`.
    p_field: [u8; LEN_PRIME],
    /// `pack(g, 16)`.
    g_field: [u8; LEN_GEN],
    x: Exponent,
}

impl fmt::Debug for ServerExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerExchange")
            .field("modulus_bits", &bit_len(significant(&self.p_field)))
            .field("x", &"<redacted>")
            .finish()
    }
}

impl ServerExchange {
    /// A server exchange in the RFC 7919 `group` with g = 2 (what a dhchat server
    /// offers legacy clients), with a fresh exponent.
    pub fn new<R: rand_core::CryptoRng + ?Sized>(group: Group, rng: &mut R) -> ServerExchange {
        let mut p_field = [0u8; LEN_PRIME];
        let mut g_field = [0u8; LEN_GEN];
        // A group's prime is at most 512 bytes and its generator one byte: both fit.
        let _ = dh::pack(group.prime(), &mut p_field);
        let _ = dh::pack(&[group.generator()], &mut g_field);
        ServerExchange {
            p_field,
            g_field,
            x: Exponent::generate(rng),
        }
    }

    /// A server exchange with any (p, g) a legacy client accepts: p odd of 2048 to 8192
    /// bits, `1 < g < p` (e.g. the original server's wrapped composite and g = 258).
    /// For emulating an original server in tests and tools.
    ///
    /// # Errors
    ///
    /// [`LegacyError::BadModulus`], [`LegacyError::BadGenerator`] as for a client, and
    /// [`LegacyError::BadGenerator`] when g is wider than 16 bytes.
    pub fn with_parameters<R: rand_core::CryptoRng + ?Sized>(
        p: &[u8],
        g: &[u8],
        rng: &mut R,
    ) -> Result<ServerExchange, LegacyError> {
        let mut p_field = [0u8; LEN_PRIME];
        let mut g_field = [0u8; LEN_GEN];
        dh::pack(p, &mut p_field).map_err(|_| LegacyError::BadModulus)?;
        dh::pack(g, &mut g_field).map_err(|_| LegacyError::BadGenerator)?;
        check_parameters(&p_field, &g_field)?;
        Ok(ServerExchange {
            p_field,
            g_field,
            x: Exponent::generate(rng),
        })
    }

    /// Writes the key message `pack(p, 1024) || pack(g, 16) || pack(y_s, 1024)` into
    /// `out[..2064]` and returns 2064. Send it in one write.
    ///
    /// # Errors
    ///
    /// [`LegacyError::BufferTooSmall`] when `out` is shorter than 2064 bytes.
    pub fn write_key_message(&self, out: &mut [u8]) -> Result<usize, LegacyError> {
        let msg = out
            .get_mut(..SERVER_KEY_LEN)
            .ok_or(LegacyError::BufferTooSmall)?;
        let (p_out, rest) = msg.split_at_mut(LEN_PRIME);
        let (g_out, y_out) = rest.split_at_mut(LEN_GEN);
        p_out.copy_from_slice(&self.p_field);
        g_out.copy_from_slice(&self.g_field);
        let p = significant(&self.p_field);
        let (pad, y) = y_out.split_at_mut(LEN_PK - p.len());
        pad.fill(0);
        modpow(significant(&self.g_field), &self.x.0, p, y)?;
        Ok(SERVER_KEY_LEN)
    }

    /// Takes the client's key message (exactly 1024 bytes) and derives the key.
    ///
    /// # Errors
    ///
    /// [`LegacyError::BadKeyLength`] when `client_key` is not 1024 bytes;
    /// [`LegacyError::PublicValueOutOfRange`] when `y_c` is not in `2..=p-2`;
    /// [`LegacyError::DegenerateSharedValue`] when `z` is 0 or 1.
    pub fn finish(self, client_key: &[u8]) -> Result<LegacyKey, LegacyError> {
        if client_key.len() != CLIENT_KEY_LEN {
            return Err(LegacyError::BadKeyLength);
        }
        let p = significant(&self.p_field);
        check_public(client_key, p)?;
        shared_key(client_key, &self.x, p)
    }
}

/// The client's side of a legacy key exchange, in one step: checks the server's key
/// message (exactly 2064 bytes), writes the client's key message into `reply[..1024]`
/// (send it at once, in one write) and returns the key.
///
/// Accepts any odd p of 2048 to 8192 bits, any `1 < g < p`, and `1 < y_s < p - 1`;
/// nothing more can be checked (the original server's p is not even prime).
///
/// # Errors
///
/// [`LegacyError::BadKeyLength`] when `server_msg` is not 2064 bytes;
/// [`LegacyError::BadModulus`], [`LegacyError::BadGenerator`],
/// [`LegacyError::PublicValueOutOfRange`] for refused numbers;
/// [`LegacyError::DegenerateSharedValue`] when `z` is 0 or 1;
/// [`LegacyError::BufferTooSmall`] when `reply` is shorter than 1024 bytes.
pub fn respond_to_server<R: rand_core::CryptoRng + ?Sized>(
    server_msg: &[u8],
    rng: &mut R,
    reply: &mut [u8],
) -> Result<LegacyKey, LegacyError> {
    if server_msg.len() != SERVER_KEY_LEN {
        return Err(LegacyError::BadKeyLength);
    }
    let reply = reply
        .get_mut(..CLIENT_KEY_LEN)
        .ok_or(LegacyError::BufferTooSmall)?;
    let (p_field, rest) = server_msg.split_at(LEN_PRIME);
    let (g_field, y_field) = rest.split_at(LEN_GEN);
    check_parameters(p_field, g_field)?;
    let p = significant(p_field);
    check_public(y_field, p)?;
    let x = Exponent::generate(rng);
    let key = shared_key(y_field, &x, p)?;
    let (pad, y) = reply.split_at_mut(LEN_PK - p.len());
    pad.fill(0);
    modpow(significant(g_field), &x.0, p, y)?;
    Ok(key)
}

/// Checks a modulus and generator field: p odd of 2048 to 8192 bits, `1 < g < p`.
fn check_parameters(p_field: &[u8], g_field: &[u8]) -> Result<(), LegacyError> {
    let p = significant(p_field);
    let bits = bit_len(p);
    if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) || p.last().is_none_or(|b| b & 1 == 0)
    {
        return Err(LegacyError::BadModulus);
    }
    let g = significant(g_field);
    if g.is_empty() || g == [1] || !less(g, p) {
        return Err(LegacyError::BadGenerator);
    }
    Ok(())
}

/// Checks `1 < y < p - 1` for an odd p (public values: variable time).
fn check_public(y: &[u8], p: &[u8]) -> Result<(), LegacyError> {
    let y = significant(y);
    if y.is_empty() || y == [1] {
        return Err(LegacyError::PublicValueOutOfRange);
    }
    // p is odd, so p - 1 is p with its lowest bit cleared.
    let mut p_minus_1 = [0u8; LEN_PRIME];
    let p_minus_1 = p_minus_1
        .get_mut(..p.len())
        .ok_or(LegacyError::BadModulus)?;
    p_minus_1.copy_from_slice(p);
    if let Some(last) = p_minus_1.last_mut() {
        *last &= 0xfe;
    }
    if less(y, p_minus_1) {
        Ok(())
    } else {
        Err(LegacyError::PublicValueOutOfRange)
    }
}

/// `SHA-256(minimal bytes of peer_y^x mod p)`; the shared value is zeroized.
fn shared_key(peer_y: &[u8], x: &Exponent, p: &[u8]) -> Result<LegacyKey, LegacyError> {
    let mut z = [0u8; LEN_PRIME];
    let result = z
        .get_mut(..p.len())
        .ok_or(LegacyError::BadModulus)
        .and_then(|z| {
            modpow(peer_y, &x.0, p, z)?;
            LegacyKey::derive(z)
        });
    z.zeroize();
    result
}

/// `out = pack(base^exp mod p, out.len())` with arithmetic sized to p (significant
/// bytes, odd, at most 1024 bytes). Constant time with respect to `exp`.
fn modpow(base: &[u8], exp: &[u8], p: &[u8], out: &mut [u8]) -> Result<(), LegacyError> {
    let base = significant(base);
    let result = match p.len() {
        0..=256 => dh::modpow::<{ U2048::LIMBS }>(base, exp, EXPONENT_BITS, p, out),
        257..=384 => dh::modpow::<{ U3072::LIMBS }>(base, exp, EXPONENT_BITS, p, out),
        385..=512 => dh::modpow::<{ U4096::LIMBS }>(base, exp, EXPONENT_BITS, p, out),
        513..=768 => dh::modpow::<{ U6144::LIMBS }>(base, exp, EXPONENT_BITS, p, out),
        _ => dh::modpow::<{ U8192::LIMBS }>(base, exp, EXPONENT_BITS, p, out),
    };
    result.map_err(|e| match e {
        dh::DhError::BufferTooSmall => LegacyError::BufferTooSmall,
        dh::DhError::PublicValueOutOfRange => LegacyError::PublicValueOutOfRange,
        _ => LegacyError::BadModulus,
    })
}

/// `bytes` without its leading zero bytes.
fn significant(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

/// The bit length of a big-endian value without leading zero bytes.
fn bit_len(value: &[u8]) -> u32 {
    match value.first() {
        None => 0,
        Some(&top) => {
            let len = u32::try_from(value.len()).unwrap_or(u32::MAX / 16);
            (len - 1).saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

/// `a < b` for big-endian values without leading zero bytes.
fn less(a: &[u8], b: &[u8]) -> bool {
    a.len() < b.len() || (a.len() == b.len() && a < b)
}
