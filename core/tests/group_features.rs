//! The DH groups a build of the core links are chosen by its cargo features
//! (`ffdhe2048`, `ffdhe3072`, `ffdhe4096`; all three by default). These tests
//! hold in every build: with the default features every group is known and a
//! session runs on it, and in a build without a group (CI runs this file as
//! `--no-default-features --features ffdhe2048,compact-cbc`, the firmware's
//! choice) a server offering it is refused like an unsupported group
//! (PROTOCOL.md section 6: close, send nothing), never a panic.

use dhchat_core::dh::{self, DhError, LEN_GEN, LEN_PRIME};
use dhchat_core::error::{Error, Reaction};
use dhchat_core::group::Group;
use dhchat_core::handshake::{
    AdmitAll, ClientConfig, ClientHandshake, HelloOutcome, ServerHandshake, MAGIC, MAGIC_LEN,
};
use dhchat_core::identity::IdentityKey;
use dhchat_core::message::{ChatMessage, Message};
use dhchat_core::record::MAX_RECORD;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The three RFC 7919 groups: name, whether this build's feature is on, and the
/// prime as printed by `openssl asn1parse` (independent of the core's constants,
/// which a build without the group does not have).
const GROUPS: [(&str, bool, &str); 3] = [
    (
        "ffdhe2048",
        cfg!(feature = "ffdhe2048"),
        "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff",
    ),
    (
        "ffdhe3072",
        cfg!(feature = "ffdhe3072"),
        "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff",
    ),
    (
        "ffdhe4096",
        cfg!(feature = "ffdhe4096"),
        "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b669e1ef16e6f52c3164df4fb7930e9e4e58857b6ac7d5f42d69f6d187763cf1d5503400487f55ba57e31cc7a7135c886efb4318aed6a1e012d9e6832a907600a918130c46dc778f971ad0038092999a333cb8b7a1a1db93d7140003c2a4ecea9f98d0acc0a8291cdcec97dcf8ec9b55a7f88a46b4db5a851f44182e1c68a007e5e655f6affffffffffffffff",
    ),
];

/// A server's DH message for the prime `prime_hex` with g = 2 and the public
/// value 4 (in range for every group), built without the core's group table.
fn dh_message(prime_hex: &str) -> Vec<u8> {
    let prime = hex::decode(prime_hex).expect("hex");
    let mut msg = vec![0u8; dh::DH_MSG_LEN];
    let (p_field, rest) = msg.split_at_mut(LEN_PRIME);
    let (g_field, y_field) = rest.split_at_mut(LEN_GEN);
    dh::pack(&prime, p_field).expect("p fits");
    dh::pack(&[2], g_field).expect("g fits");
    dh::pack(&[4], y_field).expect("y fits");
    msg
}

#[test]
fn a_group_is_known_exactly_when_its_feature_is_on() {
    let enabled: Vec<&str> = GROUPS
        .iter()
        .filter(|(_, on, _)| *on)
        .map(|(name, _, _)| *name)
        .collect();
    let all: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
    assert_eq!(
        all, enabled,
        "Group::ALL lists the enabled groups, smallest first"
    );
    assert!(!all.is_empty(), "a build has at least one group");
    for (name, on, prime_hex) in GROUPS {
        let group = Group::from_name(name);
        assert_eq!(group.is_some(), on, "{name}");
        assert_eq!(name.parse::<Group>().is_ok(), on, "{name}");
        if let Some(group) = group {
            assert_eq!(hex::encode(group.prime()), prime_hex, "{name}");
        }
    }
    // The largest compiled-in prime sets the buffers' size.
    let largest = Group::ALL.iter().map(|g| g.plen()).max().unwrap_or(0);
    assert_eq!(dh::MAX_PLEN, largest);
}

