//! Accounts across the cluster (PROTOCOL.md section 5.1): [`ClusterAccounts`],
//! the cluster's [`Accounts`] store, over the key-value bucket
//! `NAME-accounts`.
//!
//! | operation | how |
//! |---|---|
//! | claim | a create that succeeds only if the key is absent: one account per nick, atomically for every node |
//! | owner | the key's last entry, read at the bucket stream's leader (never a lagging replica) |
//! | others with a prefix | this node's copy of the bucket, fed by a watch, plus a leader read of the prefix itself |
//! | list | every key, each read at the leader |
//! | release | a delete at the entry's revision, then a purge of the account's waiting messages |
//!
//! The keys are the hex of the lowercase nick (as in the nick bucket); the
//! values are JSON [`AccountRecord`]s, checked on every read. The bucket has
//! one revision per key, file storage and no `max_age`: an account lasts
//! until the operator releases it, like a row in a single node's database.
//!
//! The node-local copy is eventually consistent (an account created on
//! another node a few milliseconds ago may not be in it yet): it only picks
//! which free variant a CLIENT_HELLO is offered. What makes an account one
//! account is the atomic create, and NICK and the direct messages to an
//! offline nick read the leader.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation};
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use bytes::Bytes;
use dhchat_core::identity::PublicKey;
use dhchat_core::names::is_valid_nick;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::names::Names;
use super::offline::ClusterOffline;
use super::patiently;
use crate::server::accounts::{Account, Accounts, Claim, StoreError, StoreFuture};
use crate::server::bus::key;
use crate::server::event::now_ms;

/// How long the watch of the bucket waits before it starts again after it
/// ended (NATS gone for good, the bucket deleted).
const REWATCH_DELAY: Duration = Duration::from_secs(1);

/// What the bucket holds for a nick.
enum Entry {
    /// No account (never one, or released).
    None,
    /// An account, at its revision.
    Account(Account, u64),
    /// An entry that fails its checks (why, revision): nobody owns it
    /// provably, so its nick is given to nobody until the operator
    /// releases it.
    NotValid(&'static str, u64),
}

/// Every key of the bucket, for a watch (from each key's last entry on).
const ALL_KEYS: &str = ">";

/// An account as kept in the bucket (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The nick as first welcomed.
    pub nick: String,
    /// The owner's identity key (`ed25519:...`).
    pub key: String,
    /// When it was created, ms since the Unix epoch.
    pub created_ms: u64,
}

impl AccountRecord {
    /// Decodes and checks the value of the bucket key `entry_key`: a valid
    /// nick whose key is `entry_key`, a valid public key.
    ///
    /// # Errors
    /// A short description of what is wrong (for the log).
    pub fn decode(entry_key: &str, bytes: &[u8]) -> Result<Account, &'static str> {
        let r: AccountRecord = serde_json::from_slice(bytes).map_err(|_| "not an account")?;
        if !is_valid_nick(&r.nick) {
            return Err("bad nick");
        }
        if Names::nick_key(&r.nick) != entry_key {
            return Err("nick does not match its key");
        }
        let key = r.key.parse::<PublicKey>().map_err(|_| "bad identity key")?;
        Ok(Account {
            nick: r.nick,
            key,
            created_ms: r.created_ms,
        })
    }
}

/// The bucket of accounts: one revision per key, file storage, kept for
/// ever, `replicas` as the other buckets.
///
/// # Errors
/// JetStream refused to create or update the bucket.
pub async fn ensure_bucket(
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
) -> anyhow::Result<kv::Store> {
    use anyhow::Context as _;
    let bucket = names.account_bucket();
    js.create_or_update_key_value(kv::Config {
        bucket: bucket.clone(),
        description: "dhchat accounts: nick -> identity key".into(),
        history: 1,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..kv::Config::default()
    })
    .await
    .with_context(|| format!("setting up the bucket {bucket}"))
}

/// The cluster's account store.
pub struct ClusterAccounts {
    kv: kv::Store,
    /// The bucket's stream, for reads at its leader.
    raw: stream::Stream,
    names: Names,
    offline: Arc<ClusterOffline>,
    /// This node's copy of the bucket: lowercase nick to owner (`None`: an
    /// entry that is not valid, whose nick nobody is given).
    known: Mutex<BTreeMap<String, Option<PublicKey>>>,
}

