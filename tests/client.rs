//! End-to-end tests of `dhchat-client` in batch mode against the real
//! server: JSON events on stdout, commands on stdin, exit codes, and trust
//! (known-hosts, `--accept-new`, key mismatch).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{tampering_proxy, TestServer, STEP};
use serde_json::Value;

/// Exit codes (see `dhchat-client --help`).
const EXIT_OK: i32 = 0;
const EXIT_CONNECTION: i32 = 3;
const EXIT_TRUST: i32 = 4;
const EXIT_RECORD_AUTH: i32 = 5;

fn server() -> TestServer {
    TestServer::start(&["--group", "ffdhe2048"])
}

/// A running batch client.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Every event seen so far.
    seen: Vec<Value>,
}

fn spawn_client(addr: &str, known_hosts: &Path, args: &[&str]) -> Client {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dhchat-client"))
        .arg(addr)
        .arg("--batch")
        .arg("--known-hosts")
        .arg(known_hosts)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dhchat-client");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let err = Arc::new(Mutex::new(String::new()));
    let err2 = err.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut e = err2.lock().expect("stderr");
            e.push_str(&line);
            e.push('\n');
        }
    });
    Client {
        stdin: child.stdin.take(),
        child,
        lines,
        stderr: err,
        seen: Vec::new(),
    }
}

/// A client of `server`, pinning its key.
fn pinned(server: &TestServer, dir: &Path, nick: &str, extra: &[&str]) -> Client {
    let key = server.key.to_string();
    let mut args = vec!["--nick", nick, "--server-key", key.as_str()];
    args.extend_from_slice(extra);
    spawn_client(&server.addr.to_string(), &dir.join("known_hosts"), &args)
}

impl Client {
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// The next event; every stdout line must be one JSON object.
    fn next(&mut self) -> Value {
        let line = self.lines.recv_timeout(STEP).unwrap_or_else(|_| {
            panic!(
                "no event in time; seen {:?}; stderr: {}",
                self.seen,
                self.stderr()
            )
        });
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        assert!(
            v.is_object() && v["type"].is_string(),
            "not an event: {line}"
        );
        self.seen.push(v.clone());
        v
    }

    /// Skips events until one satisfies `pred`, and returns it.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + STEP * 2;
        loop {
            assert!(Instant::now() < deadline, "no {what}; seen {:?}", self.seen);
            let v = self.next();
            if pred(&v) {
                return v;
            }
        }
    }

    /// An event already seen or still to come that satisfies `pred` (for
    /// events whose relative order the protocol does not fix, e.g. a room
    /// message and a direct message).
    fn seen_or_wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        self.wait_for(what, pred)
    }

    fn welcome(&mut self) -> Value {
        let v = self.next();
        assert_eq!(v["type"], "welcome", "the first line is the welcome: {v}");
        v
    }

    /// Closes stdin and waits for the exit; returns the code and the
    /// remaining events (all JSON).
    fn finish(mut self) -> (i32, Vec<Value>, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + STEP * 2;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "client did not exit; seen {:?}; stderr {}",
                    self.seen,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = Vec::new();
        // The stdout reader ends at EOF, after the process exited.
        while let Ok(line) = self.lines.recv_timeout(STEP) {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
            rest.push(v);
        }
        // Give the stderr thread its last line.
        let err_deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < err_deadline && !status.success() && self.stderr().is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
        (status.code().expect("exit code"), rest, self.stderr())
    }
}

fn is_msg(v: &Value, text: &str) -> bool {
    v["type"] == "message" && v["text"] == text
}

