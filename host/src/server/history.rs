//! Message history in an embedded SQLite database, on one dedicated thread.
//!
//! Every room message goes through this thread: it is inserted and committed
//! first, and only then handed to the [`Fanout`] for relaying, so a message anyone
//! saw relayed is on disk. JOINs go through the same thread, in order with the
//! inserts: the joiner gets exactly the messages committed before its join as
//! history, and every later one live, after the history.
//!
//! Durability: WAL journal with `synchronous=FULL`, so every commit is fsynced
//! before the message is relayed; it survives a crash of the server and of the
//! machine. Consecutive inserts are committed together (group commit), which
//! keeps the fsync cost per message low under load.
//!
//! Bounds: `retain` messages per room; `max_bytes` of database pages in use
//! in all (past it, the oldest messages of any room go); rooms without a new
//! message for `room_expiry` lose their history (checked at start and then
//! at most hourly, when the thread has work). The write-ahead log is
//! truncated to [`WAL_LIMIT`] after each checkpoint.
//!
//! When storing fails (disk full, database locked), messages are relayed
//! anyway, without being stored: live chat is not held hostage to history.
//! The operator is told in the log (the first failure, then at most one line
//! a minute with the count of messages relayed unstored, and when storing
//! works again); for [`RETRY_AFTER`] after a failure no store is attempted.
//!
//! Files: the database (and SQLite's `-wal` and `-shm` files, which take its
//! mode) are mode 0600 whatever the umask.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusqlite::{params, Connection};
use tokio::sync::{mpsc, oneshot};

use super::bus::{key, ClientId, Fanout};
use super::event::{Chat, Event};
use super::pressure::{Ahead, InFlight};

/// Most inserts committed in one transaction.
pub const MAX_BATCH: usize = 64;

/// Size the write-ahead log is truncated to after a checkpoint.
pub const WAL_LIMIT: i64 = 4 << 20;

/// How long the thread relays without trying to store after storing failed.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How often idle rooms are looked for (when the thread has work).
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(3600);

/// How long SQLite waits for a lock held by another process before a write
/// fails.
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// Work for the history thread.
pub enum Cmd {
    /// Store a room message, then relay it to the room.
    Say {
        /// The sender (not relayed to).
        sender: ClientId,
        /// The message (its `room` is the room's spelling).
        chat: Arc<Chat>,
    },
    /// Join a room: replay its history, then add the member.
    Join {
        /// The client.
        client: ClientId,
        /// The room as the client spelled it.
        room: String,
        /// True if it joined, false if it was a member already.
        reply: oneshot::Sender<bool>,
    },
    /// Close the database and stop.
    Shutdown {
        /// Answered once the database is closed.
        reply: oneshot::Sender<()>,
    },
}

/// Settings of the history store.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Messages replayed on join.
    pub replay: u32,
    /// Messages kept per room.
    pub retain: u32,
    /// Bytes of database pages in use, at most.
    pub max_bytes: u64,
    /// Rooms without a new message for this long lose their history.
    pub room_expiry: Option<Duration>,
}

/// Opens (or creates) the database, mode 0600 whatever the umask (an
/// existing file is set to 0600).
///
/// # Errors
/// SQLite and file errors, with the file named.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
        .with_context(|| format!("{}: cannot create the database file", path.display()))?;
    let db = Connection::open(path)
        .with_context(|| format!("{}: cannot open database", path.display()))?;
    db.busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| db.pragma_update(None, "auto_vacuum", "INCREMENTAL"))
        .and_then(|()| db.pragma_update(None, "journal_mode", "WAL"))
        .and_then(|()| db.pragma_update(None, "synchronous", "FULL"))
        .and_then(|()| db.pragma_update(None, "journal_size_limit", WAL_LIMIT))
        .and_then(|()| {
            db.execute_batch(
                "CREATE TABLE IF NOT EXISTS messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    room TEXT NOT NULL,
                    time_ms INTEGER NOT NULL,
                    sender TEXT NOT NULL,
                    text TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id);",
            )
        })
        .and_then(|()| add_flag_column(&db, "legacy"))
        .and_then(|()| add_flag_column(&db, "account"))
        .with_context(|| format!("{}: cannot set up database", path.display()))?;
    Ok(db)
}

/// Adds the flag column `name` (`INTEGER NOT NULL DEFAULT 0`) to `messages`
/// in databases created before it existed: `legacy` (MESSAGE flags bit 1)
/// and `account` (bit 2), kept so that replays keep the marks.
fn add_flag_column(db: &Connection, name: &str) -> rusqlite::Result<()> {
    let has: bool = db
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = ?1")?
        .exists([name])?;
    if !has {
        db.execute_batch(&format!(
            "ALTER TABLE messages ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0;"
        ))?;
    }
    Ok(())
}

