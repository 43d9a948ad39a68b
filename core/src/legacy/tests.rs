//! The legacy vectors (`tests/vectors/legacy.json`, checked against the original
//! program's own code) reproduced byte for byte, and the refusals.

extern crate std;

use core::convert::Infallible;
use std::vec::Vec;
use std::{format, vec};

use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};

use super::exchange::{respond_to_server, LegacyKey, ServerExchange};
use super::text::{open, seal, sealed_len, split};
use super::*;
use crate::group::Group;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/legacy.json"
));

/// An RNG that returns given bytes in order.
struct ReplayRng {
    data: Vec<u8>,
    pos: usize,
}

impl TryRng for ReplayRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.pos + dst.len();
        assert!(end <= self.data.len(), "replay RNG exhausted");
        dst.copy_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        Ok(())
    }
}

impl TryCryptoRng for ReplayRng {}

fn replay(x: &[u8]) -> ReplayRng {
    ReplayRng {
        data: x.to_vec(),
        pos: 0,
    }
}

fn unhex(s: &str) -> Vec<u8> {
    if s.len() % 2 == 1 {
        hex::decode(format!("0{s}")).unwrap()
    } else {
        hex::decode(s).unwrap()
    }
}

fn field(v: &serde_json::Value, name: &str) -> Vec<u8> {
    unhex(v[name].as_str().unwrap())
}

fn cases() -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    v["cases"].as_array().unwrap().clone()
}

/// Encrypts with a key known to the test: the derivation is checked separately.
fn key_of(z: &[u8]) -> LegacyKey {
    LegacyKey::derive(z).unwrap()
}

/// Checks one vector case: the server's key message from its exponent, the client's
/// answer from its exponent, both keys, and every message sealed and opened.
fn check_case(case: &serde_json::Value) {
    let what = case["what"].as_str().unwrap();
    let p = field(case, "p");
    let g = case["g"].as_u64().unwrap();
    let g_bytes = g.to_be_bytes();
    let server_x = field(case, "server_x");
    let client_x = field(case, "client_x");
    assert_eq!(server_x.len(), exchange::EXPONENT_LEN, "{what}");
    let server_msg = field(case, "server_dh_message");
    let client_key = field(case, "client_key");
    let z = field(case, "shared_z_minimal");
    let key = field(case, "key");
    assert_eq!(server_msg.len(), SERVER_KEY_LEN);
    assert_eq!(client_key.len(), CLIENT_KEY_LEN);

    // The server side, from its exponent.
    let server = if g == 2 && p == Group::Ffdhe2048.prime() {
        ServerExchange::new(Group::Ffdhe2048, &mut replay(&server_x))
    } else {
        ServerExchange::with_parameters(&p, &g_bytes, &mut replay(&server_x)).unwrap()
    };
    let mut msg = vec![0u8; SERVER_KEY_LEN + 7];
    assert_eq!(server.write_key_message(&mut msg), Ok(SERVER_KEY_LEN));
    assert_eq!(
        &msg[..SERVER_KEY_LEN],
        &server_msg[..],
        "{what}: server key message"
    );

    // The client side, from its exponent, answering the vector's server message.
    let mut reply = vec![0u8; CLIENT_KEY_LEN];
    let client_derived =
        respond_to_server(&server_msg, &mut replay(&client_x), &mut reply).unwrap();
    assert_eq!(reply, client_key, "{what}: client key message");
    let server_derived = server.finish(&client_key).unwrap();
    assert_eq!(client_derived.bytes(), &key[..], "{what}: client's key");
    assert_eq!(server_derived.bytes(), &key[..], "{what}: server's key");
    assert_eq!(key_of(&z).bytes(), &key[..], "{what}: SHA-256 of minimal z");
    assert_ne!(z[0], 0, "{what}: z is minimal");

    // Messages: sealed byte for byte with the vector's IV, and opened back.
    let messages = case["messages"].as_array().unwrap();
    assert!(!messages.is_empty());
    for m in messages {
        let text = m["text"].as_str().unwrap();
        let iv: [u8; IV_LEN] = field(m, "iv").try_into().unwrap();
        let wire = field(m, "wire");
        let mut out = vec![0u8; MAX_READ];
        let n = seal(&client_derived, &iv, text, &mut out).unwrap();
        assert_eq!(n, sealed_len(text.len()));
        assert_eq!(&out[..n], &wire[..], "{what}: {text:?} sealed");
        let mut read = wire.clone();
        assert_eq!(
            open(&server_derived, &mut read),
            Ok(text),
            "{what}: {text:?}"
        );
    }
}