#[test]
fn two_batch_clients_exchange_room_messages_and_direct_messages() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bob = pinned(&server, dir.path(), "bob", &[]);
    let w = bob.welcome();
    assert_eq!(w["nick"], "bob");
    assert_eq!(w["server_key"], server.key.to_string());
    let fp = w["fingerprint"].as_str().expect("fingerprint");
    assert_eq!(fp.len(), 39, "{fp}");
    assert_eq!(fp.split('-').count(), 8, "{fp}");

    let mut alice = pinned(&server, dir.path(), "alice", &[]);
    assert_eq!(alice.welcome()["nick"], "alice");
    bob.send("/who");
    let roster = bob.wait_for("roster", |v| v["type"] == "roster");
    assert_eq!(roster["room"], "#lobby");
    let mut nicks: Vec<&str> = roster["nicks"]
        .as_array()
        .expect("nicks")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    nicks.sort_unstable();
    assert_eq!(nicks, ["alice", "bob"]);

    alice.send("hello room");
    alice.send("/msg bob psst");
    let m = bob.seen_or_wait("room message", |v| is_msg(v, "hello room"));
    assert_eq!(
        (
            m["from"].as_str(),
            m["room"].as_str(),
            m["history"].as_bool()
        ),
        (Some("alice"), Some("#lobby"), Some(false))
    );
    assert!(
        m["time_ms"].as_u64().expect("time_ms") > 1_600_000_000_000,
        "{m}"
    );
    assert_eq!(m["legacy"], false);
    let dm = bob.seen_or_wait("direct message", |v| is_msg(v, "psst"));
    assert_eq!(
        (dm["from"].as_str(), dm["room"].as_str()),
        (Some("alice"), Some("@bob"))
    );

    bob.send("/msg alice back at you");
    let dm = alice.wait_for("direct message", |v| is_msg(v, "back at you"));
    assert_eq!(dm["room"], "@alice");

    let (code, rest, err) = alice.finish();
    assert_eq!(code, EXIT_OK, "stderr: {err}");
    assert_eq!(
        rest.last().map(|v| v["type"].clone()),
        Some("closed".into()),
        "{rest:?}"
    );
    // /quit ends batch mode like the end of input, with stdin still open.
    bob.send("/quit");
    let stdin = bob.stdin.take();
    let (code, rest, err) = bob.finish();
    drop(stdin);
    assert_eq!(code, EXIT_OK, "stderr: {err}");
    assert_eq!(
        rest.last().map(|v| v["type"].clone()),
        Some("closed".into()),
        "{rest:?}"
    );
}

#[test]
fn history_arrives_marked_for_a_later_client_in_lobby_and_joined_rooms() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = pinned(&server, dir.path(), "alice", &[]);
    alice.welcome();
    alice.send("remember me");
    alice.send("/join #side");
    alice.send("side note");
    // The server answers WHO after handling everything before it.
    alice.send("/who #side");
    alice.wait_for("roster", |v| v["type"] == "roster");
    let (code, _, err) = alice.finish();
    assert_eq!(code, EXIT_OK, "{err}");

    let mut carol = pinned(&server, dir.path(), "carol", &["--room", "#side"]);
    carol.welcome();
    let m = carol.seen_or_wait("lobby history", |v| is_msg(v, "remember me"));
    assert_eq!(
        (
            m["history"].as_bool(),
            m["room"].as_str(),
            m["from"].as_str()
        ),
        (Some(true), Some("#lobby"), Some("alice"))
    );
    let m = carol.seen_or_wait("side history", |v| is_msg(v, "side note"));
    assert_eq!(
        (m["history"].as_bool(), m["room"].as_str()),
        (Some(true), Some("#side"))
    );
    // --room made #side current: plain text goes there.
    carol.send("carol in side");
    let (code, _, err) = carol.finish();
    assert_eq!(code, EXIT_OK, "{err}");
    let mut dave = pinned(&server, dir.path(), "dave", &["--room", "side"]);
    dave.welcome();
    let m = dave.wait_for("carol's line", |v| is_msg(v, "carol in side"));
    assert_eq!(
        (m["history"].as_bool(), m["room"].as_str()),
        (Some(true), Some("#side"))
    );
    assert_eq!(dave.finish().0, EXIT_OK);
}

#[test]
fn unknown_commands_are_reported_locally_and_never_sent() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bob = pinned(&server, dir.path(), "bob", &[]);
    bob.welcome();
    let mut alice = pinned(&server, dir.path(), "alice", &[]);
    alice.welcome();
    alice.send("/frobnicate the server");
    let e = alice.wait_for("local error", |v| v["type"] == "error");
    assert_eq!(e["code"], 0, "{e}");
    assert!(
        e["text"]
            .as_str()
            .expect("text")
            .contains("unknown command /frobnicate"),
        "{e}"
    );
    alice.send("/help");
    let n = alice.wait_for("help notice", |v| v["type"] == "notice");
    assert!(n["text"].as_str().expect("text").contains("/join"), "{n}");
    alice.send("/fingerprint");
    let fp = alice.seen[0]["fingerprint"]
        .as_str()
        .expect("fp")
        .to_string();
    alice.wait_for("fingerprint notice", |v| {
        v["type"] == "notice" && v["text"].as_str().is_some_and(|t| t.contains(&fp))
    });
    alice.send("after");
    let m = bob.wait_for("a message", |v| v["type"] == "message");
    assert_eq!(
        m["text"], "after",
        "the unknown command was not sent as text"
    );
    assert_eq!(alice.finish().0, EXIT_OK);
    assert_eq!(bob.finish().0, EXIT_OK);
}

