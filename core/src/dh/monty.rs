//! Montgomery arithmetic modulo an odd `p` of `N` machine words, on plain word arrays:
//! the multiplication, a dedicated squaring, the doubling, and the two constant-time
//! exponentiations built on them (PROTOCOL.md section 1).
//!
//! Every loop bound and memory index depends only on `N` and on the public exponent
//! length, never on a value; selections are masked (`subtle`'s masks, or masks made from
//! the exponent's bits by arithmetic: [`entry_mask`]). Words are little-endian
//! (word 0 is the least significant); Montgomery form is `a R mod p` with `R = 2^(N W)`.
//!
//! Why not crypto-bigint's `pow_bounded_exp`: it squares with its general multiplication
//! (2 N^2 word products) and its `FixedMontyForm` values carry a copy of the modulus
//! parameters. The dedicated squaring here takes about 1.5 N^2, and with the generator 2
//! a public value needs squarings and doublings only (see [`pow2`]).
//!
//! Every word product goes through one of two kernels, neither generic (one copy serves
//! every group width): [`mac_row`] (`t += a b_i`, four words a step) for the products of
//! the multiplication and the squaring, and [`reduce_two_rows`] for their shared
//! Montgomery reduction ([`Field::reduce`], separated operand scanning), two reduction
//! steps per pass over the words. They are the only loops whose speed matters. On
//! 64-bit targets the multiplication instead goes through `comba::mul` (product
//! scanning, the reduction interleaved: about 10% faster there) and the squaring's
//! products through `square64` (two rows a pass, sharing [`two_rows_span`] with
//! [`reduce_two_rows`]); the 32-bit code is as described.

#[cfg(target_pointer_width = "64")]
use super::{comba, square64};
use crypto_bigint::{WideWord, Word};
use subtle::{Choice, ConditionallySelectable};
use zeroize::Zeroize;

/// Bits of a word.
const W: u32 = Word::BITS;

/// Bits of exponent per table lookup in [`pow`]: 16 table entries, as in
/// crypto-bigint, so the table's stack use (16 N words) stays what it was on the device.
const WINDOW: u32 = 4;
/// Entries of the window table.
const TABLE: usize = 1 << WINDOW;

/// A modulus and the constant of Montgomery reduction for it.
pub(super) struct Field<'a, const N: usize> {
    /// `p`, odd.
    p: &'a [Word; N],
    /// `-p^(-1) mod 2^W`.
    m0: Word,
}

/// `a + b + carry` as (sum, carry out), `carry` being 0 or 1.
#[inline(always)]
pub(super) fn adc(a: Word, b: Word, carry: Word) -> (Word, Word) {
    let s = WideWord::from(a) + WideWord::from(b) + WideWord::from(carry);
    // Splitting a double word into its halves.
    #[allow(clippy::cast_possible_truncation)]
    (s as Word, (s >> W) as Word)
}

/// `a - b - borrow` as (difference, borrow out), `borrow` being 0 or 1.
#[inline(always)]
fn sbb(a: Word, b: Word, borrow: Word) -> (Word, Word) {
    let (d, b1) = a.overflowing_sub(b);
    let (d, b2) = d.overflowing_sub(borrow);
    (d, Word::from(b1 | b2))
}

/// `a * b + c + d` as (low, high); it cannot overflow a double word.
#[inline(always)]
pub(super) fn mac(a: Word, b: Word, c: Word, d: Word) -> (Word, Word) {
    let s = WideWord::from(a) * WideWord::from(b) + WideWord::from(c) + WideWord::from(d);
    // Splitting a double word into its halves.
    #[allow(clippy::cast_possible_truncation)]
    (s as Word, (s >> W) as Word)
}

/// `dst = src` where `choice` is set, in constant time.
///
/// One mask from `subtle` (opaque to the optimizer: all ones or zero), then plain masked
/// XORs: a call into `subtle` per word costs more than the word's work when its
/// `conditional_assign` is not inlined (at `opt-level = "z"`).
#[inline(always)]
pub(super) fn assign_if<const N: usize>(dst: &mut [Word; N], src: &[Word; N], choice: Choice) {
    let mask = Word::conditional_select(&0, &Word::MAX, choice);
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= (*d ^ *s) & mask;
    }
}