#[test]
fn a_dh_message_is_identified_only_for_a_group_of_the_build() {
    for (name, on, prime_hex) in GROUPS {
        let msg = dh_message(prime_hex);
        match dh::parse_dh_message(&msg) {
            Ok((group, _)) => {
                assert!(on, "{name} identified in a build without it");
                assert_eq!(group.name(), name);
            }
            Err(e) => {
                assert!(!on, "{name} refused in a build with it: {e}");
                assert_eq!(e, DhError::UnknownGroup, "{name}");
                let text = e.to_string();
                for group in Group::ALL {
                    assert!(text.contains(group.name()), "{text}");
                }
                assert!(!text.contains(name), "{text} names the missing {name}");
            }
        }
    }
}

#[test]
fn a_client_refuses_a_server_offering_a_group_left_out_and_sends_nothing() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    for (name, on, prime_hex) in GROUPS {
        if on {
            continue;
        }
        let client = ClientHandshake::new(2048)
            .read_magic(MAGIC)
            .expect("the magic is right");
        let mut out = vec![0u8; MAX_RECORD];
        let err = client
            .read_dh(&dh_message(prime_hex), &mut rng, &mut out)
            .map(|_| ())
            .expect_err("a group left out is refused");
        assert_eq!(err, Error::Dh(DhError::UnknownGroup), "{name}");
        assert_eq!(err.reaction(), Reaction::CloseSilently, "{name}");
    }
}

/// A whole handshake on `group` through the sans-io steps, then one record each
/// way (with `compact-cbc`, decrypted one block at a time).
fn session_on(group: Group) {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let (mut a, mut b) = (vec![0u8; MAX_RECORD], vec![0u8; MAX_RECORD]);
    let identity = IdentityKey::generate(&mut rng);
    let (server, n) = ServerHandshake::start(group, &mut rng, &mut a).expect("server start");
    assert_eq!(&a[..MAGIC_LEN], MAGIC);
    let first8: [u8; MAGIC_LEN] = a[..MAGIC_LEN].try_into().expect("8 bytes");
    let client = ClientHandshake::new(2048)
        .read_magic(&first8)
        .expect("magic");
    let (client, m) = client
        .read_dh(&a[MAGIC_LEN..n], &mut rng, &mut b)
        .expect("client key");
    let first8: [u8; MAGIC_LEN] = b[..MAGIC_LEN].try_into().expect("8 bytes");
    let server = server.read_magic(&first8).expect("magic");
    let (server, n) = server
        .read_client_key(&b[MAGIC_LEN..m], &identity, &mut rng, &mut a)
        .expect("server auth");
    let mut pin = identity.public_key();
    let (client, m) = client
        .read_server_auth(
            &mut a[..n],
            &mut pin,
            &ClientConfig::new("device"),
            &mut rng,
            &mut b,
        )
        .expect("client hello");
    let admitted = match server
        .read_client_hello(&mut b[..m], &mut AdmitAll)
        .expect("hello")
    {
        HelloOutcome::Accepted(admitted, _) => admitted,
        HelloOutcome::Refused(..) => panic!("refused"),
    };
    let (mut server, n) = admitted
        .welcome("device", "test", "", &mut rng, &mut a)
        .expect("welcome");
    let (mut client, _) = client.read_welcome(&mut a[..n]).expect("welcome read");
    assert_eq!(client.info().group, group);

    let text = "x".repeat(1000);
    let say = Message::Say {
        room: "#lobby",
        text: &text,
    };
    let m = client.seal(&say, &mut rng, &mut b).expect("seal");
    assert_eq!(server.open(&mut b[..m]).expect("open").message, Ok(say));
    let msg = Message::Message(ChatMessage {
        time_ms: 1,
        history: false,
        legacy: false,
        account: false,
        from: "peer",
        room: "#lobby",
        text: "hello device",
    });
    let n = server.seal(&msg, &mut rng, &mut a).expect("seal");
    assert_eq!(client.open(&mut a[..n]).expect("open").message, Ok(msg));
}

#[test]
fn a_session_runs_on_every_group_of_the_build() {
    for group in Group::ALL {
        session_on(group);
    }
}
