//! Direct messages waiting for offline accounts (PROTOCOL.md section 5.1),
//! in a JetStream stream shared by every node: [`ClusterOffline`], the
//! cluster's [`Offline`] store.
//!
//! The stream `NAME-offline` has one subject per account,
//! `NAME.offline.<hex nick>`, file storage, and at most `--offline-max`
//! messages per subject with `discard: new` per subject: JetStream itself
//! refuses the message past the bound, atomically for every node, and the
//! sender is told ([`Stored::Full`]). A message's sequence in the stream is
//! its [`Waiting::seq`]; delivering purges the subject up to it.
//!
//! The stream's bound is the one every node enforces: each node sets it to
//! its own `--offline-max` when it starts (the last one started wins), so
//! the nodes of a cluster should be given the same value.
//!
//! Reads go to the stream's leader (not to a replica that may lag), so a
//! message acknowledged on one node is seen by the next read on any node.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self, context::PublishErrorKind};
use bytes::Bytes;
use dhchat_core::names::{is_valid_nick, text_check};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::names::Names;
use super::patiently;
use crate::server::accounts::{StoreError, StoreFuture};
use crate::server::event::Chat;
use crate::server::offline::{Offline, Stored, Waiting};

/// How long a store keeps retrying a publish that got no answer (the same
/// message id each time, so JetStream keeps it once).
pub const STORE_DEADLINE: Duration = Duration::from_secs(5);

/// A waiting direct message as kept in the stream (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDirect {
    /// Server clock at acceptance, ms since the Unix epoch.
    pub time_ms: u64,
    /// Sender nick.
    pub from: String,
    /// `@` and the account's nick.
    pub room: String,
    /// Text.
    pub text: String,
    /// Sent by an unauthenticated legacy client (MESSAGE flags bit 1).
    #[serde(default)]
    pub legacy: bool,
    /// Sent by a session that proved its account's key (flags bit 2).
    #[serde(default)]
    pub account: bool,
}

impl StoredDirect {
    /// The stored form of `chat`.
    pub fn new(chat: &Chat) -> StoredDirect {
        StoredDirect {
            time_ms: chat.time_ms,
            from: chat.from.clone(),
            room: chat.room.clone(),
            text: chat.text.clone(),
            legacy: chat.legacy,
            account: chat.account,
        }
    }

    /// Decodes and checks a stored message.
    ///
    /// # Errors
    /// A short description of what is wrong (for the log).
    pub fn decode(bytes: &[u8]) -> Result<StoredDirect, &'static str> {
        let m: StoredDirect =
            serde_json::from_slice(bytes).map_err(|_| "not a stored direct message")?;
        if !is_valid_nick(&m.from) {
            return Err("bad sender nick");
        }
        if !m.room.strip_prefix('@').is_some_and(is_valid_nick) {
            return Err("bad recipient");
        }
        text_check(&m.text).map_err(|_| "bad text")?;
        Ok(m)
    }

    /// The chat line it is delivered as (history).
    pub fn chat(self) -> Chat {
        Chat {
            time_ms: self.time_ms,
            history: true,
            from: self.from,
            room: self.room,
            text: self.text,
            legacy: self.legacy,
            account: self.account,
        }
    }
}

/// The cluster's [`Offline`] store: the stream `NAME-offline`.
pub struct ClusterOffline {
    js: jetstream::Context,
    stream: stream::Stream,
    names: Names,
    /// The per-account bound the stream was set up with; a read takes at
    /// most this many messages (the rest wait for the next one).
    max: u32,
}

fn err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

/// The stream's per-subject limit for `--offline-max` = `max`. JetStream
/// reads 0 as "no limit"; a bound of 0 is kept by [`ClusterOffline::store`]
/// itself, which then stores nothing.
fn per_subject(max: u32) -> i64 {
    i64::from(max.max(1))
}