/// `t += a * b` over the words of `t` and `a` (equal lengths, little-endian), returning
/// the carry out of the top word: every row of the products here (and the last reduction
/// step of an odd width). Four words a step (the loop's own instructions are a third of a one-word step on
/// Cortex-M3); every access and branch depends only on the lengths.
///
/// Out of line and not generic: one copy for every width and caller.
#[inline(never)]
fn mac_row(t: &mut [Word], a: &[Word], b: Word) -> Word {
    debug_assert_eq!(t.len(), a.len());
    let (t4, t_rest) = t.as_chunks_mut::<4>();
    let (a4, a_rest) = a.as_chunks::<4>();
    let mut c = 0;
    for (tq, aq) in t4.iter_mut().zip(a4) {
        let [t0, t1, t2, t3] = tq;
        let [a0, a1, a2, a3] = *aq;
        (*t0, c) = mac(a0, b, *t0, c);
        (*t1, c) = mac(a1, b, *t1, c);
        (*t2, c) = mac(a2, b, *t2, c);
        (*t3, c) = mac(a3, b, *t3, c);
    }
    for (tj, &aj) in t_rest.iter_mut().zip(a_rest) {
        (*tj, c) = mac(aj, b, *tj, c);
    }
    c
}

/// The middle of a two-rows pass (`reduce_two_rows`, and the squaring's
/// `square64::mac_two_rows`): word `w` of `t` takes `a x[w]` on the first row's carry
/// chain (`ca`), then `b x[w - 1]` on the second's (`cb`), `x[-1]` being `prev`; two
/// words a step. Returns the two carries and `x`'s last word (`prev` if `x` is empty).
/// Each word of `t` is loaded and stored once for both rows; every access and branch
/// depends only on the lengths (`t` and `x` are as long).
#[inline(always)]
pub(super) fn two_rows_span(
    t: &mut [Word],
    x: &[Word],
    a: Word,
    b: Word,
    prev: Word,
    ca: Word,
    cb: Word,
) -> (Word, Word, Word) {
    let (mut ca, mut cb, mut prev) = (ca, cb, prev);
    let (t2, t_rest) = t.as_chunks_mut::<2>();
    let (x2, x_rest) = x.as_chunks::<2>();
    for (tq, xq) in t2.iter_mut().zip(x2) {
        let [t0, t1] = tq;
        let [h0, h1] = *xq;
        let (y, c) = mac(a, h0, *t0, ca);
        (*t0, cb) = mac(b, prev, y, cb);
        let (y, c) = mac(a, h1, *t1, c);
        (*t1, cb) = mac(b, h0, y, cb);
        ca = c;
        prev = h1;
    }
    for (tj, &hj) in t_rest.iter_mut().zip(x_rest) {
        let (y, c) = mac(a, hj, *tj, ca);
        ca = c;
        (*tj, cb) = mac(b, prev, y, cb);
        prev = hj;
    }
    (ca, cb, prev)
}

/// Two steps of the Montgomery reduction at once, each word of `t` loaded and stored
/// once for both: `t` is the window of `p.len() + 2` words from the word the first step
/// clears, `m0` is `-p^(-1) mod 2^W`, and `meta` the carry into `t[p.len()]` left by the
/// step before. The first step adds `m_a p` at word 0 (`m_a = t[0] m0`), the second
/// `m_b p` at word 1 (`m_b` from word 1 after the first step's product there); returns
/// the carry out of the last word, into the next pair's top word.
///
/// Out of line and not generic, like [`mac_row`]; every access and branch depends only
/// on the lengths.
#[inline(never)]
fn reduce_two_rows(t: &mut [Word], p: &[Word], m0: Word, meta: Word) -> Word {
    let n = p.len();
    let (Some(t_low), Some(p_hi)) = (t.get_mut(..n + 2), p.get(2..)) else {
        return meta;
    };
    let (t_low, t_top) = t_low.split_at_mut(n);
    let (Some(&p0), Some(&p1)) = (p.first(), p.get(1)) else {
        return meta;
    };
    let ([t0, t1, t_mid @ ..], [top0, top1]) = (t_low, t_top) else {
        return meta;
    };
    // Word 0: the first step alone (its low word becomes 0).
    let ma = t0.wrapping_mul(m0);
    let (_, ca) = mac(ma, p0, *t0, 0);
    // Word 1: the first step, then the second step's first word (which becomes 0).
    let (x, ca) = mac(ma, p1, *t1, ca);
    let mb = x.wrapping_mul(m0);
    let (_, cb) = mac(mb, p0, x, 0);
    // Words 2 .. n - 1: the first step's product with p[k], the second's with p[k - 1].
    let (ca, cb, p_prev) = two_rows_span(t_mid, p_hi, ma, mb, p1, ca, cb);
    // Word n: the first step's carry and the one left before, then the second step's
    // last product; word n + 1: the second step's carry.
    let (x, carry) = adc(*top0, ca, meta);
    let (y, cb) = mac(mb, p_prev, x, cb);
    *top0 = y;
    let (z, meta) = adc(*top1, cb, carry);
    *top1 = z;
    meta
}

