//! The accept loop and the limits applied before a handshake starts:
//! connections per source address, and the pending cap (connections waiting
//! for, or in, a handshake). Beyond either, a connection is closed without a
//! byte.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::connection;
use super::Shared;

/// Counters of connections per source address and pending handshakes.
#[derive(Debug, Default)]
pub struct Gate {
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    pending: AtomicUsize,
    last_refusal_log: AtomicU64,
    refused: AtomicU64,
}

/// One connection's place in the per-address count, released on drop.
pub struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = match self.shared.gate.per_ip.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// One connection's place among the pending handshakes, released on drop.
pub struct PendingSlot {
    shared: Arc<Shared>,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.shared.gate.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// LEGACY HOOK (made `pub(crate)` for the legacy listener): a place in the
    /// per-address count, or `None` at the cap.
    pub(crate) fn ip_slot(shared: &Arc<Shared>, ip: IpAddr) -> Option<IpSlot> {
        let mut map = match shared.gate.per_ip.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let n = map.entry(ip).or_insert(0);
        if *n >= shared.args.max_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            shared: shared.clone(),
            ip,
        })
    }

    /// LEGACY HOOK (made `pub(crate)` for the legacy listener): a place among
    /// the pending handshakes, or `None` at the cap.
    pub(crate) fn pending_slot(shared: &Arc<Shared>) -> Option<PendingSlot> {
        let before = shared.gate.pending.fetch_add(1, Ordering::AcqRel);
        if before >= shared.limits.max_pending {
            shared.gate.pending.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(PendingSlot {
            shared: shared.clone(),
        })
    }

    /// Logs a refusal, at most one line a second (a flood must not flood the
    /// log); the count of refusals in between is included.
    pub(crate) fn refusal(&self, peer: std::net::SocketAddr, why: &str) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_refusal_log.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(%peer, refused_total = n, "refused connection: {why}");
        }
    }
}

/// Accepts connections until `stop` turns true.
pub async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait a little
                // rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(ip_slot) = Gate::ip_slot(&shared, peer.ip()) else {
            shared.gate.refusal(
                peer,
                "too many connections from this address (--max-per-ip)",
            );
            drop(stream);
            continue;
        };
        let Some(pending) = Gate::pending_slot(&shared) else {
            shared.gate.refusal(peer, "too many handshakes pending");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection::serve(
            shared.clone(),
            stream,
            peer,
            ip_slot,
            pending,
        ));
    }
    tracing::info!("stopped accepting connections");
}
