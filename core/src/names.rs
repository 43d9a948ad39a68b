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
//! displayed through [`Escaped`], which makes control characters, bidirectional
//! controls and invisible characters visible instead of letting them reach a terminal.

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

/// Whether `s` holds a character refused in a SAY or MESSAGE text (general
/// category Cc except TAB), from its
/// UTF-8 bytes: in valid UTF-8 the characters of general category Cc are the
/// bytes 0x00-0x1F and 0x7F (TAB, 0x09, allowed) and the two-byte sequences
/// 0xC2 0x80-0x9F (U+0080-U+009F); no other sequence holds those bytes in
/// those places. Both scans run over every byte without stopping early, so
/// the compiler vectorizes them (a 4,000-byte text is checked several times
/// faster than by decoding its characters).
fn has_control_character(s: &str) -> bool {
    let b = s.as_bytes();
    let c0 = b.iter().fold(false, |bad, &x| {
        bad | ((x < 0x20) & (x != b'\t')) | (x == 0x7f)
    });
    let c1 = b
        .iter()
        .zip(b.iter().skip(1))
        .fold(false, |bad, (&lead, &next)| {
            bad | ((lead == 0xc2) & (0x80..=0x9f).contains(&next))
        });
    c0 | c1
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
    } else if has_control_character(s) {
        Err(TextError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// Format characters (general category Cf, Unicode 15.1): invisible characters
/// that change how the text around them is shown. Among them the bidirectional
/// embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the
/// zero-width characters and direction marks (U+200B-U+200F, U+061C), the
/// byte order mark (U+FEFF) and the invisible tag characters (U+E0000 block).
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// Whether [`Escaped`] shows `c` as an escape instead of as itself: every
/// character that is not shown, or that changes how other text is shown.
///
/// - control characters (general category Cc: U+0000-U+001F, U+007F-U+009F);
/// - format characters (general category Cf), among them the bidirectional
///   controls U+202A-U+202E and U+2066-U+2069, the invisible U+200B-U+200F
///   and U+2060-U+2064, and U+FEFF;
/// - the line and paragraph separators U+2028 and U+2029.
///
/// Clients that encode peer text in another form (batch JSON) escape the same
/// characters.
pub fn is_escaped_char(c: char) -> bool {
    c.is_control()
        || c == '\u{2028}'
        || c == '\u{2029}'
        || FORMAT_CHARACTERS
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Displays peer text so that no text received from a peer can drive the
/// terminal it is shown on, hide part of itself, reorder what is shown, or
/// pass for an escape made by the client.
///
/// - TAB is shown as one space (it is allowed in chat text, but its width
///   depends on the terminal).
/// - Every character of [`is_escaped_char`] (control characters, including
///   newline and ESC; bidirectional controls; invisible and other format
///   characters; line and paragraph separators) is shown as a Rust-style
///   escape: `\u{1b}`, `\u{202e}`.
/// - A backslash is shown doubled, `\\`, so that a peer who types the text
///   `\u{202e}` is shown `\\u{202e}`: every escape with a single backslash
///   was made here, and different texts are always shown differently (TAB
///   and space aside).
/// - Everything else is shown as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a>(pub &'a str);

/// Whether [`Escaped`] shows `c` other than as itself.
fn is_shown_otherwise(c: char) -> bool {
    c == '\\' || c == '\t' || is_escaped_char(c)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        // Write runs of harmless text in one piece, and each other character
        // in its shown form.
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| is_shown_otherwise(c)) {
            let (clean, tail) = rest.split_at_checked(i).unwrap_or((rest, ""));
            f.write_str(clean)?;
            match c {
                '\t' => f.write_str(" ")?,
                '\\' => f.write_str("\\\\")?,
                _ => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = tail.get(c.len_utf8()..).unwrap_or("");
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {

    /// The rule as the protocol states it, character by character: general
    /// category Cc (exactly `char::is_control`) except TAB.
    fn is_forbidden_in_text(c: char) -> bool {
        c.is_control() && c != '\t'
    }

    #[test]
    fn the_byte_scan_refuses_exactly_the_control_characters_of_every_code_point() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10_ffff_u32).filter_map(char::from_u32) {
            let alone = c.encode_utf8(&mut buf);
            assert_eq!(
                has_control_character(alone),
                is_forbidden_in_text(c),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn the_byte_scan_agrees_with_the_character_rule_on_any_text(s in "\\PC*|.*") {
            proptest::prop_assert_eq!(
                has_control_character(&s),
                s.chars().any(is_forbidden_in_text)
            );
        }
    }

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

    /// `c` shown alone, between two letters.
    fn shown(c: char) -> String {
        format!("{}", Escaped(&format!("a{c}b")))
    }

    #[test]
    fn escaped_makes_every_bidirectional_control_visible() {
        // Embeddings and overrides, isolates, and the direction marks.
        let bidi = ('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
            .chain(['\u{200e}', '\u{200f}', '\u{61c}']);
        for c in bidi {
            assert_eq!(shown(c), format!("a\\u{{{:x}}}b", u32::from(c)), "{c:?}");
        }
        // The classic spoof: an override that shows "exe.txt" as "txt.exe".
        assert_eq!(
            format!("{}", Escaped("invoice\u{202e}txt.exe")),
            "invoice\\u{202e}txt.exe"
        );
    }

    #[test]
    fn escaped_makes_every_invisible_character_visible() {
        let invisible = ('\u{200b}'..='\u{200f}')
            .chain('\u{2060}'..='\u{2064}')
            .chain([
                '\u{feff}',
                '\u{ad}',
                '\u{180e}',
                '\u{e0001}',
                '\u{e0041}',
                '\u{e007f}',
            ]);
        for c in invisible {
            assert_eq!(shown(c), format!("a\\u{{{:x}}}b", u32::from(c)), "{c:?}");
        }
    }

    #[test]
    fn escaped_makes_line_and_paragraph_separators_visible() {
        assert_eq!(shown('\u{2028}'), "a\\u{2028}b");
        assert_eq!(shown('\u{2029}'), "a\\u{2029}b");
    }

    #[test]
    fn escaped_leaves_visible_text_of_every_script_alone() {
        for text in [
            "שלום עולם",
            "مرحبا",
            "日本語のテキスト",
            "emoji 🎉 and accents é",
            "non-breaking\u{a0}space",
            "#lobby @bob <x> 100%",
        ] {
            assert_eq!(format!("{}", Escaped(text)), text);
        }
        // The characters next to the escaped ranges are shown as they are.
        for c in [
            '\u{2027}',
            '\u{202f}',
            '\u{2065}',
            '\u{2070}',
            '\u{fefe}',
            '\u{e0080}',
        ] {
            assert_eq!(shown(c), format!("a{c}b"), "{c:?}");
        }
    }

    #[test]
    fn a_backslash_typed_by_a_peer_never_looks_like_an_escape() {
        assert_eq!(format!("{}", Escaped("\\")), "\\\\");
        // The text `\u{202e}` and the character U+202E are shown differently.
        let typed = format!("{}", Escaped("\\u{202e}"));
        let real = format!("{}", Escaped("\u{202e}"));
        assert_eq!(typed, "\\\\u{202e}");
        assert_eq!(real, "\\u{202e}");
        assert_ne!(typed, real);
        assert_eq!(format!("{}", Escaped("\\x1b[2J")), "\\\\x1b[2J");
    }

    /// Reverses [`Escaped`] (TAB aside): `None` for a form it never writes.
    fn unescape(shown: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = shown.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                '\\' => out.push('\\'),
                'u' => {
                    if chars.next()? != '{' {
                        return None;
                    }
                    let hex: String = chars.by_ref().take_while(|&d| d != '}').collect();
                    let c = char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?;
                    if !is_escaped_char(c) {
                        return None;
                    }
                    out.push(c);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    /// Text made of the characters that matter for escaping.
    fn tricky_text() -> impl Strategy<Value = String> {
        let alphabet = std::vec![
            '\\',
            'u',
            '{',
            '}',
            '2',
            'e',
            'a',
            ' ',
            '\u{202e}',
            '\u{200b}',
            '\u{2066}',
            '\n',
            '\x1b',
            '\u{feff}',
            '\u{e0041}',
            '\u{9b}',
            'é',
        ];
        proptest::collection::vec(proptest::sample::select(alphabet), 0..40)
            .prop_map(|v| v.into_iter().collect())
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
        fn escaped_output_has_no_control_or_hidden_character(s in any::<String>()) {
            let shown = format!("{}", Escaped(&s));
            prop_assert!(!shown.chars().any(is_escaped_char), "{:?}", shown);
        }

        #[test]
        fn escaped_output_has_no_control_or_hidden_character_in_tricky_text(s in tricky_text()) {
            let shown = format!("{}", Escaped(&s));
            prop_assert!(!shown.chars().any(is_escaped_char), "{:?}", shown);
        }

        #[test]
        fn escaped_is_identity_on_clean_text(s in "[^\\p{Cc}\\p{Cf}\\\\\u{2028}\u{2029}]*") {
            prop_assert_eq!(format!("{}", Escaped(&s)), s);
        }

        #[test]
        fn different_texts_are_shown_differently(s in tricky_text()) {
            // Injective: the shown form gives back the text, so no peer text
            // can be shown like another (or like an escape the client made).
            let shown = format!("{}", Escaped(&s));
            prop_assert_eq!(unescape(&shown), Some(s));
        }

        #[test]
        fn different_arbitrary_texts_are_shown_differently(s in any::<String>()) {
            prop_assume!(!s.contains('\t'));
            let shown = format!("{}", Escaped(&s));
            prop_assert_eq!(unescape(&shown), Some(s));
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
