//! Names and texts: the rules of PROTOCOL.md section 5.
//!
//! - A **nick** is 1-32 bytes of `[A-Za-z0-9_-]`.
//! - A **room** is `#` followed by 1-31 bytes of `[A-Za-z0-9_-]` (so 2-32 bytes in all).
//! - A **target** (the room field of SAY and MESSAGE) is a room, or `@` followed by a
//!   nick (a direct message).
//! - Nicks and rooms compare ASCII-case-insensitively ([`names_equal`]).
//! - The **text** of SAY and MESSAGE is 1-4000 bytes of UTF-8 without any character of
//!   Unicode general category Cc (U+0000-U+001F, U+007F-U+009F) except TAB
//!   ([`text_check`]).
//!
//! Every function here takes any `&str` and never panics. Peer text of any kind is
//! displayed through [`Escaped`], which makes control characters visible instead of
//! letting them reach a terminal.

use core::fmt;

/// Longest nick, in bytes.
pub const MAX_NICK: usize = 32;

/// Longest room name, in bytes, including the leading `#`.
pub const MAX_ROOM: usize = 32;

/// Longest text of a SAY or MESSAGE, in bytes of UTF-8.
pub const MAX_TEXT: usize = 4000;

/// Whether `b` may appear in a nick or after the `#` of a room: `[A-Za-z0-9_-]`.
const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Whether `bytes` is 1 to `max` bytes of `[A-Za-z0-9_-]`.
fn is_name(bytes: &[u8], max: usize) -> bool {
    !bytes.is_empty() && bytes.len() <= max && bytes.iter().all(|&b| is_name_byte(b))
}

/// Whether `s` is a valid nick: 1-32 bytes of `[A-Za-z0-9_-]`.
pub fn is_valid_nick(s: &str) -> bool {
    is_name(s.as_bytes(), MAX_NICK)
}

/// Whether `s` is a valid room: `#` followed by 1-31 bytes of `[A-Za-z0-9_-]`.
pub fn is_valid_room(s: &str) -> bool {
    match s.as_bytes().split_first() {
        Some((b'#', name)) => is_name(name, MAX_ROOM - 1),
        _ => false,
    }
}

/// Whether `s` is a valid target of SAY or MESSAGE: a valid room, or `@` followed by a
/// valid nick (a direct message).
pub fn is_valid_target(s: &str) -> bool {
    match s.as_bytes().split_first() {
        Some((b'#', name)) => is_name(name, MAX_ROOM - 1),
        Some((b'@', nick)) => is_name(nick, MAX_NICK),
        _ => false,
    }
}

