//! The constant-time exponentiations of PROTOCOL.md section 1: `2^x mod p` for public
//! values, `y^x mod p` for shared values, with each group's Montgomery parameters
//! computed at compile time, and [`modpow`] for any other odd modulus.

use crypto_bigint::modular::FixedMontyParams;
#[cfg(feature = "ffdhe2048")]
use crypto_bigint::U2048;
#[cfg(feature = "ffdhe3072")]
use crypto_bigint::U3072;
#[cfg(feature = "ffdhe4096")]
use crypto_bigint::U4096;
use crypto_bigint::{Limb, Odd, Uint, Word};
use zeroize::Zeroize;

#[cfg(all(feature = "precomputed-tables", target_pointer_width = "64"))]
use super::comb::{self, Comb};
use super::monty::{self, Field};
use super::DhError;
use crate::group::Group;

/// `base^exp mod p` of `group` into `out` (at least `plen` bytes), with the arithmetic
/// sized for the group.
///
/// Only the groups of this build have an arm here, so only their widths of the
/// Montgomery code are compiled (each width is a separate copy of it, the bulk of the
/// DH code in flash).
pub(super) fn group_modpow(
    group: Group,
    base: &[u8],
    exp: &[u8],
    out: &mut [u8],
) -> Result<(), DhError> {
    let (p, xbits) = (group.prime(), group.xbits());
    match group {
        #[cfg(feature = "ffdhe2048")]
        Group::Ffdhe2048 => monty_pow(p, &FFDHE2048_MONTY, Base::Value(base), exp, xbits, out),
        #[cfg(feature = "ffdhe3072")]
        Group::Ffdhe3072 => monty_pow(p, &FFDHE3072_MONTY, Base::Value(base), exp, xbits, out),
        #[cfg(feature = "ffdhe4096")]
        Group::Ffdhe4096 => monty_pow(p, &FFDHE4096_MONTY, Base::Value(base), exp, xbits, out),
    }
}

/// The [`Base`] of the generator: with the group's comb `$comb` where the build has
/// the tables.
#[cfg(all(feature = "precomputed-tables", target_pointer_width = "64"))]
macro_rules! generator {
    ($comb:ident) => {
        Base::GeneratorComb(&$comb)
    };
}
/// The [`Base`] of the generator: with the group's comb `$comb` where the build has
/// the tables.
#[cfg(not(all(feature = "precomputed-tables", target_pointer_width = "64")))]
macro_rules! generator {
    ($comb:ident) => {
        Base::Generator
    };
}

/// `g^exp mod p` of `group` (`g = 2`) into `out` (at least `plen` bytes): a comb over
/// the group's tables where the build has them (feature `precomputed-tables` on a 64-bit
/// target; filled at the group's first key generation), else squarings and doublings
/// only.
pub(super) fn group_pow_generator(group: Group, exp: &[u8], out: &mut [u8]) -> Result<(), DhError> {
    debug_assert_eq!(group.generator(), 2);
    let (p, xbits) = (group.prime(), group.xbits());
    match group {
        #[cfg(feature = "ffdhe2048")]
        Group::Ffdhe2048 => monty_pow(
            p,
            &FFDHE2048_MONTY,
            generator!(FFDHE2048_COMB),
            exp,
            xbits,
            out,
        ),
        #[cfg(feature = "ffdhe3072")]
        Group::Ffdhe3072 => monty_pow(
            p,
            &FFDHE3072_MONTY,
            generator!(FFDHE3072_COMB),
            exp,
            xbits,
            out,
        ),
        #[cfg(feature = "ffdhe4096")]
        Group::Ffdhe4096 => monty_pow(
            p,
            &FFDHE4096_MONTY,
            generator!(FFDHE4096_COMB),
            exp,
            xbits,
            out,
        ),
    }
}

