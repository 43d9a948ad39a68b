//! Both handshakes driven with the independent implementation's vectors
//! (copied into `tests/vectors/`): every byte of SERVER_HELLO, CLIENT_KEY,
//! SERVER_AUTH, CLIENT_HELLO, WELCOME and every record is reproduced, and
//! every rejected record is rejected by the check the vector names.
//!
//! Fixed exponents and IVs go in through [`ReplayRng`], which hands out the
//! vector's bytes in the order the handshake documents its random draws.

use dhchat_core::error::{Error, RecordError};
use dhchat_core::group::Group;
use dhchat_core::handshake::{
    AdmitAll, ClientConfig, ClientHandshake, HelloOutcome, ServerHandshake, MAGIC_LEN,
};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::message::Message;
use dhchat_core::record::{body_len, MAX_RECORD};
use dhchat_core::session::Session;
use serde_json::Value;

/// An RNG that returns the given bytes, in order, and fails the test when it
/// runs dry.
struct ReplayRng {
    bytes: Vec<u8>,
    at: usize,
}

impl ReplayRng {
    fn new(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
            at: 0,
        }
    }
    fn hex(s: &str) -> Self {
        Self::new(&unhex(s))
    }
}

impl rand_core::TryRng for ReplayRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let end = self.at + dst.len();
        assert!(end <= self.bytes.len(), "ReplayRng ran out of bytes");
        dst.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(())
    }
}
impl rand_core::TryCryptoRng for ReplayRng {}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex in vector")
}

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file")).expect("json")
}

fn field(v: &Value, name: &str) -> Vec<u8> {
    unhex(
        v[name]
            .as_str()
            .unwrap_or_else(|| panic!("vector field {name}")),
    )
}

fn seed(v: &Value, name: &str) -> [u8; 32] {
    field(v, name).try_into().expect("32-byte seed")
}

/// The client and server sessions after the vector handshake, and the
/// vector itself.
struct Run {
    v: Value,
    client: Session,
    server: Session,
}

