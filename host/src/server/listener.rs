//! The accept loop: each connection passes the [`Gate`] (or is closed
//! without a byte) and is served in its own task, which holds a clone of the
//! shutdown guard until it ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::connection::{self, Services};
use super::gate::{Gate, Ticket};

/// The kernel send buffer of every accepted socket. Fixed rather than left
/// to autotuning (which grows it to megabytes for a peer that does not
/// read): what a client that never reads can make the server hold is this
/// plus its queue's byte bound (`--queue-bytes`). 256 KiB keeps a 100 ms
/// path at over 2 MB/s, far above chat rates.
pub const SEND_BUFFER: usize = 256 * 1024;

/// Held by the accept loop and every connection task; shutdown waits until
/// every clone is dropped (the receiving end then reads `None`).
pub type Guard = mpsc::Sender<()>;

/// Serves one connection that passed the gate (version 1:
/// [`connection::serve`]; legacy: `legacy::connection::serve`).
pub trait Serve<Fut>:
    Fn(Arc<Services>, TcpStream, SocketAddr, Ticket) -> Fut + Send + 'static
{
}

impl<F, Fut> Serve<Fut> for F where
    F: Fn(Arc<Services>, TcpStream, SocketAddr, Ticket) -> Fut + Send + 'static
{
}

/// Accepts version 1 connections until `stop` turns true; drops `guard` when
/// it returns.
pub async fn accept_loop(
    services: Arc<Services>,
    gate: Arc<Gate>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    guard: Guard,
) {
    accept_with(services, gate, listener, stop, guard, connection::serve, "").await;
}

/// Accepts connections until `stop` turns true, passes each through the
/// gate and hands it to `serve` in its own task, which holds a clone of
/// `guard` until it ends; `kind` names the listener in the log.
pub async fn accept_with<Fut>(
    services: Arc<Services>,
    gate: Arc<Gate>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    guard: Guard,
    serve: impl Serve<Fut>,
    kind: &'static str,
) where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
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
                tracing::warn!(error = %e, "{kind}accept failed");
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
        // Boxed: an async block that awaits a future it captured keeps two
        // slots for it (the capture and the await), so spawning the block
        // with the future inline would double every connection's task.
        let fut = Box::pin(serve(services.clone(), stream, peer, ticket));
        let guard = guard.clone();
        tokio::spawn(async move {
            fut.await;
            drop(guard);
        });
    }
    tracing::info!("stopped accepting {kind}connections");
}
