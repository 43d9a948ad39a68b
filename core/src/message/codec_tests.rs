//! Tests of the codec: vectors, exact encodings, refusals and the field rules.

extern crate std;

use super::test_support::*;
use super::*;
use crate::names::{TextError, MAX_NICK, MAX_TEXT};
use std::format;
use std::vec;
use std::vec::Vec;

#[test]
fn server_auth_vector() {
    let wire = hex(SERVER_AUTH_PT);
    let key: [u8; 32] = hex(SERVER_PK).try_into().expect("32 bytes");
    let sig: [u8; 64] = wire[33..].try_into().expect("64 bytes");
    assert_wire(
        Message::ServerAuth {
            server_key: &key,
            signature: &sig,
        },
        &wire,
    );
}

#[test]
fn client_hello_with_identity_vector() {
    let wire = hex(CLIENT_HELLO_PT);
    let key: [u8; 32] = hex(CLIENT_PK).try_into().expect("32 bytes");
    let sig: [u8; 64] = wire[34..98].try_into().expect("64 bytes");
    assert_wire(
        Message::ClientHello {
            identity: Some((&key, &sig)),
            nick: "alice",
        },
        &wire,
    );
}

#[test]
fn client_hello_anonymous_vector() {
    assert_wire(
        Message::ClientHello {
            identity: None,
            nick: "bob",
        },
        &hex(HELLO_ANON_PT),
    );
}

#[test]
fn welcome_vector() {
    assert_wire(
        Message::Welcome {
            nick: "alice",
            server_name: "dhchat test server",
            motd: "welcome to the test server",
        },
        &hex(WELCOME_PT),
    );
}

#[test]
fn say_vector() {
    assert_wire(
        Message::Say {
            room: "#lobby",
            text: "hello, world",
        },
        &hex(SAY_PT),
    );
}

#[test]
fn message_vector() {
    assert_wire(
        Message::Message(ChatMessage {
            time_ms: 0x18b_cfe5_6800,
            history: false,
            legacy: false,
            account: false,
            from: "alice",
            room: "#lobby",
            text: "hello, world",
        }),
        &hex(MESSAGE_PT),
    );
}

#[test]
fn ping_vector() {
    assert_wire(
        Message::Ping {
            nonce: [0x9a, 0x6d, 0x24, 0x2a, 0x32, 0x2c, 0xe1, 0xcc],
        },
        &hex(PING_PT),
    );
}

#[test]
fn close_empty_vector() {
    assert_wire(Message::Close { reason: "" }, &hex(CLOSE_PT));
}

#[test]
fn notice_of_largest_body_vector() {
    let text = "y".repeat(MAX_BODY);
    let mut wire = vec![0x17];
    wire.extend_from_slice(text.as_bytes());
    assert_wire(Message::Notice { text: &text }, &wire);
    let text = "y".repeat(MAX_BODY + 1);
    wire.push(b'y');
    assert_eq!(dec(&wire), Err(MessageError::BodyTooLong));
    assert_eq!(
        Message::Notice { text: &text }.encode(&mut [0; 8192]),
        Err(MessageError::BodyTooLong)
    );
}

#[test]
fn other_types_encode_to_exact_bytes() {
    assert_wire(Message::Join { room: "#a" }, b"\x12\x02#a");
    assert_wire(Message::Part { room: "#lobby" }, b"\x13\x06#lobby");
    assert_wire(Message::Nick { nick: "bob" }, b"\x14\x03bob");
    assert_wire(Message::Who { room: "#x-y" }, b"\x15\x04#x-y");
    assert_wire(Message::Notice { text: "" }, b"\x17");
    assert_wire(Message::Notice { text: "hi" }, b"\x17hi");
    assert_wire(
        Message::Error {
            code: 4,
            text: "bad",
        },
        b"\x18\x00\x04bad",
    );
    assert_wire(
        Message::Pong { nonce: [1; 8] },
        b"\x1a\x01\x01\x01\x01\x01\x01\x01\x01",
    );
    assert_wire(Message::Close { reason: "bye" }, b"\x1fbye");
    assert_wire(
        Message::Say {
            room: "@bob",
            text: "a\tb",
        },
        b"\x10\x04@boba\tb",
    );
    assert_wire(
        Message::Message(ChatMessage {
            time_ms: 1,
            history: true,
            legacy: true,
            account: true,
            from: "a",
            room: "@b",
            text: "t",
        }),
        b"\x11\x00\x00\x00\x00\x00\x00\x00\x01\x07\x01a\x02@bt",
    );
    assert_wire(
        Message::Roster {
            room: "#r",
            more: true,
            nicks: Nicks::List(&["al", "b"]),
        },
        b"\x16\x02#r\x01\x00\x02\x02al\x01b",
    );
    assert_wire(
        Message::Roster {
            room: "#r",
            more: false,
            nicks: Nicks::List(&[]),
        },
        b"\x16\x02#r\x00\x00\x00",
    );
}