/// Creates the stream of offline messages, or brings an existing one's
/// per-account bound, discard policy and replicas to these settings.
///
/// # Errors
/// JetStream refused to create or update it.
pub async fn ensure_stream(
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
    max: u32,
) -> anyhow::Result<stream::Stream> {
    use anyhow::Context as _;
    let want = per_subject(max);
    if let Ok(mut existing) = js.get_stream(names.offline_stream()).await {
        let info = existing
            .info()
            .await
            .context("reading the offline stream")?
            .clone();
        let mut config = info.config.clone();
        if config.max_messages_per_subject != want
            || config.discard != stream::DiscardPolicy::New
            || !config.discard_new_per_subject
            || config.num_replicas != replicas
        {
            config.max_messages_per_subject = want;
            config.discard = stream::DiscardPolicy::New;
            config.discard_new_per_subject = true;
            config.num_replicas = replicas;
            js.update_stream(config)
                .await
                .context("updating the offline stream")?;
        }
        return js
            .get_stream(names.offline_stream())
            .await
            .context("reading the offline stream");
    }
    js.create_stream(stream::Config {
        name: names.offline_stream(),
        description: Some("dhchat direct messages waiting for offline accounts".into()),
        subjects: vec![names.offline_wildcard()],
        max_messages_per_subject: want,
        discard: stream::DiscardPolicy::New,
        discard_new_per_subject: true,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..stream::Config::default()
    })
    .await
    .context("creating the offline stream")
}

/// Whether a publish error is JetStream refusing the message because its
/// subject holds the most messages it may (`discard_new_per_subject`).
fn is_full(e: &async_nats::jetstream::context::PublishError) -> bool {
    if e.kind() != PublishErrorKind::Other {
        return false;
    }
    let Some(source) = std::error::Error::source(e) else {
        return false;
    };
    let Some(js) = source.downcast_ref::<jetstream::Error>() else {
        return false;
    };
    js.error_code() == ErrorCode::STREAM_STORE_FAILED
        && js
            .to_string()
            .contains("maximum messages per subject exceeded")
}

impl ClusterOffline {
    /// The store over the stream `stream` (see [`ensure_stream`]) with the
    /// per-account bound `max`.
    pub fn new(
        js: jetstream::Context,
        stream: stream::Stream,
        names: Names,
        max: u32,
    ) -> ClusterOffline {
        ClusterOffline {
            js,
            stream,
            names,
            max,
        }
    }

    /// The store over an existing stream (the operator's commands).
    ///
    /// # Errors
    /// The stream does not exist or cannot be read.
    pub async fn open(js: jetstream::Context, names: Names) -> anyhow::Result<ClusterOffline> {
        use anyhow::Context as _;
        let mut stream = js
            .get_stream(names.offline_stream())
            .await
            .with_context(|| format!("no stream {}", names.offline_stream()))?;
        let limit = stream
            .info()
            .await
            .context("reading the offline stream")?
            .config
            .max_messages_per_subject;
        let max = u32::try_from(limit).unwrap_or(u32::MAX);
        Ok(ClusterOffline::new(js, stream, names, max))
    }