/// Drives both state machines with the vector's randomness and checks every
/// handshake byte on the way.
fn handshake(file: &str, group: Group) -> Run {
    let v = load(file);
    let records = v["records"].as_array().expect("records");
    let iv = |i: usize| ReplayRng::hex(records[i]["iv"].as_str().expect("iv"));
    let record = |i: usize| field(&records[i], "record");
    let server_id = IdentityKey::from_seed(&seed(&v, "server_identity_seed")).expect("seed");
    let client_id = IdentityKey::from_seed(&seed(&v, "client_identity_seed")).expect("seed");
    assert_eq!(
        server_id.public_key().to_bytes().to_vec(),
        field(&v, "server_identity_pk")
    );
    assert_eq!(
        client_id.public_key().to_bytes().to_vec(),
        field(&v, "client_identity_pk")
    );

    // SERVER_HELLO.
    let mut out = vec![0u8; MAX_RECORD];
    let (server, n) =
        ServerHandshake::start(group, &mut ReplayRng::new(&field(&v, "server_x")), &mut out)
            .expect("server start");
    let server_hello = field(&v, "server_hello");
    assert_eq!(out[..n], server_hello[..], "SERVER_HELLO bytes");

    // CLIENT_KEY.
    let magic: [u8; MAGIC_LEN] = server_hello[..MAGIC_LEN].try_into().expect("magic");
    let client = ClientHandshake::new(2048)
        .read_magic(&magic)
        .expect("client magic");
    let (client, n) = client
        .read_dh(
            &server_hello[MAGIC_LEN..],
            &mut ReplayRng::new(&field(&v, "client_x")),
            &mut out,
        )
        .expect("client dh");
    let client_key = field(&v, "client_key");
    assert_eq!(out[..n], client_key[..], "CLIENT_KEY bytes");
    assert_eq!(client.group(), group);

    // SERVER_AUTH.
    let magic: [u8; MAGIC_LEN] = client_key[..MAGIC_LEN].try_into().expect("magic");
    let server = server.read_magic(&magic).expect("server magic");
    let (server, n) = server
        .read_client_key(&client_key[MAGIC_LEN..], &server_id, &mut iv(0), &mut out)
        .expect("server key");
    assert_eq!(out[..n], record(0)[..], "SERVER_AUTH record");
    assert_eq!(
        field(&records[0], "plaintext")[1..],
        field(&v, "server_auth_body")[..],
        "SERVER_AUTH body"
    );

    // CLIENT_HELLO with identity, nick alice.
    let mut pin = server_id.public_key();
    let config = ClientConfig {
        nick: "alice",
        identity: Some(&client_id),
        min_group_bits: 2048,
    };
    let mut rec = record(0);
    let (client, n) = client
        .read_server_auth(&mut rec, &mut pin, &config, &mut iv(1), &mut out)
        .expect("auth");
    assert_eq!(out[..n], record(1)[..], "CLIENT_HELLO record");
    assert_eq!(
        field(&records[1], "plaintext")[1..],
        field(&v, "client_hello_body")[..]
    );

    let mut rec = record(1);
    let server = match server
        .read_client_hello(&mut rec, &mut AdmitAll)
        .expect("hello")
    {
        HelloOutcome::Accepted(admitted, hello) => {
            assert_eq!(hello.nick, "alice");
            assert_eq!(hello.client_key, Some(client_id.public_key()));
            admitted
        }
        HelloOutcome::Refused(_, why) => panic!("vector client refused: {why}"),
    };

    // WELCOME.
    let welcome_pt = field(&records[2], "plaintext");
    let Ok(Message::Welcome {
        nick,
        server_name,
        motd,
    }) = Message::decode(&welcome_pt)
    else {
        panic!("welcome plaintext");
    };
    let (server, n) = server
        .welcome(nick, server_name, motd, &mut iv(2), &mut out)
        .expect("seal welcome");
    assert_eq!(out[..n], record(2)[..], "WELCOME record");
    let mut rec = record(2);
    let (client, w) = client.read_welcome(&mut rec).expect("welcome");
    assert_eq!(w.nick, "alice");

    // Transcript and fingerprint agree with the vector, at both ends.
    for s in [&client, &server] {
        assert_eq!(
            s.info().transcript_hash.to_vec(),
            field(&v, "transcript_hash")
        );
        assert_eq!(
            s.fingerprint().to_text().as_str(),
            v["fingerprint_text"].as_str().expect("fp")
        );
        assert_eq!(
            s.fingerprint().as_bytes().to_vec(),
            field(&v, "fingerprint")
        );
    }
    assert_eq!(client.info().peer_key, Some(server_id.public_key()));
    Run { v, client, server }
}

fn records_reproduced(file: &str, group: Group) {
    let Run {
        v,
        mut client,
        mut server,
    } = handshake(file, group);
    let records = v["records"].as_array().expect("records");
    let mut out = vec![0u8; MAX_RECORD];
    for r in &records[3..] {
        let what = r["what"].as_str().expect("what");
        let pt = field(r, "plaintext");
        let msg = Message::decode(&pt).unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut rng = ReplayRng::hex(r["iv"].as_str().expect("iv"));
        let (sender, receiver) = match r["direction"].as_str() {
            Some("c2s") => (&mut client, &mut server),
            _ => (&mut server, &mut client),
        };
        let n = sender
            .seal(&msg, &mut rng, &mut out)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(out[..n], field(r, "record")[..], "{what}: record bytes");
        let mut rec = field(r, "record");
        let got = receiver
            .open(&mut rec)
            .and_then(|r| r.message)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got, msg, "{what}: opened message");
    }
}

#[test]
fn ffdhe2048_handshake_and_records_reproduce_every_byte() {
    records_reproduced("handshake-ffdhe2048.json", Group::Ffdhe2048);
}

