//! The constant-time check (ctgrind): runs dhchat's secret-dependent code
//! with its secrets marked undefined under valgrind memcheck, and gives a
//! yes/no verdict per check. Controls (deliberately variable-time code) must
//! be flagged, or the check itself is broken.
//!
//! Run it through `scripts/ct-check`; `ct-check/README.md` explains the
//! technique, what is declassified and why, and the limits.

mod memcheck;
mod vector;

use std::hint::black_box;
use std::process::ExitCode;

use block_padding::{Padding, Pkcs7};
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U2048, U256};
use dhchat_core::dh::{PrivateKey, SharedValue, MAX_PLEN};
use dhchat_core::group::Group;
use dhchat_core::message::Message;
use dhchat_core::record::MAX_RECORD;
use ed25519_dalek::{Signer, SigningKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use memcheck::{public, secret, secret_inside};

/// An RNG whose output is secret: what it writes is marked undefined, so
/// every value drawn from it (DH exponents) is tracked.
struct SecretRng(ChaCha20Rng);

impl rand_core::TryRng for SecretRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        secret(dst);
        Ok(())
    }
}
impl rand_core::TryCryptoRng for SecretRng {}

fn public_rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// DH key generation and the public value `g^x mod p` with a secret `x`,
/// every group.
fn dh_keygen() -> Result<(), String> {
    let mut rng = SecretRng(public_rng(1));
    for group in Group::ALL {
        let key = PrivateKey::generate(group, &mut rng);
        let mut y = [0u8; MAX_PLEN];
        let n = key.public_value(&mut y).map_err(|e| e.to_string())?;
        // Declassified: y is sent on the wire.
        public(&mut y[..n]);
        black_box(&y);
    }
    Ok(())
}

/// The shared value `y^x mod p` with a secret `x` and a public peer value,
/// every group.
fn dh_shared() -> Result<(), String> {
    let mut rng = SecretRng(public_rng(2));
    for group in Group::ALL {
        let peer = PrivateKey::generate(group, &mut public_rng(3));
        let mut peer_y = [0u8; MAX_PLEN];
        let n = peer.public_value(&mut peer_y).map_err(|e| e.to_string())?;
        let key = PrivateKey::generate(group, &mut rng);
        let mut z = SharedValue::default();
        key.shared_value(&peer_y[..n], &mut z)
            .map_err(|e| e.to_string())?;
        black_box(&z);
        if z.as_bytes().len() != group.plen() {
            return Err(format!("{group}: shared value of the wrong length"));
        }
    }
    Ok(())
}

/// Opening records (tag check, decryption, unpadding) with the session keys
/// secret: messages of every padding length both ways, the vectors' valid
/// records, and every rejected record of the vectors.
fn record_open() -> Result<(), String> {
    let mut rng = public_rng(4);
    let mut buf = vec![0u8; MAX_RECORD];
    for v in vector::all() {
        let (mut client, mut server) = v.sessions()?;
        v.keys_secret(&mut client)?;
        v.keys_secret(&mut server)?;
        let text = "x".repeat(40);
        for k in 0..=40 {
            let say = Message::Say {
                room: "#lobby",
                text: &text[..k.max(1)],
            };
            let n = client
                .seal(&say, &mut rng, &mut buf)
                .map_err(|e| e.to_string())?;
            // Declassified: a sealed record is sent on the wire.
            public(&mut buf[..n]);
            server
                .open(&mut buf[..n])
                .map_err(|e| format!("c2s {k}: {e}"))?;
            let notice = Message::Notice { text: &text[..k] };
            let n = server
                .seal(&notice, &mut rng, &mut buf)
                .map_err(|e| e.to_string())?;
            public(&mut buf[..n]);
            client
                .open(&mut buf[..n])
                .map_err(|e| format!("s2c {k}: {e}"))?;
        }
        // The vector's own client records, then every rejected one, each
        // opened by a fresh server at the seq it was made for.
        let (_, mut server) = v.sessions()?;
        v.keys_secret(&mut server)?;
        for record in v.c2s_after_hello() {
            let mut record = record.clone();
            server
                .open(&mut record)
                .map_err(|e| format!("vector record: {e}"))?;
        }
        for (why, seq, record) in &v.rejected_c2s {
            let (_, mut server) = v.sessions()?;
            v.keys_secret(&mut server)?;
            for earlier in v.c2s_after_hello().take(seq - 1) {
                server
                    .open(&mut earlier.clone())
                    .map_err(|e| format!("{why}: {e}"))?;
            }
            if server.open(&mut record.clone()).is_ok() {
                return Err(format!("a rejected record opened: {why}"));
            }
        }
    }
    Ok(())
}

