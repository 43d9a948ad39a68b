//! Long-term Ed25519 identity keys and their text form `ed25519:<base64>`
//! (PROTOCOL.md section 3).
//!
//! Signatures are checked strictly (`verify_strict`: canonical encodings) and
//! keys of small order are refused wherever a key is loaded or received.

use core::fmt;
use core::str::FromStr;

use base64ct::{Base64Unpadded, Encoding};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;

/// The prefix of a key's text form.
pub const KEY_PREFIX: &str = "ed25519:";
/// Length of a key's text form: the prefix and 43 base64 characters.
pub const KEY_TEXT_LEN: usize = 8 + 43;

/// The context signed by the server: `"dhchat/1 server auth" || th`.
pub const SERVER_AUTH_CONTEXT: &[u8] = b"dhchat/1 server auth";
/// The context signed by the client: `"dhchat/1 client auth" || th`.
pub const CLIENT_AUTH_CONTEXT: &[u8] = b"dhchat/1 client auth";

/// Why a key could not be loaded or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The text does not start with `ed25519:`.
    MissingPrefix,
    /// The base64 part is not 43 characters of canonical unpadded base64.
    BadEncoding,
    /// The bytes are not a valid Ed25519 point.
    InvalidPoint,
    /// The key has small order (a weak key that any signature may match).
    WeakKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingPrefix => "a key must start with \"ed25519:\"",
            Self::BadEncoding => {
                "a key must be \"ed25519:\" and 43 characters of canonical base64 without padding"
            }
            Self::InvalidPoint => "the key is not a valid Ed25519 public key",
            Self::WeakKey => "the key has small order and is refused",
        })
    }
}

impl core::error::Error for KeyError {}

/// A validated Ed25519 public key (never of small order). Holds the 32
/// bytes that passed validation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Validates 32 bytes as an identity key.
    ///
    /// # Errors
    /// [`KeyError::InvalidPoint`] for bytes that do not decode to a point,
    /// [`KeyError::WeakKey`] for a key of small order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self(*bytes))
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Verifies `signature` over `context || transcript` strictly.
    ///
    /// Out of line, as [`IdentityKey::sign`]: the curve arithmetic's temporaries stay
    /// off the handshake caller's frame (a firmware's peak stack is that frame plus
    /// the DH exponentiation's).
    #[inline(never)]
    pub(crate) fn verify(
        &self,
        context: &[u8],
        transcript: &[u8; 32],
        signature: &[u8; 64],
    ) -> bool {
        let msg = signed_message(context, transcript);
        let sig = Signature::from_bytes(signature);
        // The bytes were validated on construction, so this decodes.
        VerifyingKey::from_bytes(&self.0)
            .and_then(|key| key.verify_strict(&msg[..context.len() + 32], &sig))
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", KeyText::new(self))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        KeyText::new(self).fmt(f)
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    /// Parses `ed25519:` and 43 characters of canonical unpadded base64.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let b64 = s.strip_prefix(KEY_PREFIX).ok_or(KeyError::MissingPrefix)?;
        if b64.len() != 43 {
            return Err(KeyError::BadEncoding);
        }
        let mut bytes = [0u8; 32];
        let decoded = Base64Unpadded::decode(b64, &mut bytes).map_err(|_| KeyError::BadEncoding)?;
        if decoded.len() != 32 {
            return Err(KeyError::BadEncoding);
        }
        // Refuse non-canonical encodings (stray low bits in the last character).
        let mut again = [0u8; 43];
        match Base64Unpadded::encode(&bytes, &mut again) {
            Ok(t) if t == b64 => {}
            _ => return Err(KeyError::BadEncoding),
        }
        Self::from_bytes(&bytes)
    }
}

/// The text form `ed25519:<43 base64 characters>` of a key, without allocation.
#[derive(Clone, Copy)]
pub struct KeyText {
    buf: [u8; KEY_TEXT_LEN],
}

impl KeyText {
    /// Formats a key.
    pub fn new(key: &PublicKey) -> Self {
        let mut buf = [0u8; KEY_TEXT_LEN];
        buf[..8].copy_from_slice(KEY_PREFIX.as_bytes());
        // 32 bytes always encode to exactly 43 characters.
        let _ = Base64Unpadded::encode(&key.to_bytes(), &mut buf[8..]);
        Self { buf }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf).unwrap_or("ed25519:?")
    }
}