/// Bytes of database pages in use (pages not on the free list).
fn used_bytes(db: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = db.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = db.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    let size: i64 = db.pragma_query_value(None, "page_size", |r| r.get(0))?;
    Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
}

/// Deletes the oldest messages (of any room) until the pages in use are
/// within nine tenths of `max_bytes`, then gives free pages back to the file
/// system; returns the number of messages deleted.
fn enforce_max_bytes(db: &Connection, max_bytes: u64) -> rusqlite::Result<u64> {
    let target = max_bytes / 10 * 9;
    let mut deleted = 0;
    for _ in 0..16 {
        let used = used_bytes(db)?;
        if used <= target {
            break;
        }
        let rows: i64 = db.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        if rows == 0 {
            break;
        }
        let rows = u64::try_from(rows).unwrap_or(0);
        // As many rows as the excess is of the whole, at least one.
        let n = ((used - target).saturating_mul(rows) / used.max(1)).clamp(1, rows);
        deleted += db.execute(
            "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?1)",
            params![i64::try_from(n).unwrap_or(i64::MAX)],
        )? as u64;
    }
    if deleted > 0 {
        vacuum(db)?;
    }
    Ok(deleted)
}

/// Deletes the messages of rooms whose newest message is older than
/// `now_ms - idle`; returns the number deleted.
fn expire_rooms(db: &Connection, now_ms: u64, idle: Duration) -> rusqlite::Result<usize> {
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    let cutoff = i64::try_from(now_ms.saturating_sub(idle_ms)).unwrap_or(i64::MAX);
    let n = db.execute(
        "DELETE FROM messages WHERE room IN (
            SELECT room FROM messages GROUP BY room HAVING MAX(time_ms) < ?1)",
        params![cutoff],
    )?;
    if n > 0 {
        vacuum(db)?;
    }
    Ok(n)
}

/// Gives the free pages back to the file system (the statement frees one
/// page per step, so it is stepped to its end).
fn vacuum(db: &Connection) -> rusqlite::Result<()> {
    let mut stmt = db.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// The handle the connections use.
#[derive(Clone)]
pub struct History {
    tx: mpsc::Sender<Cmd>,
    /// Messages queued for the thread and not yet fanned out.
    inflight: Arc<InFlight>,
}

impl History {
    /// Starts the history thread on `db`; it hands stored messages to
    /// `fanout`.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn start(
        db: Connection,
        fanout: Arc<dyn Fanout>,
        settings: Settings,
    ) -> anyhow::Result<(History, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(1024);
        let inflight = Arc::new(InFlight::default());
        let thread = {
            let inflight = inflight.clone();
            std::thread::Builder::new()
                .name("history".into())
                .spawn(move || run(db, rx, fanout.as_ref(), settings, &inflight))
                .context("cannot start the history thread")?
        };
        Ok((History { tx, inflight }, thread))
    }

    /// Queues a room message for storing and relaying (waits while the
    /// thread is behind: back-pressure on the sender).
    pub async fn say(&self, sender: ClientId, chat: Arc<Chat>) -> bool {
        let bytes = Event::Chat(chat.clone()).queued_bytes();
        self.inflight.add(bytes);
        let sent = self.tx.send(Cmd::Say { sender, chat }).await.is_ok();
        if !sent {
            self.inflight.done(bytes);
        }
        sent
    }

    /// Room messages queued for the thread and not yet fanned out.
    pub fn ahead(&self) -> Ahead {
        self.inflight.now()
    }

    /// Joins a room (history first). `None` if the history thread is gone.
    pub async fn join(&self, client: ClientId, room: &str) -> Option<bool> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Join {
                client,
                room: room.to_owned(),
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Closes the database after all queued work.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Shutdown { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Whether storing works, and what the operator has been told.
struct Health {
    /// Since when storing has failed, and when it may be tried again.
    failing: Option<(Instant, Instant)>,
    /// Messages relayed without being stored since storing failed.
    unstored: u64,
    /// When the operator was last told about the failure.
    last_told: Option<Instant>,
}

/// At most one log line a minute while storing fails.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

impl Health {
    /// Whether a store may be tried now.
    fn may_store(&self, now: Instant) -> bool {
        self.failing.is_none_or(|(_, retry)| now >= retry)
    }

    fn failed(&mut self, now: Instant, e: &rusqlite::Error, messages: usize) {
        self.unstored += messages as u64;
        let since = self.failing.map_or(now, |(since, _)| since);
        self.failing = Some((since, now + RETRY_AFTER));
        let due = self
            .last_told
            .is_none_or(|t| now.saturating_duration_since(t) >= FAILURE_LOG_INTERVAL);
        if due {
            self.last_told = Some(now);
            tracing::error!(
                error = %e,
                unstored = self.unstored,
                "history: cannot store messages; relaying them without storing ({} so far)",
                self.unstored
            );
        }
    }

    fn skipped(&mut self, messages: usize) {
        self.unstored += messages as u64;
    }

    fn stored(&mut self) {
        if let Some((since, _)) = self.failing.take() {
            tracing::warn!(
                unstored = self.unstored,
                "history: storing works again; {} messages were relayed without being stored in the last {}s",
                self.unstored,
                since.elapsed().as_secs()
            );
            self.unstored = 0;
            self.last_told = None;
        }
    }
}

/// Deletes what the byte bound and the room expiry say must go, logging
/// what was deleted.
fn housekeep(db: &Connection, settings: &Settings, expire: bool) {
    if expire {
        if let Some(idle) = settings.room_expiry {
            match expire_rooms(db, super::event::now_ms(), idle) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    "history: deleted the messages of rooms idle for {} days",
                    idle.as_secs() / 86_400
                ),
                Err(e) => tracing::error!(error = %e, "history: cannot expire idle rooms"),
            }
        }
    }
    match enforce_max_bytes(db, settings.max_bytes) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deleted = n,
            "history: deleted the oldest messages to stay within --history-max-bytes {}",
            settings.max_bytes
        ),
        Err(e) => tracing::error!(error = %e, "history: cannot enforce --history-max-bytes"),
    }
}