/// Ed25519 signing with a secret key, as core's `IdentityKey::sign` calls it
/// (`SigningKey::sign` of the same ed25519-dalek, `fast` tables on).
fn ed25519_sign() -> Result<(), String> {
    let mut seed = [0u8; 32];
    public_rng(5).fill_bytes(&mut seed);
    let mut key = SigningKey::from_bytes(&seed);
    secret_inside(&mut key, &[&seed])?;
    for len in [0usize, 20, 52, 64, 200] {
        let msg = vec![0x5a; len];
        let mut signature = key.sign(&msg).to_bytes();
        // Declassified: the signature is sent on the wire.
        public(&mut signature);
        black_box(&signature);
    }
    Ok(())
}

/// Control: crypto-bigint's variable-time exponentiation with a secret
/// exponent. It must be flagged.
fn control_pow_vartime() -> Result<(), String> {
    let mut x = [0u8; 32];
    public_rng(6).fill_bytes(&mut x);
    secret(&mut x);
    let exponent = U256::from_be_slice(&x);
    let p = U2048::from_be_slice(Group::Ffdhe2048.prime());
    let params = FixedMontyParams::new_vartime(Odd::new(p).expect("odd prime"));
    let base = FixedMontyForm::new(&U2048::from_u8(2), &params);
    black_box(base.pow_vartime(&exponent));
    Ok(())
}

/// Control: a table lookup at a secret index. It must be flagged.
fn control_secret_index() -> Result<(), String> {
    static TABLE: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = (i as u8).wrapping_mul(37);
            i += 1;
        }
        t
    };
    let mut k = [0u8; 1];
    public_rng(7).fill_bytes(&mut k);
    secret(&mut k);
    black_box(TABLE[usize::from(black_box(k[0]))]);
    Ok(())
}

/// Control: the PKCS#7 unpadding of the block-padding crate, which branches
/// on the padding bytes. It must be flagged (core does not use it).
fn control_unpad() -> Result<(), String> {
    let mut block = [0x61u8; 16];
    block[11..].fill(5);
    secret(&mut block);
    black_box(
        Pkcs7::raw_unpad(black_box(&block[..]))
            .map(<[u8]>::len)
            .ok(),
    );
    Ok(())
}

struct Check {
    name: &'static str,
    /// A control: deliberately variable time, must be flagged.
    control: bool,
    run: fn() -> Result<(), String>,
}

const CHECKS: &[Check] = &[
    Check {
        name: "dh-keygen",
        control: false,
        run: dh_keygen,
    },
    Check {
        name: "dh-shared",
        control: false,
        run: dh_shared,
    },
    Check {
        name: "record-open",
        control: false,
        run: record_open,
    },
    Check {
        name: "ed25519-sign",
        control: false,
        run: ed25519_sign,
    },
    Check {
        name: "control-pow-vartime",
        control: true,
        run: control_pow_vartime,
    },
    Check {
        name: "control-secret-index",
        control: true,
        run: control_secret_index,
    },
    Check {
        name: "control-pkcs7-unpad",
        control: true,
        run: control_unpad,
    },
];

fn main() -> ExitCode {
    if !memcheck::running_on_valgrind() {
        eprintln!(
            "ct-check must run under valgrind memcheck (scripts/ct-check); \
             outside it nothing is checked"
        );
        return ExitCode::from(2);
    }
    let only: Vec<String> = std::env::args().skip(1).collect();
    let (mut passed, mut failed) = (0, 0);
    for check in CHECKS {
        if !only.is_empty() && !only.iter().any(|o| o == check.name) {
            continue;
        }
        eprintln!("== ct-check {}: start", check.name);
        let before = memcheck::errors();
        let outcome = (check.run)();
        let reports = memcheck::errors() - before;
        let verdict = match (&outcome, check.control, reports) {
            (Err(e), _, _) => Err(format!("did not run: {e}")),
            (Ok(()), false, 0) => Ok("constant time: no secret-dependent branch or index".into()),
            (Ok(()), false, n) => Err(format!("NOT constant time: {n} report(s) above")),
            (Ok(()), true, 0) => Err("control NOT flagged: the check is blind".into()),
            (Ok(()), true, n) => Ok(format!("control flagged as it must be ({n} report(s))")),
        };
        match verdict {
            Ok(text) => {
                passed += 1;
                println!("ct-check {}: ok, {text}", check.name);
            }
            Err(text) => {
                failed += 1;
                println!("ct-check {}: FAILED, {text}", check.name);
            }
        }
    }
    println!("ct-check: {passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
