//! Sessions keyed by the shared handshake vectors (`core/tests/vectors/`):
//! both state machines are driven with the vector's random draws, so the
//! session keys are the vector's, and can be found in memory and marked
//! secret. The handshake itself runs with public values; the DH and signing
//! checks cover its secret parts.

use dhchat_core::group::Group;
use dhchat_core::handshake::{
    AdmitAll, ClientConfig, ClientHandshake, HelloOutcome, ServerHandshake, MAGIC_LEN,
};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::record::MAX_RECORD;
use dhchat_core::session::Session;
use serde_json::Value;

/// One handshake vector.
pub struct Vector {
    group: Group,
    v: Value,
    /// Rejected client records: why, the seq they were made for, the bytes.
    pub rejected_c2s: Vec<(String, usize, Vec<u8>)>,
}

fn unhex(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().unwrap_or_default()).unwrap_or_default()
}

fn seed(v: &Value, name: &str) -> Result<[u8; 32], String> {
    unhex(v, name)
        .try_into()
        .map_err(|_| format!("vector field {name} is not 32 bytes"))
}

/// The ffdhe2048 and ffdhe3072 vectors.
pub fn all() -> Vec<Vector> {
    [
        (
            include_str!("../../core/tests/vectors/handshake-ffdhe2048.json"),
            Group::Ffdhe2048,
        ),
        (
            include_str!("../../core/tests/vectors/handshake-ffdhe3072.json"),
            Group::Ffdhe3072,
        ),
    ]
    .into_iter()
    .map(|(text, group)| {
        let v: Value = serde_json::from_str(text).expect("vector JSON");
        let rejected_c2s = v["rejected_c2s_records"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        let why = r["why"].as_str().unwrap_or_default().to_string();
                        let seq = r["seq"].as_u64().unwrap_or(1) as usize;
                        (why, seq, unhex(r, "record"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Vector {
            group,
            v,
            rejected_c2s,
        }
    })
    .collect()
}

/// Replays given bytes as random draws, then zeros.
struct Replay(Vec<u8>, usize);

impl rand_core::TryRng for Replay {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.0.get(self.1).copied().unwrap_or(0);
            self.1 += 1;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Replay {}

impl Vector {
    fn records(&self) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        self.v["records"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        let dir = r["direction"].as_str().unwrap_or_default().to_string();
                        (dir, unhex(r, "record"), unhex(r, "iv"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The client's records after CLIENT_HELLO (seq 1 on), in order.
    pub fn c2s_after_hello(&self) -> impl Iterator<Item = Vec<u8>> {
        self.records()
            .into_iter()
            .filter(|(dir, _, _)| dir == "c2s")
            .skip(1)
            .map(|(_, record, _)| record)
    }

    /// The client and server sessions after the vector's handshake: the
    /// server's next client record is seq 1, the client's next server
    /// record seq 2.
    pub fn sessions(&self) -> Result<(Session, Session), String> {
        let e = |e: dhchat_core::Error| e.to_string();
        let records = self.records();
        let iv = |i: usize| records.get(i).map(|r| r.2.clone()).unwrap_or_default();
        let mut out = vec![0u8; MAX_RECORD];
        let mut server_rng = Replay([unhex(&self.v, "server_x"), iv(0), iv(2)].concat(), 0);
        let mut client_rng = Replay([unhex(&self.v, "client_x"), iv(1)].concat(), 0);
        let server_id = IdentityKey::from_seed(&seed(&self.v, "server_identity_seed")?)
            .map_err(|e| e.to_string())?;
        let client_id = IdentityKey::from_seed(&seed(&self.v, "client_identity_seed")?)
            .map_err(|e| e.to_string())?;
        let mut pinned: PublicKey = server_id.public_key();

        let (server, n) =
            ServerHandshake::start(self.group, &mut server_rng, &mut out).map_err(e)?;
        let hello = out[..n].to_vec();
        let client = ClientHandshake::new(2048)
            .read_magic(hello[..MAGIC_LEN].try_into().map_err(|_| "magic")?)
            .map_err(e)?;
        let (client, n) = client
            .read_dh(&hello[MAGIC_LEN..], &mut client_rng, &mut out)
            .map_err(e)?;
        let key = out[..n].to_vec();
        let server = server
            .read_magic(key[..MAGIC_LEN].try_into().map_err(|_| "magic")?)
            .map_err(e)?;
        let (server, n) = server
            .read_client_key(&key[MAGIC_LEN..], &server_id, &mut server_rng, &mut out)
            .map_err(e)?;
        let mut auth = out[..n].to_vec();
        let mut config = ClientConfig::new("alice");
        config.identity = Some(&client_id);
        let (client, n) = client
            .read_server_auth(&mut auth, &mut pinned, &config, &mut client_rng, &mut out)
            .map_err(e)?;
        let mut hello = out[..n].to_vec();
        let admitted = match server
            .read_client_hello(&mut hello, &mut AdmitAll)
            .map_err(e)?
        {
            HelloOutcome::Accepted(admitted, _) => admitted,
            HelloOutcome::Refused(_, why) => return Err(format!("refused: {why}")),
        };
        let (server, n) = admitted
            .welcome("alice", "ct-check", "", &mut server_rng, &mut out)
            .map_err(e)?;
        let (client, _) = client.read_welcome(&mut out[..n]).map_err(e)?;
        Ok((client, server))
    }

    /// Marks the session's key state secret where the session holds it: the
    /// AES keys and the keyed HMAC states of both directions, reported by
    /// core's `test-tools` hook (the HMAC states cannot be found by value).
    pub fn keys_secret(&self, session: &mut Session) -> Result<(), String> {
        let regions = session.secret_regions();
        crate::memcheck::secret_regions(session, &regions)
    }
}