#[test]
fn vectors_with_an_rfc7919_group_and_g2_are_reproduced_byte_for_byte() {
    let cases = cases();
    let case = cases
        .iter()
        .find(|c| c["g"] == 2)
        .expect("an RFC 7919 case");
    check_case(case);
}

#[test]
fn vectors_with_the_original_servers_wrapped_composite_and_g258_are_reproduced() {
    let cases = cases();
    let case = cases.iter().find(|c| c["g"] == 258).expect("a g=258 case");
    assert_eq!(case["p_bits"], 2065);
    check_case(case);
}

fn random_pair() -> (LegacyKey, LegacyKey) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let server = ServerExchange::new(Group::Ffdhe2048, &mut rng);
    let mut msg = vec![0u8; SERVER_KEY_LEN];
    server.write_key_message(&mut msg).unwrap();
    let mut reply = vec![0u8; CLIENT_KEY_LEN];
    let client = respond_to_server(&msg, &mut rng, &mut reply).unwrap();
    (client, server.finish(&reply).unwrap())
}

#[test]
fn random_exchanges_agree_on_the_key_in_each_rfc7919_group() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for group in Group::ALL {
        let server = ServerExchange::new(group, &mut rng);
        let mut msg = vec![0u8; SERVER_KEY_LEN];
        server.write_key_message(&mut msg).unwrap();
        let mut reply = vec![0u8; CLIENT_KEY_LEN];
        let client = respond_to_server(&msg, &mut rng, &mut reply).unwrap();
        let server = server.finish(&reply).unwrap();
        assert_eq!(client.bytes(), server.bytes(), "{group}");
    }
}

#[test]
fn an_8192_bit_odd_modulus_is_accepted_and_wider_or_narrower_or_even_ones_are_not() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    // 8192 bits, odd (not prime: the client cannot and does not check that).
    let mut p = vec![0xffu8; 1024];
    p[1023] = 0xc5;
    let server = ServerExchange::with_parameters(&p, &[5], &mut rng).unwrap();
    let mut msg = vec![0u8; SERVER_KEY_LEN];
    server.write_key_message(&mut msg).unwrap();
    let mut reply = vec![0u8; CLIENT_KEY_LEN];
    let client = respond_to_server(&msg, &mut rng, &mut reply).unwrap();
    assert_eq!(client.bytes(), server.finish(&reply).unwrap().bytes());

    let refused = |p: &[u8], g: &[u8]| {
        let mut msg = vec![0u8; SERVER_KEY_LEN];
        msg[1024 - p.len()..1024].copy_from_slice(p);
        msg[1040 - g.len()..1040].copy_from_slice(g);
        msg[SERVER_KEY_LEN - 1] = 7; // y = 7
        respond_to_server(&msg, &mut ChaCha20Rng::seed_from_u64(4), &mut [0u8; 1024]).unwrap_err()
    };
    let prime = Group::Ffdhe2048.prime();
    // 2047 bits.
    let mut short = prime.to_vec();
    short[0] = 0x7f;
    assert_eq!(refused(&short, &[2]), LegacyError::BadModulus);
    // Even.
    let mut even = prime.to_vec();
    *even.last_mut().unwrap() &= 0xfe;
    assert_eq!(refused(&even, &[2]), LegacyError::BadModulus);
    assert_eq!(refused(&[], &[2]), LegacyError::BadModulus);
    // g = 0, 1 (g >= p cannot be packed into 16 bytes with p of 2048 bits or more).
    assert_eq!(refused(prime, &[]), LegacyError::BadGenerator);
    assert_eq!(refused(prime, &[1]), LegacyError::BadGenerator);
    // Wrong length.
    assert_eq!(
        respond_to_server(&[0u8; 2063], &mut rng, &mut [0u8; 1024]).unwrap_err(),
        LegacyError::BadKeyLength
    );
}