/// Whether two nicks, or two rooms, are the same name: ASCII case-insensitive equality
/// (`Alice` and `alice` are one nick).
///
/// The comparison is of the bytes as given; it does not check that either is valid.
pub fn names_equal(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Why a text is not a valid SAY or MESSAGE text (see [`text_check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// The text has no bytes; at least one is needed.
    Empty,
    /// The text is longer than [`MAX_TEXT`] bytes.
    TooLong,
    /// The text holds a control character (general category Cc) other than TAB.
    ControlCharacter,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextError::Empty => "message text must not be empty",
            TextError::TooLong => "message text must be at most 4000 bytes",
            TextError::ControlCharacter => {
                "message text must not contain control characters (TAB is allowed)"
            }
        })
    }
}

impl core::error::Error for TextError {}

/// Whether `c` is refused in a SAY or MESSAGE text: general category Cc except TAB.
fn is_forbidden_in_text(c: char) -> bool {
    // `char::is_control` is exactly general category Cc.
    c.is_control() && c != '\t'
}

/// Checks the text rule of SAY and MESSAGE: 1-4000 bytes of UTF-8 (guaranteed by
/// `&str`) with no control character (general category Cc: U+0000-U+001F and
/// U+007F-U+009F) except TAB.
///
/// # Errors
///
/// The first broken rule, checked in this order: [`TextError::Empty`],
/// [`TextError::TooLong`] (over [`MAX_TEXT`] bytes), [`TextError::ControlCharacter`].
pub fn text_check(s: &str) -> Result<(), TextError> {
    if s.is_empty() {
        Err(TextError::Empty)
    } else if s.len() > MAX_TEXT {
        Err(TextError::TooLong)
    } else if s.chars().any(is_forbidden_in_text) {
        Err(TextError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// Displays peer text with every control character made visible, so that no text
/// received from a peer can drive the terminal it is shown on.
///
/// - TAB is shown as one space (it is allowed in chat text, but its width depends on
///   the terminal).
/// - Every other character of general category Cc (U+0000-U+001F, U+007F-U+009F,
///   including newline and ESC) is shown as a Rust-style escape: `\u{1b}`.
/// - Everything else, including a literal backslash, is shown as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        // Write runs of harmless text in one piece, and each control character escaped.
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| c.is_control()) {
            let (clean, tail) = rest.split_at_checked(i).unwrap_or((rest, ""));
            f.write_str(clean)?;
            if c == '\t' {
                f.write_str(" ")?;
            } else {
                write!(f, "\\u{{{:x}}}", u32::from(c))?;
            }
            rest = tail.get(c.len_utf8()..).unwrap_or("");
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::string::String;

    #[test]
    fn nick_length_boundaries() {
        assert!(!is_valid_nick(""));
        assert!(is_valid_nick("a"));
        assert!(is_valid_nick(&"a".repeat(32)));
        assert!(!is_valid_nick(&"a".repeat(33)));
    }

    #[test]
    fn nick_alphabet() {
        assert!(is_valid_nick("Az09_-"));
        for bad in ["a b", "a.b", "a#", "@a", "é", "a\0", "a\t", "ä"] {
            assert!(!is_valid_nick(bad), "{bad:?}");
        }
    }

    #[test]
    fn room_length_boundaries() {
        assert!(!is_valid_room("#"));
        assert!(is_valid_room("#a"));
        let name31 = format!("#{}", "r".repeat(31));
        let name32 = format!("#{}", "r".repeat(32));
        assert_eq!(name31.len(), MAX_ROOM);
        assert!(is_valid_room(&name31));
        assert!(!is_valid_room(&name32));
    }

    #[test]
    fn room_needs_hash_prefix() {
        assert!(!is_valid_room("lobby"));
        assert!(!is_valid_room("@lobby"));
        assert!(!is_valid_room("##lobby"));
        assert!(!is_valid_room("#lob by"));
        assert!(!is_valid_room(""));
    }

    #[test]
    fn target_is_room_or_at_nick() {
        assert!(is_valid_target("#lobby"));
        assert!(is_valid_target("@bob"));
        assert!(is_valid_target(&format!("@{}", "n".repeat(32))));
        assert!(!is_valid_target(&format!("@{}", "n".repeat(33))));
        assert!(is_valid_target(&format!("#{}", "r".repeat(31))));
        assert!(!is_valid_target(&format!("#{}", "r".repeat(32))));
        for bad in ["", "@", "#", "bob", "@#lobby", "#@bob", "@@bob", "@bo b"] {
            assert!(!is_valid_target(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_compare_ascii_case_insensitively() {
        assert!(names_equal("Alice", "alice"));
        assert!(names_equal("#Lobby", "#LOBBY"));
        assert!(!names_equal("alice", "alice2"));
        assert!(!names_equal("#lobby", "@lobby"));
        // Only ASCII folds.
        assert!(!names_equal("Ä", "ä"));
    }

    #[test]
    fn text_length_boundaries() {
        assert_eq!(text_check(""), Err(TextError::Empty));
        assert_eq!(text_check("x"), Ok(()));
        assert_eq!(text_check(&"x".repeat(4000)), Ok(()));
        assert_eq!(text_check(&"x".repeat(4001)), Err(TextError::TooLong));
        // The limit is in bytes, not characters: 1334 x 3-byte chars = 4002 bytes.
        assert_eq!(text_check(&"€".repeat(1334)), Err(TextError::TooLong));
        assert_eq!(text_check(&"€".repeat(1333)), Ok(()));
    }

    #[test]
    fn text_allows_tab_refuses_other_controls() {
        assert_eq!(text_check("a\tb"), Ok(()));
        for bad in [
            "\x1b[31mred",
            "a\u{85}b",
            "a\x7fb",
            "a\nb",
            "a\rb",
            "\0",
            "a\u{9f}",
        ] {
            assert_eq!(text_check(bad), Err(TextError::ControlCharacter), "{bad:?}");
        }
        // Not Cc: U+00A0 (Zs) and U+200B (Cf) pass the rule.
        assert_eq!(text_check("a\u{a0}b\u{200b}"), Ok(()));
    }

    #[test]
    fn escaped_makes_controls_visible() {
        assert_eq!(format!("{}", Escaped("plain")), "plain");
        assert_eq!(format!("{}", Escaped("")), "");
        assert_eq!(format!("{}", Escaped("\x1b[2J")), "\\u{1b}[2J");
        assert_eq!(format!("{}", Escaped("a\tb")), "a b");
        assert_eq!(format!("{}", Escaped("l1\nl2\r")), "l1\\u{a}l2\\u{d}");
        assert_eq!(
            format!("{}", Escaped("\u{85}\x7f\0")),
            "\\u{85}\\u{7f}\\u{0}"
        );
        assert_eq!(format!("{}", Escaped("ünï\u{9b}cødé")), "ünï\\u{9b}cødé");
    }

    proptest! {
        #[test]
        fn name_functions_never_panic(s in any::<String>(), t in any::<String>()) {
            let _ = is_valid_nick(&s);
            let _ = is_valid_room(&s);
            let _ = is_valid_target(&s);
            let _ = text_check(&s);
            let _ = names_equal(&s, &t);
        }

        #[test]
        fn escaped_output_has_no_controls(s in any::<String>()) {
            let shown = format!("{}", Escaped(&s));
            prop_assert!(!shown.chars().any(char::is_control));
        }

        #[test]
        fn escaped_is_identity_on_clean_text(s in "[^\\p{Cc}]*") {
            prop_assert_eq!(format!("{}", Escaped(&s)), s);
        }

        #[test]
        fn names_from_arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let s = String::from_utf8_lossy(&b);
            let _ = is_valid_nick(&s);
            let _ = is_valid_room(&s);
            let _ = is_valid_target(&s);
            let _ = text_check(&s);
            let _ = format!("{}", Escaped(&s));
        }

        #[test]
        fn generated_names_are_valid(n in "[A-Za-z0-9_-]{1,32}", r in "#[A-Za-z0-9_-]{1,31}") {
            prop_assert!(is_valid_nick(&n));
            prop_assert!(is_valid_room(&r));
            prop_assert!(is_valid_target(&r));
            let at = format!("@{n}");
            prop_assert!(is_valid_target(&at));
            prop_assert!(names_equal(&n, &n.to_ascii_uppercase()));
        }
    }
}
