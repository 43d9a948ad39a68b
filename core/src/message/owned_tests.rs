//! Tests of [`MessageBuf`].

extern crate std;

use super::test_support::*;
use super::*;
use std::vec::Vec;

#[test]
fn a_message_buf_gives_back_the_message_it_was_made_from() {
    let nicks = ["alice", "bob"];
    for m in [
        Message::Say {
            room: "#lobby",
            text: "hello",
        },
        Message::Message(ChatMessage {
            time_ms: 1_700_000_000_000,
            history: true,
            legacy: false,
            account: false,
            from: "alice",
            room: "@bob",
            text: "hi",
        }),
        Message::Roster {
            room: "#r",
            more: true,
            nicks: Nicks::List(&nicks),
        },
        Message::Ping { nonce: [7; 8] },
        Message::Close { reason: "" },
    ] {
        let buf = MessageBuf::new(&m).expect("valid message");
        assert_eq!(buf.message(), m);
        assert_eq!(buf, m);
        assert_eq!(buf.msg_type(), m.msg_type());
        assert_eq!(buf.plaintext(), encode_vec(&m).expect("encodes").as_slice());
    }
}

#[test]
fn a_message_buf_refuses_what_encode_refuses() {
    assert_eq!(
        MessageBuf::new(&Message::Join { room: "lobby" }),
        Err(MessageError::BadRoom)
    );
    assert_eq!(
        MessageBuf::try_from(Message::Say {
            room: "#a",
            text: ""
        }),
        Err(MessageError::BadText(crate::names::TextError::Empty))
    );
}

#[test]
fn a_decoded_message_buf_equals_the_encoded_one() {
    let m = Message::Notice { text: "bob joined" };
    let wire: Vec<u8> = encode_vec(&m).expect("encodes");
    let decoded = MessageBuf::decode(&wire).expect("valid plaintext");
    assert_eq!(decoded, MessageBuf::new(&m).expect("valid"));
    assert_eq!(format_debug(&decoded), format_debug(&m));
}

#[test]
fn a_message_buf_refuses_an_invalid_plaintext() {
    assert_eq!(MessageBuf::decode(&[]), Err(MessageError::Empty));
    assert_eq!(
        MessageBuf::decode(&[0x12, 2, b'#']),
        Err(MessageError::Truncated)
    );
    assert_eq!(
        MessageBuf::decode(&[0x77]),
        Err(MessageError::UnknownType(0x77))
    );
}

fn format_debug(v: &dyn core::fmt::Debug) -> std::string::String {
    std::format!("{v:?}")
}