#[test]
fn empty_plaintext_is_refused() {
    assert_eq!(dec(&[]), Err(MessageError::Empty));
}

#[test]
fn unknown_types_are_refused() {
    for t in [0x00, 0x04, 0x0f, 0x1b, 0x1e, 0x20, 0xff] {
        assert_eq!(dec(&[t]), Err(MessageError::UnknownType(t)));
        assert_eq!(sender_of(t), None);
    }
    // Unknown type is reported even with an oversized body.
    assert_eq!(dec(&[0x42; 5000]), Err(MessageError::UnknownType(0x42)));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut ping = hex(PING_PT);
    ping.push(0);
    assert_eq!(dec(&ping), Err(MessageError::TrailingBytes));
    let mut auth = hex(SERVER_AUTH_PT);
    auth.push(0);
    assert_eq!(dec(&auth), Err(MessageError::TrailingBytes));
    let mut hello = hex(HELLO_ANON_PT);
    hello.push(b'x');
    assert_eq!(dec(&hello), Err(MessageError::TrailingBytes));
    let mut welcome = hex(WELCOME_PT);
    welcome.push(b'x');
    assert_eq!(dec(&welcome), Err(MessageError::TrailingBytes));
    assert_eq!(dec(b"\x12\x02#ax"), Err(MessageError::TrailingBytes));
    assert_eq!(dec(b"\x14\x03bobx"), Err(MessageError::TrailingBytes));
    assert_eq!(
        dec(b"\x16\x02#r\x00\x00\x01\x01ax"),
        Err(MessageError::TrailingBytes)
    );
    // Structure is checked before names: bad room and trailing byte is malformed.
    assert_eq!(dec(b"\x12\x02a!x"), Err(MessageError::TrailingBytes));
}

#[test]
fn overruns_are_refused() {
    let ping = hex(PING_PT);
    assert_eq!(dec(&ping[..8]), Err(MessageError::Truncated));
    let auth = hex(SERVER_AUTH_PT);
    assert_eq!(dec(&auth[..96]), Err(MessageError::Truncated));
    assert_eq!(dec(&auth[..1]), Err(MessageError::Truncated));
    let hello = hex(CLIENT_HELLO_PT);
    assert_eq!(dec(&hello[..hello.len() - 1]), Err(MessageError::Truncated));
    assert_eq!(dec(&hello[..50]), Err(MessageError::Truncated));
    assert_eq!(dec(b"\x02"), Err(MessageError::Truncated));
    assert_eq!(dec(b"\x12"), Err(MessageError::Truncated));
    assert_eq!(dec(b"\x12\x03#a"), Err(MessageError::Truncated));
    assert_eq!(dec(b"\x10\x07#lobby"), Err(MessageError::Truncated));
    let msg = hex(MESSAGE_PT);
    assert_eq!(dec(&msg[..9]), Err(MessageError::Truncated));
    assert_eq!(dec(&msg[..12]), Err(MessageError::Truncated));
    let welcome = hex(WELCOME_PT);
    assert_eq!(
        dec(&welcome[..welcome.len() - 1]),
        Err(MessageError::Truncated)
    );
    assert_eq!(
        dec(b"\x16\x02#r\x00\x00\x02\x01a"),
        Err(MessageError::Truncated)
    );
    assert_eq!(dec(b"\x16\x02#r\x00\x00"), Err(MessageError::Truncated));
    assert_eq!(dec(b"\x18\x00"), Err(MessageError::Truncated));
    assert_eq!(dec(b"\x1a"), Err(MessageError::Truncated));
}

