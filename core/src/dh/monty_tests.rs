extern crate std;

use super::*;
use crate::group::Group;
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Uint, U2048, U3072, U4096};
use proptest::prelude::*;

const N: usize = U2048::LIMBS;

fn params() -> FixedMontyParams<N> {
    let p = Uint::<N>::from_be_slice(Group::Ffdhe2048.prime());
    FixedMontyParams::new_vartime(p.to_odd().unwrap())
}

/// Checks `mul`, `square` and `double` of the Montgomery forms `a` and `b` (below p)
/// against crypto-bigint's.
fn check_ops(params: &FixedMontyParams<N>, a: &Uint<N>, b: &Uint<N>) {
    let field = Field::new(params.modulus().as_ref().as_words(), params.mod_neg_inv().0);
    let am = FixedMontyForm::from_montgomery(*a, params);
    let bm = FixedMontyForm::from_montgomery(*b, params);
    let mut out = [0; N];
    let mut wide = [[0; N]; 2];
    field.mul(a.as_words(), b.as_words(), &mut wide, &mut out);
    assert_eq!(&out, am.mul(&bm).as_montgomery().as_words(), "mul");
    field.square(a.as_words(), &mut wide, &mut out);
    assert_eq!(&out, am.square().as_montgomery().as_words(), "square");
    field.double(a.as_words(), &mut out);
    assert_eq!(&out, am.double().as_montgomery().as_words(), "double");
}

#[test]
fn operations_equal_crypto_bigint_at_the_edges_of_the_field() {
    let params = params();
    let p = params.modulus().as_ref();
    let edges = [
        Uint::ZERO,
        Uint::ONE,
        Uint::from_u8(2),
        p.wrapping_sub(&Uint::ONE),
        p.wrapping_sub(&Uint::from_u8(2)),
        p.shr_vartime(1),
        *params.one(),
        *params.r2(),
    ];
    for a in &edges {
        for b in &edges {
            check_ops(&params, a, b);
        }
    }
}

#[test]
fn three_thousand_bit_field_squares_like_it_multiplies() {
    const M: usize = U3072::LIMBS;
    let p = Uint::<M>::from_be_slice(Group::Ffdhe3072.prime());
    let params = FixedMontyParams::new_vartime(p.to_odd().unwrap());
    let field = Field::new(params.modulus().as_ref().as_words(), params.mod_neg_inv().0);
    let a = p.wrapping_sub(&Uint::from_u8(5));
    let mut squared = [0; M];
    let mut multiplied = [0; M];
    field.square(a.as_words(), &mut [[0; M]; 2], &mut squared);
    field.mul(
        a.as_words(),
        a.as_words(),
        &mut [[0; M]; 2],
        &mut multiplied,
    );
    assert_eq!(squared, multiplied);
}

proptest! {
    #[test]
    fn operations_equal_crypto_bigint_on_random_values(
        a in prop::collection::vec(any::<u8>(), 256),
        b in prop::collection::vec(any::<u8>(), 256),
    ) {
        let params = params();
        let p = params.modulus().as_ref();
        // Below p: any value reduced by the (public) modulus.
        let nz = p.to_nz().unwrap();
        let a = Uint::<N>::from_be_slice(&a).rem_vartime(&nz);
        let b = Uint::<N>::from_be_slice(&b).rem_vartime(&nz);
        check_ops(&params, &a, &b);
    }
}

/// Checks `mul` and `square` of a field of `M` words against crypto-bigint's, for the
/// odd modulus `p_bytes` (big-endian) and `a`, `b` reduced below it.
fn check_width<const M: usize>(p_bytes: &[u8], a: &[u8], b: &[u8]) {
    let p = Uint::<M>::from_be_slice(p_bytes);
    let params = FixedMontyParams::new_vartime(p.to_odd().unwrap());
    let field = Field::new(params.modulus().as_ref().as_words(), params.mod_neg_inv().0);
    let nz = p.to_nz().unwrap();
    let a = Uint::<M>::from_be_slice(a).rem_vartime(&nz);
    let b = Uint::<M>::from_be_slice(b).rem_vartime(&nz);
    let am = FixedMontyForm::from_montgomery(a, &params);
    let bm = FixedMontyForm::from_montgomery(b, &params);
    let (mut out, mut wide) = ([0; M], [[0; M]; 2]);
    field.mul(a.as_words(), b.as_words(), &mut wide, &mut out);
    assert_eq!(
        &out,
        am.mul(&bm).as_montgomery().as_words(),
        "mul, {M} words"
    );
    field.square(a.as_words(), &mut wide, &mut out);
    assert_eq!(
        &out,
        am.square().as_montgomery().as_words(),
        "square, {M} words"
    );
}

