//! The client handshake fed arbitrary server bytes: MAGIC, the DH message,
//! SERVER_AUTH, WELCOME, then records of the session. The client draws the
//! vector's exponent, so the vector's server bytes (the seeds) complete a
//! handshake and mutations reach every step.
#![no_main]

use dhchat_core::dh::DH_MSG_LEN;
use dhchat_core::error::TrustError;
use dhchat_core::handshake::{ClientConfig, ClientHandshake, MAGIC_LEN};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::record::MAX_RECORD;
use dhchat_fuzz::{next_record, open_all, take, vectors, ReplayRng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let v = &vectors()[usize::from(pick & 1)];
    let identity = IdentityKey::from_seed(&v.client_seed).expect("client seed");
    let mut config = ClientConfig::new("fuzzer");
    if pick & 2 != 0 {
        config.identity = Some(&identity);
    }
    // Trust any key: a mismatch is the host's business, and trusting lets
    // mutated keys reach WELCOME.
    let mut trust = |_: &PublicKey| -> Result<(), TrustError> { Ok(()) };
    let mut rng = ReplayRng::new(&[&v.client_x[..], &v.ivs[1]]);
    let mut out = vec![0u8; MAX_RECORD];

    let (magic, stream) = take(stream, MAGIC_LEN);
    let Ok(magic) = <&[u8; MAGIC_LEN]>::try_from(magic) else {
        return;
    };
    let Ok(client) = ClientHandshake::new(config.min_group_bits).read_magic(magic) else {
        return;
    };
    let (dh, stream) = take(stream, DH_MSG_LEN);
    let Ok((client, n)) = client.read_dh(dh, &mut rng, &mut out) else {
        return;
    };
    assert_eq!(n, v.client_key.len());
    let (mut auth, stream) = next_record(stream);
    let Ok((client, _)) =
        client.read_server_auth(&mut auth, &mut trust, &config, &mut rng, &mut out)
    else {
        return;
    };
    let (mut welcome, stream) = next_record(stream);
    let Ok((mut session, _)) = client.read_welcome(&mut welcome) else {
        return;
    };
    open_all(&mut session, stream);
});