#[test]
fn unknown_flags_are_refused() {
    for flags in [0x02, 0x03, 0x80, 0xff] {
        let wire = [0x02, flags, 3, b'b', b'o', b'b'];
        assert_eq!(
            dec(&wire),
            Err(MessageError::UnknownFlags),
            "hello {flags:#x}"
        );
    }
    for flags in [0x08, 0x0f, 0x80] {
        let mut wire = hex(MESSAGE_PT);
        wire[9] = flags;
        assert_eq!(
            dec(&wire),
            Err(MessageError::UnknownFlags),
            "message {flags:#x}"
        );
    }
    for flags in 0..=7u8 {
        let mut wire = hex(MESSAGE_PT);
        wire[9] = flags;
        let Ok(Message::Message(m)) = dec(&wire) else {
            panic!("flags {flags} refused");
        };
        assert_eq!(
            (m.history, m.legacy, m.account),
            (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0)
        );
    }
    for flags in [0x02, 0x81] {
        let wire = [0x16, 2, b'#', b'r', flags, 0, 0];
        assert_eq!(
            dec(&wire),
            Err(MessageError::UnknownFlags),
            "roster {flags:#x}"
        );
    }
}

#[test]
fn non_utf8_fields_are_refused() {
    assert_eq!(dec(b"\x17\xff"), Err(MessageError::NotUtf8));
    assert_eq!(dec(b"\x1f\xc3"), Err(MessageError::NotUtf8));
    assert_eq!(dec(b"\x18\x00\x01\xc3("), Err(MessageError::NotUtf8));
    assert_eq!(dec(b"\x14\x02\xc3("), Err(MessageError::NotUtf8));
    assert_eq!(dec(b"\x10\x02#a\xff"), Err(MessageError::NotUtf8));
    assert_eq!(
        dec(b"\x03\x01a\x01\xff\x00\x00"),
        Err(MessageError::NotUtf8)
    );
    assert_eq!(
        dec(b"\x03\x01a\x00\x00\x01\xff"),
        Err(MessageError::NotUtf8)
    );
    assert_eq!(
        dec(b"\x16\x02#r\x00\x00\x01\x01\xff"),
        Err(MessageError::NotUtf8)
    );
}

#[test]
fn nick_rule_at_its_boundaries() {
    let n32 = "n".repeat(MAX_NICK);
    let n33 = "n".repeat(MAX_NICK + 1);
    assert_eq!(
        dec(&Message::Nick { nick: &n32 }.test_bytes()),
        Ok(Message::Nick { nick: &n32 })
    );
    let mut wire = vec![0x14, 33];
    wire.extend_from_slice(n33.as_bytes());
    assert_eq!(dec(&wire), Err(MessageError::BadNick));
    assert_eq!(
        Message::Nick { nick: &n33 }.encode(&mut [0; 64]),
        Err(MessageError::BadNick)
    );
    assert_eq!(dec(b"\x14\x00"), Err(MessageError::BadNick));
    assert_eq!(dec(b"\x14\x03a b"), Err(MessageError::BadNick));
    assert_eq!(dec(b"\x02\x00\x04@bob"), Err(MessageError::BadNick));
    assert_eq!(dec(b"\x03\x01!\x00\x00\x00"), Err(MessageError::BadNick));
    // MESSAGE from must be a nick, not a target.
    assert_eq!(
        dec(b"\x11\0\0\0\0\0\0\0\0\0\x04@bob\x02#at"),
        Err(MessageError::BadNick)
    );
    for bad in ["", "a b", "@bob", "#a", &n33] {
        for m in [
            Message::Nick { nick: bad },
            Message::ClientHello {
                identity: None,
                nick: bad,
            },
            Message::Welcome {
                nick: bad,
                server_name: "",
                motd: "",
            },
            Message::Roster {
                room: "#r",
                more: false,
                nicks: Nicks::List(&["ok", bad]),
            },
        ] {
            assert_eq!(encode_vec(&m), Err(MessageError::BadNick), "{m:?}");
        }
    }
}