#[test]
fn public_values_outside_2_to_p_minus_2_are_refused_by_both_sides() {
    let prime = Group::Ffdhe2048.prime();
    let mut p_minus_1 = prime.to_vec();
    *p_minus_1.last_mut().unwrap() -= 1;
    let values: [Vec<u8>; 5] = [
        vec![],
        vec![1],
        p_minus_1.clone(),
        prime.to_vec(),
        vec![0xff; 300],
    ];
    for y in &values {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let server = ServerExchange::new(Group::Ffdhe2048, &mut rng);
        let mut client_key = vec![0u8; CLIENT_KEY_LEN];
        client_key[CLIENT_KEY_LEN - y.len()..].copy_from_slice(y);
        assert_eq!(
            server.finish(&client_key).unwrap_err(),
            LegacyError::PublicValueOutOfRange
        );
        let mut msg = vec![0u8; SERVER_KEY_LEN];
        ServerExchange::new(Group::Ffdhe2048, &mut rng)
            .write_key_message(&mut msg)
            .unwrap();
        msg[1040..].fill(0);
        msg[SERVER_KEY_LEN - y.len()..].copy_from_slice(y);
        assert_eq!(
            respond_to_server(&msg, &mut rng, &mut [0u8; 1024]).unwrap_err(),
            LegacyError::PublicValueOutOfRange
        );
    }
    // p - 2 is the largest accepted value.
    let mut p_minus_2 = p_minus_1;
    *p_minus_2.last_mut().unwrap() -= 1;
    let server = ServerExchange::new(Group::Ffdhe2048, &mut ChaCha20Rng::seed_from_u64(6));
    let mut client_key = vec![0u8; CLIENT_KEY_LEN];
    client_key[CLIENT_KEY_LEN - 256..].copy_from_slice(&p_minus_2);
    assert!(server.finish(&client_key).is_ok());
    let server = ServerExchange::new(Group::Ffdhe2048, &mut ChaCha20Rng::seed_from_u64(6));
    assert_eq!(
        server.finish(&client_key[1..]).unwrap_err(),
        LegacyError::BadKeyLength
    );
}

#[test]
fn reads_that_are_long_misaligned_short_or_not_utf8_are_refused() {
    let (a, b) = random_pair();
    let iv = [9u8; IV_LEN];
    let mut out = vec![0u8; MAX_READ + 16];
    let n = seal(&a, &iv, &"x".repeat(MAX_TEXT), &mut out).unwrap();
    assert_eq!(n, MAX_READ);
    assert_eq!(
        open(&b, &mut out[..n].to_vec()),
        Ok("x".repeat(MAX_TEXT).as_str())
    );
    assert_eq!(
        open(&b, &mut vec![0u8; MAX_READ + 16]),
        Err(LegacyError::ReadTooLong)
    );
    assert_eq!(open(&b, &mut [0u8; 40]), Err(LegacyError::ReadMisaligned));
    assert_eq!(open(&b, &mut [0u8; 16]), Err(LegacyError::ReadTooShort));
    assert_eq!(open(&b, &mut []), Err(LegacyError::ReadTooShort));
    // Two messages coalesced into one read: the second IV block decrypts to noise (here
    // not UTF-8), so the read is refused rather than shown as "hi" plus garbage.
    let mut first = vec![0u8; 32];
    let mut second = vec![0u8; 32];
    seal(&a, &[1; 16], "hi", &mut first).unwrap();
    seal(&a, &[0x80; 16], "there", &mut second).unwrap();
    let mut coalesced = [first, second].concat();
    assert_eq!(open(&b, &mut coalesced), Err(LegacyError::NotUtf8));
    // Text bytes that are not UTF-8, encrypted properly, are refused.
    let mut raw = vec![0u8; 32];
    raw[..16].copy_from_slice(&[3; 16]);
    raw[16..].copy_from_slice(&[0xff; 16]);
    let mut cipher = {
        use cbc::cipher::KeyIvInit;
        cbc::Encryptor::<aes::Aes256>::new(a.bytes().into(), (&[3u8; 16]).into())
    };
    {
        use cbc::cipher::{Array, BlockModeEncrypt};
        let mut block = Array::<u8, _>::default();
        block.copy_from_slice(&raw[16..]);
        cipher.encrypt_block(&mut block);
        raw[16..].copy_from_slice(&block);
    }
    assert_eq!(open(&b, &mut raw), Err(LegacyError::NotUtf8));
}