#[test]
fn accept_new_records_the_key_and_the_next_run_trusts_it() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    let addr = server.addr.to_string();

    // Unknown server, batch mode, no --accept-new: refused, nothing printed.
    let mut c = spawn_client(&addr, &kh, &["--nick", "first"]);
    c.send("should not be sent");
    let (code, rest, err) = c.finish();
    assert_eq!(code, EXIT_TRUST, "stderr: {err}");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        err.contains(&server.key.to_string()) && err.contains("--accept-new"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    assert!(
        !kh.exists()
            || std::fs::read_to_string(&kh)
                .expect("read")
                .trim()
                .is_empty()
    );

    let mut c = spawn_client(&addr, &kh, &["--nick", "second", "--accept-new"]);
    assert_eq!(c.welcome()["server_key"], server.key.to_string());
    let (code, _, err) = c.finish();
    assert_eq!(code, EXIT_OK, "{err}");
    let text = std::fs::read_to_string(&kh).expect("known_hosts written");
    assert_eq!(text.trim(), format!("{addr} {}", server.key), "{text}");

    let mut c = spawn_client(&addr, &kh, &["--nick", "third"]);
    assert_eq!(c.welcome()["server_key"], server.key.to_string());
    let (code, _, err) = c.finish();
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(
        std::fs::read_to_string(&kh).expect("read"),
        text,
        "nothing more recorded"
    );
}

#[test]
fn a_server_with_a_different_identity_fails_with_the_mismatch_code_and_nothing_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    let old = server();
    let old_key = old.key;
    let mut c = spawn_client(&old.addr.to_string(), &kh, &["--accept-new"]);
    c.welcome();
    assert_eq!(c.finish().0, EXIT_OK);
    let recorded = std::fs::read_to_string(&kh).expect("recorded");
    let old_addr = old.addr.to_string();
    drop(old);

    // The server comes back with a new identity (a fresh data directory);
    // the known-hosts line for its address holds the old key.
    let new = server();
    assert_ne!(new.key, old_key);
    let addr = new.addr.to_string();
    std::fs::write(
        &kh,
        format!("# my servers\n{}", recorded.replace(&old_addr, &addr)),
    )
    .expect("write");

    let mut c = spawn_client(&addr, &kh, &["--nick", "victim"]);
    c.send("leaked secret");
    let (code, rest, err) = c.finish();
    assert_eq!(code, EXIT_TRUST, "stderr: {err}");
    assert!(
        rest.is_empty(),
        "nothing printed after a mismatch: {rest:?}"
    );
    assert!(
        err.contains(&old_key.to_string()),
        "names the recorded key: {err}"
    );
    assert!(
        err.contains(&new.key.to_string()),
        "names the received key: {err}"
    );
    assert!(
        err.contains("line 2") && err.contains(&kh.display().to_string()),
        "names the line: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");

    // Even --accept-new does not override a recorded key.
    let mut c = spawn_client(&addr, &kh, &["--nick", "victim", "--accept-new"]);
    c.send("leaked secret");
    assert_eq!(c.finish().0, EXIT_TRUST);

    // Nothing reached the server: the lobby's history holds no such line.
    let mut watcher = pinned(&new, dir.path(), "watcher", &[]);
    watcher.welcome();
    watcher.send("/who");
    watcher.wait_for("roster", |v| v["type"] == "roster");
    assert!(
        !watcher.seen.iter().any(|v| is_msg(v, "leaked secret")),
        "{:?}",
        watcher.seen
    );
    let mut roster_nicks = watcher.seen.last().expect("roster")["nicks"]
        .as_array()
        .expect("nicks")
        .clone();
    roster_nicks.retain(|n| n != "watcher");
    assert!(
        roster_nicks.is_empty(),
        "no victim joined: {roster_nicks:?}"
    );
    assert_eq!(watcher.finish().0, EXIT_OK);
}

#[test]
fn a_pinned_key_that_differs_fails_with_the_mismatch_code() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dhchat_core::identity::IdentityKey::from_seed(&[9; 32])
        .expect("key")
        .public_key()
        .to_string();
    let mut c = spawn_client(
        &server.addr.to_string(),
        &dir.path().join("kh"),
        &["--server-key", &other],
    );
    c.send("hello");
    let (code, rest, err) = c.finish();
    assert_eq!(code, EXIT_TRUST, "{err}");
    assert!(rest.is_empty());
    assert!(
        err.contains(&other) && err.contains(&server.key.to_string()),
        "{err}"
    );
}

