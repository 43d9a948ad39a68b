//! What the fuzz targets share: the handshake vectors of `core/tests/vectors/`
//! (so that the targets start from a real session and reach the code behind
//! the tag check), an RNG that replays their random draws, and a splitter of
//! a byte stream into records.

use std::sync::OnceLock;

use dhchat_core::group::Group;
use dhchat_core::handshake::{AdmitAll, HelloOutcome, ServerHandshake, MAGIC_LEN};
use dhchat_core::identity::IdentityKey;
use dhchat_core::record::{HEADER_LEN, MAX_RECORD};
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

fn unhex(v: &Value, name: &str) -> Vec<u8> {
    let text = v[name].as_str().unwrap_or_default();
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
    /// vector's CLIENT_HELLO: its next client record is seq 1.
    pub fn server_session(&self) -> Session {
        let mut rng = ReplayRng::new(&[&self.server_x[..], &self.ivs[0]]);
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
        match s.read_client_hello(&mut hello, &mut AdmitAll) {
            Ok(HelloOutcome::Accepted(session, _)) => session,
            _ => panic!("the vector's CLIENT_HELLO is refused"),
        }
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

/// Splits `n` bytes off the front of `stream` (fewer if it is shorter).
pub fn take(stream: &[u8], n: usize) -> (&[u8], &[u8]) {
    stream.split_at(n.min(stream.len()))
}

/// Splits the next record off `stream` by its length field, the way a reader
/// frames it; a record cut short by the end of the stream is returned short.
pub fn next_record(stream: &[u8]) -> (Vec<u8>, &[u8]) {
    let len = match stream {
        [a, b, ..] => HEADER_LEN + usize::from(u16::from_be_bytes([*a, *b])),
        _ => stream.len(),
    };
    let (record, rest) = take(stream, len);
    (record.to_vec(), rest)
}

/// Opens the records of `stream` one after the other, as a session reads
/// them. Every delivered message must encode again; after the first error
/// nothing more may be delivered.
pub fn open_all(session: &mut Session, mut stream: &[u8]) {
    let mut failed = false;
    while !stream.is_empty() {
        let (mut record, rest) = next_record(stream);
        stream = rest;
        match session.open(&mut record) {
            Ok(msg) => {
                assert!(!failed, "a record was delivered after a failure");
                let mut out = vec![0u8; MAX_RECORD];
                let n = msg.encode(&mut out).expect("a delivered message encodes");
                assert_eq!(n, msg.encoded_len());
            }
            Err(e) => {
                // Every error maps to a wire reaction.
                let _ = e.reaction();
                failed = true;
            }
        }
    }
}
