extern crate std;

use super::*;
use crate::dh::key::xlen;
use crate::dh::test_support::{field, json, vector};
use crate::dh::{unpack, MAX_PLEN};
use crypto_bigint::modular::FixedMontyForm;
use crypto_bigint::U8192;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::vec;
use std::vec::Vec;

#[test]
fn modpow_errors_and_small_values() {
    type L = crypto_bigint::U256;
    const N: usize = L::LIMBS;
    let mut out = [0u8; 2];
    // 1000 is even.
    assert_eq!(
        modpow::<N>(&[3], &[5], 8, &[0x03, 0xe8], &mut out),
        Err(DhError::InvalidModulus)
    );
    // 3^5 mod 1001 = 243; modulus with leading zeros.
    modpow::<N>(&[3], &[5], 8, &[0, 0x03, 0xe9], &mut out).unwrap();
    assert_eq!(u16::from_be_bytes(out), 243);
    modpow::<N>(&[3], &[0, 5], 3, &[0x03, 0xe9], &mut out).unwrap();
    assert_eq!(u16::from_be_bytes(out), 243);
    assert_eq!(
        modpow::<N>(&[3], &[5], 2, &[0x03, 0xe9], &mut out),
        Err(DhError::ValueTooWide),
        "exponent bit above exp_bits"
    );
    assert_eq!(
        modpow::<N>(&[3], &[5], 257, &[0x03, 0xe9], &mut out),
        Err(DhError::ValueTooWide)
    );
    assert_eq!(
        modpow::<N>(&[0x03, 0xe9], &[5], 8, &[0x03, 0xe9], &mut out),
        Err(DhError::PublicValueOutOfRange)
    );
    assert_eq!(
        modpow::<N>(&[3], &[5], 8, &[0x03, 0xe9], &mut out[..1]),
        Err(DhError::BufferTooSmall)
    );
    assert_eq!(
        modpow::<N>(&[3], &[5], 8, &[1], &mut out),
        Err(DhError::InvalidModulus)
    );
    assert_eq!(
        modpow::<N>(&[3], &[5], 8, &[0xff; 33], &mut [0u8; 33]),
        Err(DhError::InvalidModulus)
    );
    // exp_bits = 0: the empty product.
    modpow::<N>(&[3], &[], 0, &[0x03, 0xe9], &mut out).unwrap();
    assert_eq!(u16::from_be_bytes(out), 1);
}

#[test]
fn group_constants_and_run_time_setup_give_the_same_public_value() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for group in Group::ALL {
        let mut x = [0u8; 48];
        let x = &mut x[..xlen(group)];
        rng.fill_bytes(x);
        let mut y = [0u8; MAX_PLEN];
        let n = group.plen();
        group_pow_generator(group, x, &mut y[..n]).unwrap();
        let mut y2 = [0u8; MAX_PLEN];
        let (p, xbits) = (group.prime(), group.xbits());
        let out = &mut y2[..n];
        match group {
            Group::Ffdhe2048 => modpow::<{ U2048::LIMBS }>(&[2], x, xbits, p, out),
            Group::Ffdhe3072 => modpow::<{ U3072::LIMBS }>(&[2], x, xbits, p, out),
            Group::Ffdhe4096 => modpow::<{ U4096::LIMBS }>(&[2], x, xbits, p, out),
        }
        .unwrap();
        assert_eq!(y[..n], y2[..n], "{group}");
        // Wider arithmetic than needed gives the same result.
        modpow::<{ U8192::LIMBS }>(&[2], x, xbits, p, &mut y2[..n]).unwrap();
        assert_eq!(y[..n], y2[..n], "{group}");
    }
}

/// `base^exp mod p` of `group` by crypto-bigint's own constant-time exponentiation, as
/// an independent reference for the arithmetic in `monty`.
fn reference(group: Group, base: &[u8], exp: &[u8]) -> Vec<u8> {
    fn with<const L: usize>(p: &[u8], base: &[u8], exp: &[u8], bits: u32) -> Vec<u8> {
        let params = FixedMontyParams::new_vartime(Uint::<L>::from_be_slice(p).to_odd().unwrap());
        let mut b = [0u8; 512];
        b[512 - base.len()..].copy_from_slice(base);
        let mut e = [0u8; 512];
        e[512 - exp.len()..].copy_from_slice(exp);
        let base = Uint::<L>::from_be_slice(&b[512 - L * Limb::BYTES..]);
        let exp = Uint::<L>::from_be_slice(&e[512 - L * Limb::BYTES..]);
        let z = FixedMontyForm::new(&base, &params)
            .pow_bounded_exp(&exp, bits)
            .retrieve();
        let bytes = z.to_be_bytes();
        bytes.as_ref()[L * Limb::BYTES - p.len()..].to_vec()
    }
    let (p, bits) = (group.prime(), group.xbits());
    match group {
        Group::Ffdhe2048 => with::<{ U2048::LIMBS }>(p, base, exp, bits),
        Group::Ffdhe3072 => with::<{ U3072::LIMBS }>(p, base, exp, bits),
        Group::Ffdhe4096 => with::<{ U4096::LIMBS }>(p, base, exp, bits),
    }
}