impl<'a, const N: usize> Field<'a, N> {
    /// The field of the odd modulus `p`, with `m0 = -p^(-1) mod 2^W` (as
    /// `crypto_bigint::modular::FixedMontyParams::mod_neg_inv` gives it).
    pub(super) const fn new(p: &'a [Word; N], m0: Word) -> Self {
        Field { p, m0 }
    }

    /// `t - p` when `carry:t >= p`, else `t`; `carry:t` must be below `2p`: in place,
    /// by [`reduce_once_into`](Field::reduce_once_into) from a copy of `t`.
    #[inline(always)]
    fn reduce_once(&self, t: &mut [Word; N], carry: Word) {
        let mut t_in = *t;
        self.reduce_once_into(&t_in, carry, t);
        t_in.zeroize();
    }

    /// `out = a b R^(-1) mod p` for `a, b < p`: the 2N-word product, row by row, then
    /// [`reduce`](Field::reduce). `wide` is scratch of 2N words (zeroized by the caller
    /// when done).
    #[cfg(not(target_pointer_width = "64"))]
    pub(super) fn mul(
        &self,
        a: &[Word; N],
        b: &[Word; N],
        wide: &mut [[Word; N]; 2],
        out: &mut [Word; N],
    ) {
        let t = wide.as_flattened_mut();
        t.fill(0);
        for (i, &bi) in b.iter().enumerate() {
            // Row i lands on words i .. i + N; word i + N is still 0 and takes its carry.
            let c = mac_row(t.get_mut(i..i + N).unwrap_or_default(), a, bi);
            if let Some(top) = t.get_mut(i + N) {
                *top = c;
            }
        }
        self.reduce(wide, out);
    }

    /// `out = a^2 R^(-1) mod p` for `a < p`: the square's off-diagonal products once,
    /// doubled, plus the diagonal, then [`reduce`](Field::reduce). `wide` is scratch of
    /// 2N words (zeroized by the caller when done).
    #[cfg(not(target_pointer_width = "64"))]
    pub(super) fn square(&self, a: &[Word; N], wide: &mut [[Word; N]; 2], out: &mut [Word; N]) {
        let t = wide.as_flattened_mut();
        t.fill(0);
        // Off-diagonal products a_i a_j, i < j, at t[i + j].
        for (i, &ai) in a.iter().enumerate() {
            let row = t.get_mut(2 * i + 1..i + N).unwrap_or_default();
            let c = mac_row(row, a.get(i + 1..).unwrap_or_default(), ai);
            if let Some(top) = t.get_mut(i + N) {
                *top = c;
            }
        }
        // Double them (the top bit of t is still 0), then add the squares a_i^2 at t[2i].
        let mut shifted_out = 0;
        for tj in t.iter_mut() {
            let next = *tj >> (W - 1);
            *tj = (*tj << 1) | shifted_out;
            shifted_out = next;
        }
        let mut c = 0;
        for (pair, &ai) in t.chunks_exact_mut(2).zip(a) {
            let (lo, hi) = mac(ai, ai, 0, 0);
            let (s0, c0) = adc(pair[0], lo, c);
            let (s1, c1) = adc(pair[1], hi, c0);
            pair[0] = s0;
            pair[1] = s1;
            c = c1;
        }
        self.reduce(wide, out);
    }

    /// `out = a^2 R^(-1) mod p` for `a < p`: the square two rows of off-diagonal
    /// products a pass ([`square64::square_wide`]), then [`reduce`](Field::reduce).
    /// `wide` is scratch of 2N words (zeroized by the caller when done).
    #[cfg(target_pointer_width = "64")]
    pub(super) fn square(&self, a: &[Word; N], wide: &mut [[Word; N]; 2], out: &mut [Word; N]) {
        square64::square_wide(a, wide);
        self.reduce(wide, out);
    }

    /// `out = a b R^(-1) mod p` for `a, b < p`, by product scanning with the reduction
    /// interleaved ([`comba::mul`]); `wide` is scratch (zeroized by the caller when done).
    #[cfg(target_pointer_width = "64")]
    pub(super) fn mul(
        &self,
        a: &[Word; N],
        b: &[Word; N],
        wide: &mut [[Word; N]; 2],
        out: &mut [Word; N],
    ) {
        let carry = comba::mul(a, b, self.p, self.m0, &mut wide[0], out);
        self.reduce_once(out, carry);
    }

