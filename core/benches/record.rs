//! Records through the public `Session` API: seal (encode, AES-256-CBC, HMAC-SHA256) and
//! open (length, tag in constant time, decrypt, decode) of a `SAY` whose plaintext
//! (`type || body`) is 64 B, 1 KiB and the largest (a 4,000-byte text: 4,007 B), beside
//! OpenSSL's composition of the same work: a fresh IV, AES-256-CBC with PKCS#7 over the
//! same plaintext length, HMAC-SHA256 over `seq || len || iv || ct`, and for open the
//! tag check (`memcmp::eq`) before decryption. OpenSSL's side creates its contexts (AES
//! and HMAC keys) for every record; dhchat keeps its keyed HMAC states per direction
//! and expands its AES key for each record.
//!
//! At 4 KiB it also prints the floors the crates set (CBC encryption alone, HMAC alone,
//! the two interleaved call by call), paired with the seal and the open.
//!
//! `cargo bench -p dhchat-core --bench record`; the `RATIO` lines are the paired ratios.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::cell::RefCell;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dhchat_core::group::Group;
use dhchat_core::identity::IdentityKey;
use dhchat_core::message::Message;
use dhchat_core::record::MAX_RECORD;
use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, Crypter, Mode};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Bytes of a SAY plaintext around a text: type, room length, room "#bench".
const SAY_OVERHEAD: usize = 1 + 1 + 6;

/// OpenSSL's encrypt-then-MAC record: the same layout as dhchat's.
struct OpensslRecords {
    enc: [u8; 32],
    mac: PKey<openssl::pkey::Private>,
    seq: u64,
}

impl OpensslRecords {
    fn new() -> Self {
        OpensslRecords {
            enc: [7; 32],
            mac: PKey::hmac(&[9; 32]).expect("hmac key"),
            seq: 0,
        }
    }

    /// Seals `pt` into `out` (len || iv || ct || tag) and returns its length.
    fn seal(&mut self, pt: &[u8], iv: &[u8; 16], out: &mut [u8]) -> usize {
        let mut c = Crypter::new(Cipher::aes_256_cbc(), Mode::Encrypt, &self.enc, Some(iv))
            .expect("crypter");
        let ct_start = 2 + 16;
        let mut n = c.update(pt, &mut out[ct_start..]).expect("update");
        n += c.finalize(&mut out[ct_start + n..]).expect("final");
        let len = u16::try_from(16 + n + 32).expect("length");
        out[..2].copy_from_slice(&len.to_be_bytes());
        out[2..18].copy_from_slice(iv);
        let tag = self.tag(self.seq, &out[..ct_start + n]);
        out[ct_start + n..ct_start + n + 32].copy_from_slice(&tag);
        self.seq += 1;
        ct_start + n + 32
    }

    fn tag(&self, seq: u64, len_iv_ct: &[u8]) -> Vec<u8> {
        let mut s = Signer::new(MessageDigest::sha256(), &self.mac).expect("signer");
        s.update(&seq.to_be_bytes()).expect("seq");
        s.update(len_iv_ct).expect("record");
        s.sign_to_vec().expect("tag")
    }

    /// Checks the tag of `record` and decrypts it into `out`; returns the plaintext length.
    fn open(&mut self, record: &[u8], out: &mut [u8]) -> usize {
        let (body, tag) = record.split_at(record.len() - 32);
        let expected = self.tag(self.seq, body);
        assert!(memcmp::eq(&expected, tag), "tag");
        self.seq += 1;
        let mut c = Crypter::new(
            Cipher::aes_256_cbc(),
            Mode::Decrypt,
            &self.enc,
            Some(&body[2..18]),
        )
        .expect("crypter");
        let n = c.update(&body[18..], out).expect("update");
        n + c.finalize(&mut out[n..]).expect("final")
    }
}

fn bench_size(c: &mut Criterion, label: &str, text_len: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let id = IdentityKey::generate(&mut rng);
    let (mut client, _) = common::handshake(Group::Ffdhe2048, &id, &mut rng);
    let text = "x".repeat(text_len);
    let msg = Message::Say {
        room: "#bench",
        text: &text,
    };
    let pt_len = SAY_OVERHEAD + text_len;
    let pt = vec![0x10u8; pt_len];
    let mut out = vec![0u8; MAX_RECORD];
    let mut ossl_out = vec![0u8; MAX_RECORD + 32];
    let mut ossl = OpensslRecords::new();
    let mut ossl_rng = ChaCha20Rng::seed_from_u64(43);
    let mut iv = [0u8; 16];

    let mut g = c.benchmark_group(format!("record/{label}"));
    g.throughput(Throughput::Bytes(pt_len as u64));
    g.bench_function(BenchmarkId::new("seal", "dhchat"), |b| {
        b.iter(|| {
            client
                .seal(black_box(&msg), &mut rng, &mut out)
                .expect("seal")
        });
    });
    g.bench_function(BenchmarkId::new("seal", "openssl"), |b| {
        b.iter(|| {
            rng.fill_bytes(&mut iv);
            ossl.seal(black_box(&pt), &iv, &mut ossl_out)
        });
    });
    g.finish();

    // Seal.
    common::paired_ratio(
        &format!("record/{label}/seal"),
        Some(pt_len as u64),
        || {
            client
                .seal(black_box(&msg), &mut rng, &mut out)
                .expect("seal");
        },
        || {
            ossl_rng.fill_bytes(&mut iv);
            ossl.seal(black_box(&pt), &iv, &mut ossl_out);
        },
    );

    // Open: each batch's records are sealed beforehand, untimed, in sequence order, by
    // a fresh session pair (the sealing above moved the client's sequence number on).
    let (mut client, mut server) = common::handshake(Group::Ffdhe2048, &id, &mut rng);
    let ours: RefCell<Vec<Vec<u8>>> = RefCell::default();
    let theirs: RefCell<Vec<Vec<u8>>> = RefCell::default();
    let mut plain = vec![0u8; MAX_RECORD];
    let mut ossl_tx = OpensslRecords::new();
    let mut ossl_rx = OpensslRecords::new();
    common::paired_ratio_prepared(
        &format!("record/{label}/open"),
        Some(pt_len as u64),
        |n| {
            let mut ours = ours.borrow_mut();
            ours.clear();
            for _ in 0..n {
                let len = client.seal(&msg, &mut rng, &mut out).expect("seal");
                ours.push(out[..len].to_vec());
            }
            ours.reverse();
        },
        || {
            let mut record = ours.borrow_mut().pop().expect("prepared");
            black_box(server.open(&mut record).expect("open"));
        },
        |n| {
            let mut theirs = theirs.borrow_mut();
            theirs.clear();
            for _ in 0..n {
                ossl_rng.fill_bytes(&mut iv);
                let len = ossl_tx.seal(&pt, &iv, &mut ossl_out);
                theirs.push(ossl_out[..len].to_vec());
            }
            theirs.reverse();
        },
        || {
            let record = theirs.borrow_mut().pop().expect("prepared");
            black_box(ossl_rx.open(&record, &mut plain));
        },
    );
}

