//! Key generation `2^x mod p` by a fixed-base comb over per-group tables (feature
//! `precomputed-tables`, 64-bit targets only; PROTOCOL.md section 1).
//!
//! The exponent's bits (`xbits`, rounded up to a multiple of `TEETH * TABLES` with
//! zeros) are cut into [`TEETH`] runs of `d` bits (the teeth); each of the [`TABLES`]
//! tables holds, for every subset `j` of the teeth, `2^(sum over the teeth i in j of
//! 2^(i d + s e))` in Montgomery form, where `s` is the table and `e = d / TABLES`. One
//! step of the comb squares once and multiplies by one entry of each table, chosen by
//! the bits at position `k + s e` of the teeth for table `s`: `e` steps in all.
//!
//! For ffdhe2048 (`xbits` 256, covered as 264) that is 10 squarings and 43
//! multiplications instead of 256 squarings and 256 doublings; the tables take
//! `TABLES * 64 * plen` bytes of heap (64 KiB for ffdhe2048, 96 and 128 KiB for
//! ffdhe3072 and ffdhe4096). Measured at ffdhe2048 against OpenSSL's
//! `BN_mod_exp_mont_consttime`: 4 teeth (16 entries a table) 0.43x, 5 teeth 0.40x,
//! 6 teeth 0.38x, 7 teeth 0.42x (the masked reads of the larger tables cost more than
//! the multiplications they save); two tables instead of four take half the memory and
//! twice the squarings.
//!
//! The tables are powers of the public generator, nothing secret. They are filled at
//! the first key generation of the group in the process (about one key generation's
//! work: `xbits` squarings and `TABLES * 63` multiplications): computing them at compile
//! time took about 30 s of CPU in `const` evaluation per build. Filling is idempotent:
//! threads that find the tables empty at once each compute them, and one's are kept
//! (`once_cell::race::OnceBox`, no lock, no `unsafe` here).
//!
//! Constant time: the steps, the squarings and the multiplications depend only on
//! `xbits`; each entry is read by a masked pass over its whole table, the masks made
//! from the exponent's bits by arithmetic (no comparison, no branch on them).

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crypto_bigint::Word;
use once_cell::race::OnceBox;
use zeroize::Zeroize;

use super::monty::{exp_bit, select_entry, Field};

/// Teeth of the comb: one table has `2^TEETH` entries.
const TEETH: u32 = 6;
/// Entries of one table.
const ENTRIES: usize = 1 << TEETH;
/// Tables (each a copy of the comb shifted by `e` bits): the steps are `d / TABLES`.
const TABLES: usize = 4;

/// The tables of one comb: `[s][j]` is `2^(sum over the bits i of j of 2^(i d + s e))
/// R mod p`.
type Tables<const N: usize> = Vec<[[Word; N]; ENTRIES]>;

/// The comb tables of one group, filled at its first use.
pub(super) struct Comb<const N: usize> {
    /// The tables, in Montgomery form, once filled.
    tables: OnceBox<Tables<N>>,
    /// `e`: the steps of the comb, and the distance between two tables' bits.
    steps: u32,
}

impl<const N: usize> Comb<N> {
    /// The empty comb for exponents of `xbits` bits, rounded up to a multiple of
    /// `TEETH * TABLES` (the bits past `xbits` are zero in every exponent).
    pub(super) const fn new(xbits: u32) -> Self {
        Comb {
            tables: OnceBox::new(),
            steps: xbits.div_ceil(TEETH * TABLES as u32),
        }
    }

    /// The exponent bits the comb covers (`xbits` rounded up to its teeth and tables).
    pub(super) const fn bits(&self) -> u32 {
        self.steps * TABLES as u32 * TEETH
    }

    /// The tables of `field`'s prime, filled first if they are not yet; `one_m` is
    /// `R mod p`.
    fn tables(
        &self,
        field: &Field<'_, N>,
        one_m: &[Word; N],
        wide: &mut [[Word; N]; 2],
    ) -> &Tables<N> {
        self.tables
            .get_or_init(|| Box::new(self.fill(field, one_m, wide)))
    }

    /// Computes the tables of `field`'s prime; `one_m` is `R mod p`.
    fn fill(
        &self,
        field: &Field<'_, N>,
        one_m: &[Word; N],
        wide: &mut [[Word; N]; 2],
    ) -> Tables<N> {
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
        let mut tables = vec![[[0; N]; ENTRIES]; TABLES];
        for (s, values) in tables.iter_mut().enumerate() {
            values[0] = *one_m;
            for j in 1..ENTRIES {
                // j = its lowest bit i, plus the entry without it.
                let i = j.trailing_zeros() as usize;
                let (done, rest) = values.split_at_mut(j);
                field.mul(&done[j & (j - 1)], &g[i * TABLES + s], wide, &mut rest[0]);
            }
        }
        tables
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
    let tables = comb.tables(field, one_m, wide);
    let steps = comb.steps;
    let d = steps * TABLES as u32;
    let mut entry = [0; N];
    let mut tmp = [0; N];
    let mut bit_masks = [0 as Word; TEETH as usize];
    for k in (0..steps).rev() {
        // Skipping the first squaring (of 1) depends on the public position only.
        if k + 1 != steps {
            field.square(out, wide, &mut tmp);
            out.copy_from_slice(&tmp);
        }
        for (s, table) in (0u32..).zip(tables) {
            // The teeth's bits as masks (all ones where the bit is set), which name
            // the entry the masked pass keeps.
            for (i, m) in (0..).zip(bit_masks.iter_mut()) {
                *m = exp_bit(exp, i * d + s * steps + k).wrapping_neg();
            }
            select_entry(table, &bit_masks, &mut entry);
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
    bit_masks.zeroize();
}

#[cfg(test)]
#[path = "comb_tests.rs"]
mod tests;
