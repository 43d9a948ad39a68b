//! The accept loop: each connection passes the [`Gate`] (or is closed
//! without a byte) and is served in its own task, which holds a clone of the
//! shutdown guard until it ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::connection::{self, Services};
use super::gate::Gate;

/// The kernel send buffer of every accepted socket. Fixed rather than left
/// to autotuning (which grows it to megabytes for a peer that does not
/// read): what a client that never reads can make the server hold is this
/// plus its queue's byte bound (`--queue-bytes`). 256 KiB keeps a 100 ms
/// path at over 2 MB/s, far above chat rates.
pub const SEND_BUFFER: usize = 256 * 1024;

/// Held by the accept loop and every connection task; shutdown waits until
/// every clone is dropped (the receiving end then reads `None`).
pub type Guard = mpsc::Sender<()>;

/// Accepts connections until `stop` turns true; drops `guard` when it
/// returns.
pub async fn accept_loop(
    services: Arc<Services>,
    gate: Arc<Gate>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    guard: Guard,
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
        let ticket = match gate.admit(peer.ip()) {
            Ok(t) => t,
            Err(why) => {
                gate.log_refusal(peer, why);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        let services = services.clone();
        let guard = guard.clone();
        tokio::spawn(async move {
            connection::serve(services, stream, peer, ticket).await;
            drop(guard);
        });
    }
    tracing::info!("stopped accepting connections");
}