/// The floors the crates set for a 4 KiB record, beside the seal and the open in the
/// same run (docs/PERFORMANCE.md, "Records"): AES-256-CBC encryption alone (the `aes`
/// and `cbc` crates; each block waits for the previous one), HMAC-SHA256 alone over the
/// same bytes (`hmac`, `sha2`), and a seal that interleaves the two crates' calls chunk
/// by chunk (the nearest to a stitched seal that safe calls into the crates allow).
fn floors() {
    use aes::Aes256;
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
    use hmac::{Hmac, KeyInit, Mac};

    type HmacSha256 = Hmac<sha2::Sha256>;
    let mut rng = ChaCha20Rng::seed_from_u64(44);
    let id = IdentityKey::generate(&mut rng);
    let (mut client, _) = common::handshake(Group::Ffdhe2048, &id, &mut rng);
    let text = "x".repeat(dhchat_core::names::MAX_TEXT);
    let msg = Message::Say {
        room: "#bench",
        text: &text,
    };
    let pt_len = SAY_OVERHEAD + text.len();
    let bytes = pt_len as u64;
    let (key, mac_key, iv) = ([7u8; 32], [9u8; 32], [3u8; 16]);
    let mut out = vec![0u8; MAX_RECORD];
    let mut ct = vec![0x10u8; (pt_len / 16 + 1) * 16];
    let cbc_alone = |ct: &mut [u8]| {
        cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
            .encrypt_padded::<Pkcs7>(ct, pt_len)
            .expect("room for the padding");
    };
    let hmac_alone = |ct: &[u8]| {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&mac_key).expect("key");
        mac.update(&iv);
        mac.update(ct);
        black_box(mac.finalize());
    };
    common::paired_ratio_of_bytes(
        "record/max-4007B/seal-vs-cbc-alone",
        ["seal", "cbc encryption alone"],
        bytes,
        || {
            client
                .seal(black_box(&msg), &mut rng, &mut out)
                .expect("seal");
        },
        || cbc_alone(black_box(&mut ct)),
    );
    let mut ct2 = ct.clone();
    common::paired_ratio_of_bytes(
        "record/max-4007B/interleaved-vs-one-after-the-other",
        ["cbc+hmac interleaved per 256 B", "cbc then hmac"],
        bytes,
        || {
            let pad = ct2.len() - pt_len;
            ct2[pt_len..].fill(pad as u8);
            let mut enc = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into());
            let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&mac_key).expect("key");
            mac.update(&iv);
            for chunk in ct2.chunks_mut(256) {
                let (blocks, _) = cbc::cipher::Block::<Aes256>::slice_as_chunks_mut(chunk);
                enc.encrypt_blocks(blocks);
                mac.update(chunk);
            }
            black_box(mac.finalize());
        },
        || {
            cbc_alone(black_box(&mut ct));
            hmac_alone(&ct);
        },
    );
    // A fresh pair: the seal above moved the client's sequence number on.
    let (mut client, mut server) = common::handshake(Group::Ffdhe2048, &id, &mut rng);
    let records: RefCell<Vec<Vec<u8>>> = RefCell::default();
    common::measure(
        "record/max-4007B/open-vs-hmac-alone",
        ["open", "hmac alone"],
        Some(bytes),
        |n| {
            let mut records = records.borrow_mut();
            records.clear();
            for _ in 0..n {
                let len = client.seal(&msg, &mut rng, &mut out).expect("seal");
                records.push(out[..len].to_vec());
            }
            records.reverse();
        },
        || {
            let mut record = records.borrow_mut().pop().expect("prepared");
            black_box(server.open(&mut record).expect("open"));
        },
        |_| {},
        || hmac_alone(black_box(&ct)),
    );
}

fn records(c: &mut Criterion) {
    bench_size(c, "64B", 64 - SAY_OVERHEAD);
    bench_size(c, "1KiB", 1024 - SAY_OVERHEAD);
    bench_size(c, "max-4007B", dhchat_core::names::MAX_TEXT);
    floors();
}

criterion_group!(benches, records);
criterion_main!(benches);
