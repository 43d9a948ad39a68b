//! Tests of [`MessageError`]: wire codes and texts.

extern crate std;

use super::*;
use crate::names::TextError;
use std::format;
use std::string::ToString;

#[test]
fn wire_codes_follow_section_5() {
    use MessageError::*;
    for e in [
        Empty,
        BodyTooLong,
        Truncated,
        TrailingBytes,
        NotUtf8,
        UnknownFlags,
        BadText(TextError::Empty),
        BadText(TextError::TooLong),
        BadText(TextError::ControlCharacter),
        FieldTooLong,
    ] {
        assert_eq!(e.wire_code(), 1, "{e:?}");
    }
    assert_eq!(UnknownType(0x42).wire_code(), 2);
    for e in [BadNick, BadRoom, BadTarget] {
        assert_eq!(e.wire_code(), 4, "{e:?}");
    }
    assert_eq!(BufferTooSmall.wire_code(), 9);
}

#[test]
fn errors_display_an_actionable_sentence() {
    assert_eq!(
        MessageError::BadNick.to_string(),
        "nick must be 1-32 bytes of A-Z a-z 0-9 _ -"
    );
    assert_eq!(
        MessageError::UnknownType(0x42).to_string(),
        "unknown message type 0x42"
    );
    assert_eq!(
        MessageError::BadText(TextError::TooLong).to_string(),
        "message text must be at most 4000 bytes"
    );
    let e: &dyn core::error::Error = &MessageError::BadText(TextError::Empty);
    assert!(e.source().is_some());
    assert!(MessageError::Truncated.to_string().contains("past the end"));
    for e in [
        MessageError::Empty,
        MessageError::BodyTooLong,
        MessageError::TrailingBytes,
        MessageError::NotUtf8,
        MessageError::UnknownFlags,
        MessageError::BadRoom,
        MessageError::BadTarget,
        MessageError::FieldTooLong,
        MessageError::BufferTooSmall,
    ] {
        let s = e.to_string();
        assert!(!s.is_empty() && !s.contains(&format!("{e:?}")), "{s}");
    }
}
