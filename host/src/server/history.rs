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

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rusqlite::{params, Connection};
use tokio::sync::{mpsc, oneshot};

use super::bus::{key, ClientId, Fanout};
use super::event::{Chat, Event};

/// Most inserts committed in one transaction.
pub const MAX_BATCH: usize = 64;

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
}

/// Opens (or creates) the database.
///
/// # Errors
/// SQLite errors, with the file named.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    let db = Connection::open(path)
        .with_context(|| format!("{}: cannot open database", path.display()))?;
    db.pragma_update(None, "journal_mode", "WAL")
        .and_then(|()| db.pragma_update(None, "synchronous", "FULL"))
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
        .and_then(|()| db.busy_timeout(super::accounts_sqlite::BUSY_TIMEOUT))
        .and_then(|()| add_legacy_column(&db))
        .and_then(|()| add_account_column(&db))
        .with_context(|| format!("{}: cannot set up database", path.display()))?;
    Ok(db)
}

/// LEGACY HOOK: the `legacy` column (MESSAGE flags bit 1, kept so that replays keep
/// the mark), added to databases created before it existed.
fn add_legacy_column(db: &Connection) -> rusqlite::Result<()> {
    let has: bool = db
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'legacy'")?
        .exists([])?;
    if !has {
        db.execute_batch("ALTER TABLE messages ADD COLUMN legacy INTEGER NOT NULL DEFAULT 0;")?;
    }
    Ok(())
}

/// The `account` column (MESSAGE flags bit 2, kept so that replays keep the
/// mark), added to databases created before it existed.
fn add_account_column(db: &Connection) -> rusqlite::Result<()> {
    let has: bool = db
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'account'")?
        .exists([])?;
    if !has {
        db.execute_batch("ALTER TABLE messages ADD COLUMN account INTEGER NOT NULL DEFAULT 0;")?;
    }
    Ok(())
}

/// The handle the connections use.
#[derive(Clone)]
pub struct History {
    tx: mpsc::Sender<Cmd>,
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
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || run(db, rx, fanout.as_ref(), settings))
            .context("cannot start the history thread")?;
        Ok((History { tx }, thread))
    }

    /// Queues a room message for storing and relaying (waits while the
    /// thread is behind: back-pressure on the sender).
    pub async fn say(&self, sender: ClientId, chat: Arc<Chat>) -> bool {
        self.tx.send(Cmd::Say { sender, chat }).await.is_ok()
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

fn run(mut db: Connection, mut rx: mpsc::Receiver<Cmd>, fanout: &dyn Fanout, settings: Settings) {
    let mut held: Option<Cmd> = None;
    loop {
        let Some(cmd) = held.take().or_else(|| rx.blocking_recv()) else {
            break;
        };
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
                match store(&mut db, &batch, settings.retain) {
                    Ok(()) => {
                        for (sender, chat) in batch {
                            let room_key = key(&chat.room);
                            fanout.to_room(&room_key, sender, chat);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "history: cannot store messages; they were not relayed");
                        for (sender, _) in batch {
                            fanout.to_member(
                                sender,
                                Event::Error(
                                    dhchat_core::message::error_code::INTERNAL,
                                    "internal error: the message could not be stored".into(),
                                ),
                            );
                        }
                    }
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
        let mut trim = tx.prepare_cached(
            "DELETE FROM messages WHERE room = ?1 AND id <= (
                SELECT id FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )?;
        let mut rooms: Vec<String> = batch.iter().map(|(_, c)| key(&c.room)).collect();
        rooms.sort();
        rooms.dedup();
        for room in rooms {
            trim.execute(params![room, i64::from(retain)])?;
        }
    }
    tx.commit()
}

fn recent(db: &Connection, room_key: &str, n: u32) -> rusqlite::Result<Vec<Chat>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut q = db.prepare_cached(
        "SELECT time_ms, sender, text, legacy, account FROM (
            SELECT id, time_ms, sender, text, legacy, account FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT ?2
         ) ORDER BY id ASC",
    )?;
    let rows = q.query_map(params![room_key, i64::from(n)], |row| {
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
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
