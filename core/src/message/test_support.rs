//! Helpers of the message tests: hex, encoding into a vector, wire checks,
//! property-test strategies.

extern crate std;

use super::*;
use proptest::prelude::*;
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Test-only hex decoder (the vectors are hex).
pub(super) fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

pub(super) fn encode_vec(m: &Message<'_>) -> Result<Vec<u8>, MessageError> {
    let mut buf = vec![0u8; m.encoded_len()];
    let n = m.encode(&mut buf)?;
    assert_eq!(n, buf.len(), "encode wrote encoded_len() bytes");
    Ok(buf)
}

/// `m` encodes to exactly `wire`, and `wire` decodes to `m`.
pub(super) fn assert_wire(m: Message<'_>, wire: &[u8]) {
    assert_eq!(encode_vec(&m).as_deref(), Ok(wire), "encoding of {m:?}");
    assert_eq!(Message::decode(wire), Ok(m), "decoding of {wire:02x?}");
    assert_eq!(m.msg_type(), wire[0]);
}

pub(super) fn dec(wire: &[u8]) -> Result<Message<'_>, MessageError> {
    Message::decode(wire)
}

/// Checks a ROSTER split: every chunk encodes within the limit, decodes, has the
/// right flag, and together they hold `nicks` in order.
pub(super) fn check_chunks(room: &str, nicks: &[&str]) -> usize {
    let mut seen: Vec<String> = Vec::new();
    let chunks: Vec<_> = roster_chunks(room, nicks).collect();
    assert!(!chunks.is_empty());
    for (i, chunk) in chunks.iter().enumerate() {
        let wire = encode_vec(chunk).expect("chunk encodes");
        assert!(wire.len() - 1 <= MAX_BODY);
        let Ok(Message::Roster {
            room: r,
            more,
            nicks: got,
        }) = dec(&wire)
        else {
            panic!("chunk {i} does not decode");
        };
        assert_eq!(r, room);
        assert_eq!(more, i + 1 < chunks.len(), "more flag of chunk {i}");
        seen.extend(got.iter().map(String::from));
    }
    assert_eq!(seen, nicks);
    chunks.len()
}

impl Message<'_> {
    pub(crate) fn test_bytes(&self) -> Vec<u8> {
        encode_vec(self).expect("valid test message")
    }
}

pub(super) fn nick() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,32}"
}

pub(super) fn room() -> impl Strategy<Value = String> {
    "#[A-Za-z0-9_-]{1,31}"
}

pub(super) fn target() -> impl Strategy<Value = String> {
    prop_oneof![room(), nick().prop_map(|n| format!("@{n}"))]
}

/// Valid SAY/MESSAGE text: short and varied, or long up to the 4000-byte limit.
pub(super) fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "([^\\p{Cc}]|\t){1,200}",
        1 => "[ -~\t]{3900,4000}",
        1 => "[^\\p{Cc}]{900,1000}",
    ]
}

/// Any UTF-8 (controls included) of at most 240 bytes.
pub(super) fn any_text() -> impl Strategy<Value = String> {
    "(?s).{0,60}"
}

/// Names near the rules, valid or not, for checking encode against decode.
pub(super) fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![nick(), room(), target(), "[A-Za-z0-9_#@ !\u{1b}é-]{0,40}",]
}

pub(super) fn text_like() -> impl Strategy<Value = String> {
    prop_oneof![text(), "(?s).{0,20}", "x{3995,4005}"]
}

pub(super) fn roundtrip(m: Message<'_>) -> Result<(), TestCaseError> {
    let mut buf = [0u8; 1 + MAX_BODY];
    let n = m
        .encode(&mut buf)
        .map_err(|e| TestCaseError::fail(format!("{m:?}: {e}")))?;
    prop_assert_eq!(n, m.encoded_len());
    prop_assert_eq!(Message::decode(&buf[..n]), Ok(m));
    Ok(())
}

/// Encoding `m` agrees with decoding the bytes `wire` laid out by hand: both
/// succeed (with equal values and bytes) or both fail with the same error.
pub(super) fn agrees(m: Message<'_>, wire: &[u8]) -> Result<(), TestCaseError> {
    match (encode_vec(&m), Message::decode(wire)) {
        (Ok(bytes), Ok(d)) => {
            prop_assert_eq!(bytes.as_slice(), wire);
            prop_assert_eq!(d, m);
        }
        (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
        (a, b) => prop_assert!(false, "encode {:?} but decode {:?}", a, b),
    }
    Ok(())
}

pub(super) fn str8(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

// Vectors of the independent implementation (vectors/handshake-ffdhe2048.json).
pub(super) const SERVER_PK: &str =
    "93ea370086ab986c8bf9a3e02ae92fbe6163ef388431e7a81be04ba92c02859d";
pub(super) const SERVER_AUTH_PT: &str = "0193ea370086ab986c8bf9a3e02ae92fbe6163ef388431e7a81be04ba92c02859d07e9d00cc96d0ebead154f7f371ff81d99df0fff7c0b25293824a38b3eacf8fcff1bc00ba5f7e60f69b23482b09273ac1199984c0a061b9d8ce395eb8f56070c";
pub(super) const CLIENT_PK: &str =
    "3648f2195c8872bf6cf19d4ba78e5018300f1c7ba52a0506563c028040964450";
pub(super) const CLIENT_HELLO_PT: &str = "02013648f2195c8872bf6cf19d4ba78e5018300f1c7ba52a0506563c028040964450a8079bdce9d78531cc3d8b8f6f1b9aa207266bf97944ae50a1740e4f2d092b169e12a60473fcd0fc34bb7cb907fd3cea4c782ae7064822c3d6596ebc17bcb50505616c696365";
pub(super) const WELCOME_PT: &str = "0305616c69636512646863686174207465737420736572766572001a77656c636f6d6520746f20746865207465737420736572766572";
pub(super) const SAY_PT: &str = "1006236c6f62627968656c6c6f2c20776f726c64";
pub(super) const MESSAGE_PT: &str =
    "110000018bcfe568000005616c69636506236c6f62627968656c6c6f2c20776f726c64";
pub(super) const PING_PT: &str = "199a6d242a322ce1cc";
pub(super) const CLOSE_PT: &str = "1f";
pub(super) const HELLO_ANON_PT: &str = "020003626f62";
