//! History: stored before relay, replayed on join, kept across restarts.

use dhchat_core::message::Message;

use crate::common::{connect, TestServer};
use crate::support::{args, join, msg, next};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_replayed_on_join_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), &args(&["--history", "3"]));
    let first_key = server.key;
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    for i in 0..5 {
        alice.say("#lobby", &format!("old {i}")).await;
        assert_eq!(
            bob.recv_msg().await,
            msg("alice", "#lobby", &format!("old {i}"))
        );
    }
    join(&mut alice, "#side").await;
    alice.say("#side", "side note").await;
    // JOINs are processed in order with stored messages: once this one is
    // done, "side note" is stored.
    join(&mut alice, "#sync").await;
    // History on JOIN: oldest first, flagged, before live messages.
    bob.send(&Message::Join { room: "#side" }).await;
    match bob.recv_msg().await.message() {
        Message::Message(c) if c.history => {
            assert_eq!((c.from, c.room, c.text), ("alice", "#side", "side note"));
        }
        other => panic!("expected history, got {other:?}"),
    }
    alice.say("#side", "live").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#side", "live"));

    // Graceful shutdown: CLOSE to every client, exit 0.
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    assert!(matches!(
        next(&mut bob).await.message(),
        Message::Close { .. }
    ));

    let server = TestServer::start_in(dir.path(), &args(&["--history", "3"]));
    assert_eq!(server.key, first_key, "identity unchanged across restarts");
    let mut carol = connect(&server, "carol").await;
    for i in 2..5 {
        match carol.recv_msg().await.message() {
            Message::Message(c) => {
                assert!(c.history);
                assert_eq!((c.from, c.room), ("alice", "#lobby"));
                assert_eq!(c.text, format!("old {i}"));
            }
            other => panic!("{other:?}"),
        }
    }
    let mut dave = connect(&server, "dave").await;
    dave.say("#lobby", "new").await;
    assert_eq!(carol.recv_msg().await, msg("dave", "#lobby", "new"));
}