fn run(
    mut db: Connection,
    mut rx: mpsc::Receiver<Cmd>,
    fanout: &dyn Fanout,
    settings: Settings,
    inflight: &InFlight,
) {
    let mut held: Option<Cmd> = None;
    let mut health = Health {
        failing: None,
        unstored: 0,
        last_told: None,
    };
    housekeep(&db, &settings, true);
    let mut last_expiry = Instant::now();
    loop {
        let Some(cmd) = held.take().or_else(|| rx.blocking_recv()) else {
            break;
        };
        if last_expiry.elapsed() >= EXPIRY_INTERVAL {
            last_expiry = Instant::now();
            housekeep(&db, &settings, true);
        }
        match cmd {
            Cmd::Say { sender, chat } => {
                let mut batch = vec![(sender, chat)];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Cmd::Say { sender, chat }) => batch.push((sender, chat)),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let now = Instant::now();
                if !health.may_store(now) {
                    health.skipped(batch.len());
                } else {
                    match store(&mut db, &batch, settings.retain) {
                        Ok(()) => {
                            health.stored();
                            housekeep(&db, &settings, false);
                        }
                        Err(e) => health.failed(now, &e, batch.len()),
                    }
                }
                // Stored or not, live messages are relayed, the whole batch
                // at once.
                fanout.to_rooms(&batch);
                for (_, chat) in batch {
                    inflight.done(Event::Chat(chat).queued_bytes());
                }
            }
            Cmd::Join {
                client,
                room,
                reply,
            } => {
                let room_key = key(&room);
                if fanout.is_member(client, &room_key) {
                    let _ = reply.send(false);
                    continue;
                }
                let chats = match recent(&db, &room_key, settings.replay) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "history: cannot read history");
                        Vec::new()
                    }
                };
                let _ = reply.send(fanout.join(client, &room, chats));
            }
            Cmd::Shutdown { reply } => {
                let _ = db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
                if let Err((_, e)) = db.close() {
                    tracing::error!(error = %e, "history: closing the database failed");
                }
                let _ = reply.send(());
                return;
            }
        }
    }
}

fn store(
    db: &mut Connection,
    batch: &[(ClientId, Arc<Chat>)],
    retain: u32,
) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (room, time_ms, sender, text, legacy, account)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (_, chat) in batch {
            let time = i64::try_from(chat.time_ms).unwrap_or(i64::MAX);
            insert.execute(params![
                key(&chat.room),
                time,
                chat.from,
                chat.text,
                chat.legacy,
                chat.account
            ])?;
        }
        let mut trim = tx.prepare_cached(&trim_sql(retain))?;
        let mut rooms: Vec<String> = batch.iter().map(|(_, c)| key(&c.room)).collect();
        rooms.sort();
        rooms.dedup();
        for room in rooms {
            trim.execute(params![room])?;
        }
    }
    tx.commit()
}

