//! dhchat-server nodes of one cluster: each its own data directory with the
//! same `server.key` (as the operator copies it), started through the shared
//! harness ([`TestServer::start_in`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dhchat_core::message::error_code as code;
use dhchat_core::message::{msg_type, Message};

use crate::common::{try_connect, TestClient, TestServer, STEP};
use crate::support::args;

/// The data directories of a cluster's nodes, one shared identity key.
pub struct Nodes {
    dir: tempfile::TempDir,
    urls: String,
}

impl Nodes {
    /// Nodes that will join the NATS cluster at `urls`.
    pub fn new(urls: &str) -> Nodes {
        Nodes {
            dir: tempfile::tempdir().expect("tempdir"),
            urls: urls.to_owned(),
        }
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}"))
    }

    /// The NATS URLs the nodes join (the `--cluster` argument).
    pub fn urls(&self) -> &str {
        &self.urls
    }

    /// Starts node `i` at the default settings (accounts on, in the
    /// cluster's bucket and stream). The first start of node 0 creates the
    /// key, which the others copy.
    pub fn start(&self, i: usize) -> TestServer {
        let dir = self.data_dir(i);
        if i > 0 && !dir.join("server.key").exists() {
            std::fs::create_dir_all(&dir).expect("data dir");
            let key = self.data_dir(0).join("server.key");
            assert!(key.exists(), "start node 0 first: it makes server.key");
            std::fs::copy(key, dir.join("server.key")).expect("copy server.key");
        }
        TestServer::start_in(&dir, &args(&["--cluster", &self.urls]))
    }
}

/// Connects as `nick`, retrying while the node refuses with ERROR 8 (it
/// lost NATS and has not got it back yet), for up to `within`.
pub async fn connect_when_accepting(
    server: &TestServer,
    nick: &str,
    within: Duration,
) -> TestClient {
    let start = Instant::now();
    loop {
        match try_connect(server.addr, server.key, nick, None).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(
                    start.elapsed() < within,
                    "the node never admitted a client again: {e:?}\n{}",
                    server.log_text()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Receives the texts of `n` live room messages (skipping notices and
/// history), in arrival order.
pub async fn live_texts(c: &mut TestClient, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < n {
        if let Message::Message(m) = c.recv_msg().await.message() {
            if !m.history {
                texts.push(m.text.into());
            }
        }
    }
    texts
}

/// Receives history messages (skipping notices) until `n` arrived; returns
/// their texts.
pub async fn history_texts(c: &mut TestClient, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < n {
        match c.recv_msg().await.message() {
            Message::Message(m) if m.history => texts.push(m.text.into()),
            other => panic!("expected history, got {other:?}"),
        }
    }
    texts
}

/// Waits until the client is told ERROR 8 and then CLOSE (skipping what
/// comes before).
pub async fn expect_busy_then_close(c: &mut TestClient, within: Duration) {
    let start = Instant::now();
    let mut busy = false;
    loop {
        let left = within
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1));
        match c.try_recv(left).await {
            Some(Ok(got))
                if matches!(
                    got.message(),
                    Message::Error {
                        code: code::SERVER_BUSY,
                        ..
                    }
                ) =>
            {
                busy = true;
            }
            Some(Ok(got)) if got.msg_type() == msg_type::CLOSE => {
                assert!(busy, "CLOSE came without ERROR 8 before it");
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("the session ended without ERROR 8 and CLOSE: {e:?}"),
            None => panic!("no ERROR 8 and CLOSE within {within:?}"),
        }
    }
}

/// The shared step timeout (re-exported for the tests).
pub const WAIT: Duration = STEP;