impl fmt::Display for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A long-term Ed25519 identity (secret) key. Zeroized on drop; its `Debug`
/// output shows only the public half.
#[derive(Clone)]
pub struct IdentityKey(SigningKey);

impl IdentityKey {
    /// The identity key with this 32-byte seed (the secret key as stored in a
    /// key file).
    ///
    /// # Errors
    /// [`KeyError::WeakKey`] if the derived public key had small order (it
    /// cannot for a real seed; checked anyway so that every loaded key is).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let key = SigningKey::from_bytes(seed);
        if key.verifying_key().is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self(key))
    }

    /// A fresh random identity key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut seed[..]);
        Self(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for writing the key file. Handle with care.
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `context || transcript`. Out of line (see [`PublicKey::verify`]).
    #[inline(never)]
    pub(crate) fn sign(&self, context: &[u8], transcript: &[u8; 32]) -> [u8; 64] {
        let msg = signed_message(context, transcript);
        self.0.sign(&msg[..context.len() + 32]).to_bytes()
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IdentityKey(public: {})",
            KeyText::new(&self.public_key())
        )
    }
}

/// `context || transcript` in a fixed buffer (contexts are 20 bytes).
fn signed_message(context: &[u8], transcript: &[u8; 32]) -> [u8; 64] {
    let mut msg = [0u8; 64];
    let n = context.len().min(32);
    msg[..n].copy_from_slice(&context[..n]);
    msg[n..n + 32].copy_from_slice(transcript);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        let seed = [7u8; 32];
        IdentityKey::from_seed(&seed)
            .map(|k| k.public_key())
            .expect("valid seed")
    }

    #[test]
    fn text_form_round_trips() {
        let k = key();
        let text = KeyText::new(&k);
        assert_eq!(text.as_str().len(), KEY_TEXT_LEN);
        assert!(text.as_str().starts_with("ed25519:"));
        assert_eq!(text.as_str().parse::<PublicKey>(), Ok(k));
    }

    #[test]
    fn non_canonical_base64_is_refused() {
        let k = key();
        let text = KeyText::new(&k);
        let s = text.as_str();
        // Flip the low bits of the last character: same bytes under a lax decoder.
        let last = s.as_bytes()[s.len() - 1];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let idx = alphabet
            .iter()
            .position(|c| *c == last)
            .expect("base64 char");
        let mut bad = [0u8; KEY_TEXT_LEN];
        bad.copy_from_slice(s.as_bytes());
        bad[KEY_TEXT_LEN - 1] = alphabet[idx ^ 1];
        let bad = core::str::from_utf8(&bad).expect("ascii");
        assert_eq!(bad.parse::<PublicKey>(), Err(KeyError::BadEncoding));
    }

    #[test]
    fn malformed_texts_are_refused() {
        assert_eq!(
            "ssh-ed25519:AAAA".parse::<PublicKey>(),
            Err(KeyError::MissingPrefix)
        );
        assert_eq!(
            "ed25519:AAAA".parse::<PublicKey>(),
            Err(KeyError::BadEncoding)
        );
        assert_eq!(
            "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse::<PublicKey>(),
            Err(KeyError::BadEncoding)
        );
    }

    #[test]
    fn small_order_keys_are_refused() {
        // The identity point (small order) encoded canonically.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::WeakKey));
        // An all-zero encoding is a point of order 4.
        assert_eq!(PublicKey::from_bytes(&[0u8; 32]), Err(KeyError::WeakKey));
    }

    #[test]
    fn signatures_verify_only_for_their_context_and_transcript() {
        let sk = IdentityKey::from_seed(&[9u8; 32]).expect("valid seed");
        let th = [3u8; 32];
        let sig = sk.sign(SERVER_AUTH_CONTEXT, &th);
        let pk = sk.public_key();
        assert!(pk.verify(SERVER_AUTH_CONTEXT, &th, &sig));
        assert!(!pk.verify(CLIENT_AUTH_CONTEXT, &th, &sig));
        assert!(!pk.verify(SERVER_AUTH_CONTEXT, &[4u8; 32], &sig));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        extern crate std;
        use std::format;
        let sk = IdentityKey::from_seed(&[0x42u8; 32]).expect("valid seed");
        let dbg = format!("{sk:?}");
        assert!(dbg.contains("ed25519:"));
        assert!(!dbg.contains("42, 42"));
    }
}