proptest! {
    /// The reduction takes two steps at a time; an odd number of words ends with one
    /// step alone, and the narrowest fields have no word between a pair's first two
    /// and its top: all agree with crypto-bigint.
    #[test]
    fn odd_and_narrow_widths_reduce_like_crypto_bigint(
        p in prop::collection::vec(any::<u8>(), 40),
        a in prop::collection::vec(any::<u8>(), 40),
        b in prop::collection::vec(any::<u8>(), 40),
    ) {
        // An odd modulus with its top bit set, of each width from 1 to 5 words.
        let mut p = p;
        p[0] |= 0x80;
        for width in 1..=5 {
            let bytes = width * (Word::BITS as usize / 8);
            let mut q = p[p.len() - bytes..].to_vec();
            q[0] |= 0x80;
            *q.last_mut().unwrap() |= 1;
            let (a, b) = (&a[a.len() - bytes..], &b[b.len() - bytes..]);
            match width {
                1 => check_width::<1>(&q, a, b),
                2 => check_width::<2>(&q, a, b),
                3 => check_width::<3>(&q, a, b),
                4 => check_width::<4>(&q, a, b),
                _ => check_width::<5>(&q, a, b),
            }
        }
    }
}

/// Checks `square` of `a` (below the odd `p`) in the field of `M` words against
/// crypto-bigint's squaring and against `mul(a, a)`.
fn check_square<const M: usize>(p: &Uint<M>, a: &Uint<M>) {
    let params = FixedMontyParams::new_vartime(p.to_odd().unwrap());
    let field = Field::new(params.modulus().as_ref().as_words(), params.mod_neg_inv().0);
    let am = FixedMontyForm::from_montgomery(*a, &params);
    let (mut squared, mut multiplied, mut wide) = ([0; M], [0; M], [[0; M]; 2]);
    field.square(a.as_words(), &mut wide, &mut squared);
    assert_eq!(
        &squared,
        am.square().as_montgomery().as_words(),
        "square, {M} words, a = {a}"
    );
    field.mul(a.as_words(), a.as_words(), &mut wide, &mut multiplied);
    assert_eq!(
        squared, multiplied,
        "square against mul, {M} words, a = {a}"
    );
}

/// The values below `p` whose squares carry the most, or the least: 0, 1, 2, `p - 1`,
/// `p - 2`, every bit below the top one set, every word all ones under a top word one
/// less than `p`'s, `R mod p` and `R^2 mod p`.
fn edge_values<const M: usize>(p: &Uint<M>) -> std::vec::Vec<Uint<M>> {
    let params = FixedMontyParams::new_vartime(p.to_odd().unwrap());
    let mut below_top = [Word::MAX; M];
    below_top[M - 1] = p.as_words()[M - 1] - 1;
    std::vec![
        Uint::ZERO,
        Uint::ONE,
        Uint::from_u8(2),
        p.wrapping_sub(&Uint::ONE),
        p.wrapping_sub(&Uint::from_u8(2)),
        Uint::MAX.shr_vartime(Uint::<M>::BITS - p.bit_width_vartime() + 1),
        Uint::from_words(below_top),
        *params.one(),
        *params.r2(),
    ]
}

/// The squares of the three groups' widths (32, 48 and 64 words: the off-diagonal rows
/// in pairs, the last one alone), at the edges of each field.
#[test]
fn squares_of_every_group_width_equal_crypto_bigint_at_the_edges() {
    fn group<const M: usize>(group: Group) {
        let p = Uint::<M>::from_be_slice(group.prime());
        for a in edge_values(&p) {
            check_square(&p, &a);
        }
    }
    group::<{ U2048::LIMBS }>(Group::Ffdhe2048);
    group::<{ U3072::LIMBS }>(Group::Ffdhe3072);
    group::<{ U4096::LIMBS }>(Group::Ffdhe4096);
}

