//! The finite-field Diffie-Hellman groups of the protocol (PROTOCOL.md section 1).
//!
//! Only the RFC 7919 groups ffdhe2048, ffdhe3072 and ffdhe4096 are accepted, all with
//! generator 2. The primes are embedded here as big-endian constants.
//!
//! Which of them a build links is chosen by the cargo features `ffdhe2048`, `ffdhe3072`
//! and `ffdhe4096` (all three by default). A group whose feature is off does not exist in
//! that build: [`Group`] has no variant for it, [`Group::ALL`] and [`Group::from_name`]
//! do not know it, its prime and its exponentiation code are not linked, and [`identify`]
//! does not recognise it, so a peer proposing it is refused like any unsupported group
//! (`DhError::UnknownGroup`: close the connection, send nothing; PROTOCOL.md section 6).

use core::fmt;
use core::str::FromStr;

#[cfg(not(any(feature = "ffdhe2048", feature = "ffdhe3072", feature = "ffdhe4096")))]
compile_error!(
    "dhchat-core needs at least one DH group: enable one or more of the features \
     `ffdhe2048`, `ffdhe3072` and `ffdhe4096`"
);

/// Width in bytes of the packed prime field of a DH message (`LEN_PRIME`).
const PRIME_FIELD_LEN: usize = 1024;
/// Width in bytes of the packed generator field of a DH message (`LEN_GEN`).
const GEN_FIELD_LEN: usize = 16;

/// An RFC 7919 finite-field Diffie-Hellman group compiled into this build.
///
/// Each variant exists only with its cargo feature (all three by default), so the enum
/// is `non_exhaustive`: a match on it needs a wildcard arm, which keeps code that
/// matches on it compiling whichever features other crates in the build turn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Group {
    /// The 2048-bit group `ffdhe2048` (RFC 7919 appendix A.1; feature `ffdhe2048`).
    #[cfg(feature = "ffdhe2048")]
    Ffdhe2048,
    /// The 3072-bit group `ffdhe3072` (RFC 7919 appendix A.2; feature `ffdhe3072`).
    #[cfg(feature = "ffdhe3072")]
    Ffdhe3072,
    /// The 4096-bit group `ffdhe4096` (RFC 7919 appendix A.3; feature `ffdhe4096`).
    #[cfg(feature = "ffdhe4096")]
    Ffdhe4096,
}

/// How many groups this build has (one per enabled group feature).
const GROUP_COUNT: usize = cfg!(feature = "ffdhe2048") as usize
    + cfg!(feature = "ffdhe3072") as usize
    + cfg!(feature = "ffdhe4096") as usize;

impl Group {
    /// Every group compiled into this build, smallest first (all three by default).
    pub const ALL: [Group; GROUP_COUNT] = [
        #[cfg(feature = "ffdhe2048")]
        Group::Ffdhe2048,
        #[cfg(feature = "ffdhe3072")]
        Group::Ffdhe3072,
        #[cfg(feature = "ffdhe4096")]
        Group::Ffdhe4096,
    ];

