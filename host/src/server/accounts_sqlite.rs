//! The first account store: two tables in the server's SQLite database
//! (`history.sqlite3`), behind [`Accounts`] and [`Offline`].
//!
//! The database is in WAL mode and every connection waits for a lock (busy
//! timeout) rather than fail, so the operator's `dhchat-server accounts`
//! commands can change it while the server runs. Every write is one
//! transaction, committed (fsynced, `synchronous=FULL`) before it returns.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::accounts::{Account, Accounts, Claim, StoreError, StoreFuture};
use super::bus::key;
use super::event::{now_ms, Chat};
use super::offline::{Offline, Stored, Waiting};
use dhchat_core::identity::PublicKey;

/// How long a connection waits for another one's lock before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The accounts and the offline messages in one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Mutex<Connection>>,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError(e.to_string())
}

/// Opens a connection to the database at `path` with the history's set-up
/// ([`history::open`](super::history::open): the file and its `-wal` and
/// `-shm` mode 0600, incremental vacuum, WAL, `synchronous=FULL`; whichever
/// opens a new database first must set these before any table exists), a
/// busy timeout, and the account tables.
///
/// # Errors
/// SQLite errors, with the file named.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    let db = super::history::open(path)?;
    db.busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| {
            db.execute_batch(
                "CREATE TABLE IF NOT EXISTS accounts (
                    nick_key TEXT PRIMARY KEY,
                    nick TEXT NOT NULL,
                    key TEXT NOT NULL,
                    created_ms INTEGER NOT NULL
                );
                CREATE TABLE IF NOT EXISTS offline (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    account TEXT NOT NULL,
                    time_ms INTEGER NOT NULL,
                    sender TEXT NOT NULL,
                    room TEXT NOT NULL,
                    text TEXT NOT NULL,
                    sender_account INTEGER NOT NULL,
                    legacy INTEGER NOT NULL
                );
                CREATE INDEX IF NOT EXISTS offline_account_seq ON offline (account, seq);",
            )
        })
        .with_context(|| format!("{}: cannot set up the account tables", path.display()))?;
    Ok(db)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn account_row(nick: String, key_text: &str, created: i64) -> Result<Account, StoreError> {
    let key = key_text
        .parse::<PublicKey>()
        .map_err(|_| StoreError(format!("account {nick}: the stored key is not valid")))?;
    Ok(Account {
        nick,
        key,
        created_ms: to_u64(created),
    })
}

