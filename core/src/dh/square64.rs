//! The 2N-word square of the Montgomery squaring on 64-bit targets, two rows of
//! off-diagonal products per pass over the words (`monty`'s squaring computes it one row
//! at a time with `mac_row`, the code 32-bit targets keep).
//!
//! Row `i` of the off-diagonal products adds `a_i a_j` (`j > i`) at word `i + j`; rows
//! `i` and `i + 1` land on the same words from word `2i + 3` on, so one pass adds both
//! ([`mac_two_rows`]): each word of the square is loaded and stored once per two rows,
//! and the two rows' carries form two independent chains instead of one. Then one pass
//! doubles the sum and adds the diagonal squares `a_i^2`.
//!
//! Every loop bound and memory index depends only on `N`; nothing depends on a value.

use super::monty::{adc, mac, two_rows_span};
use crypto_bigint::Word;

/// Two rows of the square's off-diagonal products in one pass: with `x = a[i + 1..]`
/// (`l >= 2` words), `ai = a_i` and `x[0] = a_(i+1)`, adds `ai x` at word 0 of `t` and
/// `x[0] x[1..]` at word 2 of `t`, the window of `l + 2` words from word `2i + 1` of the
/// square. Its top two words are 0 before (no row before reaches them) and take the two
/// rows' carries.
///
/// Word `w` of the window takes `ai x[w]` (first row) and `x[0] x[w - 1]` (second row,
/// `w >= 2`): the second row's operand is the first's, one word behind, kept from the
/// word before as in `monty`'s `reduce_two_rows`.
///
/// Out of line and not generic: one copy for every width; every access and branch
/// depends only on the lengths.
#[inline(never)]
fn mac_two_rows(t: &mut [Word], x: &[Word], ai: Word) {
    let l = x.len();
    let Some(t) = t.get_mut(..l + 2) else {
        return;
    };
    let (t_low, t_top) = t.split_at_mut(l);
    let ([t0, t1, t_mid @ ..], [top0, top1]) = (t_low, t_top) else {
        return;
    };
    let [b, x1, x_hi @ ..] = x else {
        return;
    };
    let b = *b;
    // Words 0 and 1: the first row alone (the second row's a_(i+1)^2 is diagonal).
    let ca;
    (*t0, ca) = mac(ai, b, *t0, 0);
    let ca = {
        let c;
        (*t1, c) = mac(ai, *x1, *t1, ca);
        c
    };
    // Words 2 .. l - 1: the first row's product with x[w], the second's with x[w - 1].
    let (ca, cb, x_prev) = two_rows_span(t_mid, x_hi, ai, b, *x1, ca, 0);
    // Word l: the first row's carry and the second row's last product; word l + 1: the
    // second row's carry.
    (*top0, *top1) = mac(b, x_prev, ca, cb);
}

/// `wide = a^2`, the 2N-word square: the off-diagonal products two rows a pass
/// ([`mac_two_rows`]; an even `N` ends with one row of one product), then one pass that
/// doubles them and adds the diagonal squares `a_i^2` at word `2i`.
#[inline(always)]
pub(super) fn square_wide<const N: usize>(a: &[Word; N], wide: &mut [[Word; N]; 2]) {
    let t = wide.as_flattened_mut();
    // Only words 0 .. N - 1 and 2N - 1 are read before the rows write them: the first
    // pair adds onto words 1 .. N - 1 and every later row onto words an earlier one
    // wrote (its top words reach i + N + 1); word 0 and word 2N - 1 take no product.
    if let Some(low) = t.get_mut(..N) {
        low.fill(0);
    }
    if let Some(top) = t.last_mut() {
        *top = 0;
    }
    // Rows 0 .. N - 2 carry products; pairs (i, i + 1) while row i + 1 has one.
    let pairs = N.saturating_sub(1) / 2;
    for (i, &ai) in a.iter().enumerate().step_by(2).take(pairs) {
        let window = t.get_mut(2 * i + 1..i + N + 2).unwrap_or_default();
        mac_two_rows(window, a.get(i + 1..).unwrap_or_default(), ai);
    }
    // The last row alone (N even): a_(N-2) a_(N-1) at word 2N - 3, its carry above.
    let i = 2 * pairs;
    if let (Some(&ai), Some(&aj)) = (a.get(i), a.get(i + 1)) {
        if let Some([lo, hi]) = t.get_mut(2 * i + 1..2 * i + 3) {
            (*lo, *hi) = mac(ai, aj, *lo, 0);
        }
    }
    // Double them (the top bit of t is still 0) and add the squares, one pass.
    let mut shifted_out = 0;
    let mut c = 0;
    for (pair, &ai) in t.as_chunks_mut::<2>().0.iter_mut().zip(a) {
        let [t0, t1] = pair;
        let d0 = (*t0 << 1) | shifted_out;
        let d1 = (*t1 << 1) | (*t0 >> (Word::BITS - 1));
        shifted_out = *t1 >> (Word::BITS - 1);
        let (lo, hi) = mac(ai, ai, 0, 0);
        (*t0, c) = adc(d0, lo, c);
        (*t1, c) = adc(d1, hi, c);
    }
}
