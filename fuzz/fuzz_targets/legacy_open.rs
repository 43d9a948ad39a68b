//! The legacy reader: reads (`iv || ciphertext`, no MAC, no length) opened
//! with the key of a legacy vector. The input is a pick byte (bit 0: which
//! vector's key) and then reads, each after a 2-byte length; the seeds are
//! the vectors' messages, so mutations start from real ciphertexts.
#![no_main]

use std::sync::OnceLock;

use dhchat_core::legacy::LegacyKey;
use dhchat_fuzz::{legacy_open_all, legacy_vectors};
use libfuzzer_sys::fuzz_target;

/// The vectors' keys, derived from their shared values (no exponentiation
/// per input).
fn keys() -> &'static [LegacyKey] {
    static KEYS: OnceLock<Vec<LegacyKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        legacy_vectors()
            .iter()
            .map(|v| LegacyKey::derive(&v.shared_z).expect("the vector's z is a key"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let keys = keys();
    let key = &keys[usize::from(pick) % keys.len()];
    legacy_open_all(key, stream);
});
