//! # dhchat-host
//!
//! The std programs around `dhchat-core`: the server (`dhchat-server`, see
//! [`server`]) and the terminal client (`dhchat-client`, see [`client`]).
//! A load generator (`dhchat-bench`, see [`bench`]). Shared pieces: key files ([`keyfile`]), randomness ([`rng`]) and the
//! tokio adapters for the core's async driver ([`net`]).

pub mod bench;
pub mod client;
pub mod keyfile;
pub mod net;
pub mod rng;
pub mod server;