    /// `out = t R^(-1) mod p` for the 2N-word `t` (in `wide`, overwritten) below `p R`:
    /// Montgomery reduction by separated operand scanning, N times adding `m p` at word i
    /// so that word i vanishes.
    fn reduce(&self, wide: &mut [[Word; N]; 2], out: &mut [Word; N]) {
        let t = wide.as_flattened_mut();
        // The carry out of the top word of each step, into the next one's.
        let mut meta = 0;
        // Two steps at a time ([`reduce_two_rows`]); one at a time for the last step of
        // an odd N.
        let pairs = if N >= 2 { N / 2 } else { 0 };
        for i in (0..pairs).map(|k| 2 * k) {
            let window = t.get_mut(i..i + N + 2).unwrap_or_default();
            meta = reduce_two_rows(window, self.p, self.m0, meta);
        }
        for i in 2 * pairs..N {
            let window = t.get_mut(i..=i + N).unwrap_or_default();
            let Some((top, low)) = window.split_last_mut() else {
                continue;
            };
            let m = low.first().copied().unwrap_or(0).wrapping_mul(self.m0);
            let c = mac_row(low, self.p, m);
            let (s, carry) = adc(*top, c, meta);
            *top = s;
            meta = carry;
        }
        // t < p R, so the result (in wide[1]) is below 2p.
        self.reduce_once_into(&wide[1], meta, out);
    }

    /// `out = t - p` when `carry:t >= p`, else `t`; `carry:t` must be below `2p`: the
    /// difference goes to `out`, then `t` replaces it by a masked select.
    #[inline(always)]
    fn reduce_once_into(&self, t: &[Word; N], carry: Word, out: &mut [Word; N]) {
        let mut borrow = 0;
        for ((o, &tj), &pj) in out.iter_mut().zip(t).zip(self.p) {
            (*o, borrow) = sbb(tj, pj, borrow);
        }
        // carry:t >= p exactly when the subtraction did not borrow past the carry word;
        // keep t (undo the subtraction) otherwise. Both are 0 or 1, so the truncation
        // keeps the whole value.
        #[allow(clippy::cast_possible_truncation)]
        let keep_t = Choice::from((!(carry | (borrow ^ 1)) & 1) as u8);
        assign_if(out, t, keep_t);
    }

    /// `out = 2a mod p` for `a < p`.
    #[inline(always)]
    pub(super) fn double(&self, a: &[Word; N], out: &mut [Word; N]) {
        let mut carry = 0;
        for (o, &aj) in out.iter_mut().zip(a) {
            (*o, carry) = adc(aj, aj, carry);
        }
        self.reduce_once(out, carry);
    }
}

/// Bit `i` of the little-endian words `exp` (0 past its end), as a 0/1 word. The index
/// is public; the bit is read arithmetically, without a branch on it.
#[inline(always)]
pub(super) fn exp_bit(exp: &[Word], i: u32) -> Word {
    let word = exp.get((i / W) as usize).copied().unwrap_or(0);
    (word >> (i % W)) & 1
}

/// `4`-bit window `k` (bits `4k .. 4k + 3`) of the little-endian words `exp`.
#[inline(always)]
fn exp_window(exp: &[Word], k: u32) -> Word {
    // W is a multiple of WINDOW, so a window never straddles two words.
    let i = k * WINDOW;
    let word = exp.get((i / W) as usize).copied().unwrap_or(0);
    (word >> (i % W)) & ((1 << WINDOW) - 1)
}

/// `out = 2^exp` in Montgomery form, by left-to-right binary exponentiation in which a
/// set bit multiplies by 2: each of the `bits` bits costs one squaring and one doubling
/// (an addition), and the doubled value is kept or not by a masked select.
///
/// `one_m` is `R mod p`; `exp` holds the secret exponent as little-endian words with no
/// bit at or above `bits` (the caller checks it). Constant time in `exp`. `wide` is the
/// caller's scratch of 2N words, left holding secret-dependent words: the caller zeroizes
/// it.
// Out of line: its temporaries are not added to its caller's frame.
#[inline(never)]
pub(super) fn pow2<const N: usize>(
    field: &Field<'_, N>,
    one_m: &[Word; N],
    exp: &[Word],
    bits: u32,
    wide: &mut [[Word; N]; 2],
    out: &mut [Word; N],
) {
    let mut squared = [0; N];
    let mut doubled = [0; N];
    out.copy_from_slice(one_m);
    for i in (0..bits).rev() {
        field.square(out, wide, &mut squared);
        field.double(&squared, &mut doubled);
        // The bit is 0 or 1, so the truncation keeps the whole value.
        #[allow(clippy::cast_possible_truncation)]
        let set = Choice::from(exp_bit(exp, i) as u8);
        out.copy_from_slice(&squared);
        assign_if(out, &doubled, set);
    }
    squared.zeroize();
    doubled.zeroize();
}