/// The group's exponentiations (both the generator's and the window one) of `base` and
/// `exp`, checked against [`reference`].
fn check_against_reference(group: Group, base: &[u8], exp: &[u8]) {
    let n = group.plen();
    let mut out = [0u8; MAX_PLEN];
    group_pow_generator(group, exp, &mut out[..n]).unwrap();
    assert_eq!(out[..n], reference(group, &[2], exp)[..], "2^x, {group}");
    group_modpow(group, base, exp, &mut out[..n]).unwrap();
    assert_eq!(out[..n], reference(group, base, exp)[..], "y^x, {group}");
}

#[test]
fn fast_paths_equal_the_generic_exponentiation_on_extreme_exponents() {
    for group in Group::ALL {
        let len = xlen(group);
        let p = group.prime();
        let mut p_minus_2 = p.to_vec();
        *p_minus_2.last_mut().unwrap() -= 2;
        let mut top_bit = vec![0u8; len];
        top_bit[0] = 0x80;
        let mut low_bit = vec![0u8; len];
        low_bit[len - 1] = 1;
        for exp in [vec![0u8; len], vec![0xff; len], top_bit, low_bit] {
            for base in [&[2u8][..], &[3], &p_minus_2] {
                check_against_reference(group, base, &exp);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fast_paths_equal_the_generic_exponentiation_on_random_exponents(
        group in prop::sample::select(Group::ALL.to_vec()),
        exp in prop::collection::vec(any::<u8>(), 48),
        base in prop::collection::vec(any::<u8>(), 512),
    ) {
        let exp = &exp[..xlen(group)];
        // Below p: p's top byte is 0xff, so clearing one bit of the top byte is enough.
        let mut base = base[..group.plen()].to_vec();
        base[0] &= 0x7f;
        check_against_reference(group, &base, exp);
    }

    #[test]
    fn modpow_equals_the_generic_exponentiation_for_random_odd_moduli(
        modulus in prop::collection::vec(any::<u8>(), 1..=64),
        base in prop::collection::vec(any::<u8>(), 64),
        exp in prop::collection::vec(any::<u8>(), 0..=64),
    ) {
        type L = crypto_bigint::U512;
        let mut modulus = modulus;
        *modulus.last_mut().unwrap() |= 1;
        let m = L::from_be_slice(&{
            let mut m = [0u8; 64];
            m[64 - modulus.len()..].copy_from_slice(&modulus);
            m
        });
        prop_assume!(m > L::from_u8(2));
        let params = FixedMontyParams::new_vartime(m.to_odd().unwrap());
        let b = L::from_be_slice(&base).rem_vartime(m.to_nz().as_ref().unwrap());
        let e = L::from_be_slice(&{
            let mut e = [0u8; 64];
            e[64 - exp.len()..].copy_from_slice(&exp);
            e
        });
        let bits = u32::try_from(exp.len() * 8).unwrap();
        let expected = FixedMontyForm::new(&b, &params).pow_bounded_exp(&e, bits).retrieve();
        let mut out = [0u8; 64];
        let b_bytes = b.to_be_bytes();
        modpow::<{ L::LIMBS }>(b_bytes.as_ref(), &exp, bits, &modulus, &mut out).unwrap();
        let expected = expected.to_be_bytes();
        prop_assert_eq!(&out[..], expected.as_ref());
    }
}

#[test]
fn modpow_wider_legacy_modulus() {
    // legacy.json's "original server" case: a 2065-bit odd (composite) modulus,
    // computed with 4096-bit and with 8192-bit arithmetic.
    let v = json(vector!("legacy.json"));
    let case = &v["cases"][1];
    let p = field(case, "p");
    assert_eq!(p.len(), 259);
    let x = field(case, "server_x");
    let y_c = field(case, "client_key");
    let z = field(case, "shared_z_minimal");
    let y = unpack(&y_c, p.len()).unwrap();
    let mut out = [0u8; 259];
    modpow::<{ U4096::LIMBS }>(y, &x, 512, &p, &mut out).unwrap();
    assert_eq!(&out[259 - z.len()..], &z[..]);
    let mut out2 = [0u8; 259];
    modpow::<{ U8192::LIMBS }>(y, &x, 512, &p, &mut out2).unwrap();
    assert_eq!(out, out2);
}