#[test]
fn ffdhe3072_handshake_and_records_reproduce_every_byte() {
    records_reproduced("handshake-ffdhe3072.json", Group::Ffdhe3072);
}

#[test]
fn anonymous_client_hello_body_matches_the_vector() {
    let v = load("handshake-ffdhe2048.json");
    let mut out = [0u8; 64];
    let n = Message::ClientHello {
        identity: None,
        nick: "bob",
    }
    .encode(&mut out)
    .expect("encode");
    assert_eq!(out[1..n], field(&v, "client_hello_anonymous_body")[..]);
}

/// What each rejected record's `why` says must fail.
fn expected_failure(why: &str) -> RecordError {
    if why.starts_with("bit flipped") || why.starts_with("replayed") {
        RecordError::BadTag
    } else if why.contains("not 48 mod 16") {
        RecordError::LengthNotAligned(0x41)
    } else if why.contains("below 64") {
        RecordError::LengthTooShort(0x30)
    } else if why.contains("above 4160") {
        RecordError::LengthTooLong(0x1050)
    } else if why.contains("padding") {
        RecordError::BadPadding
    } else if why.contains("too long") {
        RecordError::PlaintextTooLong
    } else if why.contains("empty plaintext") {
        RecordError::EmptyPlaintext
    } else {
        panic!("no expectation for rejected record: {why}")
    }
}