#[test]
fn an_unreachable_server_fails_with_the_connection_code() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let dir = tempfile::tempdir().expect("tempdir");
    let c = spawn_client(&addr, &dir.path().join("kh"), &["--accept-new"]);
    let (code, rest, err) = c.finish();
    assert_eq!(code, EXIT_CONNECTION, "{err}");
    assert!(rest.is_empty());
    assert!(err.starts_with("dhchat-client: cannot connect to"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn keygen_creates_a_private_key_file_that_identity_loads() {
    use std::os::unix::fs::PermissionsExt;
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("id");
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-client"))
        .arg("keygen")
        .arg(&file)
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{out:?}");
    let public = String::from_utf8(out.stdout).expect("utf8");
    let key: dhchat_core::identity::PublicKey =
        public.trim().parse().expect("prints the public key");
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let again = Command::new(env!("CARGO_BIN_EXE_dhchat-client"))
        .arg("keygen")
        .arg(&file)
        .output()
        .expect("keygen");
    assert!(!again.status.success(), "never overwrites");
    assert_eq!(
        dhchat_host::keyfile::load(&file)
            .expect("load")
            .public_key(),
        key
    );

    let path = file.to_string_lossy().to_string();
    let mut c = pinned(&server, dir.path(), "keyed", &["--identity", &path]);
    assert_eq!(c.welcome()["nick"], "keyed");
    assert_eq!(c.finish().0, EXIT_OK);
}

/// Exit code of a client the server refused.
const EXIT_REFUSED: i32 = 6;

#[test]
fn a_server_that_refuses_the_client_gives_the_refused_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = dir.path().join("id");
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-client"))
        .arg("keygen")
        .arg(&id)
        .output()
        .expect("keygen");
    assert!(out.status.success());
    let authorized = dir.path().join("authorized_keys");
    std::fs::write(
        &authorized,
        format!("{} me\n", String::from_utf8_lossy(&out.stdout).trim()),
    )
    .expect("write");
    let auth = authorized.to_string_lossy().to_string();
    let server = TestServer::start(&["--group", "ffdhe2048", "--authorized-keys", &auth]);

    let mut stranger = pinned(&server, dir.path(), "stranger", &[]);
    stranger.send("let me in");
    let (code, rest, err) = stranger.finish();
    assert_eq!(code, EXIT_REFUSED, "{err}");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(err.contains("refused") && err.contains("error 3"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let id = id.to_string_lossy().to_string();
    let mut member = pinned(&server, dir.path(), "member", &["--identity", &id]);
    assert_eq!(member.welcome()["nick"], "member");
    assert_eq!(member.finish().0, EXIT_OK);
}

#[test]
fn a_server_shutting_down_ends_the_client_with_a_closed_event_and_the_connection_code() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bob = pinned(&server, dir.path(), "bob", &[]);
    bob.welcome();
    bob.send("/who");
    bob.wait_for("roster", |v| v["type"] == "roster");
    server.stop();
    let closed = bob.wait_for("closed", |v| v["type"] == "closed");
    assert!(closed["reason"].is_string(), "{closed}");
    let stdin = bob.stdin.take();
    let (code, rest, err) = bob.finish();
    drop(stdin);
    assert_eq!(code, EXIT_CONNECTION, "{err}");
    assert!(rest.is_empty(), "closed is the last line: {rest:?}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn after_stdin_ends_the_client_lingers_printing_events_then_closes() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    // The linger only bounds the test: bob's message travels in milliseconds.
    let mut alice = pinned(&server, dir.path(), "alice", &["--linger", "10"]);
    alice.welcome();
    let mut bob = pinned(&server, dir.path(), "bob", &[]);
    bob.welcome();
    drop(alice.stdin.take());
    let ended = Instant::now();
    bob.send("said after alice's input ended");
    alice.wait_for("message during the linger", |v| {
        is_msg(v, "said after alice's input ended")
    });
    let (code, rest, stderr) = alice.finish();
    assert_eq!(code, EXIT_OK, "{stderr}");
    assert!(
        ended.elapsed() >= Duration::from_secs(10),
        "the client left before its --linger ran out"
    );
    let last = rest.last().expect("a closed event");
    assert_eq!(last["type"], "closed", "{rest:?}");
    let (code, _, stderr) = bob.finish();
    assert_eq!(code, EXIT_OK, "{stderr}");
}

#[test]
fn a_tampered_record_from_the_server_fails_with_the_record_authentication_code() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let arm = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let proxy = rt.block_on(tampering_proxy(server.addr, arm.clone(), false));
    let key = server.key.to_string();
    let mut alice = spawn_client(
        &proxy.to_string(),
        &dir.path().join("known_hosts"),
        // Stays connected after its input ends, so the answer arrives.
        &["--nick", "alice", "--server-key", &key, "--linger", "30"],
    );
    alice.welcome();
    // The next bytes from the server (the answer to WHO) get a flipped bit.
    arm.store(true, std::sync::atomic::Ordering::SeqCst);
    alice.send("/who");
    let (code, rest, stderr) = alice.finish();
    assert_eq!(code, EXIT_RECORD_AUTH, "{stderr}");
    assert!(stderr.contains("authentication"), "{stderr}");
    assert!(
        rest.iter().all(|v| v["type"] != "roster"),
        "nothing of the tampered record is delivered: {rest:?}"
    );
}
