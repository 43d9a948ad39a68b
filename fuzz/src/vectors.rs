//! The shared vectors of `core/tests/vectors/`, decoded, and an RNG that
//! replays their random draws: a state machine fed a vector's peer bytes
//! then derives the vector's keys, so the targets start from a real session
//! and reach the code behind the tag check.

use std::sync::OnceLock;

use dhchat_core::group::Group;
use dhchat_core::handshake::{AdmitAll, HelloOutcome, ServerHandshake, MAGIC_LEN};
use dhchat_core::identity::IdentityKey;
use dhchat_core::record::MAX_RECORD;
use dhchat_core::session::Session;
use serde_json::Value;

/// One handshake vector, decoded.
pub struct Vector {
    /// The group it uses.
    pub group: Group,
    /// The server's exponent (its first random draw).
    pub server_x: Vec<u8>,
    /// The client's exponent (its first random draw).
    pub client_x: Vec<u8>,
    /// The server identity key's seed.
    pub server_seed: [u8; 32],
    /// The client identity key's seed.
    pub client_seed: [u8; 32],
    /// SERVER_HELLO (MAGIC and the DH message).
    pub server_hello: Vec<u8>,
    /// CLIENT_KEY (MAGIC and the packed public value).
    pub client_key: Vec<u8>,
    /// The IVs of the records, in the order of `records`.
    pub ivs: Vec<Vec<u8>>,
    /// Every record, with its direction (`"s2c"` or `"c2s"`).
    pub records: Vec<(String, Vec<u8>)>,
    /// Records the client sends that the server must reject at seq 1.
    pub rejected_c2s: Vec<Vec<u8>>,
}

/// A hex field of a vector; an odd digit count (a small number written
/// without its leading zero, as the legacy modulus is) is read as if it had it.
fn unhex(v: &Value, name: &str) -> Vec<u8> {
    let text = v[name].as_str().unwrap_or_default();
    let text = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_string()
    };
    hex::decode(text).unwrap_or_else(|_| panic!("vector field {name} is not hex"))
}

fn seed(v: &Value, name: &str) -> [u8; 32] {
    unhex(v, name)
        .try_into()
        .unwrap_or_else(|_| panic!("vector field {name} is not 32 bytes"))
}

impl Vector {
    fn parse(text: &str, group: Group) -> Self {
        let v: Value = serde_json::from_str(text).expect("vector JSON");
        let records = v["records"].as_array().expect("records");
        Vector {
            group,
            server_x: unhex(&v, "server_x"),
            client_x: unhex(&v, "client_x"),
            server_seed: seed(&v, "server_identity_seed"),
            client_seed: seed(&v, "client_identity_seed"),
            server_hello: unhex(&v, "server_hello"),
            client_key: unhex(&v, "client_key"),
            ivs: records.iter().map(|r| unhex(r, "iv")).collect(),
            records: records
                .iter()
                .map(|r| {
                    let dir = r["direction"].as_str().unwrap_or_default().to_string();
                    (dir, unhex(r, "record"))
                })
                .collect(),
            rejected_c2s: v["rejected_c2s_records"]
                .as_array()
                .expect("rejected records")
                .iter()
                .map(|r| unhex(r, "record"))
                .collect(),
        }
    }