/// Widths 1 to 9 with the modulus of all ones (every carry of the square at its
/// largest) and a modulus with only its top and lowest bits set: both parities of the
/// pairs' word count, a last row alone or not.
#[test]
fn squares_of_narrow_and_odd_widths_equal_crypto_bigint_at_the_edges() {
    fn width<const M: usize>() {
        let sparse = Uint::<M>::ONE.bitor(&Uint::ONE.shl_vartime(Uint::<M>::BITS - 1));
        for p in [Uint::<M>::MAX, sparse] {
            for a in edge_values(&p) {
                check_square(&p, &a);
            }
        }
    }
    width::<1>();
    width::<2>();
    width::<3>();
    width::<4>();
    width::<5>();
    width::<6>();
    width::<7>();
    width::<8>();
    width::<9>();
}

proptest! {
    /// Random values below each group's prime, all three widths.
    #[test]
    fn squares_of_every_group_width_equal_crypto_bigint_on_random_values(
        a in prop::collection::vec(any::<u8>(), 512),
    ) {
        fn group<const M: usize>(group: Group, a: &[u8]) {
            let p = Uint::<M>::from_be_slice(group.prime());
            let bytes = M * (Word::BITS as usize / 8);
            let a = Uint::<M>::from_be_slice(&a[a.len() - bytes..]).rem_vartime(&p.to_nz().unwrap());
            check_square(&p, &a);
        }
        group::<{ U2048::LIMBS }>(Group::Ffdhe2048, &a);
        group::<{ U3072::LIMBS }>(Group::Ffdhe3072, &a);
        group::<{ U4096::LIMBS }>(Group::Ffdhe4096, &a);
    }

    /// Random odd moduli of 6 to 9 words (the pairs' loop with and without a word
    /// left over, more than one pair): as crypto-bigint.
    #[test]
    fn squares_of_wider_odd_and_even_widths_equal_crypto_bigint_on_random_values(
        p in prop::collection::vec(any::<u8>(), 72),
        a in prop::collection::vec(any::<u8>(), 72),
    ) {
        fn width<const M: usize>(p: &[u8], a: &[u8]) {
            let bytes = M * (Word::BITS as usize / 8);
            let mut q = p[p.len() - bytes..].to_vec();
            q[0] |= 0x80;
            *q.last_mut().unwrap() |= 1;
            let p = Uint::<M>::from_be_slice(&q);
            let a = Uint::<M>::from_be_slice(&a[a.len() - bytes..]).rem_vartime(&p.to_nz().unwrap());
            check_square(&p, &a);
        }
        width::<6>(&p, &a);
        width::<7>(&p, &a);
        width::<8>(&p, &a);
        width::<9>(&p, &a);
    }
}

/// Checks `pow(base, exp)` over the low `bits` bits of `exp` (the rest cleared) in the
/// field of group `group` (`M` words) against crypto-bigint's `pow_bounded_exp`, with
/// `base` reduced below `p`.
fn check_pow<const M: usize>(group: Group, base: &Uint<M>, exp: &Uint<M>, bits: u32) {
    let p = Uint::<M>::from_be_slice(group.prime());
    let params = FixedMontyParams::new_vartime(p.to_odd().unwrap());
    let field = Field::new(params.modulus().as_ref().as_words(), params.mod_neg_inv().0);
    let base = FixedMontyForm::new(&base.rem_vartime(&p.to_nz().unwrap()), &params);
    let exp = if bits == 0 {
        Uint::ZERO
    } else {
        exp.bitand(&Uint::MAX.shr_vartime(Uint::<M>::BITS - bits))
    };
    let (mut out, mut wide) = ([0; M], [[0; M]; 2]);
    pow(
        &field,
        base.as_montgomery().as_words(),
        params.one().as_words(),
        exp.as_words(),
        bits,
        &mut wide,
        &mut out,
    );
    assert_eq!(
        &out,
        base.pow_bounded_exp(&exp, bits).as_montgomery().as_words(),
        "pow, {M} words, {bits} bits, exp = {exp}, base = {}",
        base.retrieve()
    );
}

