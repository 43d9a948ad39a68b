//! Helpers shared by the DH tests: test vectors, a replaying RNG, keys from given bytes.

extern crate std;

use core::convert::Infallible;
use rand_core::{TryCryptoRng, TryRng};
use std::vec::Vec;
use std::{format, vec};

use super::key::xlen;
use super::PrivateKey;
use crate::group::Group;

/// Includes a test vector file; the vectors' directory is named only here.
macro_rules! vector {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/",
            $name
        ))
    };
}
pub(super) use vector;

/// An RNG that returns given bytes in order and records the length of each request.
pub(super) struct ReplayRng {
    data: Vec<u8>,
    /// Bytes handed out so far.
    pub(super) pos: usize,
    /// The length of each request, in order.
    pub(super) requests: Vec<usize>,
}

impl ReplayRng {
    pub(super) fn new(chunks: &[&[u8]]) -> Self {
        ReplayRng {
            data: chunks.concat(),
            pos: 0,
            requests: Vec::new(),
        }
    }
}

impl TryRng for ReplayRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.pos + dst.len();
        assert!(end <= self.data.len(), "replay RNG exhausted");
        dst.copy_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        self.requests.push(dst.len());
        Ok(())
    }
}

impl TryCryptoRng for ReplayRng {}

pub(super) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// Decodes a hex string that may have an odd number of digits.
pub(super) fn unhex(s: &str) -> Vec<u8> {
    if s.len() % 2 == 1 {
        hex::decode(format!("0{s}")).unwrap()
    } else {
        hex::decode(s).unwrap()
    }
}

pub(super) fn field(v: &serde_json::Value, name: &str) -> Vec<u8> {
    unhex(v[name].as_str().unwrap())
}

pub(super) fn key_from(group: Group, x: &[u8]) -> PrivateKey {
    let mut rng = ReplayRng::new(&[x]);
    let key = PrivateKey::generate(group, &mut rng);
    assert_eq!(rng.requests, vec![xlen(group)]);
    assert_eq!(rng.pos, x.len());
    key
}