/// The base of an exponentiation in [`monty_pow`].
enum Base<'a, const LIMBS: usize> {
    /// The generator 2: squarings and masked doublings.
    #[cfg(not(all(feature = "precomputed-tables", target_pointer_width = "64")))]
    Generator,
    /// The generator 2, by the comb of the modulus (a group's prime).
    #[cfg(all(feature = "precomputed-tables", target_pointer_width = "64"))]
    GeneratorComb(&'a Comb<LIMBS>),
    /// A public value, big-endian (leading zeros allowed).
    Value(&'a [u8]),
}

/// The Montgomery constants of a modulus `p` that take more than a multiplication to
/// derive: `R^2 mod p` and `-p^(-1) mod 2^W`. The modulus itself is not kept here (a
/// group's prime is [`Group::prime`]), nor `R mod p` (one Montgomery multiplication of
/// `R^2` by 1 gives it), so flash holds each prime once.
struct MontyConsts<const LIMBS: usize> {
    /// `R^2 mod p`, `R = 2^(LIMBS W)`.
    r2: Uint<LIMBS>,
    /// `-p^(-1) mod 2^W`.
    m0: Word,
}

impl<const LIMBS: usize> MontyConsts<LIMBS> {
    /// The constants of `params`'s modulus.
    const fn of(params: &FixedMontyParams<LIMBS>) -> Self {
        Self {
            r2: *params.r2(),
            m0: params.mod_neg_inv().0,
        }
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

/// Montgomery constants of the ffdhe2048 prime.
#[cfg(feature = "ffdhe2048")]
static FFDHE2048_MONTY: MontyConsts<{ U2048::LIMBS }> =
    MontyConsts::of(&group_params(Group::Ffdhe2048));
/// Montgomery constants of the ffdhe3072 prime.
#[cfg(feature = "ffdhe3072")]
static FFDHE3072_MONTY: MontyConsts<{ U3072::LIMBS }> =
    MontyConsts::of(&group_params(Group::Ffdhe3072));
/// Montgomery constants of the ffdhe4096 prime.
#[cfg(feature = "ffdhe4096")]
static FFDHE4096_MONTY: MontyConsts<{ U4096::LIMBS }> =
    MontyConsts::of(&group_params(Group::Ffdhe4096));

/// The comb tables of ffdhe2048's generator (filled at its first use).
#[cfg(all(
    feature = "precomputed-tables",
    target_pointer_width = "64",
    feature = "ffdhe2048"
))]
static FFDHE2048_COMB: Comb<{ U2048::LIMBS }> = Comb::new(Group::Ffdhe2048.xbits());
/// The comb tables of ffdhe3072's generator (filled at its first use).
#[cfg(all(
    feature = "precomputed-tables",
    target_pointer_width = "64",
    feature = "ffdhe3072"
))]
static FFDHE3072_COMB: Comb<{ U3072::LIMBS }> = Comb::new(Group::Ffdhe3072.xbits());
/// The comb tables of ffdhe4096's generator (filled at its first use).
#[cfg(all(
    feature = "precomputed-tables",
    target_pointer_width = "64",
    feature = "ffdhe4096"
))]
static FFDHE4096_COMB: Comb<{ U4096::LIMBS }> = Comb::new(Group::Ffdhe4096.xbits());

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
/// The exponent, the result and the intermediate values are zeroized before returning.
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
    let modulus_be = modulus;
    let modulus = uint_from_be::<LIMBS>(modulus_be).ok_or(DhError::InvalidModulus)?;
    if modulus < Uint::from_u8(3) {
        return Err(DhError::InvalidModulus);
    }
    let modulus = Odd::new(modulus)
        .into_option()
        .ok_or(DhError::InvalidModulus)?;
    let consts = MontyConsts::of(&FixedMontyParams::new_vartime(modulus));
    // `modulus` passed the checks above as a `Uint<LIMBS>`: it reads back the same.
    monty_pow(modulus_be, &consts, Base::Value(base), exp, exp_bits, out)
}

/// `base^exp mod p` (`2^exp mod p` for the generator [`Base`]s) for the odd modulus `p`
/// (big-endian `modulus`, at least 3) whose Montgomery constants are `consts`; see
/// [`modpow`] for the other arguments and the errors.
///
/// Not inlined, so that only one width's temporaries are on the stack at a time.
#[inline(never)]
fn monty_pow<const LIMBS: usize>(
    modulus: &[u8],
    consts: &MontyConsts<LIMBS>,
    base: Base<'_, LIMBS>,
    exp: &[u8],
    exp_bits: u32,
    out: &mut [u8],
) -> Result<(), DhError> {
    // Public checks first (variable time is fine for public values).
    let mut p = [0 as Word; LIMBS];
    if !words_from_be(modulus, &mut p) {
        return Err(DhError::InvalidModulus);
    }
    if out.len() < significant_bytes(&p) {
        return Err(DhError::BufferTooSmall);
    }
    if exp_bits > Uint::<LIMBS>::BITS {
        return Err(DhError::ValueTooWide);
    }
    let mut base_words = [0 as Word; LIMBS];
    if let Base::Value(base) = base {
        if !words_from_be(base, &mut base_words) || !below_vartime(&base_words, &p) {
            return Err(DhError::PublicValueOutOfRange);
        }
    }

    // The exponent: its bytes are read with accesses that depend only on lengths. Bits
    // at or above exp_bits would be silently ignored by the exponentiation; refuse them.
    // Only the validity of the call is revealed, not the exponent.
    let mut exponent = [0 as Word; LIMBS];
    let fits = words_from_be(exp, &mut exponent);
    if !fits || any_bit_from(&exponent, exp_bits) {
        exponent.zeroize();
        return Err(DhError::ValueTooWide);
    }

    let field = Field::new(&p, consts.m0);
    // The products' scratch, for every multiplication and squaring below.
    let mut wide = [[0 as Word; LIMBS]; 2];
    // 1, for R mod p = mont(R^2, 1) and, at the end, out of Montgomery form.
    let mut unit = [0 as Word; LIMBS];
    if let Some(low) = unit.first_mut() {
        *low = 1;
    }
    let mut one_m = [0 as Word; LIMBS];
    field.mul(consts.r2.as_words(), &unit, &mut wide, &mut one_m);
    let mut result = [0 as Word; LIMBS];
    match base {
        // Generator 2 by the comb: it covers the exponent bits it was made for (the group's
        // xbits, which its callers pass); for more (public), squarings and doublings.
        #[cfg(all(feature = "precomputed-tables", target_pointer_width = "64"))]
        Base::GeneratorComb(table) if exp_bits <= table.bits() => {
            comb::pow2_comb(&field, table, &one_m, &exponent, &mut wide, &mut result);
        }
        #[cfg(all(feature = "precomputed-tables", target_pointer_width = "64"))]
        Base::GeneratorComb(_) => {
            monty::pow2(&field, &one_m, &exponent, exp_bits, &mut wide, &mut result);
        }
        // Generator 2: squarings and masked doublings, one of each per exponent bit.
        #[cfg(not(all(feature = "precomputed-tables", target_pointer_width = "64")))]
        Base::Generator => {
            monty::pow2(&field, &one_m, &exponent, exp_bits, &mut wide, &mut result);
        }
        Base::Value(_) => {
            let mut base_m = [0; LIMBS];
            field.mul(&base_words, consts.r2.as_words(), &mut wide, &mut base_m);
            monty::pow(
                &field,
                &base_m,
                &one_m,
                &exponent,
                exp_bits,
                &mut wide,
                &mut result,
            );
            base_m.zeroize();
        }
    }
    exponent.zeroize();
    // Out of Montgomery form: a Montgomery multiplication by 1.
    let mut value = [0 as Word; LIMBS];
    field.mul(&result, &unit, &mut wide, &mut value);
    result.zeroize();
    wide.zeroize();
    words_to_be(&value, out);
    value.zeroize();
    Ok(())
}

