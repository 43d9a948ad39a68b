//! A session's writer task: owns the sending half of the session, drains the
//! client's bounded queue, seals each event and writes them in batches.

use std::sync::Arc;

use dhchat_core::error::Error;
use dhchat_core::record::{sealed_len, MAX_RECORD};
use dhchat_core::session::SendHalf;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::disconnect::Disconnect;
use super::event::Event;
use super::queue_bytes::ClientBytes;
use crate::rng::HostRng;

/// Bytes the writer gathers before writing them in one go.
const WRITE_BATCH: usize = 32 * 1024;

/// The batch buffer a writer keeps between batches; a larger one (after a
/// burst) is freed.
const KEEP_IDLE: usize = 2 * MAX_RECORD;

/// Writes the queue's events until CLOSE is written, writing fails, or the
/// queue is closed; returns how the session ended on this side. Each event
/// taken off the queue gives its bytes back to `bytes`.
pub async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut send: SendHalf,
    mut rng: HostRng,
    mut rx: mpsc::Receiver<Event>,
    bytes: Arc<ClientBytes>,
) -> Disconnect {
    // Records are sealed straight into the batch; the batch buffer is given
    // back when the queue is empty or after a large batch.
    let mut out: Vec<u8> = Vec::new();
    let max_records = rx.max_capacity();
    let max_bytes = bytes.budget().per_client();
    let over_half = |rx: &mpsc::Receiver<Event>, bytes: &ClientBytes| {
        rx.len() + 1 > max_records / 2 || bytes.queued() > max_bytes / 2
    };
    while let Some(first) = rx.recv().await {
        bytes.progress().mark();
        // Senders held back by this queue (super::pressure) are woken when
        // it is no longer more than half full.
        let was_over = over_half(&rx, &bytes);
        out.clear();
        let mut next = Some(first);
        let mut close = false;
        while let Some(ev) = next.take() {
            bytes.release(ev.queued_bytes());
            match seal_onto(&ev, &mut send, &mut rng, &mut out) {
                Ok(()) => {}
                Err(e @ Error::Record(_)) => return Disconnect::WriteFailed(e.to_string()),
                Err(e) => tracing::error!("not sent: {e}"),
            }
            if ev.is_close() {
                close = true;
                break;
            }
            if out.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if let Err(e) = wr.write_all(&out).await {
            return Disconnect::WriteFailed(e.to_string());
        }
        bytes.progress().mark();
        // An idle client holds no batch buffer; one kept busy keeps a
        // small one between batches.
        if out.capacity() > KEEP_IDLE || rx.is_empty() {
            out = Vec::new();
        }
        if was_over && !over_half(&rx, &bytes) {
            bytes.budget().drained().signal();
        }
        if close {
            let _ = wr.shutdown().await;
            return Disconnect::ServerClosed;
        }
    }
    Disconnect::QueueGone
}

/// Seals `ev` as one record at the end of `out`, which grows by that
/// record's size (not by a whole [`MAX_RECORD`] to be cleared for each). An
/// event encoded already (checked when it was made, and once for a whole
/// room) is sealed as it is, a server-to-client type only; a stored record
/// is encoded here.
///
/// # Errors
/// As [`SendHalf::seal_buf`] for an encoded event (which refuses a type the
/// server does not send in a session) and [`SendHalf::seal`] for a stored
/// record. Nothing is appended then.
fn seal_onto(
    ev: &Event,
    send: &mut SendHalf,
    rng: &mut HostRng,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let start = out.len();
    let sealed = match ev.encoded() {
        // Encoded and checked once for every recipient: sealed as it is,
        // after the core's direction and handshake-type checks.
        Some(msg) => {
            out.resize(start + sealed_len(msg.plaintext().len()).min(MAX_RECORD), 0);
            let room = out.get_mut(start..).unwrap_or_default();
            send.seal_buf(msg, rng, room)
        }
        None => ev.with_message(|m| {
            out.resize(start + sealed_len(m.encoded_len()).min(MAX_RECORD), 0);
            let room = out.get_mut(start..).unwrap_or_default();
            send.seal(m, rng, room)
        }),
    };
    match sealed {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}