/// Every group width, exponent lengths of 0 to 9 bits (no window, one window: only the
/// top one, taken as it is, two windows and a partial third), a window's worth either
/// side of the group's exponent length, and every
/// window value (so every table entry, the even ones squared, the odd ones multiplied)
/// as the top window and below it.
#[test]
fn powers_equal_crypto_bigint_for_every_window_value_and_short_exponents() {
    fn group<const M: usize>(group: Group) {
        let p = Uint::<M>::from_be_slice(group.prime());
        let bases = [
            Uint::<M>::ZERO,
            Uint::ONE,
            Uint::from_u8(2),
            Uint::from_u8(3),
            p.wrapping_sub(&Uint::ONE),
            p.wrapping_sub(&Uint::from_u8(2)),
        ];
        for base in &bases {
            for bits in 0..=9 {
                for e in [0u64, 1, 0x5a, 0x1ff, 0x100, 0xf0] {
                    check_pow(group, base, &Uint::from_u64(e), bits);
                }
            }
            for v in 0..16u64 {
                // Window value v at the top and at the bottom of a two-window exponent.
                check_pow(group, base, &Uint::from_u64(v << 4 | 0x9), 8);
                check_pow(group, base, &Uint::from_u64(0x70 | v), 8);
            }
            let xbits = group.xbits();
            for bits in [xbits - 4, xbits - 1, xbits, xbits + 3, xbits + 4] {
                check_pow(group, base, &Uint::MAX, bits);
            }
        }
    }
    group::<{ U2048::LIMBS }>(Group::Ffdhe2048);
    group::<{ U3072::LIMBS }>(Group::Ffdhe3072);
    group::<{ U4096::LIMBS }>(Group::Ffdhe4096);
}

/// Exponents whose top windows are zero (a short value under the group's exponent
/// length): the top window's entry, taken as it is, is then 1, and the windows below
/// square it like any other value.
#[test]
fn powers_with_leading_zero_windows_equal_crypto_bigint() {
    fn group<const M: usize>(group: Group) {
        let p = Uint::<M>::from_be_slice(group.prime());
        let base = p.shr_vartime(3).wrapping_add(&Uint::from_u8(7));
        for e in [0u64, 1, 2, 0xf, 0x10, 0xdead_beef, u64::MAX] {
            check_pow(group, &base, &Uint::from_u64(e), group.xbits());
        }
        let one_bit_low = Uint::<M>::ONE.shl_vartime(group.xbits() - 9);
        check_pow(group, &base, &one_bit_low, group.xbits());
    }
    group::<{ U2048::LIMBS }>(Group::Ffdhe2048);
    group::<{ U3072::LIMBS }>(Group::Ffdhe3072);
    group::<{ U4096::LIMBS }>(Group::Ffdhe4096);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Random bases below each group's prime and random exponents of random lengths up
    /// to a window past the group's exponent length, all three widths.
    #[test]
    fn powers_of_every_group_width_equal_crypto_bigint_on_random_values(
        base in prop::collection::vec(any::<u8>(), 512),
        exp in prop::collection::vec(any::<u8>(), 52),
        cut in 0u32..=4,
        shorter in 0u32..=388,
    ) {
        fn group<const M: usize>(group: Group, base: &[u8], exp: &[u8], cut: u32, shorter: u32) {
            let bytes = M * (Word::BITS as usize / 8);
            let base = Uint::<M>::from_be_slice(&base[base.len() - bytes..]);
            let mut exp_bytes = std::vec![0u8; bytes];
            exp_bytes[bytes - exp.len()..].copy_from_slice(exp);
            let exp = Uint::<M>::from_be_slice(&exp_bytes);
            // The group's length plus up to 4 bits, or any shorter length.
            let bits = if cut.is_multiple_of(2) {
                group.xbits() + cut
            } else {
                shorter.min(group.xbits())
            };
            check_pow(group, &base, &exp, bits);
        }
        group::<{ U2048::LIMBS }>(Group::Ffdhe2048, &base, &exp, cut, shorter);
        group::<{ U3072::LIMBS }>(Group::Ffdhe3072, &base, &exp, cut, shorter);
        group::<{ U4096::LIMBS }>(Group::Ffdhe4096, &base, &exp, cut, shorter);
    }
}
