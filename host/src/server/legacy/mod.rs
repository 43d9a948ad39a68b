//! The legacy listener (`--legacy-listen ADDR`): hosts the original (2018) encrypted-chat
//! clients, speaking their unversioned, unauthenticated protocol (LEGACY.md), and bridges
//! them into `#lobby`.
//!
//! **No authentication and no integrity** for legacy clients: the server says so at
//! start, in `--help` and in its log, and the messages legacy clients originate carry
//! MESSAGE flags bit 1 so version 1 clients mark them as unauthenticated.
//!
//! | module | what it holds |
//! |---|---|
//! | [`connection`] | key exchange within the handshake limits, registration, reader |
//! | [`writer`] | paced writes: one message a write, a pause between writes |
//!
//! Legacy clients get the same limits as version 1 clients: the client cap, the
//! per-address cap and the pending-handshake cap of the shared gate, a handshake slot
//! and the handshake deadline for the key exchange, the rate limit (a flood drops the
//! client), the slow-consumer queue, and an idle timeout (twice `--idle-timeout`, as a
//! legacy client cannot be pinged).

pub mod connection;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::connection::Services;
use super::gate::Gate;
use super::listener::{accept_with, Guard};

/// The warning printed at start and logged when the legacy listener is on.
pub const WARNING: &str = "WARNING: legacy listener enabled: the legacy protocol has NO \
    authentication and NO integrity; anyone on the network path can read, change or \
    inject what legacy clients send and receive, or impersonate this server to them. \
    Their messages are marked unauthenticated for version 1 clients.";

/// Stored `#lobby` lines replayed to a legacy client when it connects.
pub const REPLAY_LINES: usize = 10;

/// Binds the legacy listener.
///
/// # Errors
/// When the address cannot be bound, naming it.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for legacy clients on {addr}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the legacy listening address")?;
    Ok((listener, local))
}

/// Accepts legacy connections until `stop` turns true, through the same gate
/// (per-address and pending caps) and accept loop as version 1 connections.
pub async fn accept_loop(
    services: Arc<Services>,
    gate: Arc<Gate>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    guard: Guard,
) {
    accept_with(
        services,
        gate,
        listener,
        stop,
        guard,
        connection::serve,
        "legacy ",
    )
    .await;
}
