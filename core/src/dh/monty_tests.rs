extern crate std;

use super::*;
use crate::group::Group;
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Uint, U2048, U3072};
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
