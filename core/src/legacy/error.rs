//! Why a legacy-protocol operation failed, and what the connection does about it.

use core::fmt;

use crate::error::Reaction;

/// Why a legacy-protocol operation failed.
///
/// Errors about peer input map to [`Reaction::CloseSilently`] (PROTOCOL.md section 6:
/// close the connection, send nothing); the others are the caller's own mistakes
/// ([`Reaction::Local`]). No variant carries key material or message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegacyError {
    /// A key message does not have its fixed length (2064 or 1024 bytes).
    BadKeyLength,
    /// The modulus is even, or not 2048 to 8192 bits long.
    BadModulus,
    /// The generator is not in `2..p`.
    BadGenerator,
    /// A public value is not in `2..=p-2`.
    PublicValueOutOfRange,
    /// The shared value is 0 or 1 (possible only with a malicious composite modulus).
    DegenerateSharedValue,
    /// A read is longer than 1024 bytes.
    ReadTooLong,
    /// A read is not a multiple of 16 bytes.
    ReadMisaligned,
    /// A read is shorter than 32 bytes (an IV and one block).
    ReadTooShort,
    /// A message does not decrypt to UTF-8.
    NotUtf8,
    /// Text to send is longer than one message can hold (or than the limit given).
    TextTooLong,
    /// Text to send is not plain ASCII (an original server cannot relay it).
    TextNotAscii,
    /// An output buffer is too short.
    BufferTooSmall,
}

impl LegacyError {
    /// What the connection does about this error.
    #[must_use]
    pub fn reaction(&self) -> Reaction {
        match self {
            LegacyError::TextTooLong | LegacyError::TextNotAscii | LegacyError::BufferTooSmall => {
                Reaction::Local
            }
            _ => Reaction::CloseSilently,
        }
    }
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LegacyError::BadKeyLength => "legacy key message of the wrong length",
            LegacyError::BadModulus => {
                "legacy modulus refused: it must be odd and 2048 to 8192 bits long"
            }
            LegacyError::BadGenerator => "legacy generator refused: it must be in 2..p",
            LegacyError::PublicValueOutOfRange => {
                "legacy public value refused: it must be in 2..p-2"
            }
            LegacyError::DegenerateSharedValue => {
                "legacy shared value is 0 or 1: the peer's numbers are malicious"
            }
            LegacyError::ReadTooLong => "legacy message longer than 1024 bytes",
            LegacyError::ReadMisaligned => "legacy message length is not a multiple of 16",
            LegacyError::ReadTooShort => "legacy message shorter than 32 bytes",
            LegacyError::NotUtf8 => "legacy message does not decrypt to UTF-8 text",
            LegacyError::TextTooLong => "text too long for one legacy message",
            LegacyError::TextNotAscii => {
                "text is not plain ASCII; an original legacy server cannot relay it"
            }
            LegacyError::BufferTooSmall => "output buffer too small for the legacy message",
        })
    }
}

impl core::error::Error for LegacyError {}