    /// The group's RFC 7919 name, e.g. `"ffdhe2048"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "ffdhe2048")]
            Group::Ffdhe2048 => "ffdhe2048",
            #[cfg(feature = "ffdhe3072")]
            Group::Ffdhe3072 => "ffdhe3072",
            #[cfg(feature = "ffdhe4096")]
            Group::Ffdhe4096 => "ffdhe4096",
        }
    }

    /// The group named `name` (exact, lowercase RFC 7919 name), or `None`, also for the
    /// name of a group this build was compiled without.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The size of the prime in bits (2048, 3072 or 4096).
    #[must_use]
    pub const fn bits(self) -> u32 {
        match self {
            #[cfg(feature = "ffdhe2048")]
            Group::Ffdhe2048 => 2048,
            #[cfg(feature = "ffdhe3072")]
            Group::Ffdhe3072 => 3072,
            #[cfg(feature = "ffdhe4096")]
            Group::Ffdhe4096 => 4096,
        }
    }

    /// The size of the prime in bytes (`plen`: 256, 384 or 512).
    #[must_use]
    pub const fn plen(self) -> usize {
        match self {
            #[cfg(feature = "ffdhe2048")]
            Group::Ffdhe2048 => 256,
            #[cfg(feature = "ffdhe3072")]
            Group::Ffdhe3072 => 384,
            #[cfg(feature = "ffdhe4096")]
            Group::Ffdhe4096 => 512,
        }
    }

    /// The number of bits of a private exponent (`xbits`: 256, 320 or 384).
    #[must_use]
    pub const fn xbits(self) -> u32 {
        match self {
            #[cfg(feature = "ffdhe2048")]
            Group::Ffdhe2048 => 256,
            #[cfg(feature = "ffdhe3072")]
            Group::Ffdhe3072 => 320,
            #[cfg(feature = "ffdhe4096")]
            Group::Ffdhe4096 => 384,
        }
    }

    /// The generator g (2 for every group).
    #[must_use]
    pub const fn generator(self) -> u8 {
        2
    }

    /// The prime p as exactly [`plen`](Group::plen) big-endian bytes.
    #[must_use]
    pub const fn prime(self) -> &'static [u8] {
        match self {
            #[cfg(feature = "ffdhe2048")]
            Group::Ffdhe2048 => &FFDHE2048_P,
            #[cfg(feature = "ffdhe3072")]
            Group::Ffdhe3072 => &FFDHE3072_P,
            #[cfg(feature = "ffdhe4096")]
            Group::Ffdhe4096 => &FFDHE4096_P,
        }
    }

    /// The largest [`plen`](Group::plen) of the groups in this build.
    pub(crate) const MAX_PLEN: usize = {
        let mut max = 0;
        let mut i = 0;
        while i < Group::ALL.len() {
            if Group::ALL[i].plen() > max {
                max = Group::ALL[i].plen();
            }
            i += 1;
        }
        max
    };

    /// The largest [`xbits`](Group::xbits) of the groups in this build.
    pub(crate) const MAX_XBITS: u32 = {
        let mut max = 0;
        let mut i = 0;
        while i < Group::ALL.len() {
            if Group::ALL[i].xbits() > max {
                max = Group::ALL[i].xbits();
            }
            i += 1;
        }
        max
    };
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Writes the names of the groups in this build, e.g. `ffdhe2048, ffdhe3072 or
/// ffdhe4096` (for error messages).
pub(crate) fn write_group_names(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let count = Group::ALL.len();
    for (i, group) in Group::ALL.into_iter().enumerate() {
        let sep = match count - i {
            _ if i == 0 => "",
            1 => " or ",
            _ => ", ",
        };
        f.write_str(sep)?;
        f.write_str(group.name())?;
    }
    Ok(())
}

/// The error of parsing a [`Group`] from a string that names no group of this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownGroupName;

impl fmt::Display for UnknownGroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown DH group name: use ")?;
        write_group_names(f)
    }
}

impl core::error::Error for UnknownGroupName {}

impl FromStr for Group {
    type Err = UnknownGroupName;

    /// Parses an exact RFC 7919 group name.
    ///
    /// # Errors
    ///
    /// [`UnknownGroupName`] when `s` is not `ffdhe2048`, `ffdhe3072` or `ffdhe4096`, or
    /// names a group this build was compiled without.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Group::from_name(s).ok_or(UnknownGroupName)
    }
}

/// Which group of this build a received DH message announces.
///
/// `p_field` is the packed 1024-byte prime field and `g_field` the packed 16-byte
/// generator field of a DH message. The result is the group of [`Group::ALL`] whose prime, left-padded with
/// zeros to 1024 bytes, equals `p_field` exactly and whose generator field is the value 2
/// left-padded to 16 bytes; any other input (wrong field lengths, a prime that differs in
/// any bit, another generator, a group this build was compiled without) gives `None`.
/// The inputs are public: this runs in variable time.
#[must_use]
pub fn identify(p_field: &[u8], g_field: &[u8]) -> Option<Group> {
    if p_field.len() != PRIME_FIELD_LEN || g_field.len() != GEN_FIELD_LEN {
        return None;
    }
    let (g_pad, g_value) = g_field.split_at(GEN_FIELD_LEN - 1);
    if g_pad.iter().any(|&b| b != 0) || g_value != [2] {
        return None;
    }
    Group::ALL.into_iter().find(|group| {
        let prime = group.prime();
        let (pad, value) = p_field.split_at(PRIME_FIELD_LEN - prime.len());
        pad.iter().all(|&b| b == 0) && value == prime
    })
}

