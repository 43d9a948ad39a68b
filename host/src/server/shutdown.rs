//! Signals: SIGHUP re-reads the authorized keys; SIGINT or SIGTERM starts the
//! graceful shutdown (CLOSE to every client, history closed, exit 0).

use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::authorized_keys::Admission;
use super::rooms::Hub;

/// How long the server waits for the connections to end at shutdown.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Serves signals until SIGINT or SIGTERM; returns the signal's name.
///
/// # Errors
/// If the signal handlers cannot be installed.
pub async fn wait_for_stop(admission: &Admission) -> anyhow::Result<&'static str> {
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    loop {
        tokio::select! {
            _ = int.recv() => return Ok("SIGINT"),
            _ = term.recv() => return Ok("SIGTERM"),
            _ = hup.recv() => reload(admission),
        }
    }
}

fn reload(admission: &Admission) {
    if !admission.restricted() {
        tracing::info!("SIGHUP: no --authorized-keys file to re-read");
        return;
    }
    match admission.reload() {
        Ok(n) => tracing::info!(keys = n, "SIGHUP: authorized keys reloaded"),
        Err(e) => {
            tracing::error!("SIGHUP: authorized keys not reloaded, keeping the old list: {e}")
        }
    }
}

/// Queues CLOSE for every client (and refuses new ones), then waits, at most
/// [`DRAIN`], until every connection task has dropped its guard. The accept
/// loop must have stopped (and dropped its guard) before.
pub async fn close_sessions(hub: &Hub, mut done: mpsc::Receiver<()>) {
    hub.close_all("server shutting down");
    if tokio::time::timeout(DRAIN, done.recv()).await.is_err() {
        tracing::warn!(
            clients = hub.count(),
            "connections still open after {}s; closing them",
            DRAIN.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::event::Event;
    use crate::server::rooms::{Settings, DEFAULT_ROOM_NOTICE_LIMIT};

    fn hub() -> std::sync::Arc<Hub> {
        Hub::new(Settings {
            max_clients: 4,
            queue: 16,
            queue_bytes: 1 << 20,
            max_queued_bytes: 1 << 20,
            stall: std::time::Duration::from_secs(5),
            room_notice_limit: DEFAULT_ROOM_NOTICE_LIMIT,
        })
    }

    // Paused clock: time moves only when every task waits on a timer, so the
    // instants below are exact, not measured.
    #[tokio::test(start_paused = true)]
    async fn shutdown_returns_as_soon_as_the_last_connection_guard_drops() {
        let hub = hub();
        let (guard, done) = mpsc::channel::<()>(1);
        let mut reg = hub
            .register("alice", &std::collections::HashSet::new(), |n| {
                Event::notice(n)
            })
            .expect("register");
        let connection = tokio::spawn(async move {
            // The connection ends once its writer has taken CLOSE.
            while let Some(ev) = reg.rx.recv().await {
                if ev.is_close() {
                    break;
                }
            }
            drop(guard);
        });
        let start = tokio::time::Instant::now();
        close_sessions(&hub, done).await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "no polling, no waiting for DRAIN"
        );
        connection.await.expect("connection task");
        assert!(
            hub.register("bob", &std::collections::HashSet::new(), Event::notice)
                .is_err(),
            "no client is admitted once shutdown began"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_gives_up_on_a_connection_that_never_ends_after_drain() {
        let hub = hub();
        let (guard, done) = mpsc::channel::<()>(1);
        let start = tokio::time::Instant::now();
        close_sessions(&hub, done).await;
        assert_eq!(start.elapsed(), DRAIN);
        drop(guard);
    }
}
