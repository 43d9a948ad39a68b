//! End-to-end tests of `dhchat-server`: the real binary on port 0 with a
//! temporary data directory, real clients through the core's async driver
//! (and the core's handshake state machines directly, for malformed input).
//!
//! One test target, one module per feature.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)] // some helpers serve only the abuse target
mod support;

mod admission;
mod history;
mod limits;
mod notices;
mod records;
mod refusals;
mod rooms;
mod startup;
mod storage;
