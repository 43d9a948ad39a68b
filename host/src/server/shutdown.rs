//! Signals: SIGHUP re-reads the authorized keys; SIGINT or SIGTERM starts the
//! graceful shutdown (CLOSE to every client, history closed, exit 0).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};

use super::Shared;

/// How long the server waits for CLOSE to reach the clients at shutdown.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Serves signals until SIGINT or SIGTERM; returns the signal's name.
///
/// # Errors
/// If the signal handlers cannot be installed.
pub async fn wait_for_stop(shared: &Arc<Shared>) -> anyhow::Result<&'static str> {
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    loop {
        tokio::select! {
            _ = int.recv() => return Ok("SIGINT"),
            _ = term.recv() => return Ok("SIGTERM"),
            _ = hup.recv() => reload(shared),
        }
    }
}

fn reload(shared: &Shared) {
    if !shared.admission.restricted() {
        tracing::info!("SIGHUP: no --authorized-keys file to re-read");
        return;
    }
    match shared.admission.reload() {
        Ok(n) => tracing::info!(keys = n, "SIGHUP: authorized keys reloaded"),
        Err(e) => {
            tracing::error!("SIGHUP: authorized keys not reloaded, keeping the old list: {e}")
        }
    }
}

/// Closes every session and waits (at most [`DRAIN`]) for them to end.
pub async fn close_sessions(shared: &Shared) {
    shared.hub.close_all("server shutting down");
    let start = Instant::now();
    while shared.hub.count() > 0 && start.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