fn rejected_records_fail_their_check(file: &str, group: Group) {
    let v = load(file);
    let rejected = v["rejected_c2s_records"].as_array().expect("rejected");
    assert!(rejected.len() >= 10);
    for r in rejected {
        let why = r["why"].as_str().expect("why");
        let Run { v, mut server, .. } = handshake(file, group);
        // Bring the server's receive sequence to the record's seq with the
        // vector's valid c2s records (SAY is c2s seq 1).
        let seq = r["seq"].as_u64().expect("seq");
        let valid: Vec<&Value> = v["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter(|x| x["direction"] == "c2s" && x["seq"].as_u64() < Some(seq))
            .filter(|x| x["seq"].as_u64() >= Some(1))
            .collect();
        for x in valid {
            server
                .open(&mut field(x, "record"))
                .expect("valid record before the rejected one");
        }
        let mut rec = field(r, "record");
        let header: [u8; 2] = rec[..2].try_into().expect("header");
        let result = match body_len(header) {
            Err(e) => Err(Error::Record(e)),
            Ok(_) => server.open(&mut rec).map(|_| ()),
        };
        let expected = expected_failure(why);
        assert_eq!(result, Err(Error::Record(expected)), "{why}");
        // The session is over: a failed record leaves the opener refusing.
        if body_len(header).is_ok() {
            let again = server.open(&mut field(r, "record")).map(|_| ());
            assert_eq!(
                again,
                Err(Error::Record(RecordError::SessionFailed)),
                "{why}"
            );
        }
        // The error text names the failed check.
        let text = Error::Record(expected).to_string();
        assert!(!text.is_empty());
        if expected == RecordError::BadTag {
            assert!(
                text.contains("tampered") && text.contains("in the middle"),
                "{text}"
            );
        }
    }
}

#[test]
fn ffdhe2048_rejected_records_fail_the_named_check() {
    rejected_records_fail_their_check("handshake-ffdhe2048.json", Group::Ffdhe2048);
}

#[test]
fn ffdhe3072_rejected_records_fail_the_named_check() {
    rejected_records_fail_their_check("handshake-ffdhe3072.json", Group::Ffdhe3072);
}

#[test]
fn rejected_public_values_abort_the_server_handshake_and_accepted_ones_pass() {
    let edge = load("dh-edge-cases.json");
    assert_eq!(edge["group"], "ffdhe2048");
    let check = |y: &str| {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed_for_test();
        let mut out = vec![0u8; MAX_RECORD];
        let (server, _) =
            ServerHandshake::start(Group::Ffdhe2048, &mut rng, &mut out).expect("start");
        let server = server.read_magic(b"DHCHAT/1").expect("magic");
        let y = unhex(&format!("{}{y}", if y.len() % 2 == 1 { "0" } else { "" }));
        let mut packed = vec![0u8; 1024];
        let at = 1024usize.saturating_sub(y.len());
        if y.len() <= 1024 {
            packed[at..].copy_from_slice(&y);
        }
        let id = IdentityKey::from_seed(&[5u8; 32]).expect("seed");
        server
            .read_client_key(&packed, &id, &mut rng, &mut out)
            .map(|_| ())
    };
    for r in edge["rejected_public_values"].as_array().expect("rejected") {
        let why = r["why"].as_str().expect("why");
        let result = check(r["y"].as_str().expect("y"));
        assert!(
            matches!(result, Err(Error::Dh(_))),
            "public value {why} must be refused, got {result:?}"
        );
        assert_eq!(
            result.map_err(|e| e.reaction()),
            Err(dhchat_core::Reaction::CloseSilently)
        );
    }
    for r in edge["accepted_public_values"].as_array().expect("accepted") {
        let why = r["why"].as_str().expect("why");
        assert_eq!(
            check(r["y"].as_str().expect("y")),
            Ok(()),
            "public value {why}"
        );
    }
}

#[test]
fn server_hello_prefixes_that_are_not_magic_are_refused_with_what_was_sent() {
    let edge = load("dh-edge-cases.json");
    for r in edge["rejected_server_hello_prefixes"]
        .as_array()
        .expect("prefixes")
    {
        let why = r["why"].as_str().expect("why");
        let first8: [u8; 8] = field(r, "first8").try_into().expect("8 bytes");
        let err = ClientHandshake::new(2048)
            .read_magic(&first8)
            .expect_err(why);
        assert_eq!(err, Error::BadMagic { received: first8 }, "{why}");
        let text = err.to_string();
        if first8 == [0u8; 8] {
            assert!(text.contains("legacy"), "{why}: {text}");
        } else {
            assert!(text.contains("DHCHAT/2"), "{why}: {text}");
        }
    }
}

#[test]
fn pinned_key_mismatch_names_both_keys_and_sends_nothing() {
    let v = load("handshake-ffdhe2048.json");
    let server_hello = field(&v, "server_hello");
    let client = ClientHandshake::new(2048)
        .read_magic(b"DHCHAT/1")
        .expect("magic");
    let mut out = vec![0u8; MAX_RECORD];
    let (client, _) = client
        .read_dh(
            &server_hello[8..],
            &mut ReplayRng::new(&field(&v, "client_x")),
            &mut out,
        )
        .expect("dh");
    let other = IdentityKey::from_seed(&[1u8; 32])
        .expect("seed")
        .public_key();
    let mut pin = other;
    let mut rec = field(&v["records"][0], "record");
    out.fill(0);
    let err = client
        .read_server_auth(
            &mut rec,
            &mut pin,
            &ClientConfig::new("alice"),
            &mut ReplayRng::new(&[]),
            &mut out,
        )
        .expect_err("mismatch");
    let received = PublicKey::from_bytes(&seed(&v, "server_identity_pk")).expect("pk");
    let text = err.to_string();
    assert!(
        text.contains(&other.to_string()) && text.contains(&received.to_string()),
        "{text}"
    );
    assert!(text.contains("in the middle"), "{text}");
    assert!(out.iter().all(|b| *b == 0), "nothing was written to send");
}

trait TestSeed {
    fn from_seed_for_test() -> Self;
}
impl TestSeed for rand_chacha::ChaCha20Rng {
    fn from_seed_for_test() -> Self {
        <Self as rand_core::SeedableRng>::from_seed([9u8; 32])
    }
}