/// The newest `n` messages of a room, newest first. The room is bound as
/// `(SELECT ?1)` and `n` (a setting, not a peer's input) is written into the
/// statement: SQLite recompiles a statement on every run whose ordered,
/// limited plan may depend on a bound `room = ?1` or `LIMIT ?2`, which made
/// each read of the history (every JOIN, every connect's #lobby) parse and
/// plan the query again, about three times the cost of the read.
fn recent_sql(n: u32) -> String {
    format!(
        "SELECT time_ms, sender, text, legacy, account FROM messages
         WHERE room = (SELECT ?1) ORDER BY id DESC LIMIT {n}"
    )
}

/// Deletes a room's messages older than its newest `retain` (bound and
/// written as in [`recent_sql`], for the same reason).
fn trim_sql(retain: u32) -> String {
    format!(
        "DELETE FROM messages WHERE room = (SELECT ?1) AND id <= (
             SELECT id FROM messages WHERE room = (SELECT ?1)
             ORDER BY id DESC LIMIT 1 OFFSET {retain})"
    )
}

fn recent(db: &Connection, room_key: &str, n: u32) -> rusqlite::Result<Vec<Chat>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut q = db.prepare_cached(&recent_sql(n))?;
    let rows = q.query_map(params![room_key], |row| {
        let time: i64 = row.get(0)?;
        Ok(Chat {
            time_ms: u64::try_from(time).unwrap_or(0),
            history: true,
            from: row.get(1)?,
            room: String::new(),
            text: row.get(2)?,
            legacy: row.get(3)?,
            account: row.get(4)?,
        })
    })?;
    let mut newest_first = rows.collect::<rusqlite::Result<Vec<Chat>>>()?;
    newest_first.reverse();
    Ok(newest_first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::event::Event;

    fn chat(room: &str, text: &str) -> Arc<Chat> {
        Arc::new(Chat {
            time_ms: 1,
            history: false,
            from: "a".into(),
            room: room.into(),
            text: text.into(),
            legacy: false,
            account: false,
        })
    }

    /// A [`Fanout`] that writes down what it is handed, and checks that a
    /// room message is in the database by the time it is handed out.
    struct Recorder {
        db: std::path::PathBuf,
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl Recorder {
        fn note(&self, call: String) {
            self.calls.lock().expect("calls").push(call);
        }
    }

    impl Fanout for Recorder {
        fn to_room(&self, room_key: &str, sender: ClientId, chat: Arc<Chat>) {
            let db = Connection::open(&self.db).expect("second connection");
            let stored: i64 = db
                .query_row(
                    "SELECT COUNT(*) FROM messages WHERE room = ?1 AND text = ?2",
                    params![room_key, chat.text],
                    |row| row.get(0),
                )
                .expect("count");
            self.note(format!(
                "room {room_key} from {sender}: {} stored={stored}",
                chat.text
            ));
        }

        fn to_member(&self, member: ClientId, event: Event) {
            self.note(format!("member {member}: {event:?}"));
        }

        fn is_member(&self, member: ClientId, _room_key: &str) -> bool {
            member == 3
        }

        fn join(&self, member: ClientId, room: &str, history: Vec<Chat>) -> bool {
            let texts: Vec<String> = history
                .iter()
                .map(|c| format!("{}{}", c.text, if c.history { "(h)" } else { "" }))
                .collect();
            self.note(format!("join {member} {room}: {}", texts.join(",")));
            true
        }
    }

    #[tokio::test]
    async fn the_thread_stores_each_message_before_handing_it_out_and_joins_get_it_as_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.sqlite3");
        let recorder = Arc::new(Recorder {
            db: path.clone(),
            calls: std::sync::Mutex::new(Vec::new()),
        });
        let settings = Settings {
            replay: 50,
            retain: 100,
            max_bytes: 1 << 30,
            room_expiry: None,
        };
        let (history, thread) =
            History::start(open(&path).expect("open"), recorder.clone(), settings).expect("start");
        assert!(history.say(1, chat("#A", "one")).await);
        assert!(history.say(1, chat("#A", "two")).await);
        assert_eq!(history.join(2, "#a").await, Some(true));
        assert_eq!(
            history.join(3, "#a").await,
            Some(false),
            "a member needs no replay"
        );
        history.shutdown().await;
        thread.join().expect("thread");
        let calls = recorder.calls.lock().expect("calls").clone();
        assert_eq!(
            calls,
            [
                "room #a from 1: one stored=1",
                "room #a from 1: two stored=1",
                "join 2 #a: one(h),two(h)",
            ]
        );
    }

    #[test]
    fn retention_keeps_the_newest_per_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = open(&dir.path().join("h.sqlite3")).expect("open");
        let batch: Vec<_> = (0..10).map(|i| (1, chat("#A", &i.to_string()))).collect();
        store(&mut db, &batch, 3).expect("store");
        store(&mut db, &[(1, chat("#b", "other"))], 3).expect("store");
        let got: Vec<String> = recent(&db, "#a", 50)
            .expect("recent")
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(got, ["7", "8", "9"]);
        let got: Vec<String> = recent(&db, "#a", 2)
            .expect("recent")
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(got, ["8", "9"]);
        assert_eq!(recent(&db, "#b", 50).expect("recent").len(), 1);
    }

    #[test]
    fn reading_and_trimming_history_never_recompiles_its_statements() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = open(&dir.path().join("h.sqlite3")).expect("open");
        for round in 0..5 {
            for room in ["#a", "#b", "#c"] {
                let batch: Vec<_> = (0..4)
                    .map(|i| (1, chat(room, &format!("{round}.{i}"))))
                    .collect();
                store(&mut db, &batch, 6).expect("store");
                // Retention keeps the newest 6 of the 4 stored each round.
                let kept = (4 * (round + 1)).min(6);
                assert_eq!(recent(&db, &key(room), 50).expect("recent").len(), kept);
            }
        }
        // Each statement ran 15 times with a different room each time: a
        // statement whose plan depends on a bound value is recompiled on
        // every run after its bindings change (SQLITE_STMTSTATUS_REPREPARE).
        for sql in [recent_sql(50), trim_sql(6)] {
            let q = db.prepare_cached(&sql).expect("cached");
            assert!(q.get_status(rusqlite::StatementStatus::Run) >= 15, "{sql}");
            assert_eq!(
                q.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    fn chat_at(room: &str, time_ms: u64, text: &str) -> (ClientId, Arc<Chat>) {
        (
            1,
            Arc::new(Chat {
                time_ms,
                history: false,
                from: "a".into(),
                room: room.into(),
                text: text.into(),
                legacy: false,
                account: false,
            }),
        )
    }

    #[test]
    fn past_max_bytes_the_oldest_messages_of_any_room_go_until_the_pages_in_use_fit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = open(&dir.path().join("h.sqlite3")).expect("open");
        let text = "x".repeat(4000);
        for round in 0..100 {
            let batch: Vec<_> = (0..10)
                .map(|i| chat_at(&format!("#r{round}"), 1, &format!("{i} {text}")))
                .collect();
            store(&mut db, &batch, 10_000).expect("store");
        }
        let before = used_bytes(&db).expect("used");
        assert!(before > 4_000_000, "{before}");
        let deleted = enforce_max_bytes(&db, 1 << 20).expect("enforce");
        let after = used_bytes(&db).expect("used");
        assert!(after <= 1 << 20, "{after} bytes in use");
        assert!(deleted > 700, "{deleted}");
        assert!(
            recent(&db, "#r0", 50).expect("recent").is_empty(),
            "oldest room gone"
        );
        assert_eq!(
            recent(&db, "#r99", 50).expect("recent").len(),
            10,
            "newest kept"
        );
        // The file itself shrinks once the log is checkpointed into it.
        db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
        let file = std::fs::metadata(dir.path().join("h.sqlite3"))
            .expect("meta")
            .len();
        assert!(file <= 1 << 20, "file of {file} bytes");
    }

    #[test]
    fn rooms_without_a_message_for_the_expiry_lose_their_history_and_others_keep_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = open(&dir.path().join("h.sqlite3")).expect("open");
        let day = 86_400_000;
        store(
            &mut db,
            &[
                chat_at("#old", 1, "a"),
                chat_at("#old", 2 * day, "b"),
                chat_at("#mixed", day, "c"),
                chat_at("#mixed", 39 * day, "d"),
            ],
            100,
        )
        .expect("store");
        let n = expire_rooms(&db, 40 * day, Duration::from_secs(30 * 86_400)).expect("expire");
        assert_eq!(n, 2);
        assert!(recent(&db, "#old", 50).expect("recent").is_empty());
        assert_eq!(
            recent(&db, "#mixed", 50).expect("recent").len(),
            2,
            "whole room kept"
        );
    }

    #[test]
    fn the_database_file_is_created_0600_whatever_the_umask_and_an_existing_one_is_set_to_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.sqlite3");
        std::fs::write(&path, b"").expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let db = open(&path).expect("open");
        db.execute_batch(
            "INSERT INTO messages (room, time_ms, sender, text) VALUES ('#a', 1, 'a', 'b');",
        )
        .expect("insert");
        for name in ["h.sqlite3", "h.sqlite3-wal", "h.sqlite3-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .expect(name)
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
}
