//! Storage exhaustion (issue 9 item 3): the history's byte bound, and
//! relaying that goes on when storing fails.

use std::time::Duration;

use dhchat_core::message::Message;

use crate::common::{connect, TestServer};
use crate::support::{args, join, live_msg, msg, wait_for_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_rooms_of_ten_full_messages_keep_the_database_under_its_byte_bound() {
    // The bound is lowered to 1 MiB so that the 8 MB written exceed it.
    const BOUND: u64 = 1 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let bound = BOUND.to_string();
    let server = TestServer::start_in(dir.path(), &args(&["--history-max-bytes", &bound]));
    let text = "y".repeat(3990);
    let mut tasks = Vec::new();
    for c in 0..8 {
        let mut client = connect(&server, &format!("w{c}")).await;
        let text = text.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..25 {
                let room = format!("#r{c}x{r}");
                join(&mut client, &room).await;
                for i in 0..10 {
                    client.say(&room, &format!("{i} {text}")).await;
                }
                client.send(&Message::Part { room: &room }).await;
                // Stay within the default rate limit (50 a second).
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            client
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let mut last = connect(&server, "last").await;
    let mut other = connect(&server, "other").await;
    last.say("#lobby", "relayed").await;
    assert_eq!(live_msg(&mut other).await, msg("last", "#lobby", "relayed"));
    wait_for_log(&server, "to stay within --history-max-bytes").await;
    drop((last, other));
    assert!(server.stop().success());
    let file = std::fs::metadata(dir.path().join("history.sqlite3"))
        .expect("db")
        .len();
    let wal = std::fs::metadata(dir.path().join("history.sqlite3-wal")).map_or(0, |m| m.len());
    eprintln!("database {file} bytes, log {wal} bytes");
    assert!(file <= BOUND, "database of {file} bytes over {BOUND}");
    let db = rusqlite::Connection::open(dir.path().join("history.sqlite3")).expect("open");
    let kept: i64 = db
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .expect("count");
    let newest: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE room LIKE '#r%x24'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert!(kept > 100, "the bound keeps the newest messages ({kept})");
    assert_eq!(newest, 80, "every client's last room is whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_database_is_locked_messages_are_still_relayed_and_the_log_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), &args(&[]));
    let mut a = connect(&server, "a").await;
    let mut b = connect(&server, "b").await;
    a.say("#lobby", "stored").await;
    assert_eq!(live_msg(&mut b).await, msg("a", "#lobby", "stored"));
    // Another process takes the write lock and keeps it.
    let lock = rusqlite::Connection::open(dir.path().join("history.sqlite3")).expect("open");
    lock.execute_batch("BEGIN EXCLUSIVE;").expect("lock");
    for i in 0..5 {
        a.say("#lobby", &format!("live {i}")).await;
        assert_eq!(
            live_msg(&mut b).await,
            msg("a", "#lobby", &format!("live {i}"))
        );
    }
    wait_for_log(&server, "relaying them without storing").await;
    lock.execute_batch("COMMIT;").expect("unlock");
    drop(lock);
    // Storing is tried again after a pause.
    tokio::time::sleep(Duration::from_secs(6)).await;
    a.say("#lobby", "stored again").await;
    assert_eq!(live_msg(&mut b).await, msg("a", "#lobby", "stored again"));
    wait_for_log(&server, "storing works again").await;
}