#[test]
fn sealing_pads_with_1_to_16_spaces_and_refuses_text_over_1007_bytes() {
    let (a, b) = random_pair();
    for len in [0, 1, 15, 16, 17, 31, 32, 1007] {
        let text = "y".repeat(len);
        let mut out = vec![0u8; MAX_READ];
        let n = seal(&a, &[7; 16], &text, &mut out).unwrap();
        assert_eq!(n, IV_LEN + (len / 16 + 1) * 16, "{len}");
        assert!(n <= MAX_READ);
        assert_eq!(open(&b, &mut out[..n]), Ok(text.as_str()));
    }
    // Trailing white space of the text itself is stripped too, as the original does.
    let mut out = vec![0u8; MAX_READ];
    let n = seal(&a, &[7; 16], "tabs\t\n ", &mut out).unwrap();
    assert_eq!(open(&b, &mut out[..n]), Ok("tabs"));
    // Non-ASCII text is byte-counted and decrypts.
    let n = seal(&a, &[7; 16], "héllo wörld", &mut out).unwrap();
    assert_eq!(open(&b, &mut out[..n]), Ok("héllo wörld"));
    assert_eq!(
        seal(&a, &[7; 16], &"z".repeat(1008), &mut out),
        Err(LegacyError::TextTooLong)
    );
    assert_eq!(
        seal(&a, &[7; 16], "abc", &mut out[..31]),
        Err(LegacyError::BufferTooSmall)
    );
}

#[test]
fn long_text_splits_at_character_boundaries_preferring_spaces_and_loses_nothing() {
    let text = "é".repeat(600); // 1200 bytes
    let pieces: Vec<&str> = split(&text, MAX_TEXT).collect();
    assert_eq!(pieces.len(), 2);
    assert!(pieces.iter().all(|p| p.len() <= MAX_TEXT));
    assert_eq!(pieces.concat(), text);
    let words = "word ".repeat(300);
    let pieces: Vec<&str> = split(&words, 100).collect();
    assert!(pieces.iter().all(|p| p.len() <= 100 && p.ends_with(' ')));
    assert_eq!(pieces.concat(), words);
    assert_eq!(split("", 10).count(), 0);
    assert_eq!(split("short", 10).collect::<Vec<_>>(), ["short"]);
}

#[test]
fn peer_errors_close_silently_and_local_ones_do_not_and_nothing_secret_is_shown() {
    use crate::error::Reaction;
    assert_eq!(LegacyError::NotUtf8.reaction(), Reaction::CloseSilently);
    assert_eq!(LegacyError::BadModulus.reaction(), Reaction::CloseSilently);
    assert_eq!(LegacyError::TextNotAscii.reaction(), Reaction::Local);
    assert_eq!(LegacyError::TextTooLong.reaction(), Reaction::Local);
    let (a, _) = random_pair();
    assert_eq!(format!("{a:?}"), "LegacyKey(<redacted>)");
    let server = ServerExchange::new(Group::Ffdhe2048, &mut ChaCha20Rng::seed_from_u64(1));
    assert!(format!("{server:?}").contains("<redacted>"));
}
