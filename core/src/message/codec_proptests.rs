//! Property tests of the codec: round trips, decoder robustness, and encode and
//! decode agreeing on every value.

extern crate std;

use super::test_support::*;
use super::*;
use proptest::prelude::*;
use std::string::String;
use std::vec;
use std::vec::Vec;

proptest! {
    #[test]
    fn roundtrip_server_auth(k in any::<[u8; 32]>(), s in proptest::collection::vec(any::<u8>(), 64)) {
        let s: [u8; 64] = s.try_into().expect("64");
        roundtrip(Message::ServerAuth { server_key: &k, signature: &s })?;
    }

    #[test]
    fn roundtrip_client_hello(
        id in proptest::option::of((any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 64))),
        n in nick(),
    ) {
        let id: Option<([u8; 32], [u8; 64])> = id.map(|(k, s)| (k, s.try_into().expect("64")));
        roundtrip(Message::ClientHello { identity: id.as_ref().map(|(k, s)| (k, s)), nick: &n })?;
    }

    #[test]
    fn roundtrip_welcome(n in nick(), name in any_text(), motd in prop_oneof![any_text(), "(?s).{0,1000}"]) {
        roundtrip(Message::Welcome { nick: &n, server_name: &name, motd: &motd })?;
    }

    #[test]
    fn roundtrip_say(room in target(), t in text()) {
        roundtrip(Message::Say { room: &room, text: &t })?;
    }

    #[test]
    fn roundtrip_message(
        time_ms in any::<u64>(), history in any::<bool>(), legacy in any::<bool>(),
        account in any::<bool>(),
        from in nick(), room in target(), t in text(),
    ) {
        roundtrip(Message::Message(ChatMessage {
            time_ms, history, legacy, account, from: &from, room: &room, text: &t,
        }))?;
    }

    #[test]
    fn roundtrip_room_and_nick_messages(r in room(), n in nick()) {
        roundtrip(Message::Join { room: &r })?;
        roundtrip(Message::Part { room: &r })?;
        roundtrip(Message::Who { room: &r })?;
        roundtrip(Message::Nick { nick: &n })?;
    }

    #[test]
    fn roundtrip_roster(r in room(), more in any::<bool>(), owned in proptest::collection::vec(nick(), 0..110)) {
        let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
        roundtrip(Message::Roster { room: &r, more, nicks: Nicks::List(&nicks) })?;
    }

    #[test]
    fn roundtrip_free_texts(
        t in prop_oneof![any_text(), "(?s).{0,1024}"], code in any::<u16>(), nonce in any::<[u8; 8]>(),
    ) {
        roundtrip(Message::Notice { text: &t })?;
        roundtrip(Message::Error { code, text: &t })?;
        roundtrip(Message::Close { reason: &t })?;
        roundtrip(Message::Ping { nonce })?;
        roundtrip(Message::Pong { nonce })?;
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn decode_of_typed_bytes_never_panics_and_is_canonical(
        ty in proptest::sample::select(&[0x01u8, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1f][..]),
        body in proptest::collection::vec(prop_oneof![any::<u8>(), 0u8..4, Just(b'#'), Just(b'a')], 0..120),
    ) {
        let mut wire = vec![ty];
        wire.extend_from_slice(&body);
        if let Ok(m) = Message::decode(&wire) {
            // Whatever decodes re-encodes to the same bytes.
            prop_assert_eq!(encode_vec(&m), Ok(wire.clone()));
        }
    }

    #[test]
    fn mutated_valid_messages_decode_canonically(
        which in 0usize..6, pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>(),
    ) {
        let mut wire = hex([SAY_PT, MESSAGE_PT, CLIENT_HELLO_PT, WELCOME_PT, PING_PT, HELLO_ANON_PT][which]);
        let i = pos.index(wire.len());
        if cut { wire.truncate(i); } else { wire[i] = byte; }
        if let Ok(m) = Message::decode(&wire) {
            prop_assert_eq!(encode_vec(&m), Ok(wire.clone()));
        }
    }

    #[test]
    fn encode_and_decode_agree_on_say(room in name_like(), t in text_like()) {
        let mut wire = vec![msg_type::SAY];
        str8(&mut wire, &room);
        wire.extend_from_slice(t.as_bytes());
        agrees(Message::Say { room: &room, text: &t }, &wire)?;
    }

    #[test]
    fn encode_and_decode_agree_on_message(
        time_ms in any::<u64>(), flags in 0u8..4, from in name_like(), room in name_like(), t in text_like(),
    ) {
        let mut wire = vec![msg_type::MESSAGE];
        wire.extend_from_slice(&time_ms.to_be_bytes());
        wire.push(flags);
        str8(&mut wire, &from);
        str8(&mut wire, &room);
        wire.extend_from_slice(t.as_bytes());
        agrees(Message::Message(ChatMessage {
            time_ms, history: flags & 1 != 0, legacy: flags & 2 != 0, account: flags & 4 != 0,
            from: &from, room: &room, text: &t,
        }), &wire)?;
    }

    #[test]
    fn encode_and_decode_agree_on_names(n in name_like()) {
        for (ty, m) in [
            (msg_type::JOIN, Message::Join { room: &n }),
            (msg_type::PART, Message::Part { room: &n }),
            (msg_type::WHO, Message::Who { room: &n }),
            (msg_type::NICK, Message::Nick { nick: &n }),
        ] {
            let mut wire = vec![ty];
            str8(&mut wire, &n);
            agrees(m, &wire)?;
        }
        let mut wire = vec![msg_type::CLIENT_HELLO, 0];
        str8(&mut wire, &n);
        agrees(Message::ClientHello { identity: None, nick: &n }, &wire)?;
        let mut wire = vec![msg_type::WELCOME];
        str8(&mut wire, &n);
        wire.extend_from_slice(&[0, 0, 0]);
        agrees(Message::Welcome { nick: &n, server_name: "", motd: "" }, &wire)?;
    }

    #[test]
    fn encode_and_decode_agree_on_roster(
        r in name_like(), more in any::<bool>(), owned in proptest::collection::vec(name_like(), 0..130),
    ) {
        let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut wire = vec![msg_type::ROSTER];
        str8(&mut wire, &r);
        wire.push(u8::from(more));
        wire.extend_from_slice(&(nicks.len() as u16).to_be_bytes());
        for n in &nicks {
            str8(&mut wire, n);
        }
        agrees(Message::Roster { room: &r, more, nicks: Nicks::List(&nicks) }, &wire)?;
    }
}