#[test]
fn room_rule_at_its_boundaries() {
    let r31 = format!("#{}", "r".repeat(31));
    let r32 = format!("#{}", "r".repeat(32));
    assert!(encode_vec(&Message::Join { room: &r31 }).is_ok());
    let mut wire = vec![0x12, 33];
    wire.extend_from_slice(r32.as_bytes());
    assert_eq!(dec(&wire), Err(MessageError::BadRoom));
    for bad in ["#", "lobby", "@bob", "#a b", "##", &r32] {
        for m in [
            Message::Join { room: bad },
            Message::Part { room: bad },
            Message::Who { room: bad },
            Message::Roster {
                room: bad,
                more: false,
                nicks: Nicks::List(&[]),
            },
        ] {
            assert_eq!(encode_vec(&m), Err(MessageError::BadRoom), "{m:?}");
        }
    }
    assert_eq!(dec(b"\x12\x04@bob"), Err(MessageError::BadRoom));
}

#[test]
fn target_rule_allows_room_or_at_nick() {
    let at32 = format!("@{}", "n".repeat(32));
    let at33 = format!("@{}", "n".repeat(33));
    for good in ["#lobby", "@bob", &at32] {
        let m = Message::Say {
            room: good,
            text: "hi",
        };
        assert_eq!(dec(&m.test_bytes()), Ok(m));
    }
    for bad in ["bob", "@", "#", "@#a", "#@a", &at33] {
        let say = Message::Say {
            room: bad,
            text: "hi",
        };
        assert_eq!(encode_vec(&say), Err(MessageError::BadTarget), "{bad}");
        let mut wire = vec![0x10, bad.len() as u8];
        wire.extend_from_slice(bad.as_bytes());
        wire.extend_from_slice(b"hi");
        assert_eq!(dec(&wire), Err(MessageError::BadTarget), "{bad}");
        let msg = Message::Message(ChatMessage {
            time_ms: 0,
            history: false,
            legacy: false,
            account: false,
            from: "a",
            room: bad,
            text: "hi",
        });
        assert_eq!(encode_vec(&msg), Err(MessageError::BadTarget), "{bad}");
    }
}

#[test]
fn text_rule_on_say_and_message() {
    let say = |text: &str| -> Result<(), MessageError> {
        let mut wire = b"\x10\x02#a".to_vec();
        wire.extend_from_slice(text.as_bytes());
        let from_wire = dec(&wire).map(|_| ());
        let from_value = encode_vec(&Message::Say { room: "#a", text }).map(|_| ());
        assert_eq!(from_wire, from_value, "decode and encode agree on {text:?}");
        from_wire
    };
    assert_eq!(say(&"x".repeat(MAX_TEXT)), Ok(()));
    assert_eq!(
        say(&"x".repeat(MAX_TEXT + 1)),
        Err(MessageError::BadText(TextError::TooLong))
    );
    assert_eq!(say("a\tb"), Ok(()));
    assert_eq!(say(""), Err(MessageError::BadText(TextError::Empty)));
    for bad in ["\x1b[2J", "a\u{85}", "\x7f", "a\nb", "\0"] {
        assert_eq!(
            say(bad),
            Err(MessageError::BadText(TextError::ControlCharacter)),
            "{bad:?}"
        );
    }
    let mut msg = hex(MESSAGE_PT);
    msg.push(0x1b);
    assert_eq!(
        dec(&msg),
        Err(MessageError::BadText(TextError::ControlCharacter))
    );
    // Other texts are any UTF-8, empty included.
    assert!(dec(b"\x17\x1b[2J\n").is_ok());
    assert!(dec(b"\x1f\x00").is_ok());
    assert!(dec(b"\x18\x00\x09\x07").is_ok());
    assert!(dec(b"\x03\x01a\x01\x1b\x00\x01\n").is_ok());
}