fn err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

impl ClusterAccounts {
    /// The store over the bucket `kv` (see [`ensure_bucket`]), with the
    /// waiting messages in `offline`. Not following the bucket yet: see
    /// [`ClusterAccounts::follow`].
    ///
    /// # Errors
    /// The bucket's stream cannot be read.
    pub async fn new(
        js: &jetstream::Context,
        kv: kv::Store,
        names: Names,
        offline: Arc<ClusterOffline>,
    ) -> anyhow::Result<Arc<ClusterAccounts>> {
        use anyhow::Context as _;
        let raw = js
            .get_stream(names.account_bucket_stream())
            .await
            .with_context(|| format!("reading the stream of {}", names.account_bucket()))?;
        Ok(Arc::new(ClusterAccounts {
            kv,
            raw,
            names,
            offline,
            known: Mutex::new(BTreeMap::new()),
        }))
    }

    /// The store over an existing bucket and stream (the operator's
    /// commands).
    ///
    /// # Errors
    /// The bucket or the stream does not exist or cannot be read.
    pub async fn open(
        js: &jetstream::Context,
        names: &Names,
    ) -> anyhow::Result<Arc<ClusterAccounts>> {
        use anyhow::Context as _;
        let kv = js
            .get_key_value(names.account_bucket())
            .await
            .with_context(|| format!("no bucket {}", names.account_bucket()))?;
        let offline = Arc::new(ClusterOffline::open(js.clone(), names.clone()).await?);
        ClusterAccounts::new(js, kv, names.clone(), offline).await
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Option<PublicKey>>> {
        match self.known.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Keeps this node's copy of the bucket up to date from now on, and
    /// returns once it holds every account that existed when it started
    /// (so the node admits no client before it knows the accounts).
    ///
    /// # Errors
    /// The watch could not be started or the bucket not read.
    pub async fn follow(self: &Arc<Self>) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let watch = self
            .kv
            .watch_with_history(ALL_KEYS)
            .await
            .context("watching the account bucket")?;
        // The entries (values and delete markers) when the store was made:
        // none means the copy is complete at once; else the watch says when
        // it delivered the last of them.
        let entries = self.raw.cached_info().state.messages;
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            if entries == 0 {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
            let mut watch = Some(watch);
            loop {
                if let Some(w) = watch.take() {
                    me.apply_watch(w, &mut ready).await;
                    tracing::warn!(
                        "cluster: the watch of the account bucket ended; starting it again"
                    );
                }
                tokio::time::sleep(REWATCH_DELAY).await;
                match me.kv.watch_with_history(ALL_KEYS).await {
                    Ok(w) => {
                        // Deletes missed while no watch ran are not replayed:
                        // start the copy again from the bucket's entries.
                        me.lock().clear();
                        watch = Some(w);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster: cannot watch the account bucket")
                    }
                }
            }
        });
        let loaded = tokio::time::timeout(super::STARTUP_DEADLINE, ready_rx)
            .await
            .map_err(|_| anyhow::anyhow!("the watch of the account bucket did not catch up"))
            .and_then(|r| {
                r.context("the watch of the account bucket ended before it read the bucket")
            });
        if loaded.is_err() {
            task.abort();
        }
        loaded
    }