impl SqliteStore {
    /// A store on an open connection (see [`open`]).
    pub fn new(db: Connection) -> SqliteStore {
        SqliteStore {
            db: Arc::new(Mutex::new(db)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        match self.db.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Runs `f` on the connection on the blocking pool.
    fn blocking<'a, T: Send + 'static>(
        &'a self,
        f: impl FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'a, T> {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&store))
                .await
                .map_err(|_| StoreError("the database task failed".into()))?
        })
    }

    /// The account `nick`, if any.
    ///
    /// # Errors
    /// Database errors, a corrupt key.
    pub fn owner_now(&self, nick: &str) -> Result<Option<Account>, StoreError> {
        let db = self.lock();
        let row: Option<(String, String, i64)> = db
            .prepare_cached("SELECT nick, key, created_ms FROM accounts WHERE nick_key = ?1")
            .and_then(|mut q| {
                q.query_row(params![key(nick)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(err)?;
        row.map(|(n, k, c)| account_row(n, &k, c)).transpose()
    }

    /// See [`Accounts::others_with_prefix`].
    ///
    /// # Errors
    /// Database errors.
    pub fn others_with_prefix_now(
        &self,
        prefix: &str,
        owner: Option<PublicKey>,
    ) -> Result<Vec<String>, StoreError> {
        let db = self.lock();
        // Nicks are [A-Za-z0-9_-], none of them special to GLOB.
        let pattern = format!("{}*", key(prefix));
        let owner = owner.map(|k| k.to_string()).unwrap_or_default();
        let mut q = db
            .prepare_cached("SELECT nick_key FROM accounts WHERE nick_key GLOB ?1 AND key <> ?2")
            .map_err(err)?;
        let rows = q
            .query_map(params![pattern, owner], |r| r.get::<_, String>(0))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// See [`Accounts::claim`].
    ///
    /// # Errors
    /// Database errors.
    pub fn claim_now(&self, nick: &str, owner: PublicKey) -> Result<Claim, StoreError> {
        let mut db = self.lock();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let bound: Option<String> = tx
            .query_row(
                "SELECT key FROM accounts WHERE nick_key = ?1",
                params![key(nick)],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let owner_text = owner.to_string();
        let claim = match bound {
            Some(k) if k == owner_text => Claim::Owner,
            Some(_) => Claim::Other,
            None => {
                tx.execute(
                    "INSERT INTO accounts (nick_key, nick, key, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![key(nick), nick, owner_text, to_i64(now_ms())],
                )
                .map_err(err)?;
                Claim::Created
            }
        };
        tx.commit().map_err(err)?;
        Ok(claim)
    }

    /// Every account, by nick.
    ///
    /// # Errors
    /// Database errors, a corrupt key.
    pub fn list_now(&self) -> Result<Vec<Account>, StoreError> {
        let db = self.lock();
        let mut q = db
            .prepare_cached("SELECT nick, key, created_ms FROM accounts ORDER BY nick_key")
            .map_err(err)?;
        let rows: Vec<(String, String, i64)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        rows.into_iter()
            .map(|(n, k, c)| account_row(n, &k, c))
            .collect()
    }

    /// The number of messages waiting for `nick`.
    ///
    /// # Errors
    /// Database errors.
    pub fn waiting_count(&self, nick: &str) -> Result<u64, StoreError> {
        let db = self.lock();
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM offline WHERE account = ?1",
                params![key(nick)],
                |r| r.get(0),
            )
            .map_err(err)?;
        Ok(to_u64(n))
    }

    /// See [`Accounts::release`].
    ///
    /// # Errors
    /// Database errors.
    pub fn release_now(&self, nick: &str) -> Result<bool, StoreError> {
        let mut db = self.lock();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n = tx
            .execute(
                "DELETE FROM accounts WHERE nick_key = ?1",
                params![key(nick)],
            )
            .map_err(err)?;
        tx.execute("DELETE FROM offline WHERE account = ?1", params![key(nick)])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n > 0)
    }

    /// See [`Offline::store`].
    ///
    /// # Errors
    /// Database errors.
    pub fn store_now(&self, account: &str, chat: &Chat, max: u32) -> Result<Stored, StoreError> {
        let mut db = self.lock();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM offline WHERE account = ?1",
                params![key(account)],
                |r| r.get(0),
            )
            .map_err(err)?;
        if n >= i64::from(max) {
            return Ok(Stored::Full);
        }
        tx.execute(
            "INSERT INTO offline (account, time_ms, sender, room, text, sender_account, legacy)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                key(account),
                to_i64(chat.time_ms),
                chat.from,
                chat.room,
                chat.text,
                chat.account,
                chat.legacy
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Stored::Stored)
    }

    /// See [`Offline::waiting`].
    ///
    /// # Errors
    /// Database errors.
    pub fn waiting_now(&self, account: &str) -> Result<Vec<Waiting>, StoreError> {
        let db = self.lock();
        let mut q = db
            // `(SELECT ?1)`: an ordered read bound as `account = ?1` is
            // recompiled on every run (see history::recent_sql).
            .prepare_cached(
                "SELECT seq, time_ms, sender, room, text, sender_account, legacy
                 FROM offline WHERE account = (SELECT ?1) ORDER BY seq",
            )
            .map_err(err)?;
        let rows = q
            .query_map(params![key(account)], |r| {
                Ok(Waiting {
                    seq: to_u64(r.get(0)?),
                    chat: Chat {
                        time_ms: to_u64(r.get(1)?),
                        history: true,
                        from: r.get(2)?,
                        room: r.get(3)?,
                        text: r.get(4)?,
                        account: r.get(5)?,
                        legacy: r.get(6)?,
                    },
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// See [`Offline::delivered`].
    ///
    /// # Errors
    /// Database errors.
    pub fn delivered_now(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        let db = self.lock();
        db.execute(
            "DELETE FROM offline WHERE account = ?1 AND seq <= ?2",
            params![key(account), to_i64(seq)],
        )
        .map_err(err)?;
        Ok(())
    }
}

impl Accounts for SqliteStore {
    fn owner<'a>(&'a self, nick: &'a str) -> StoreFuture<'a, Option<Account>> {
        let nick = nick.to_owned();
        self.blocking(move |s| s.owner_now(&nick))
    }

    fn others_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
        owner: Option<PublicKey>,
    ) -> StoreFuture<'a, Vec<String>> {
        let prefix = prefix.to_owned();
        self.blocking(move |s| s.others_with_prefix_now(&prefix, owner))
    }

    fn claim<'a>(&'a self, nick: &'a str, owner: PublicKey) -> StoreFuture<'a, Claim> {
        let nick = nick.to_owned();
        self.blocking(move |s| s.claim_now(&nick, owner))
    }

    fn list(&self) -> StoreFuture<'_, Vec<Account>> {
        self.blocking(SqliteStore::list_now)
    }

    fn release<'a>(&'a self, nick: &'a str) -> StoreFuture<'a, bool> {
        let nick = nick.to_owned();
        self.blocking(move |s| s.release_now(&nick))
    }
}

impl Offline for SqliteStore {
    fn store<'a>(&'a self, account: &'a str, chat: &'a Chat, max: u32) -> StoreFuture<'a, Stored> {
        let (account, chat) = (account.to_owned(), chat.clone());
        self.blocking(move |s| s.store_now(&account, &chat, max))
    }

    fn waiting<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Vec<Waiting>> {
        let account = account.to_owned();
        self.blocking(move |s| s.waiting_now(&account))
    }

    fn delivered<'a>(&'a self, account: &'a str, seq: u64) -> StoreFuture<'a, ()> {
        let account = account.to_owned();
        self.blocking(move |s| s.delivered_now(&account, seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhchat_core::identity::IdentityKey;

    fn key_of(seed: u8) -> PublicKey {
        IdentityKey::from_seed(&[seed; 32])
            .expect("seed")
            .public_key()
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(&dir.path().join("h.sqlite3")).expect("open");
        (dir, SqliteStore::new(db))
    }

    fn dm(text: &str) -> Chat {
        Chat {
            time_ms: 5,
            history: false,
            from: "bob".into(),
            room: "@Alice".into(),
            text: text.into(),
            legacy: false,
            account: true,
        }
    }

    #[test]
    fn a_nick_is_claimed_once_case_insensitively_and_release_frees_it() {
        let (_d, s) = store();
        assert_eq!(s.claim_now("Alice", key_of(1)), Ok(Claim::Created));
        assert_eq!(s.claim_now("alice", key_of(1)), Ok(Claim::Owner));
        assert_eq!(s.claim_now("ALICE", key_of(2)), Ok(Claim::Other));
        let a = s.owner_now("aLiCe").expect("owner").expect("an account");
        assert_eq!((a.nick.as_str(), a.key), ("Alice", key_of(1)));
        assert_eq!(
            s.others_with_prefix_now("ali", Some(key_of(2))),
            Ok(vec!["alice".to_owned()])
        );
        assert_eq!(s.others_with_prefix_now("ali", Some(key_of(1))), Ok(vec![]));
        assert_eq!(s.others_with_prefix_now("bo", None), Ok(vec![]));
        assert_eq!(s.release_now("ALICE"), Ok(true));
        assert_eq!(s.release_now("alice"), Ok(false));
        assert_eq!(s.owner_now("alice"), Ok(None));
        assert_eq!(s.claim_now("alice", key_of(2)), Ok(Claim::Created));
    }

    #[test]
    fn offline_messages_are_bounded_kept_in_order_and_deleted_once_delivered() {
        let (_d, s) = store();
        for i in 0..3 {
            assert_eq!(
                s.store_now("Alice", &dm(&i.to_string()), 3),
                Ok(Stored::Stored)
            );
        }
        assert_eq!(s.store_now("alice", &dm("3"), 3), Ok(Stored::Full));
        let w = s.waiting_now("ALICE").expect("waiting");
        let texts: Vec<&str> = w.iter().map(|w| w.chat.text.as_str()).collect();
        assert_eq!(texts, ["0", "1", "2"]);
        assert!(w.iter().all(|w| w.chat.history && w.chat.account));
        s.delivered_now("alice", w[1].seq).expect("delivered");
        let left: Vec<String> = s
            .waiting_now("alice")
            .expect("waiting")
            .into_iter()
            .map(|w| w.chat.text)
            .collect();
        assert_eq!(left, ["2"]);
        assert_eq!(s.release_now("alice"), Ok(false), "no account, only mail");
        assert_eq!(s.waiting_count("alice"), Ok(0), "release drops its mail");
    }
}
