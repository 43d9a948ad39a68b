//! The two tasks of a running session: the reader owns the core's
//! cancel-safe receiving half and turns records into [`Event`]s; the writer
//! owns the sending half and sends [`Action`]s and the replies the core
//! prescribes (handed over by the reader).
//!
//! What a server can make the client hold is bounded: events wait in a
//! queue of [`EVENT_QUEUE`] (a consumer slow to take them, a terminal or a
//! pipe that is not read, makes the reader stop reading, and TCP pushes
//! back on the server), the replies (PONG, ERROR) in one of
//! [`REPLY_QUEUE`] (a server that sends PINGs but does not read the PONGs
//! stops being read too), and unfinished rosters within the bounds of
//! [`super::roster`]; passing those ends the session with
//! [`Kind::Protocol`].

use std::time::Duration;

use dhchat_core::message::{msg_type, Message};
use dhchat_core::names::Escaped;
use dhchat_core::{Reaction, Reply};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connect::{Established, RecvSide, SendSide};
use super::roster::Rosters;
use super::{Action, ChatLine, Event};
use crate::client::exit::{self, Failure, Kind};

/// The handles of a running session.
#[derive(Debug)]
pub struct Running {
    /// Where to send actions; a CLOSE ([`super::close_action`]) ends the session.
    pub actions: mpsc::UnboundedSender<Action>,
    /// Where events arrive; [`Event::Ended`] is the last one. The queue
    /// holds [`EVENT_QUEUE`] events; until they are taken, the server is not
    /// read.
    pub events: mpsc::Receiver<Event>,
    /// The writer task: it finishes once CLOSE has been sent.
    pub writer: JoinHandle<()>,
}

impl Running {
    /// Sends CLOSE, then waits (bounded) until the server has closed the
    /// connection, so that everything sent before was received. Events that
    /// arrive meanwhile are passed to `on_event`.
    pub async fn close(mut self, reason: &str, mut on_event: impl FnMut(Event)) {
        let _ = self.actions.send(super::close_action(reason));
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = (&mut self.writer).await;
            while let Some(ev) = self.events.recv().await {
                if matches!(ev, Event::Ended { .. }) {
                    break;
                }
                on_event(ev);
            }
        })
        .await;
    }
}

/// Most events received and not yet taken by the UI or the batch loop (each
/// at most one record's text, 4 KiB: 1 MiB in all).
pub const EVENT_QUEUE: usize = 256;

/// Most replies (PONG, ERROR) the reader hands over and the writer has not
/// sent yet.
pub const REPLY_QUEUE: usize = 64;

/// Starts the reader and writer tasks of an established session.
pub fn spawn(est: Established) -> Running {
    let Established { send, recv, .. } = est;
    let (action_tx, action_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
    let (reply_tx, reply_rx) = mpsc::channel(REPLY_QUEUE);
    tokio::spawn(reader(recv, event_tx.clone(), reply_tx));
    let writer = tokio::spawn(writer(send, action_rx, reply_rx, event_tx));
    Running {
        actions: action_tx,
        events: event_rx,
        writer,
    }
}

/// The failure a fatal receive error ends the client with.
fn ended(f: Failure) -> Event {
    Event::Ended {
        reason: f.message.clone(),
        failure: Some(f),
    }
}

async fn reader(mut recv: RecvSide, events: mpsc::Sender<Event>, replies: mpsc::Sender<Reply>) {
    let mut rosters = Rosters::default();
    let mut last_error: Option<(u16, String)> = None;
    let end = loop {
        let received = match recv.recv().await {
            Ok(r) => r,
            Err(dhchat_core::driver::DriverError::Io(e)) => {
                break ended(Failure::new(
                    Kind::Connection,
                    format!("the connection failed: {e}"),
                ))
            }
            Err(dhchat_core::driver::DriverError::Protocol(e)) => {
                break ended(exit::from_error(&e))
            }
        };
        if let Some(reply) = received.reply {
            // Waits while the writer is behind: the server is then not read.
            let _ = replies.send(reply).await;
        }
        let msg = match received.message {
            Ok(m) => m,
            Err(e) => match e.reaction() {
                Reaction::ErrorAndStay(_) => {
                    let _ = events
                        .send(Event::Notice(format!(
                            "ignored a message from the server that breaks the protocol: {e}"
                        )))
                        .await;
                    continue;
                }
                _ if !e.is_fatal() => continue,
                _ => break ended(exit::from_error(&e)),
            },
        };
        let error_before = last_error.take();
        let event = match msg {
            Message::Message(c) => Event::Message(ChatLine {
                time_ms: c.time_ms,
                from: c.from.to_string(),
                room: c.room.to_string(),
                text: c.text.to_string(),
                history: c.history,
                legacy: c.legacy,
                account: c.account,
            }),
            Message::Notice { text } => Event::Notice(text.to_string()),
            Message::Roster { room, more, nicks } => match rosters.add(room, more, nicks.iter()) {
                Ok(Some((room, nicks))) => Event::Roster { room, nicks },
                Ok(None) => continue,
                Err(over) => break ended(Failure::new(Kind::Protocol, over.to_string())),
            },
            Message::Error { code, text } => {
                last_error = Some((code, text.to_string()));
                Event::Error {
                    code,
                    text: text.to_string(),
                }
            }
            Message::Close { reason } => {
                let failure = match error_before {
                    Some((code, text)) => Failure::new(
                        Kind::Refused,
                        format!(
                            "the server refused this client and closed the session (error {code}: {})",
                            Escaped(&text)
                        ),
                    ),
                    None if reason.is_empty() => {
                        Failure::new(Kind::Connection, "the server closed the session")
                    }
                    None => Failure::new(
                        Kind::Connection,
                        format!("the server closed the session: {}", Escaped(reason)),
                    ),
                };
                break Event::Ended {
                    reason: reason.to_string(),
                    failure: Some(failure),
                };
            }
            // PING (answered by the core's reply), PONG: nothing to show.
            _ => {
                last_error = error_before;
                continue;
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    };
    let _ = events.send(end).await;
}

async fn writer(
    mut send: SendSide,
    mut actions: mpsc::UnboundedReceiver<Action>,
    mut replies: mpsc::Receiver<Reply>,
    events: mpsc::Sender<Event>,
) {
    loop {
        let (action, closing) = tokio::select! {
            biased;
            r = replies.recv() => match r {
                Some(reply) => (Outgoing::Reply(reply), false),
                None => return, // the reader ended: the session is over
            },
            a = actions.recv() => match a {
                Some(a) => {
                    let closing = a.msg_type() == msg_type::CLOSE;
                    (Outgoing::Action(a), closing)
                }
                None => (Outgoing::Action(super::close_action("")), true),
            },
        };
        let sent = match &action {
            Outgoing::Reply(r) => send.send_reply(r).await,
            Outgoing::Action(a) => send.send(&a.message()).await,
        };
        match sent {
            Ok(()) => {}
            Err(e) if e.is_fatal() => return,
            Err(e) => {
                let _ = events.send(Event::Notice(format!("not sent: {e}"))).await;
            }
        }
        if closing {
            let _ = send.io_mut().inner_mut().shutdown().await;
            return;
        }
    }
}

/// What the writer sends next.
enum Outgoing {
    Reply(Reply),
    Action(Action),
}