    async fn apply_watch(
        &self,
        mut watch: kv::Watch,
        ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        while let Some(entry) = watch.next().await {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: a bad entry in the watch of the account bucket");
                    continue;
                }
            };
            let Ok(nick_key) = hex::decode(&entry.key)
                .map_err(|_| ())
                .and_then(|k| String::from_utf8(k).map_err(|_| ()))
            else {
                tracing::warn!("cluster: ignored an account entry whose key is not a hex nick");
                continue;
            };
            match entry.operation {
                Operation::Put => match AccountRecord::decode(&entry.key, &entry.value) {
                    Ok(account) => {
                        self.lock().insert(nick_key, Some(account.key));
                    }
                    Err(why) => {
                        tracing::warn!(
                            why,
                            "cluster: an account entry is not valid; its nick is given to nobody"
                        );
                        self.lock().insert(nick_key, None);
                    }
                },
                Operation::Delete | Operation::Purge => {
                    self.lock().remove(&nick_key);
                }
            }
            if entry.delta == 0 {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
        }
    }

    /// The entry of `nick`, read at the leader.
    async fn read_entry(&self, nick: &str) -> Result<Entry, StoreError> {
        let subject = self.names.account_subject(nick);
        let found = patiently("reading an account", || async {
            match self.raw.get_last_raw_message_by_subject(&subject).await {
                Ok(m) => Ok(Some(m)),
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| err("reading an account", e))?;
        let Some(message) = found else {
            return Ok(Entry::None);
        };
        let deleted = message
            .headers
            .get("KV-Operation")
            .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
        if deleted {
            return Ok(Entry::None);
        }
        Ok(
            match AccountRecord::decode(&Names::nick_key(nick), &message.payload) {
                Ok(account) => Entry::Account(account, message.sequence),
                Err(why) => Entry::NotValid(why, message.sequence),
            },
        )
    }

    /// The account `nick` and its revision, read at the leader.
    ///
    /// # Errors
    /// [`StoreError`] if the bucket cannot be read or the entry is not
    /// valid (nobody can be shown to own it).
    async fn read(&self, nick: &str) -> Result<Option<(Account, u64)>, StoreError> {
        match self.read_entry(nick).await? {
            Entry::None => Ok(None),
            Entry::Account(account, revision) => Ok(Some((account, revision))),
            Entry::NotValid(why, _) => Err(StoreError(format!(
                "account {nick}: the stored entry is not valid ({why})"
            ))),
        }
    }

    async fn claim_inner(&self, nick: &str, owner: PublicKey) -> Result<Claim, StoreError> {
        let record = AccountRecord {
            nick: nick.to_owned(),
            key: owner.to_string(),
            created_ms: now_ms(),
        };
        let value = serde_json::to_vec(&record)
            .map(Bytes::from)
            .map_err(|e| err("encoding an account", e))?;
        // A release between the create and the read below frees the key
        // again: a few rounds settle it.
        for _ in 0..3 {
            let created = patiently("creating an account", || async {
                match self.kv.create(Names::nick_key(nick), value.clone()).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| err("creating an account", e))?;
            if created {
                self.lock().insert(key(nick), Some(owner));
                return Ok(Claim::Created);
            }
            if let Some((account, _)) = self.read(nick).await? {
                return Ok(if account.key == owner {
                    Claim::Owner
                } else {
                    Claim::Other
                });
            }
        }
        Err(StoreError(format!(
            "account {nick}: created and released again and again"
        )))
    }

    async fn others_inner(
        &self,
        prefix: &str,
        owner: Option<PublicKey>,
    ) -> Result<Vec<String>, StoreError> {
        let start = key(prefix);
        let mut others: Vec<String> = self
            .lock()
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .filter(|(_, k)| k.is_none() || **k != owner)
            .map(|(n, _)| n.clone())
            .collect();
        // The nick asked for (or its first characters) itself is read at the
        // leader: an account created on another node just now is not given
        // out because this node's copy lags.
        if is_valid_nick(prefix) {
            let other = match self.read_entry(prefix).await? {
                Entry::None => false,
                Entry::Account(account, _) => Some(account.key) != owner,
                // Nobody can prove an entry that is not valid: given to
                // nobody, and the other variants still offered.
                Entry::NotValid(..) => true,
            };
            if other && !others.contains(&start) {
                others.push(start);
            }
        }
        Ok(others)
    }

    /// Every entry of the bucket, by nick: the account, or why the entry
    /// is not valid (a nick for a key that is a hex nick, else the key).
    ///
    /// # Errors
    /// [`StoreError`] if the bucket cannot be read.
    pub async fn entries(
        &self,
    ) -> Result<Vec<(String, Result<Account, &'static str>)>, StoreError> {
        let mut keys = match self.kv.keys().await {
            Ok(keys) => keys,
            Err(e) => return Err(err("listing the accounts", e)),
        };
        let mut found = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(|e| err("listing the accounts", e))?;
            let nick = hex::decode(&k)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|n| is_valid_nick(n));
            found.push((k, nick));
        }
        found.sort();
        let mut entries = Vec::new();
        for (k, nick) in found {
            let Some(nick) = nick else {
                entries.push((k, Err("the key is not a hex nick")));
                continue;
            };
            match self.read_entry(&nick).await? {
                Entry::None => {}
                Entry::Account(account, _) => entries.push((nick, Ok(account))),
                Entry::NotValid(why, _) => entries.push((nick, Err(why))),
            }
        }
        Ok(entries)
    }

    async fn list_inner(&self) -> Result<Vec<Account>, StoreError> {
        let entries = self.entries().await?;
        Ok(entries
            .into_iter()
            .filter_map(|(nick, entry)| match entry {
                Ok(account) => Some(account),
                Err(why) => {
                    tracing::warn!(%nick, why, "cluster: an account entry is not valid (release it)");
                    None
                }
            })
            .collect())
    }

    async fn release_inner(&self, nick: &str) -> Result<bool, StoreError> {
        let mut released = false;
        for _ in 0..3 {
            let revision = match self.read_entry(nick).await? {
                Entry::None => break,
                Entry::Account(_, revision) | Entry::NotValid(_, revision) => revision,
            };
            match self
                .kv
                .delete_expect_revision(Names::nick_key(nick), Some(revision))
                .await
            {
                Ok(()) => {
                    released = true;
                    break;
                }
                // Changed meanwhile (released and claimed again): read again.
                Err(e) => tracing::debug!(error = %e, "cluster: an account changed while released"),
            }
        }
        self.lock().remove(&key(nick));
        // The messages went to the old owner: they go with the account (after
        // the delete, so none stored for the old owner outlives it).
        self.offline.drop_all(nick).await?;
        Ok(released)
    }

    /// The messages waiting for `nick`.
    ///
    /// # Errors
    /// [`StoreError`] if the stream cannot be read.
    pub async fn waiting_count(&self, nick: &str) -> Result<u64, StoreError> {
        self.offline.count(nick).await
    }
}

