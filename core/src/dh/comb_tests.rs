extern crate std;

use super::*;
use crate::dh::monty::pow2;
use crate::group::Group;
use crypto_bigint::modular::FixedMontyParams;
use crypto_bigint::{Uint, U2048, U3072, U4096};
use std::vec::Vec;

/// A group's field, `R mod p`, and an empty comb for its `xbits`.
struct Setup<const N: usize> {
    p: [Word; N],
    m0: Word,
    one_m: [Word; N],
    xbits: u32,
}

impl<const N: usize> Setup<N> {
    fn new(group: Group) -> Self {
        let prime = Uint::<N>::from_be_slice(group.prime());
        let params = FixedMontyParams::new_vartime(prime.to_odd().unwrap());
        Setup {
            p: *prime.as_words(),
            m0: params.mod_neg_inv().0,
            one_m: *params.one().as_words(),
            xbits: group.xbits(),
        }
    }

    fn field(&self) -> Field<'_, N> {
        Field::new(&self.p, self.m0)
    }

    /// `2^exp` in Montgomery form by the comb `comb` and by squarings and doublings.
    fn both(&self, comb: &Comb<N>, exp: &[Word]) -> ([Word; N], [Word; N]) {
        let field = self.field();
        let mut wide = [[0; N]; 2];
        let (mut by_comb, mut by_bits) = ([0; N], [0; N]);
        pow2_comb(&field, comb, &self.one_m, exp, &mut wide, &mut by_comb);
        pow2(
            &field,
            &self.one_m,
            exp,
            self.xbits,
            &mut wide,
            &mut by_bits,
        );
        (by_comb, by_bits)
    }
}

/// Every exponent `2^i`, `i < xbits`, and every exponent of `xbits` ones below `2^i`:
/// each bit of the exponent lands in its tooth, table and step.
fn check_every_bit_position<const N: usize>(group: Group) {
    let setup = Setup::<N>::new(group);
    let comb = Comb::<N>::new(setup.xbits);
    assert!(comb.bits() >= setup.xbits);
    let words = setup.xbits.div_ceil(Word::BITS) as usize;
    for i in 0..setup.xbits {
        let mut single = [0 as Word; N];
        single[(i / Word::BITS) as usize] = 1 << (i % Word::BITS);
        let (by_comb, by_bits) = setup.both(&comb, &single[..words]);
        assert_eq!(by_comb, by_bits, "{group}: 2^(2^{i})");
        let mut low_ones = [0 as Word; N];
        for j in 0..=i {
            low_ones[(j / Word::BITS) as usize] |= 1 << (j % Word::BITS);
        }
        let (by_comb, by_bits) = setup.both(&comb, &low_ones[..words]);
        assert_eq!(by_comb, by_bits, "{group}: 2^(2^{} - 1)", i + 1);
    }
}

#[test]
fn the_comb_places_every_exponent_bit_like_the_bit_by_bit_exponentiation() {
    check_every_bit_position::<{ U2048::LIMBS }>(Group::Ffdhe2048);
    check_every_bit_position::<{ U3072::LIMBS }>(Group::Ffdhe3072);
    check_every_bit_position::<{ U4096::LIMBS }>(Group::Ffdhe4096);
}

#[test]
fn threads_racing_to_fill_one_comb_all_get_the_right_powers() {
    const N: usize = U2048::LIMBS;
    let setup = Setup::<N>::new(Group::Ffdhe2048);
    let comb = Comb::<N>::new(setup.xbits);
    let exps: Vec<[Word; 4]> = (1..=8u64)
        .map(|t| {
            let x = t.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            [x, !x, x.rotate_left(17), x ^ 0x5555_5555_5555_5555]
        })
        .collect();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = exps
            .iter()
            .map(|exp| s.spawn(|| setup.both(&comb, exp)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (by_comb, by_bits) in results {
        assert_eq!(by_comb, by_bits);
    }
}
