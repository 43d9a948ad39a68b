//! The legacy client's side of the key exchange fed arbitrary server bytes:
//! the server's key message (`pack(p, 1024) || pack(g, 16) || pack(y, 1024)`,
//! 2064 bytes), then reads opened with the key it yields. The client draws
//! the vector's exponent, so a vector's key message (the seeds) yields the
//! vector's key and mutations reach the reads.
//!
//! Input: a pick byte (which vector's exponent), the key message, then reads
//! each after a 2-byte length.
#![no_main]

use dhchat_core::legacy::{respond_to_server, LegacyError, CLIENT_KEY_LEN, SERVER_KEY_LEN};
use dhchat_core::Reaction;
use dhchat_fuzz::{legacy_open_all, legacy_vectors, take, ReplayRng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let vectors = legacy_vectors();
    let v = &vectors[usize::from(pick) % vectors.len()];
    let (server_key, reads) = take(stream, SERVER_KEY_LEN);
    let mut rng = ReplayRng::new(&[&v.client_x[..]]);
    let mut reply = vec![0xa5u8; CLIENT_KEY_LEN + 1];
    match respond_to_server(server_key, &mut rng, &mut reply) {
        Ok(key) => {
            assert_eq!(server_key.len(), SERVER_KEY_LEN);
            assert_eq!(
                reply[CLIENT_KEY_LEN], 0xa5,
                "the reply overran its 1024 bytes"
            );
            if server_key == &v.server_key[..] {
                assert_eq!(&reply[..CLIENT_KEY_LEN], &v.client_key[..]);
            }
            legacy_open_all(&key, reads);
        }
        Err(e) => {
            assert!(
                server_key != &v.server_key[..],
                "the vector's key message is refused: {e:?}"
            );
            assert!(
                matches!(
                    e,
                    LegacyError::BadKeyLength
                        | LegacyError::BadModulus
                        | LegacyError::BadGenerator
                        | LegacyError::PublicValueOutOfRange
                        | LegacyError::DegenerateSharedValue
                ),
                "{e:?} from a server's key message"
            );
            assert_eq!(e.reaction(), Reaction::CloseSilently);
        }
    }
});
