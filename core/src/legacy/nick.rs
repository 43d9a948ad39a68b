//! The nick of a legacy client: `legacy-` and the first 8 hex digits of SHA-256 of its
//! `address:port` text (LEGACY.md, "What a legacy peer cannot promise").

use core::fmt;

use sha2::{Digest, Sha256};

/// Length of a legacy nick: `legacy-` (7) and 8 hex digits.
pub const LEGACY_NICK_LEN: usize = 15;

/// A legacy client's nick, e.g. `legacy-1a2b3c4d` (always a valid nick).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegacyNick([u8; LEGACY_NICK_LEN]);

impl LegacyNick {
    /// The nick of the client whose address text is `address_port` (e.g.
    /// `127.0.0.1:50000`, or `[::1]:50000` for IPv6).
    #[must_use]
    pub fn of(address_port: &str) -> LegacyNick {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = Sha256::digest(address_port.as_bytes());
        let mut nick = *b"legacy-00000000";
        for (pair, byte) in nick[7..].chunks_exact_mut(2).zip(digest.iter()) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        LegacyNick(nick)
    }

    /// The nick as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII letters, digits and '-' are ever stored.
        core::str::from_utf8(&self.0).unwrap_or("legacy-")
    }
}

impl fmt::Display for LegacyNick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for LegacyNick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LegacyNick({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::names::is_valid_nick;

    #[test]
    fn nick_is_legacy_and_the_first_eight_hex_digits_of_sha256_of_the_address() {
        // Expected digests computed independently (Python hashlib).
        assert_eq!(
            LegacyNick::of("127.0.0.1:50000").as_str(),
            "legacy-ff4e22cd"
        );
        assert_eq!(LegacyNick::of("[::1]:7").as_str(), "legacy-89f32cee");
        assert!(is_valid_nick(LegacyNick::of("127.0.0.1:50000").as_str()));
        assert_eq!(
            std::format!("{:?}", LegacyNick::of("[::1]:7")),
            "LegacyNick(legacy-89f32cee)"
        );
    }
}
