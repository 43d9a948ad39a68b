//! Property tests: random bytes fed to the record opener, the length check
//! and the handshake readers never panic, and never yield a message.

use dhchat_core::group::Group;
use dhchat_core::handshake::{ClientHandshake, ServerHandshake};
use dhchat_core::identity::IdentityKey;
use dhchat_core::record::{body_len, MAX_RECORD};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

// Case counts are set per test by what a case costs: the parsers and the
// length check take microseconds; a record-opener case first runs half a
// handshake (two modular exponentiations). The cargo-fuzz targets in fuzz/
// go further (scripts/fuzz).
proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn length_check_never_panics(header in any::<[u8; 2]>()) {
        if let Ok(len) = body_len(header) {
            prop_assert!((64..=4160).contains(&len));
            prop_assert_eq!((len - 48) % 16, 0);
        }
    }

    #[test]
    fn random_dh_messages_never_panic_the_client(bytes in proptest::collection::vec(any::<u8>(), 0..2200)) {
        let client = ClientHandshake::new(2048).read_magic(b"DHCHAT/1").expect("magic");
        let mut out = vec![0u8; MAX_RECORD];
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        // Random bytes essentially never form a known group: always an error.
        prop_assert!(client.read_dh(&bytes, &mut rng, &mut out).is_err());
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_records_never_open_and_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4300),
        keep_len in any::<bool>(),
    ) {
        let mut rng = ChaCha20Rng::from_seed([8; 32]);
        let mut out = vec![0u8; MAX_RECORD];
        let (server, _) = ServerHandshake::start(Group::Ffdhe2048, &mut rng, &mut out).expect("start");
        let server = server.read_magic(b"DHCHAT/1").expect("magic");
        let mut y = vec![0u8; 1024];
        y[1023] = 2;
        let id = IdentityKey::from_seed(&[1; 32]).expect("seed");
        let (server, _) = server.read_client_key(&y, &id, &mut rng, &mut out).expect("key");
        let mut record = bytes.clone();
        if keep_len && record.len() >= 2 {
            // A consistent length field, so the tag check is reached.
            let len = (record.len() - 2) as u16;
            record[..2].copy_from_slice(&len.to_be_bytes());
        }
        prop_assert!(server.read_client_hello(&mut record, &mut dhchat_core::handshake::AdmitAll).is_err());
    }
}
