//! Why a Diffie-Hellman operation failed.

use core::fmt;

/// Why a Diffie-Hellman operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DhError {
    /// A value has more significant bytes than the field or size it must fit in.
    ValueTooWide,
    /// A DH message announces a (p, g) that is not one of the groups of this build
    /// (`group::Group::ALL`: an RFC 7919 group whose feature is off is unknown too).
    UnknownGroup,
    /// A received public value is not in `2..=p-2`.
    PublicValueOutOfRange,
    /// The computed shared value is 1.
    SharedValueIsOne,
    /// An output buffer is shorter than the value to be written into it.
    BufferTooSmall,
    /// An input has the wrong length for its format.
    BadLength,
    /// A modulus is even, smaller than 3, or wider than the arithmetic chosen for it.
    InvalidModulus,
}

impl fmt::Display for DhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            DhError::ValueTooWide => {
                "a DH value is wider than its field; the peer sent a malformed DH message"
            }
            DhError::UnknownGroup => {
                f.write_str("the peer proposed a DH group that is not ")?;
                crate::group::write_group_names(f)?;
                return f.write_str(
                    " with generator 2 (the groups of this build); it may be a legacy or \
                     misconfigured peer",
                );
            }
            DhError::PublicValueOutOfRange => {
                "the peer's DH public value is outside 2..p-2; the peer is faulty or malicious, \
                 and the handshake was aborted"
            }
            DhError::SharedValueIsOne => {
                "the DH shared value is 1; the peer's public value is invalid, and the \
                 handshake was aborted"
            }
            DhError::BufferTooSmall => "an output buffer is too small for the DH value",
            DhError::BadLength => {
                "a DH message has the wrong length; the peer does not speak this protocol \
                 version"
            }
            DhError::InvalidModulus => {
                "the DH modulus is even, below 3, or too wide for the arithmetic used"
            }
        };
        f.write_str(text)
    }
}

impl core::error::Error for DhError {}