/// Decodes a hex string (whitespace-free, even length) into `N` bytes at compile time.
///
/// Only used in constant initialisers: a malformed constant fails the build, never a
/// running program.
const fn hex_bytes<const N: usize>(hex: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("invalid hex digit in a group constant"),
        }
    }
    let s = hex.as_bytes();
    assert!(s.len() == 2 * N, "group constant has the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// The ffdhe2048 prime (RFC 7919 appendix A.1), big-endian.
#[cfg(feature = "ffdhe2048")]
static FFDHE2048_P: [u8; 256] = hex_bytes(concat!(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695",
    "A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617A",
    "D3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935",
    "984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797A",
    "BC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4",
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F61",
    "9172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005",
    "C58EF1837D1683B2C6F34A26C1B2EFFA886B423861285C97FFFFFFFFFFFFFFFF",
));

/// The ffdhe3072 prime (RFC 7919 appendix A.2), big-endian.
#[cfg(feature = "ffdhe3072")]
static FFDHE3072_P: [u8; 384] = hex_bytes(concat!(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695",
    "A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617A",
    "D3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935",
    "984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797A",
    "BC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4",
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F61",
    "9172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005",
    "C58EF1837D1683B2C6F34A26C1B2EFFA886B4238611FCFDCDE355B3B6519035B",
    "BC34F4DEF99C023861B46FC9D6E6C9077AD91D2691F7F7EE598CB0FAC186D91C",
    "AEFE130985139270B4130C93BC437944F4FD4452E2D74DD364F2E21E71F54BFF",
    "5CAE82AB9C9DF69EE86D2BC522363A0DABC521979B0DEADA1DBF9A42D5C4484E",
    "0ABCD06BFA53DDEF3C1B20EE3FD59D7C25E41D2B66C62E37FFFFFFFFFFFFFFFF",
));

/// The ffdhe4096 prime (RFC 7919 appendix A.3), big-endian.
#[cfg(feature = "ffdhe4096")]
static FFDHE4096_P: [u8; 512] = hex_bytes(concat!(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695",
    "A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617A",
    "D3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935",
    "984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797A",
    "BC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4",
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F61",
    "9172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005",
    "C58EF1837D1683B2C6F34A26C1B2EFFA886B4238611FCFDCDE355B3B6519035B",
    "BC34F4DEF99C023861B46FC9D6E6C9077AD91D2691F7F7EE598CB0FAC186D91C",
    "AEFE130985139270B4130C93BC437944F4FD4452E2D74DD364F2E21E71F54BFF",
    "5CAE82AB9C9DF69EE86D2BC522363A0DABC521979B0DEADA1DBF9A42D5C4484E",
    "0ABCD06BFA53DDEF3C1B20EE3FD59D7C25E41D2B669E1EF16E6F52C3164DF4FB",
    "7930E9E4E58857B6AC7D5F42D69F6D187763CF1D5503400487F55BA57E31CC7A",
    "7135C886EFB4318AED6A1E012D9E6832A907600A918130C46DC778F971AD0038",
    "092999A333CB8B7A1A1DB93D7140003C2A4ECEA9F98D0ACC0A8291CDCEC97DCF",
    "8EC9B55A7F88A46B4DB5A851F44182E1C68A007E5E655F6AFFFFFFFFFFFFFFFF",
));

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::ToString;

    /// The primes as printed by `openssl asn1parse` of
    /// `openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdheNNNN` (OpenSSL 3.0).
    const OPENSSL_HEX: [&str; 3] = [
        "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff",
        "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff",
        "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b669e1ef16e6f52c3164df4fb7930e9e4e58857b6ac7d5f42d69f6d187763cf1d5503400487f55ba57e31cc7a7135c886efb4318aed6a1e012d9e6832a907600a918130c46dc778f971ad0038092999a333cb8b7a1a1db93d7140003c2a4ecea9f98d0acc0a8291cdcec97dcf8ec9b55a7f88a46b4db5a851f44182e1c68a007e5e655f6affffffffffffffff",
    ];

    fn fields(group: Group) -> ([u8; 1024], [u8; 16]) {
        let mut p = [0u8; 1024];
        let prime = group.prime();
        p[1024 - prime.len()..].copy_from_slice(prime);
        let mut g = [0u8; 16];
        g[15] = 2;
        (p, g)
    }

    #[test]
    fn primes_match_openssl() {
        for (group, expected) in Group::ALL.into_iter().zip(OPENSSL_HEX) {
            assert_eq!(hex::encode(group.prime()), expected, "{group}");
        }
    }

    #[test]
    fn attributes() {
        for group in Group::ALL {
            let p = group.prime();
            assert_eq!(p.len(), group.plen());
            assert_eq!(group.bits() as usize, 8 * group.plen());
            assert_eq!(p[0], 0xff, "top bit set: p has exactly bits() bits");
            assert_eq!(p[p.len() - 1] & 1, 1, "odd");
            assert_eq!(group.generator(), 2);
            assert_eq!(group.xbits() % 8, 0);
            assert_eq!(group.to_string(), group.name());
            assert_eq!(Group::from_name(group.name()), Some(group));
            assert_eq!(group.name().parse::<Group>(), Ok(group));
        }
        assert_eq!(Group::Ffdhe2048.xbits(), 256);
        assert_eq!(Group::Ffdhe3072.xbits(), 320);
        assert_eq!(Group::Ffdhe4096.xbits(), 384);
        assert_eq!(Group::from_name("FFDHE2048"), None);
        assert_eq!(Group::from_name("ffdhe1024"), None);
        assert_eq!("modp2048".parse::<Group>(), Err(UnknownGroupName));
    }

    #[test]
    fn identify_recognises_each_group() {
        for group in Group::ALL {
            let (p, g) = fields(group);
            assert_eq!(identify(&p, &g), Some(group));
        }
    }

    #[test]
    fn identify_refuses_changed_bits() {
        for group in Group::ALL {
            let (p, g) = fields(group);
            // Every bit of the prime's bytes, and a bit in the zero padding.
            for byte in (1024 - group.plen() - 1)..1024 {
                for bit in [0u8, 3, 7] {
                    let mut changed = p;
                    changed[byte] ^= 1 << bit;
                    assert_eq!(identify(&changed, &g), None, "{group} byte {byte}");
                }
            }
            let mut changed = p;
            changed[0] = 1;
            assert_eq!(identify(&changed, &g), None);
        }
    }

    #[test]
    fn identify_refuses_other_generators_and_lengths() {
        for group in Group::ALL {
            let (p, g) = fields(group);
            for value in [0u8, 1, 3, 5] {
                let mut other = g;
                other[15] = value;
                assert_eq!(identify(&p, &other), None);
            }
            let mut padded = g;
            padded[0] = 1;
            assert_eq!(identify(&p, &padded), None);
            assert_eq!(identify(&p[1..], &g), None);
            assert_eq!(identify(&p, &g[1..]), None);
            // The prime shifted one byte left (wrong padding) is a different number.
            let mut shifted = [0u8; 1024];
            shifted[..1023].copy_from_slice(&p[1..]);
            assert_eq!(identify(&shifted, &g), None);
        }
    }

    #[test]
    fn identify_refuses_legacy_composite() {
        // The "original server" modulus of legacy.json: 0x010100 || ffdhe2048, an
        // MPI-wrapped composite of 2065 bits, sent with g = 258.
        let mut p = [0u8; 1024];
        p[1024 - 259..1024 - 256].copy_from_slice(&[0x01, 0x01, 0x00]);
        p[1024 - 256..].copy_from_slice(Group::Ffdhe2048.prime());
        let mut g = [0u8; 16];
        g[14] = 0x01;
        g[15] = 0x02;
        assert_eq!(identify(&p, &g), None);
        g[14] = 0;
        assert_eq!(identify(&p, &g), None);
    }
}
