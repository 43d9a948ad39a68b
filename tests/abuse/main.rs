//! Abuse at the server's default settings (issue 9): its own test target, so
//! that the latency and memory measurements do not share the machine with
//! the rest of the server tests; within it, one test at a time.

#[path = "../common/mod.rs"]
mod common;
#[path = "../server/support.rs"]
#[allow(dead_code)]
mod support;

mod bursts;
mod defaults;

/// Held by each test for its whole run: the tests of this target measure,
/// so they do not run side by side.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