    async fn store_inner(
        &self,
        account: &str,
        chat: &Chat,
        max: u32,
    ) -> Result<Stored, StoreError> {
        if max == 0 {
            return Ok(Stored::Full);
        }
        let payload = serde_json::to_vec(&StoredDirect::new(chat))
            .map(Bytes::from)
            .map_err(|e| err("encoding a direct message", e))?;
        let id: [u8; 16] = rand::random();
        let id = hex::encode(id);
        let subject = self.names.offline(account);
        let start = tokio::time::Instant::now();
        loop {
            let attempt = self
                .js
                .send_publish(
                    subject.clone(),
                    PublishMessage::build()
                        .payload(payload.clone())
                        .message_id(&id),
                )
                .await;
            let error = match attempt {
                Ok(ack) => match ack.await {
                    Ok(_) => return Ok(Stored::Stored),
                    Err(e) if is_full(&e) => return Ok(Stored::Full),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= STORE_DEADLINE {
                return Err(StoreError(format!(
                    "storing a direct message in {}: {error}",
                    self.names.offline_stream()
                )));
            }
            tracing::warn!(error = %error, "cluster: storing a direct message failed; retrying");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn waiting_inner(&self, account: &str) -> Result<Vec<Waiting>, StoreError> {
        let subject = self.names.offline(account);
        let mut waiting = Vec::new();
        let mut next = 1u64;
        for _ in 0..self.max.max(1) {
            let found = patiently("reading the waiting direct messages", || async {
                match self
                    .stream
                    .get_first_raw_message_by_subject(&subject, next)
                    .await
                {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| err("reading the waiting direct messages", e))?;
            let Some(message) = found else {
                break;
            };
            let seq = message.sequence;
            if seq < next {
                return Err(StoreError(
                    "reading the waiting direct messages: the stream went backwards".into(),
                ));
            }
            next = seq.saturating_add(1);
            match StoredDirect::decode(&message.payload) {
                Ok(m) => waiting.push(Waiting {
                    seq,
                    chat: m.chat(),
                }),
                // Never deliverable: deleted, so it does not hold a place
                // under the bound for ever.
                Err(why) => {
                    tracing::warn!(
                        why,
                        seq,
                        "cluster: deleted a stored direct message that is not valid"
                    );
                    if let Err(e) = self.stream.delete_message(seq).await {
                        tracing::warn!(error = %e, seq, "cluster: cannot delete an invalid stored direct message");
                    }
                }
            }
        }
        Ok(waiting)
    }

    async fn delivered_inner(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        patiently("deleting delivered direct messages", || async {
            self.stream
                .purge()
                .filter(self.names.offline(account))
                .sequence(seq.saturating_add(1))
                .await
        })
        .await
        .map(|_| ())
        .map_err(|e| err("deleting delivered direct messages", e))
    }

    /// Deletes every message waiting for `account` (its account was
    /// released).
    ///
    /// # Errors
    /// [`StoreError`] if JetStream refused the purge.
    pub async fn drop_all(&self, account: &str) -> Result<(), StoreError> {
        patiently("deleting a released account's direct messages", || async {
            self.stream
                .purge()
                .filter(self.names.offline(account))
                .await
        })
        .await
        .map(|_| ())
        .map_err(|e| err("deleting a released account's direct messages", e))
    }

    /// The number of messages waiting for `account`.
    ///
    /// # Errors
    /// [`StoreError`] if the stream cannot be read.
    pub async fn count(&self, account: &str) -> Result<u64, StoreError> {
        let subject = self.names.offline(account);
        let mut info = self
            .stream
            .info_with_subjects(&subject)
            .await
            .map_err(|e| err("counting waiting direct messages", e))?;
        let mut n = 0u64;
        while let Some(entry) = info.next().await {
            let (s, count) = entry.map_err(|e| err("counting waiting direct messages", e))?;
            if s == subject {
                n = n.saturating_add(u64::try_from(count).unwrap_or(u64::MAX));
            }
        }
        Ok(n)
    }
}

impl Offline for ClusterOffline {
    fn store<'a>(&'a self, account: &'a str, chat: &'a Chat, max: u32) -> StoreFuture<'a, Stored> {
        Box::pin(self.store_inner(account, chat, max))
    }

    fn waiting<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Vec<Waiting>> {
        Box::pin(self.waiting_inner(account))
    }

    fn delivered<'a>(&'a self, account: &'a str, seq: u64) -> StoreFuture<'a, ()> {
        Box::pin(self.delivered_inner(account, seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Chat {
        Chat {
            time_ms: 9,
            history: false,
            from: "bob".into(),
            room: "@Alice".into(),
            text: "later".into(),
            legacy: false,
            account: true,
        }
    }

    #[test]
    fn a_stored_direct_message_keeps_its_flags_and_is_delivered_as_history() {
        let bytes = serde_json::to_vec(&StoredDirect::new(&chat())).expect("encode");
        let back = StoredDirect::decode(&bytes).expect("decode").chat();
        let mut want = chat();
        want.history = true;
        assert_eq!(back, want);
    }

    #[test]
    fn stored_direct_messages_that_break_a_name_or_text_rule_are_refused() {
        let good = StoredDirect::new(&chat());
        let mut bad = Vec::new();
        let mut m = good.clone();
        m.from = "b b".into();
        bad.push(m);
        let mut m = good.clone();
        m.room = "#room".into();
        bad.push(m);
        let mut m = good.clone();
        m.room = "@".into();
        bad.push(m);
        let mut m = good;
        m.text = "esc\u{1b}".into();
        bad.push(m);
        for m in bad {
            let bytes = serde_json::to_vec(&m).expect("encode");
            assert!(StoredDirect::decode(&bytes).is_err(), "{m:?}");
        }
        assert!(StoredDirect::decode(b"").is_err());
        assert!(StoredDirect::decode(b"{\"time_ms\":-1}").is_err());
    }

    #[test]
    fn a_bound_of_zero_is_not_jetstreams_no_limit() {
        assert_eq!(per_subject(0), 1);
        assert_eq!(per_subject(100), 100);
    }
}
