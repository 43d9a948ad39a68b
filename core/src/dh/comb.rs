//! Key generation `2^x mod p` by a fixed-base comb over per-group tables (feature
//! `precomputed-tables`, 64-bit targets only; PROTOCOL.md section 1).
//!
//! The exponent's `xbits` bits are cut into [`TEETH`] runs of `d = xbits / TEETH` bits
//! (the teeth); each of the [`TABLES`] tables holds, for every subset `j` of the teeth,
//! `2^(sum over the teeth i in j of 2^(i d + s e))` in Montgomery form, where `s` is the
//! table and `e = d / TABLES`. One step of the comb squares once and multiplies by one
//! entry of each table, chosen by the bits at position `k + s e` of the teeth for table
//! `s`: `e` steps in all.
//!
//! For ffdhe2048 (`xbits` 256) that is 15 squarings and 63 multiplications instead of
//! 256 squarings and 256 doublings; the tables take `TABLES * 16 * plen` bytes (16 KiB
//! for ffdhe2048, 72 KiB for the three groups, in `.bss`). Two tables instead of four
//! take half of that and 16 more squarings (ffdhe2048 keygen measured 0.59x OpenSSL
//! against 0.49x).
//!
//! The tables are powers of the public generator, nothing secret. They are filled at
//! the first key generation of the group in the process (about one key generation's
//! work: `xbits` squarings): computing them at compile time took about 30 s of CPU in
//! `const` evaluation per build. Filling is idempotent (every thread that finds a table
//! not ready computes and stores the same words), so plain atomics suffice, without a
//! lock and without `unsafe`.
//!
//! Constant time: the steps, the squarings and the multiplications depend only on
//! `xbits`; each entry is read by a masked pass over its whole table.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crypto_bigint::Word;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::monty::{assign_if, exp_bit, Field};

/// Teeth of the comb: one table has `2^TEETH` entries.
const TEETH: u32 = 4;
/// Entries of one table.
const ENTRIES: usize = 1 << TEETH;
/// Tables (each a copy of the comb shifted by `e` bits): the steps are `d / TABLES`.
const TABLES: usize = 4;

/// The comb tables of one group: `entries[s][j]` is
/// `2^(sum over the bits i of j of 2^(i d + s e)) R mod p`, once [`ready`](Comb::ready).
pub(super) struct Comb<const N: usize> {
    /// The tables, in Montgomery form.
    entries: [[[AtomicU64; N]; ENTRIES]; TABLES],
    /// Set (release) once every entry holds its value.
    ready: AtomicBool,
    /// `e`: the steps of the comb, and the distance between two tables' bits.
    steps: u32,
}

impl<const N: usize> Comb<N> {
    /// The empty comb for exponents of `xbits` bits (a multiple of `TEETH * TABLES`).
    pub(super) const fn new(xbits: u32) -> Self {
        assert!(
            xbits.is_multiple_of(TEETH * TABLES as u32),
            "xbits splits into the teeth"
        );
        Comb {
            entries: [const { [const { [const { AtomicU64::new(0) }; N] }; ENTRIES] }; TABLES],
            ready: AtomicBool::new(false),
            steps: xbits / TEETH / TABLES as u32,
        }
    }

    /// The exponent bits the comb covers (`xbits`).
    pub(super) const fn bits(&self) -> u32 {
        self.steps * TABLES as u32 * TEETH
    }

    /// Fills the tables of `field`'s prime unless they are ready; `one_m` is `R mod p`.
    fn fill(&self, field: &Field<'_, N>, one_m: &[Word; N], wide: &mut [[Word; N]; 2]) {
        if self.ready.load(Ordering::Acquire) {
            return;
        }
        // g[k] = 2^(2^(k e)): g[i TABLES + s] is tooth i's base in table s.
        let mut g = [[0; N]; TEETH as usize * TABLES];
        let mut tmp = [0; N];
        field.double(one_m, &mut g[0]);
        for k in 1..g.len() {
            let (done, rest) = g.split_at_mut(k);
            rest[0] = done[k - 1];
            for _ in 0..self.steps {
                field.square(&rest[0], wide, &mut tmp);
                rest[0] = tmp;
            }
        }
        for (s, table) in self.entries.iter().enumerate() {
            let mut values = [[0; N]; ENTRIES];
            values[0] = *one_m;
            for j in 1..ENTRIES {
                // j = its lowest bit i, plus the entry without it.
                let i = j.trailing_zeros() as usize;
                let (done, rest) = values.split_at_mut(j);
                field.mul(&done[j & (j - 1)], &g[i * TABLES + s], wide, &mut rest[0]);
            }
            for (entry, value) in table.iter().zip(&values) {
                for (word, &v) in entry.iter().zip(value) {
                    word.store(v, Ordering::Relaxed);
                }
            }
        }
        self.ready.store(true, Ordering::Release);
    }
}

/// `out = 2^exp` in Montgomery form by the comb `comb` of `field`'s prime (filled first
/// if it is not yet; `one_m` is `R mod p`): `exp` holds
/// the secret exponent as little-endian words with no bit at or above `xbits` (the
/// `xbits` the comb was generated for; the caller checks it). Constant time in `exp`.
/// `wide` is the caller's scratch of 2N words, left holding secret-dependent words: the
/// caller zeroizes it.
// Out of line: its temporaries are not added to its caller's frame.
#[inline(never)]
pub(super) fn pow2_comb<const N: usize>(
    field: &Field<'_, N>,
    comb: &Comb<N>,
    one_m: &[Word; N],
    exp: &[Word],
    wide: &mut [[Word; N]; 2],
    out: &mut [Word; N],
) {
    comb.fill(field, one_m, wide);
    let steps = comb.steps;
    let d = steps * TABLES as u32;
    let mut entry = [0; N];
    let mut tmp = [0; N];
    for k in (0..steps).rev() {
        // Skipping the first squaring (of 1) depends on the public position only.
        if k + 1 != steps {
            field.square(out, wide, &mut tmp);
            out.copy_from_slice(&tmp);
        }
        for (s, table) in (0u32..).zip(&comb.entries) {
            let mut index: Word = 0;
            for i in 0..TEETH {
                index |= exp_bit(exp, i * d + s * steps + k) << i;
            }
            entry.fill(0);
            for (j, candidate) in (0..).zip(table.iter()) {
                let mut words = [0; N];
                for (w, a) in words.iter_mut().zip(candidate) {
                    *w = a.load(Ordering::Relaxed);
                }
                assign_if(&mut entry, &words, index.ct_eq(&j));
            }
            if k + 1 == steps && s == 0 {
                // The first entry multiplies 1: taken as it is (a public position).
                out.copy_from_slice(&entry);
            } else {
                field.mul(out, &entry, wide, &mut tmp);
                out.copy_from_slice(&tmp);
            }
        }
    }
    entry.zeroize();
    tmp.zeroize();
}

#[cfg(test)]
#[path = "comb_tests.rs"]
mod tests;
