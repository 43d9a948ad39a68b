//! The server handshake fed arbitrary client bytes: MAGIC, the public value,
//! CLIENT_HELLO, then (after WELCOME) records of the session. The server draws the vector's
//! exponent and signs with its identity key, so the vector's client bytes
//! (the seeds) complete a handshake and mutations reach every step.
#![no_main]

use dhchat_core::dh::LEN_PK;
use dhchat_core::group::Group;
use dhchat_core::handshake::{AdmitAll, HelloOutcome, ServerHandshake, MAGIC_LEN};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::record::MAX_RECORD;
use dhchat_fuzz::{next_record, open_all, take, vectors, ReplayRng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let v = &vectors()[usize::from(pick & 1)];
    let identity = IdentityKey::from_seed(&v.server_seed).expect("server seed");
    let mut rng = ReplayRng::new(&[&v.server_x[..], &v.ivs[0], &v.ivs[2]]);
    let mut out = vec![0u8; 2 * MAX_RECORD];
    let (server, n) = ServerHandshake::start(v.group, &mut rng, &mut out).expect("start");
    assert_eq!(&out[..n], &v.server_hello[..]);
    assert!(matches!(v.group, Group::Ffdhe2048 | Group::Ffdhe3072));

    let (magic, stream) = take(stream, MAGIC_LEN);
    let Ok(magic) = <&[u8; MAGIC_LEN]>::try_from(magic) else {
        return;
    };
    let Ok(server) = server.read_magic(magic) else {
        return;
    };
    let (key, stream) = take(stream, LEN_PK);
    let Ok((server, _)) = server.read_client_key(key, &identity, &mut rng, &mut out) else {
        return;
    };
    let (mut hello, stream) = next_record(stream);
    // Half the inputs meet a server with an authorized-keys list that admits
    // no one, so the refusal path runs too.
    let outcome = if pick & 2 == 0 {
        server.read_client_hello(&mut hello, &mut AdmitAll)
    } else {
        server.read_client_hello(&mut hello, &mut |_: Option<&PublicKey>| false)
    };
    match outcome {
        Ok(HelloOutcome::Accepted(admitted, hello)) => {
            assert!(!hello.nick.is_empty());
            let nick = hello.nick.to_string();
            let (mut session, _) = admitted
                .welcome(&nick, "fuzz", "", &mut rng, &mut out)
                .expect("WELCOME with the client's valid nick fits");
            open_all(&mut session, stream);
        }
        Ok(HelloOutcome::Refused(farewell, why)) => {
            farewell
                .write(&why, &mut rng, &mut out)
                .expect("ERROR and CLOSE fit in two records");
        }
        Err(e) => {
            let _ = e.reaction();
        }
    }
});
