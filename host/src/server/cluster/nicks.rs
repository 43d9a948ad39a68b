//! Nicks unique across the cluster: a JetStream key-value bucket whose keys
//! are the (hex-encoded, lowercase) nicks.
//!
//! A node reserves a nick with a create that succeeds only if the key is
//! absent, renews each of its reservations every third of the time to live
//! (an update that succeeds only if the key is still at the revision it
//! wrote), and gives a nick back with a delete at that revision. The bucket's
//! `max_age` is the time to live: the reservations of a node that crashed
//! (and so stopped renewing) disappear by themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use bytes::Bytes;

use super::names::Names;
use super::wire::NickOwner;
use crate::server::bus::ClientId;

/// Why a nick could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// Another member of the cluster holds it.
    Taken,
    /// NATS did not answer (the text says why, for the log).
    Unavailable(String),
}

#[derive(Debug, Clone)]
struct Held {
    key: String,
    revision: u64,
}

/// This node's reservations in the nick bucket.
pub struct Nicks {
    kv: kv::Store,
    node: String,
    held: Mutex<HashMap<ClientId, Held>>,
}

impl Nicks {
    /// The registry over the bucket `kv`, for node `node`.
    pub fn new(kv: kv::Store, node: &str) -> Arc<Nicks> {
        Arc::new(Nicks {
            kv,
            node: node.to_owned(),
            held: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, Held>> {
        match self.held.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn value(&self) -> Bytes {
        let owner = NickOwner {
            node: self.node.clone(),
        };
        Bytes::from(serde_json::to_vec(&owner).unwrap_or_default())
    }

    /// Reserves `nick` for `member` if nobody in the cluster holds it;
    /// returns the revision to [`Nicks::hold`] it at.
    ///
    /// # Errors
    /// [`ClaimError::Taken`] if it is held, [`ClaimError::Unavailable`] if
    /// NATS did not answer.
    pub async fn claim(&self, nick: &str) -> Result<u64, ClaimError> {
        let key = Names::nick_key(nick);
        // A bucket just created, or one whose leader is being elected,
        // answers "no responders" for a moment: retried, so that a node's
        // first clients are not refused as busy.
        let created = super::patiently("reserving a nick", || async {
            match self.kv.create(key.as_str(), self.value()).await {
                Ok(revision) => Ok(Ok(revision)),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(Err(ClaimError::Taken)),
                Err(e) => Err(e),
            }
        })
        .await;
        match created {
            Ok(outcome) => outcome,
            Err(e) => Err(ClaimError::Unavailable(e.to_string())),
        }
    }

    /// Records that `member` holds `nick` at `revision` (renewed from now
    /// on), and gives back the nick it held before, if any.
    pub async fn hold(&self, member: ClientId, nick: &str, revision: u64) {
        let before = self.lock().insert(
            member,
            Held {
                key: Names::nick_key(nick),
                revision,
            },
        );
        if let Some(before) = before {
            self.delete(&before.key, before.revision).await;
        }
    }

    /// Gives back a nick reserved at `revision` (one that was claimed but
    /// not kept).
    pub async fn give_back(&self, nick: &str, revision: u64) {
        self.delete(&Names::nick_key(nick), revision).await;
    }

    async fn delete(&self, key: &str, revision: u64) {
        if let Err(e) = self.kv.delete_expect_revision(key, Some(revision)).await {
            tracing::warn!(error = %e, "cluster: cannot give a nick back (it frees itself within the TTL)");
        }
    }

    /// Gives back the nick `member` holds, if any.
    pub async fn release(&self, member: ClientId) {
        let held = self.lock().get(&member).cloned();
        if let Some(held) = held {
            if let Err(e) = self
                .kv
                .delete_expect_revision(&held.key, Some(held.revision))
                .await
            {
                tracing::warn!(error = %e, "cluster: cannot give a nick back (it frees itself within the TTL)");
            }
            let mut map = self.lock();
            if map.get(&member).is_some_and(|h| h.key == held.key) {
                map.remove(&member);
            }
        }
    }

    /// Gives back every nick this node holds (shutdown).
    pub async fn release_all(&self) {
        let members: Vec<ClientId> = self.lock().keys().copied().collect();
        for member in members {
            self.release(member).await;
        }
    }

    /// Renews every reservation of this node. Returns the members whose
    /// nick another member now holds (their reservation had expired): they
    /// must not keep using it.
    pub async fn renew(&self) -> Vec<ClientId> {
        let held: Vec<(ClientId, Held)> =
            self.lock().iter().map(|(m, h)| (*m, h.clone())).collect();
        let mut lost = Vec::new();
        for (member, h) in held {
            let value = self.value();
            let renewed = match self.kv.update(&h.key, value.clone(), h.revision).await {
                Ok(revision) => Some(revision),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                    if self.lock().get(&member).is_none_or(|cur| cur.key != h.key) {
                        // Given back meanwhile.
                        continue;
                    }
                    // Expired (or the bucket was lost): take it again if
                    // nobody else did meanwhile.
                    match self.kv.create(&h.key, value).await {
                        Ok(revision) => Some(revision),
                        Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                            lost.push(member);
                            None
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cluster: cannot renew a nick");
                            continue;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: cannot renew a nick");
                    continue;
                }
            };
            let mut map = self.lock();
            match renewed {
                Some(revision) => {
                    if let Some(cur) = map.get_mut(&member) {
                        if cur.key == h.key {
                            cur.revision = revision;
                        }
                    }
                }
                None => {
                    if map.get(&member).is_some_and(|cur| cur.key == h.key) {
                        map.remove(&member);
                    }
                }
            }
        }
        lost
    }
}
