//! DH per group: key generation (`PrivateKey::generate` + `public_value`, i.e. `2^x`) and
//! the shared value (`shared_value`, i.e. `y^x` with the range checks), each beside
//! OpenSSL's `BN_mod_exp_mont_consttime` with an exponent of the same `xbits` and its
//! Montgomery context set up once (OpenSSL's best case, as its DH code caches it).
//!
//! `cargo bench -p dhchat-core --bench dh`; the `RATIO` lines are the paired ratios.
//! `DH_GROUPS=ffdhe2048` (a comma-separated list) runs only those groups.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;

use common::ossl::{bn, OpensslGroup};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dhchat_core::dh::{PrivateKey, SharedValue, MAX_PLEN};
use dhchat_core::group::Group;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn bench_group(c: &mut Criterion, group: Group) {
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(group.bits()));
    let ossl = OpensslGroup::new(group);
    let xlen = (group.xbits() / 8) as usize;
    // An OpenSSL exponent of xbits bits with the top bit set (the same work for it as
    // any other: its consttime path runs over the exponent's bit length).
    let mut x = vec![0u8; xlen];
    rng.fill_bytes(&mut x);
    x[0] |= 0x80;
    let exp = bn(&x);
    let two = bn(&[2]);
    // A peer's public value for the shared value.
    let peer = PrivateKey::generate(group, &mut rng);
    let mut peer_y = [0u8; MAX_PLEN];
    let n = peer.public_value(&mut peer_y).expect("public value");
    let peer_y = &peer_y[..n];
    let peer_bn = bn(peer_y);
    let key = PrivateKey::generate(group, &mut rng);

    let mut g = c.benchmark_group(format!("dh/{group}"));
    g.sample_size(20);
    let mut y = [0u8; MAX_PLEN];
    let mut keygen = || {
        let key = PrivateKey::generate(group, &mut rng);
        key.public_value(black_box(&mut y)).expect("public value");
    };
    g.bench_function(BenchmarkId::new("keygen", "dhchat"), |b| {
        b.iter(&mut keygen)
    });
    g.bench_function(BenchmarkId::new("keygen", "openssl"), |b| {
        b.iter(|| ossl.pow(two, exp));
    });
    let mut z = SharedValue::default();
    let mut shared = || {
        key.shared_value(black_box(peer_y), &mut z)
            .expect("shared value");
    };
    g.bench_function(BenchmarkId::new("shared", "dhchat"), |b| {
        b.iter(&mut shared)
    });
    g.bench_function(BenchmarkId::new("shared", "openssl"), |b| {
        b.iter(|| ossl.pow(peer_bn, exp));
    });
    g.finish();

    common::paired_ratio(&format!("dh/{group}/keygen"), None, &mut keygen, || {
        ossl.pow(two, exp);
    });
    common::paired_ratio(&format!("dh/{group}/shared"), None, &mut shared, || {
        ossl.pow(peer_bn, exp);
    });
    common::paired_ratio(
        &format!("dh/{group}/keygen+shared"),
        None,
        || {
            keygen();
            shared();
        },
        || {
            ossl.pow(two, exp);
            ossl.pow(peer_bn, exp);
        },
    );
}

fn dh(c: &mut Criterion) {
    // `DH_GROUPS=ffdhe2048,ffdhe4096` runs those groups only.
    let only = std::env::var("DH_GROUPS").ok();
    for group in Group::ALL {
        if only
            .as_deref()
            .is_none_or(|o| o.split(',').any(|g| g == group.name()))
        {
            bench_group(c, group);
        }
    }
}

criterion_group!(benches, dh);
criterion_main!(benches);