impl Accounts for ClusterAccounts {
    fn owner<'a>(&'a self, nick: &'a str) -> StoreFuture<'a, Option<Account>> {
        Box::pin(async move { Ok(self.read(nick).await?.map(|(a, _)| a)) })
    }

    fn others_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
        owner: Option<PublicKey>,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(self.others_inner(prefix, owner))
    }

    fn claim<'a>(&'a self, nick: &'a str, owner: PublicKey) -> StoreFuture<'a, Claim> {
        Box::pin(self.claim_inner(nick, owner))
    }

    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        Box::pin(self.list_inner())
    }

    fn release<'a>(&'a self, nick: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.release_inner(nick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhchat_core::identity::IdentityKey;

    fn record(nick: &str) -> AccountRecord {
        AccountRecord {
            nick: nick.into(),
            key: IdentityKey::from_seed(&[3; 32])
                .expect("seed")
                .public_key()
                .to_string(),
            created_ms: 11,
        }
    }

    #[test]
    fn an_account_entry_decodes_only_under_its_own_nicks_key() {
        let bytes = serde_json::to_vec(&record("Alice")).expect("encode");
        let a = AccountRecord::decode(&Names::nick_key("alice"), &bytes).expect("decode");
        assert_eq!((a.nick.as_str(), a.created_ms), ("Alice", 11));
        assert!(AccountRecord::decode(&Names::nick_key("bob"), &bytes).is_err());
    }

    #[test]
    fn account_entries_with_a_bad_nick_or_key_are_refused() {
        let mut bad_nick = record("a b");
        bad_nick.nick = "a b".into();
        let bytes = serde_json::to_vec(&bad_nick).expect("encode");
        assert!(AccountRecord::decode(&Names::nick_key("a b"), &bytes).is_err());
        let mut bad_key = record("alice");
        bad_key.key = "ed25519:nothex".into();
        let bytes = serde_json::to_vec(&bad_key).expect("encode");
        assert!(AccountRecord::decode(&Names::nick_key("alice"), &bytes).is_err());
        assert!(AccountRecord::decode(&Names::nick_key("alice"), b"\x00").is_err());
    }
}