    /// The server's side after the vector's handshake, having accepted the
    /// vector's CLIENT_HELLO and sent WELCOME: its next client record is
    /// seq 1.
    pub fn server_session(&self) -> Session {
        let mut rng = ReplayRng::new(&[&self.server_x[..], &self.ivs[0], &self.ivs[2]]);
        let mut out = vec![0u8; MAX_RECORD];
        let (s, _) = ServerHandshake::start(self.group, &mut rng, &mut out).expect("start");
        let s = s
            .read_magic(self.client_key[..MAGIC_LEN].try_into().expect("magic"))
            .expect("client magic");
        let identity = IdentityKey::from_seed(&self.server_seed).expect("server seed");
        let (s, _) = s
            .read_client_key(&self.client_key[MAGIC_LEN..], &identity, &mut rng, &mut out)
            .expect("client key");
        let mut hello = self.records[1].1.clone();
        let admitted = match s.read_client_hello(&mut hello, &mut AdmitAll) {
            Ok(HelloOutcome::Accepted(admitted, _)) => admitted,
            _ => panic!("the vector's CLIENT_HELLO is refused"),
        };
        let (session, _) = admitted
            .welcome("alice", "fuzz", "", &mut rng, &mut out)
            .expect("WELCOME fits");
        session
    }
}

/// The ffdhe2048 and ffdhe3072 handshake vectors.
pub fn vectors() -> &'static [Vector; 2] {
    static VECTORS: OnceLock<[Vector; 2]> = OnceLock::new();
    VECTORS.get_or_init(|| {
        [
            Vector::parse(
                include_str!("../../core/tests/vectors/handshake-ffdhe2048.json"),
                Group::Ffdhe2048,
            ),
            Vector::parse(
                include_str!("../../core/tests/vectors/handshake-ffdhe3072.json"),
                Group::Ffdhe3072,
            ),
        ]
    })
}

/// An RNG that hands out the given bytes in order, then zeros: the vectors'
/// exponents come first, so a handshake fed the vector's peer bytes derives
/// the vector's keys.
pub struct ReplayRng {
    bytes: Vec<u8>,
    at: usize,
}

impl ReplayRng {
    /// Replays `parts`, concatenated.
    pub fn new(parts: &[&[u8]]) -> Self {
        Self {
            bytes: parts.concat(),
            at: 0,
        }
    }
}

impl rand_core::TryRng for ReplayRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.bytes.get(self.at).copied().unwrap_or(0);
            self.at += 1;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for ReplayRng {}

/// One case of the legacy vectors (`core/tests/vectors/legacy.json`).
pub struct LegacyVector {
    /// The modulus, big-endian.
    pub p: Vec<u8>,
    /// The generator, big-endian.
    pub g: Vec<u8>,
    /// The server's exponent.
    pub server_x: Vec<u8>,
    /// The client's exponent.
    pub client_x: Vec<u8>,
    /// The server's key message (2064 bytes).
    pub server_key: Vec<u8>,
    /// The client's key message (1024 bytes).
    pub client_key: Vec<u8>,
    /// The shared value, minimal big-endian bytes.
    pub shared_z: Vec<u8>,
    /// The messages on the wire (`iv || ciphertext`) and their texts.
    pub messages: Vec<(String, Vec<u8>)>,
}

/// The legacy vectors: an ffdhe2048 server (g = 2) and the original
/// server's wrapped modulus (g = 258).
pub fn legacy_vectors() -> &'static [LegacyVector] {
    static VECTORS: OnceLock<Vec<LegacyVector>> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let v: Value = serde_json::from_str(include_str!("../../core/tests/vectors/legacy.json"))
            .expect("legacy vector JSON");
        v["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| {
                let g = c["g"].as_u64().expect("g");
                let g = g.to_be_bytes();
                let g = g[g.iter().position(|&b| b != 0).unwrap_or(7)..].to_vec();
                LegacyVector {
                    p: unhex(c, "p"),
                    g,
                    server_x: unhex(c, "server_x"),
                    client_x: unhex(c, "client_x"),
                    server_key: unhex(c, "server_dh_message"),
                    client_key: unhex(c, "client_key"),
                    shared_z: unhex(c, "shared_z_minimal"),
                    messages: c["messages"]
                        .as_array()
                        .expect("messages")
                        .iter()
                        .map(|m| {
                            let text = m["text"].as_str().unwrap_or_default().to_string();
                            (text, unhex(m, "wire"))
                        })
                        .collect(),
                }
            })
            .collect()
    })
}