/// Reads big-endian `bytes` (leading zeros allowed) into a `Uint<LIMBS>`, or `None` when
/// its significant bytes do not fit (see [`words_from_be`]).
fn uint_from_be<const LIMBS: usize>(bytes: &[u8]) -> Option<Uint<LIMBS>> {
    let mut value = Uint::<LIMBS>::ZERO;
    if words_from_be(bytes, value.as_mut_words()) {
        Some(value)
    } else {
        value.zeroize();
        None
    }
}

/// Reads big-endian `bytes` (leading zeros allowed) into the zeroed little-endian
/// `words`; false when its significant bytes do not fit.
///
/// The memory accesses and branches depend only on `bytes.len()`, not on the bytes (the
/// only value-dependent outcome is whether it fits). Not generic over the width, so one
/// copy serves every group.
fn words_from_be(bytes: &[u8], words: &mut [Word]) -> bool {
    let mut overflow = 0u8;
    for (k, &byte) in bytes.iter().rev().enumerate() {
        match words.get_mut(k / Limb::BYTES) {
            Some(word) => *word |= Word::from(byte) << (8 * (k % Limb::BYTES)),
            None => overflow |= byte,
        }
    }
    overflow == 0
}

/// Writes the low `out.len()` bytes of the little-endian `words` big-endian into `out`
/// (zeros above the value's width). Accesses depend only on the lengths.
fn words_to_be(words: &[Word], out: &mut [u8]) {
    for (k, byte) in out.iter_mut().rev().enumerate() {
        *byte = match words.get(k / Limb::BYTES) {
            // Truncation to the addressed byte is the point.
            #[allow(clippy::cast_possible_truncation)]
            Some(word) => (word >> (8 * (k % Limb::BYTES))) as u8,
            None => 0,
        };
    }
}

/// Bytes up to the most significant nonzero byte of the public little-endian `words`.
fn significant_bytes(words: &[Word]) -> usize {
    let top = words.iter().rposition(|&w| w != 0);
    top.map_or(0, |i| {
        let word = words.get(i).copied().unwrap_or(0);
        let bits = Word::BITS - word.leading_zeros();
        i * Limb::BYTES + bits.div_ceil(8) as usize
    })
}

/// `a < b` for public little-endian words of equal length, in variable time.
fn below_vartime(a: &[Word], b: &[Word]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// Whether the secret little-endian `words` have a bit set at or above `bits` (public).
/// Every word is read and combined the same way whatever its value.
fn any_bit_from(words: &[Word], bits: u32) -> bool {
    let mut high: Word = 0;
    for (i, &word) in (0u32..).zip(words) {
        let start = i.saturating_mul(Word::BITS);
        // Mask of this word's bits at or above `bits` (public).
        let mask = if bits <= start {
            Word::MAX
        } else if bits - start >= Word::BITS {
            0
        } else {
            Word::MAX << (bits - start)
        };
        high |= word & mask;
    }
    let set = high != 0;
    high.zeroize();
    set
}

#[cfg(test)]
#[path = "modpow_tests.rs"]
mod tests;
