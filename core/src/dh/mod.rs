//! Finite-field Diffie-Hellman, by the objects of the specification:
//!
//! | module | what it holds | PROTOCOL.md |
//! |---|---|---|
//! | `packing` | fixed-width packing of DH messages ([`pack`], [`unpack`], [`write_dh_message`], [`parse_dh_message`]) | section 2 |
//! | `key` | private exponents, public values and their range check, shared values ([`PrivateKey`], [`SharedValue`], [`check_public`]) | section 1 |
//! | `modpow` | the constant-time exponentiations behind them ([`modpow`] for other moduli) | section 1 |
//! | `comb` | key generation by a fixed-base comb over compile-time tables (feature `precomputed-tables`, 64-bit) | section 1 |
//! | `comba` | the 64-bit Montgomery multiplication and squaring, by product scanning | section 1 |
//! | `monty` | the Montgomery arithmetic they run on | section 1 |
//! | `error` | [`DhError`] | section 6 |
//!
//! Everything here works on caller-provided buffers: no allocation, and no panic on any
//! input received from a peer.

#[cfg(all(feature = "precomputed-tables", target_pointer_width = "64"))]
mod comb;
#[cfg(target_pointer_width = "64")]
mod comba;
mod error;
mod key;
mod modpow;
mod monty;
mod packing;
#[cfg(target_pointer_width = "64")]
mod square64;

#[cfg(test)]
mod test_support;

pub use error::DhError;
pub use key::{check_public, PrivateKey, SharedValue};
pub use modpow::modpow;
pub use packing::{pack, parse_dh_message, unpack, write_dh_message};

/// Width in bytes of the packed prime field of a DH message.
pub const LEN_PRIME: usize = 1024;
/// Width in bytes of the packed generator field of a DH message.
pub const LEN_GEN: usize = 16;
/// Width in bytes of a packed public value (in a DH message and in `CLIENT_KEY`).
pub const LEN_PK: usize = 1024;
/// Length in bytes of a DH message: `pack(p, 1024) || pack(g, 16) || pack(y, 1024)`.
pub const DH_MSG_LEN: usize = LEN_PRIME + LEN_GEN + LEN_PK;
/// The largest `plen` of the groups compiled into this build, in bytes: 512 (ffdhe4096)
/// by default, 256 in a build with the `ffdhe2048` feature alone.
pub const MAX_PLEN: usize = crate::group::Group::MAX_PLEN;
