//! Montgomery multiplication for 64-bit targets by product scanning (Comba), the
//! Montgomery reduction interleaved column by column (the "FIPS" order of Koç, Acar and
//! Kaliski): each output column's word products are summed into a three-word
//! accumulator that stays in registers, so a word product costs one multiplication and
//! three additions with carry, and the 2N-word product is never stored. About 10%
//! faster than the operand-scanning multiplication of [`monty`](super::monty) on x86_64
//! (ffdhe2048 and ffdhe3072 widths); that one stays the code of 32-bit targets, where it
//! is smaller.
//!
//! The squaring is not done here: by columns, its short columns of cross products
//! (doubled per column) cost more in loop overhead than they save, and it measured 5%
//! slower than `monty`'s squaring (off-diagonal rows, one doubling pass, then the
//! two-rows reduction).
//!
//! Every loop bound and memory index depends only on `N`; nothing depends on a value.

use crypto_bigint::Word;

/// A three-word accumulator: `lo + hi 2^64 + top 2^128`.
#[derive(Clone, Copy)]
struct Acc {
    lo: Word,
    hi: Word,
    top: Word,
}

impl Acc {
    /// The zero accumulator.
    const ZERO: Acc = Acc {
        lo: 0,
        hi: 0,
        top: 0,
    };

    /// `self += x y`.
    #[inline(always)]
    fn mac(&mut self, x: Word, y: Word) {
        let p = u128::from(x) * u128::from(y);
        let cur = (u128::from(self.hi) << 64) | u128::from(self.lo);
        let (s, carry) = cur.overflowing_add(p);
        // Splitting a double word into its halves.
        #[allow(clippy::cast_possible_truncation)]
        {
            self.lo = s as Word;
            self.hi = (s >> 64) as Word;
        }
        self.top = self.top.wrapping_add(Word::from(carry));
    }

    /// Takes the low word out: `self >>= 64`, returning the word shifted out.
    #[inline(always)]
    fn shift(&mut self) -> Word {
        let lo = self.lo;
        *self = Acc {
            lo: self.hi,
            hi: self.top,
            top: 0,
        };
        lo
    }
}

/// `acc += sum x_i y_(n-1-i)` over `n = x.len()` (`y` of the same length), the products
/// of one column.
#[inline(always)]
fn column(acc: &mut Acc, x: &[Word], y: &[Word]) {
    // Two products a step: x's pairs from its start, y's from its end.
    let (x2, x_rest) = x.as_chunks::<2>();
    let (y_rest, y2) = y.as_rchunks::<2>();
    let n = x2.len().min(y2.len());
    let (Some(x2), Some(y2)) = (x2.get(..n), y2.get(..n)) else {
        return;
    };
    // Indexed rather than zipped with a reversed iterator: one loop counter, one end
    // test, and the bounds checks fold away (`i < n`, `n - 1 - i < n`).
    for i in 0..n {
        let ([x0, x1], [y1, y0]) = (x2[i], y2[n - 1 - i]);
        acc.mac(x0, y0);
        acc.mac(x1, y1);
    }
    // An odd length: x's last word with y's first.
    if let (Some(&xl), Some(&yf)) = (x_rest.first(), y_rest.first()) {
        acc.mac(xl, yf);
    }
}

/// Column `k < N` of the reduction: adds `m_j p_(k-j)` for `j < k`, then sets
/// `m_k = lo m0` and adds `m_k p_0`, which clears the low word; shifts it out.
#[inline(always)]
fn reduce_low_column<const N: usize>(
    acc: &mut Acc,
    m: &mut [Word; N],
    p: &[Word; N],
    m0: Word,
    k: usize,
) {
    column(
        acc,
        m.get(..k).unwrap_or_default(),
        p.get(1..=k).unwrap_or_default(),
    );
    let mk = acc.lo.wrapping_mul(m0);
    if let Some(slot) = m.get_mut(k) {
        *slot = mk;
    }
    acc.mac(mk, p.first().copied().unwrap_or(0));
    acc.shift();
}

/// Column `N + k` (`k < N`) of the reduction: adds `m_j p_(N+k-j)` for `j > k`, returns
/// the low word (output word `k`) and shifts it out.
#[inline(always)]
fn reduce_high_column<const N: usize>(
    acc: &mut Acc,
    m: &[Word; N],
    p: &[Word; N],
    k: usize,
) -> Word {
    column(
        acc,
        m.get(k + 1..).unwrap_or_default(),
        p.get(k + 1..).unwrap_or_default(),
    );
    acc.shift()
}

/// `out + carry 2^(64 N) = a b R^(-1)` (below `2p`) for `a, b < p`, `m0 = -p^(-1) mod
/// 2^64`; `m` is scratch (left holding the reduction's multipliers, secret-dependent).
#[inline(always)]
pub(super) fn mul<const N: usize>(
    a: &[Word; N],
    b: &[Word; N],
    p: &[Word; N],
    m0: Word,
    m: &mut [Word; N],
    out: &mut [Word; N],
) -> Word {
    let mut acc = Acc::ZERO;
    for k in 0..N {
        // a_j b_(k-j), j = 0 ..= k.
        column(
            &mut acc,
            a.get(..=k).unwrap_or_default(),
            b.get(..=k).unwrap_or_default(),
        );
        reduce_low_column(&mut acc, m, p, m0, k);
    }
    for (k, o) in out.iter_mut().enumerate() {
        // a_j b_(N+k-j), j = k + 1 .. N.
        column(
            &mut acc,
            a.get(k + 1..).unwrap_or_default(),
            b.get(k + 1..).unwrap_or_default(),
        );
        *o = reduce_high_column(&mut acc, m, p, k);
    }
    acc.lo
}
