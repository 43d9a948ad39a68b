use super::*;
use dhchat_core::message::{error_code, roster_chunks, Nicks};

#[test]
fn a_roster_event_gives_back_its_record_and_counts_its_encoded_bytes() {
    let nicks = ["alice", "bob"];
    let chunks: Vec<Message<'_>> = roster_chunks("#lobby", &nicks).collect();
    let [chunk] = chunks.as_slice() else {
        panic!("two short nicks fit one ROSTER: {chunks:?}");
    };
    let roster = MessageBuf::new(chunk).expect("a valid ROSTER");
    let bytes = roster.plaintext().len();
    let ev = Event::Message(roster);
    assert_eq!(ev.queued_bytes(), EVENT_OVERHEAD + bytes);
    let expected = Message::Roster {
        room: "#lobby",
        more: false,
        nicks: Nicks::List(&nicks),
    };
    assert!(ev.with_message(|m| *m == expected));
}

#[test]
fn each_constructor_gives_back_the_message_it_was_given() {
    let cases = [
        (
            Event::welcome("alice", "srv", "hello"),
            Message::Welcome {
                nick: "alice",
                server_name: "srv",
                motd: "hello",
            },
        ),
        (
            Event::notice("bob joined"),
            Message::Notice { text: "bob joined" },
        ),
        (
            Event::error(error_code::NOT_ALLOWED, "no"),
            Message::Error {
                code: error_code::NOT_ALLOWED,
                text: "no",
            },
        ),
        (Event::close("bye"), Message::Close { reason: "bye" }),
        (Event::ping([1; 8]), Message::Ping { nonce: [1; 8] }),
        (Event::pong([2; 8]), Message::Pong { nonce: [2; 8] }),
    ];
    for (ev, expected) in cases {
        assert!(
            ev.with_message(|m| *m == expected),
            "{ev:?} is {expected:?}"
        );
        let Event::Message(m) = &ev else {
            panic!("{ev:?} is an encoded message");
        };
        assert_eq!(ev.queued_bytes(), EVENT_OVERHEAD + m.plaintext().len());
    }
}

#[test]
fn only_a_close_event_is_close() {
    assert!(Event::close("bye").is_close());
    assert!(!Event::notice("bye").is_close());
    assert!(!Event::error(1, "bye").is_close());
}

#[test]
fn a_text_too_long_for_a_body_is_cut_at_a_character_boundary_and_still_fits_a_record() {
    // "é" is two bytes: 4097 of them cannot end exactly at the limit.
    let long = "é".repeat(MAX_BODY);
    for ev in [
        Event::notice(&long),
        Event::error(error_code::INTERNAL, &long),
        Event::close(&long),
    ] {
        let text = ev.with_message(|m| match *m {
            Message::Notice { text } | Message::Error { text, .. } => text.to_owned(),
            Message::Close { reason } => reason.to_owned(),
            _ => panic!("{m:?}"),
        });
        assert!(!text.is_empty() && long.starts_with(&text));
        assert!(ev.queued_bytes() <= MAX_EVENT_BYTES);
        assert!(MAX_BODY - text.len() < 4, "cut at most one character short");
    }
}

#[test]
fn a_welcome_with_a_name_and_motd_too_long_is_cut_to_fit() {
    let name = "n".repeat(300);
    let motd = "ü".repeat(MAX_BODY);
    let ev = Event::welcome("alice", &name, &motd);
    assert!(ev.queued_bytes() <= MAX_EVENT_BYTES);
    ev.with_message(|m| match *m {
        Message::Welcome {
            nick,
            server_name,
            motd: cut_motd,
        } => {
            assert_eq!(nick, "alice");
            assert_eq!(server_name.len(), 255);
            assert!(!cut_motd.is_empty() && motd.starts_with(cut_motd));
        }
        _ => panic!("a WELCOME: {m:?}"),
    });
}

#[test]
fn a_welcome_for_a_nick_that_breaks_the_rule_is_a_close_not_a_panic() {
    let ev = Event::welcome("bad nick with spaces", "srv", "");
    assert!(ev.is_close());
}

fn chat(text: &str) -> Arc<Chat> {
    Arc::new(Chat {
        time_ms: 7,
        history: false,
        from: "alice".into(),
        room: "#Room".into(),
        text: text.into(),
        legacy: false,
        account: true,
    })
}

#[test]
fn a_relay_carries_the_encoding_of_its_record_and_counts_the_bytes_of_the_record() {
    let record = chat("hello");
    let relay = Event::relay(record.clone());
    let Event::Relay(r) = &relay else {
        panic!("a valid record is encoded once: {relay:?}");
    };
    assert_eq!(r.chat(), &*record);
    let plain = Event::Chat(record);
    let expected = plain.with_message(|m| MessageBuf::new(m).expect("valid"));
    assert_eq!(
        relay.encoded().map(MessageBuf::plaintext),
        Some(expected.plaintext())
    );
    assert!(relay.with_message(|m| *m == expected.message()));
    assert_eq!(
        relay.queued_bytes(),
        plain.queued_bytes(),
        "what was counted in flight is what the queues count"
    );
    assert!(
        plain.encoded().is_none(),
        "a record is encoded by its writer"
    );
}

#[test]
fn a_record_that_does_not_encode_is_relayed_as_the_record_for_each_writer_to_refuse() {
    let bad = chat(&"x".repeat(MAX_BODY + 1));
    assert!(matches!(Event::relay(bad), Event::Chat(_)));
}
