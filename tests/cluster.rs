//! End-to-end tests of cluster mode: a real NATS cluster (three routed
//! `nats-server` processes with JetStream, on loopback) and two or three
//! `dhchat-server --cluster` nodes sharing one `server.key`, at their
//! default settings; clients on different nodes.
//!
//! Needs `nats-server` (`scripts/install-nats`, or `NATS_SERVER=path`); the
//! tests fail, not skip, without it.

#[path = "common/mod.rs"]
mod common;
#[path = "server/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "cluster/nats.rs"]
mod nats;
#[path = "cluster/nodes.rs"]
#[allow(dead_code)]
mod nodes;

#[path = "accounts/support.rs"]
#[allow(dead_code)]
mod account_support;

#[path = "cluster/accounts.rs"]
mod accounts;
#[path = "cluster/bench.rs"]
mod bench;
#[path = "cluster/chat.rs"]
mod chat;
#[path = "cluster/faults.rs"]
mod faults;
#[path = "cluster/notices.rs"]
mod notices;