/// `out = base^exp` in Montgomery form, by a fixed 4-bit window over `ceil(bits / 4)`
/// windows: 4 squarings and one multiplication per window, whatever its value, with the
/// table entry selected by a masked pass over all 16 entries. The table's even entries
/// are squarings, the top window's entry is taken as it is (it would multiply 1), and the
/// entry masks come from the window's bits by arithmetic ([`entry_mask`]), with no
/// comparison per entry.
///
/// `base_m` and `one_m` are in Montgomery form and below `p`; `exp` holds the secret
/// exponent as little-endian words with no bit at or above `bits` (the caller checks it).
/// `wide` is the caller's scratch of 2N words, left holding secret-dependent words: the
/// caller zeroizes it.
// Out of line: its temporaries (the window table) are not added to its caller's frame.
#[inline(never)]
pub(super) fn pow<const N: usize>(
    field: &Field<'_, N>,
    base_m: &[Word; N],
    one_m: &[Word; N],
    exp: &[Word],
    bits: u32,
    wide: &mut [[Word; N]; 2],
    out: &mut [Word; N],
) {
    // table[k] = base^k: odd k by a multiplication, even k by squaring table[k / 2].
    let mut table = [[0; N]; TABLE];
    table[0].copy_from_slice(one_m);
    table[1].copy_from_slice(base_m);
    for k in 2..TABLE {
        let (done, rest) = table.split_at_mut(k);
        let (Some(half), Some(prev), Some(new)) = (done.get(k / 2), done.last(), rest.first_mut())
        else {
            continue;
        };
        if k % 2 == 0 {
            field.square(half, wide, new);
        } else {
            field.mul(prev, base_m, wide, new);
        }
    }
    let mut entry = [0; N];
    let mut tmp = [0; N];
    let mut bit_masks = [0 as Word; WINDOW as usize];
    out.copy_from_slice(one_m);
    let windows = bits.div_ceil(WINDOW);
    for k in (0..windows).rev() {
        let index = exp_window(exp, k);
        // The window's bits as masks (all ones or zero), by arithmetic on the bits.
        for (i, m) in (0..).zip(bit_masks.iter_mut()) {
            *m = ((index >> i) & 1).wrapping_neg();
        }
        select_entry(&table, &bit_masks, &mut entry);
        // The top window would square 1 and multiply 1 by its entry: the entry is taken
        // as it is (the position is public).
        if k + 1 == windows {
            out.copy_from_slice(&entry);
            continue;
        }
        for _ in 0..WINDOW {
            field.square(out, wide, &mut tmp);
            out.copy_from_slice(&tmp);
        }
        field.mul(out, &entry, wide, &mut tmp);
        out.copy_from_slice(&tmp);
    }
    table.zeroize();
    entry.zeroize();
    tmp.zeroize();
    bit_masks.zeroize();
}

/// `entry = table[j]` for the entry `j` that `bit_masks` name (see [`entry_mask`]), by
/// a masked pass over every entry of `table`: each entry is read, whatever the bits (the
/// window of [`pow`], the teeth of the comb).
#[inline(always)]
pub(super) fn select_entry<const N: usize, const B: usize>(
    table: &[[Word; N]],
    bit_masks: &[Word; B],
    entry: &mut [Word; N],
) {
    entry.fill(0);
    for (j, candidate) in table.iter().enumerate() {
        let m = entry_mask(bit_masks, j);
        for (e, &c) in entry.iter_mut().zip(candidate) {
            *e |= c & m;
        }
    }
}

/// The mask of table entry `j` (public) for the bit masks `bit_masks` of the exponent
/// bits that choose the entry (each all ones or zero, secret; bit `i` of `j` against
/// `bit_masks[i]`): all ones when every bit of `j` equals its exponent bit, else zero.
/// Only `j` decides which of a mask and its complement is taken: no comparison and no
/// branch on the secret bits (the window of [`pow`], the teeth of the comb).
#[inline(always)]
fn entry_mask<const B: usize>(bit_masks: &[Word; B], j: usize) -> Word {
    let mut m = Word::MAX;
    for (i, &b) in bit_masks.iter().enumerate() {
        m &= if (j >> i) & 1 == 1 { b } else { !b };
    }
    m
}

#[cfg(test)]
#[path = "monty_tests.rs"]
mod tests;