#[test]
fn encode_checks_the_buffer_last() {
    let m = Message::Say {
        room: "#lobby",
        text: "hello, world",
    };
    let len = m.encoded_len();
    assert_eq!(len, 20);
    let mut small = [0xaa; 19];
    assert_eq!(m.encode(&mut small), Err(MessageError::BufferTooSmall));
    assert_eq!(small, [0xaa; 19], "a refused encode writes nothing");
    let mut big = [0u8; 64];
    assert_eq!(m.encode(&mut big), Ok(20));
    assert_eq!(&big[..20], hex(SAY_PT).as_slice());
    // An invalid value is reported as such even into a too-small buffer.
    let bad = Message::Say {
        room: "lobby",
        text: "x",
    };
    assert_eq!(bad.encode(&mut []), Err(MessageError::BadTarget));
}

#[test]
fn encode_refuses_fields_too_long_for_their_prefix() {
    let name = "s".repeat(256);
    let m = Message::Welcome {
        nick: "a",
        server_name: &name,
        motd: "",
    };
    assert_eq!(encode_vec(&m), Err(MessageError::FieldTooLong));
    let name = "s".repeat(255);
    let m = Message::Welcome {
        nick: "a",
        server_name: &name,
        motd: "",
    };
    assert_eq!(dec(&m.test_bytes()), Ok(m));
    // A body over 4096 is refused before any field.
    let motd = "m".repeat(70_000);
    let m = Message::Welcome {
        nick: "a",
        server_name: "",
        motd: &motd,
    };
    assert_eq!(encode_vec(&m), Err(MessageError::BodyTooLong));
}

#[test]
fn hand_built_encoded_nicks_are_checked() {
    let refused = |count, bytes| {
        Message::Roster {
            room: "#r",
            more: false,
            nicks: Nicks::Encoded { count, bytes },
        }
        .encode(&mut [0; 64])
    };
    assert_eq!(refused(2, b"\x01a"), Err(MessageError::Truncated));
    assert_eq!(refused(1, b"\x01ab"), Err(MessageError::TrailingBytes));
    assert_eq!(refused(1, b"\x01\xff"), Err(MessageError::NotUtf8));
    assert_eq!(refused(1, b"\x01!"), Err(MessageError::BadNick));
    assert_eq!(refused(1, b"\x01a"), Ok(9));
    // Iterating a malformed one stops at the bad entry.
    let bad = Nicks::Encoded {
        count: 3,
        bytes: b"\x01a\x05b",
    };
    assert_eq!(bad.iter().collect::<Vec<_>>(), ["a"]);
    assert_eq!(bad.len(), 3);
    assert_ne!(bad, Nicks::List(&["a"]));
}

#[test]
fn nicks_list_equals_its_encoding() {
    let list = Nicks::List(&["alice", "Bob", "c-3"]);
    let m = Message::Roster {
        room: "#lobby",
        more: false,
        nicks: list,
    };
    let wire = m.test_bytes();
    let Ok(Message::Roster { nicks, .. }) = dec(&wire) else {
        panic!("roster refused");
    };
    assert!(matches!(nicks, Nicks::Encoded { count: 3, .. }));
    assert_eq!(nicks, list);
    assert_eq!(list, nicks);
    assert_eq!(nicks.len(), 3);
    assert!(!nicks.is_empty());
    assert_eq!(nicks.iter().collect::<Vec<_>>(), ["alice", "Bob", "c-3"]);
    assert_eq!(nicks.into_iter().count(), 3);
    assert_ne!(nicks, Nicks::List(&["alice", "Bob"]));
    assert_ne!(nicks, Nicks::List(&["alice", "bob", "c-3"]));
    assert!(Nicks::List(&[]).is_empty());
    assert_eq!(
        Nicks::List(&[]),
        Nicks::Encoded {
            count: 0,
            bytes: &[]
        }
    );
}
