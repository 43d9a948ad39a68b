//! The key schedule of PROTOCOL.md section 3: transcript hash, HKDF-SHA256,
//! the four directional keys and the session fingerprint.

use core::fmt;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of the transcript hash.
pub const TRANSCRIPT_LEN: usize = 32;

/// The running transcript hash `H(SERVER_HELLO || CLIENT_KEY)`.
#[derive(Clone, Default)]
pub struct Transcript(Sha256);

impl Transcript {
    /// A new, empty transcript.
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    /// Appends handshake bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The final hash `th`.
    pub fn finish(self) -> [u8; TRANSCRIPT_LEN] {
        self.0.finalize().into()
    }
}

/// The keys of one direction: AES-256 key and HMAC-SHA256 key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DirectionKeys {
    pub(crate) enc: [u8; 32],
    pub(crate) mac: [u8; 32],
}

impl fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirectionKeys(<redacted>)")
    }
}

/// The session keys derived from the shared value and the transcript.
#[derive(Clone)]
pub struct SessionKeys {
    /// Keys for records from the client.
    pub(crate) c2s: DirectionKeys,
    /// Keys for records from the server.
    pub(crate) s2c: DirectionKeys,
    /// The session fingerprint.
    pub(crate) fingerprint: Fingerprint,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Derives the session keys: `PRK = HKDF-Extract(th, Z)` and the labelled
/// expansions of section 3. `z` is the shared value packed to exactly `plen`
/// bytes.
pub fn derive(z: &[u8], th: &[u8; TRANSCRIPT_LEN]) -> SessionKeys {
    let hk = Hkdf::<Sha256>::new(Some(th), z);
    let mut keys = SessionKeys {
        c2s: DirectionKeys {
            enc: [0; 32],
            mac: [0; 32],
        },
        s2c: DirectionKeys {
            enc: [0; 32],
            mac: [0; 32],
        },
        fingerprint: Fingerprint([0; 16]),
    };
    // Output lengths of 32 and 16 bytes are far below HKDF's limit of 8160.
    let _ = hk.expand(b"dhchat/1 c2s enc", &mut keys.c2s.enc);
    let _ = hk.expand(b"dhchat/1 c2s mac", &mut keys.c2s.mac);
    let _ = hk.expand(b"dhchat/1 s2c enc", &mut keys.s2c.enc);
    let _ = hk.expand(b"dhchat/1 s2c mac", &mut keys.s2c.mac);
    let _ = hk.expand(b"dhchat/1 fingerprint", &mut keys.fingerprint.0);
    keys
}

/// The 16-byte session fingerprint. Both ends of one session compute the same
/// value; people compare its text form (`Display`): 8 groups of 4 lowercase hex
/// digits joined by `-`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub(crate) [u8; 16]);

/// Length of the fingerprint's text form.
pub const FINGERPRINT_TEXT_LEN: usize = 39;

impl Fingerprint {
    /// The raw bytes (not secret: they are shown to people).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The text form, `3f2a-9c1b-...`, without allocation.
    pub fn to_text(&self) -> FingerprintText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [b'-'; FINGERPRINT_TEXT_LEN];
        let mut pos = 0;
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 && i % 2 == 0 {
                pos += 1; // leave the '-'
            }
            buf[pos] = HEX[usize::from(byte >> 4)];
            buf[pos + 1] = HEX[usize::from(byte & 0x0f)];
            pos += 2;
        }
        FingerprintText(buf)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_text().as_str())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The text form of a [`Fingerprint`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FingerprintText([u8; FINGERPRINT_TEXT_LEN]);

impl FingerprintText {
    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for FingerprintText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn fingerprint_text_is_eight_dashed_groups() {
        let fp = Fingerprint([
            0x06, 0x75, 0x76, 0xe6, 0xc3, 0x23, 0x39, 0xf2, 0xd7, 0x0a, 0xa3, 0xb6, 0x5a, 0x8d,
            0xd4, 0xe3,
        ]);
        assert_eq!(
            fp.to_text().as_str(),
            "0675-76e6-c323-39f2-d70a-a3b6-5a8d-d4e3"
        );
    }

    fn unhex(v: &serde_json::Value, name: &str) -> std::vec::Vec<u8> {
        hex::decode(v[name].as_str().expect("field")).expect("hex")
    }

    #[test]
    fn keys_and_fingerprint_match_both_vector_files() {
        extern crate std;
        for file in ["handshake-ffdhe2048.json", "handshake-ffdhe3072.json"] {
            let path = std::format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).expect("vector file");
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            let z = unhex(&v, "shared_Z");
            let th: [u8; 32] = unhex(&v, "transcript_hash").try_into().expect("32 bytes");
            let (prk, _) = Hkdf::<Sha256>::extract(Some(&th), &z);
            assert_eq!(prk.to_vec(), unhex(&v, "prk"), "{file}: prk");
            let keys = derive(&z, &th);
            assert_eq!(
                keys.c2s.enc.to_vec(),
                unhex(&v, "c2s_enc"),
                "{file}: c2s_enc"
            );
            assert_eq!(
                keys.c2s.mac.to_vec(),
                unhex(&v, "c2s_mac"),
                "{file}: c2s_mac"
            );
            assert_eq!(
                keys.s2c.enc.to_vec(),
                unhex(&v, "s2c_enc"),
                "{file}: s2c_enc"
            );
            assert_eq!(
                keys.s2c.mac.to_vec(),
                unhex(&v, "s2c_mac"),
                "{file}: s2c_mac"
            );
            assert_eq!(
                keys.fingerprint.0.to_vec(),
                unhex(&v, "fingerprint"),
                "{file}: fingerprint"
            );
            assert_eq!(
                keys.fingerprint.to_text().as_str(),
                v["fingerprint_text"].as_str().expect("text"),
                "{file}: fingerprint text"
            );
        }
    }

    #[test]
    fn debug_of_keys_is_redacted() {
        extern crate std;
        let keys = derive(&[1u8; 256], &[2u8; 32]);
        let text = std::format!("{:?}", keys);
        assert!(!text.contains(&std::format!("{:?}", keys.c2s.enc)));
        assert!(text.contains("Fingerprint("));
    }
}
