//! The whole sans-io handshake per group, both ends in one thread (server start, the
//! client's DH, the server's key and SERVER_AUTH, CLIENT_HELLO, WELCOME), beside
//! OpenSSL doing the same public-key work: four `BN_mod_exp_mont_consttime` of the
//! group's exponent size (two public values, two shared values) and an Ed25519 signature
//! and its verification. A third line gives the handshake over dhchat's own four DH
//! exponentiations (how much the rest of the handshake adds to the DH alone).
//!
//! `cargo bench -p dhchat-core --bench handshake`; the `RATIO` lines are the paired
//! ratios.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;

use common::ossl::{bn, OpensslGroup};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dhchat_core::dh::{PrivateKey, SharedValue, MAX_PLEN};
use dhchat_core::group::Group;
use dhchat_core::identity::IdentityKey;
use openssl::pkey::{Id, PKey};
use openssl::sign::{Signer, Verifier};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn bench_group(c: &mut Criterion, group: Group) {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let id = IdentityKey::generate(&mut rng);
    let ossl = OpensslGroup::new(group);
    let mut x = vec![0u8; (group.xbits() / 8) as usize];
    rng.fill_bytes(&mut x);
    x[0] |= 0x80;
    let exp = bn(&x);
    let two = bn(&[2]);
    let peer = PrivateKey::generate(group, &mut rng);
    let mut peer_y = [0u8; MAX_PLEN];
    let n = peer.public_value(&mut peer_y).expect("public value");
    let peer_bn = bn(&peer_y[..n]);
    let ed = PKey::generate_ed25519().expect("ed25519 key");
    let transcript = [0x5au8; 32];
    let ed_public =
        PKey::public_key_from_raw_bytes(&ed.raw_public_key().expect("raw"), Id::ED25519)
            .expect("public key");

    let mut ours = || {
        black_box(common::handshake(group, &id, &mut rng));
    };
    let theirs = || {
        for _ in 0..2 {
            ossl.pow(two, exp);
            ossl.pow(peer_bn, exp);
        }
        let mut signer = Signer::new_without_digest(&ed).expect("signer");
        let sig = signer.sign_oneshot_to_vec(&transcript).expect("sign");
        let mut verifier = Verifier::new_without_digest(&ed_public).expect("verifier");
        assert!(verifier.verify_oneshot(&sig, &transcript).expect("verify"));
    };
    let mut dh_rng = ChaCha20Rng::seed_from_u64(6);
    let mut y = [0u8; MAX_PLEN];
    let mut z = SharedValue::default();
    let mut dh_alone = || {
        for _ in 0..2 {
            let key = PrivateKey::generate(group, &mut dh_rng);
            key.public_value(&mut y).expect("public value");
            key.shared_value(&peer_y[..n], &mut z).expect("shared");
        }
    };

    let mut g = c.benchmark_group(format!("handshake/{group}"));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("both-ends", "dhchat"), |b| {
        b.iter(&mut ours)
    });
    g.bench_function(BenchmarkId::new("both-ends", "openssl"), |b| b.iter(theirs));
    g.finish();

    common::paired_ratio(&format!("handshake/{group}"), None, &mut ours, theirs);
    common::paired_ratio_of(
        &format!("handshake/{group}"),
        ["handshake", "its-4-DH-alone"],
        &mut ours,
        &mut dh_alone,
    );
}

fn handshakes(c: &mut Criterion) {
    for group in Group::ALL {
        bench_group(c, group);
    }
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
