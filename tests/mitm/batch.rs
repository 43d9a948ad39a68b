//! A real `dhchat-client --batch` process driven from async tests: lines to
//! its stdin, JSON events from its stdout, its stderr and exit code.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::common::STEP;

/// Exit codes of `dhchat-client` (host/src/client/exit.rs).
pub mod exit {
    pub const CONNECTION: i32 = 3;
    pub const TRUST: i32 = 4;
    pub const RECORD_AUTH: i32 = 5;
}

/// A running batch client.
pub struct Batch {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Every event printed so far.
    pub seen: Vec<Value>,
    /// Every stdout line so far, as printed.
    pub raw: Vec<String>,
}

/// How a batch client ended.
#[derive(Debug)]
pub struct Ended {
    /// Exit code.
    pub code: i32,
    /// Every event it printed.
    pub events: Vec<Value>,
    /// Its stderr.
    pub stderr: String,
    /// Its stdout lines, as printed.
    pub raw: Vec<String>,
}

impl Ended {
    /// The texts of the live message events it printed (history from
    /// earlier sessions left out).
    pub fn texts(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter(|v| v["type"] == "message" && v["history"] == false)
            .filter_map(|v| v["text"].as_str())
            .collect()
    }
}

impl Batch {
    /// Starts `dhchat-client ADDR --batch --known-hosts FILE ARGS...`.
    pub fn spawn(addr: SocketAddr, known_hosts: &Path, args: &[&str]) -> Batch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dhchat-client"))
            .arg(addr.to_string())
            .arg("--batch")
            .arg("--known-hosts")
            .arg(known_hosts)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start dhchat-client");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let err = Arc::new(Mutex::new(String::new()));
        let err2 = err.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut e = err2.lock().expect("stderr");
                e.push_str(&line);
                e.push('\n');
            }
        });
        Batch {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: err,
            seen: Vec::new(),
            raw: Vec::new(),
        }
    }

    /// Sends one input line.
    pub async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write stdin");
        stdin.flush().await.expect("flush stdin");
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    fn parse(line: &str) -> Value {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        assert!(v["type"].is_string(), "not an event: {line}");
        v
    }

    /// Skips events until one satisfies `pred`, and returns it.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let line = match tokio::time::timeout(STEP, self.lines.recv()).await {
                Ok(Some(line)) => line,
                _ => panic!("no {what}; seen {:?}; stderr: {}", self.seen, self.stderr()),
            };
            let v = Self::parse(&line);
            self.raw.push(line);
            self.seen.push(v.clone());
            if pred(&v) {
                return v;
            }
        }
    }

    /// Waits for the welcome event (the first line).
    pub async fn welcome(&mut self) -> Value {
        let v = self.wait_for("welcome", |_| true).await;
        assert_eq!(v["type"], "welcome", "the first line is the welcome: {v}");
        v
    }

    /// Waits for a roster answer to `/who`: every record the server sent
    /// before it has been read.
    pub async fn sync(&mut self) {
        self.send("/who").await;
        self.wait_for("roster", |v| v["type"] == "roster").await;
    }

    /// Waits for the process to exit on its own (stdin stays open), and
    /// collects everything it printed.
    pub async fn ended(mut self) -> Ended {
        let status = match tokio::time::timeout(STEP * 2, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!(
                "the client did not end; seen {:?}; stderr: {}",
                self.seen,
                self.stderr()
            ),
        };
        // The reader tasks end at end of stream, after the exit.
        while let Ok(Some(line)) = tokio::time::timeout(STEP, self.lines.recv()).await {
            self.seen.push(Self::parse(&line));
            self.raw.push(line);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !status.success()
            && self.stderr().is_empty()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(self.stdin.take());
        Ended {
            code: status.code().expect("exit code"),
            events: self.seen.clone(),
            stderr: self.stderr(),
            raw: self.raw.clone(),
        }
    }
}
