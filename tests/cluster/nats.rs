//! A real NATS cluster for the tests: three `nats-server` processes with
//! JetStream and routes between them, on loopback ports, each with its own
//! store directory (kept across restarts), killed on drop.
//!
//! The binary is `$NATS_SERVER`, else `nats-server` on PATH; without it the
//! tests fail with a message that says how to install it
//! (`scripts/install-nats`).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a NATS cluster may take to become healthy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The nats-server binary, or a test failure that says how to get it.
pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "NATS_SERVER={} is not a file; run scripts/install-nats",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("nats-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "nats-server not found (the cluster tests need a real NATS cluster): \
         run scripts/install-nats, or set NATS_SERVER to the binary"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One `nats-server` process of the cluster.
struct Node {
    config: PathBuf,
    client_port: u16,
    http_port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log).expect("nats log");
        let child = Command::new(nats_server_binary())
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether its monitoring endpoint says it is healthy (JetStream
    /// included).
    fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.http_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
    }
}

/// Times a cluster is started again on new ports when a server could not
/// bind its own.
const PORT_TRIES: usize = 5;

/// Clusters configured by this process so far (for unique cluster names).
static CONFIGURED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Writes the configurations of three routed servers on fresh loopback
/// ports, their stores and logs under `dir`. Each cluster has its own name,
/// so a route that reaches another test's cluster (its port was reused) is
/// refused instead of joining the two.
fn configure(dir: &Path) -> Vec<Node> {
    std::fs::create_dir_all(dir).expect("nats dir");
    let name = format!(
        "dhtest-{}-{}",
        std::process::id(),
        CONFIGURED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let mut nodes = Vec::new();
    for (i, (client, route, http)) in ports.iter().enumerate() {
        let routes: Vec<String> = ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (_, r, _))| format!("nats-route://127.0.0.1:{r}"))
            .collect();
        let store = dir.join(format!("n{i}"));
        let config = dir.join(format!("n{i}.conf"));
        std::fs::write(
            &config,
            format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\n\
                 jetstream {{ store_dir: \"{}\", max_memory_store: 256MB, max_file_store: 1GB }}\n\
                 cluster {{ name: {name}, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                store.display(),
                routes.join(", ")
            ),
        )
        .expect("write nats config");
        nodes.push(Node {
            config,
            client_port: *client,
            http_port: *http,
            log: dir.join(format!("n{i}.log")),
            child: None,
        });
    }
    nodes
}

/// Three routed `nats-server` processes with JetStream.
pub struct NatsCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts three servers and waits until all are healthy. Ports are
    /// picked free but may be taken again before a server binds them
    /// (other tests' connections use the same range): a server that exits
    /// at start is retried with the whole cluster on new ports.
    pub fn start() -> NatsCluster {
        let mut cluster = NatsCluster {
            nodes: Vec::new(),
            _dir: tempfile::tempdir().expect("tempdir"),
        };
        for attempt in 0..PORT_TRIES {
            cluster.nodes = configure(&cluster._dir.path().join(format!("try{attempt}")));
            for node in &mut cluster.nodes {
                node.spawn();
            }
            if cluster.wait_started() {
                return cluster;
            }
            for node in &mut cluster.nodes {
                node.kill();
            }
        }
        panic!(
            "no NATS cluster could be started in {PORT_TRIES} tries; logs:\n{}",
            cluster.logs()
        );
    }

    /// Waits until every server is healthy (true) or one of them exited
    /// (false: a port was taken).
    fn wait_started(&mut self) -> bool {
        let start = Instant::now();
        loop {
            for node in &mut self.nodes {
                if let Some(child) = node.child.as_mut() {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        return false;
                    }
                }
            }
            if self.nodes.iter().all(Node::healthy) {
                return true;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "the NATS cluster did not become healthy; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The client URLs, comma-separated (the `--cluster` argument).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every running server reports healthy.
    pub fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let running: Vec<&Node> = self.nodes.iter().filter(|n| n.child.is_some()).collect();
            if running.iter().all(|n| n.healthy()) {
                return;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "the NATS cluster did not become healthy; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of the server listening for clients on `port`.
    pub fn index_of_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.client_port == port)
    }

    /// Kills server `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts server `i` again on its configuration and store.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].spawn();
    }

    /// The servers' logs, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(&n.log).unwrap_or_default();
                let tail: Vec<&str> = text
                    .lines()
                    .rev()
                    .filter(|l| !l.contains("Error trying to connect to route"))
                    .take(40)
                    .collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("== {} ==\n{}", log_name(&n.log), tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn log_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}
