//! The legacy server's side of the key exchange fed arbitrary client bytes:
//! the client's key message (`pack(y, 1024)`), then reads opened with the key
//! it yields. The server has the vector's parameters and exponent, so a
//! vector's client key message (the seeds) yields the vector's key and
//! mutations reach the reads.
//!
//! Input: a pick byte (which vector), a 2-byte length and that many bytes of
//! key message (any length: the server must refuse all but 1024), then reads
//! each after a 2-byte length.
#![no_main]

use dhchat_core::legacy::{LegacyError, ServerExchange, CLIENT_KEY_LEN};
use dhchat_core::Reaction;
use dhchat_fuzz::{legacy_open_all, legacy_vectors, next_read, ReplayRng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let vectors = legacy_vectors();
    let v = &vectors[usize::from(pick) % vectors.len()];
    let Some((client_key, reads)) = next_read(stream) else {
        return;
    };
    let mut rng = ReplayRng::new(&[&v.server_x[..]]);
    let server =
        ServerExchange::with_parameters(&v.p, &v.g, &mut rng).expect("the vector's parameters");
    match server.finish(&client_key) {
        Ok(key) => {
            assert_eq!(client_key.len(), CLIENT_KEY_LEN);
            legacy_open_all(&key, reads);
        }
        Err(e) => {
            assert!(
                client_key != v.client_key,
                "the vector's key message is refused: {e:?}"
            );
            assert!(
                matches!(
                    e,
                    LegacyError::BadKeyLength
                        | LegacyError::PublicValueOutOfRange
                        | LegacyError::DegenerateSharedValue
                ),
                "{e:?} from a client's key message"
            );
            assert_eq!(e.reaction(), Reaction::CloseSilently);
        }
    }
});
