//! End-to-end tests of `dhchat-bench` against the real server at its
//! default settings: the JSON report has its documented fields, every
//! member receives every message (`lost == 0`), and a loss is reported
//! when the server drops messages. No timing is asserted.

mod common;

use std::process::{Command, Output};

use common::TestServer;
use serde_json::Value;

fn bench(server: &TestServer, extra: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-bench"))
        .arg("--server")
        .arg(server.addr.to_string())
        .arg("--server-key")
        .arg(server.key.to_string())
        .arg("--server-pid")
        .arg(server.pid().to_string())
        .arg("--json")
        .args(extra)
        .output()
        .expect("run dhchat-bench");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

fn num(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("report lacks number {path}: {v:#}"))
}

#[test]
fn a_short_run_delivers_every_message_to_every_member_and_reports_each_documented_field() {
    let server = TestServer::start(&[]);
    let (out, r) = bench(
        &server,
        &[
            "--clients",
            "8",
            "--senders",
            "3",
            "--messages",
            "30",
            "--size",
            "200",
        ],
    );
    assert!(out.status.success(), "exit {:?}: {r:#}", out.status);
    // 3 senders x 30 messages, each for the 7 members besides its sender.
    assert_eq!(num(&r, "/deliveries/expected"), 630.0);
    assert_eq!(num(&r, "/deliveries/received"), 630.0);
    assert_eq!(num(&r, "/deliveries/lost"), 0.0);
    assert_eq!(num(&r, "/deliveries/duplicates"), 0.0);
    assert_eq!(num(&r, "/connect/ok"), 8.0);
    assert_eq!(num(&r, "/connect/failed"), 0.0);
    assert_eq!(num(&r, "/errors"), 0.0);
    for key in [
        "/connect/wall_ms",
        "/connect/handshakes_per_s",
        "/connect/p50_ms",
        "/connect/p99_ms",
        "/connect/max_ms",
        "/deliveries/wall_ms",
        "/deliveries/per_s",
        "/latency/p50_ms",
        "/latency/p99_ms",
        "/latency/max_ms",
        "/server/rss_kib_before",
        "/server/rss_kib_connected",
        "/server/rss_kib_per_client",
        "/server/cpu_ms_connect",
        "/server/cpu_ms_per_handshake",
        "/server/cpu_ms_messages",
        "/server/cpu_us_per_delivery",
    ] {
        assert!(num(&r, key) >= 0.0, "{key} negative: {r:#}");
    }
    assert!(num(&r, "/server/rss_kib_before") > 0.0);
    assert!(num(&r, "/latency/p50_ms") <= num(&r, "/latency/p99_ms"));
    assert!(num(&r, "/latency/p99_ms") <= num(&r, "/latency/max_ms"));
    assert!(r["room"].as_str().is_some_and(|s| s.starts_with("#bench-")));
    assert!(r["first_error"].is_null() && r["connect"]["first_error"].is_null());
}

#[test]
fn messages_the_server_drops_for_the_rate_limit_are_counted_as_lost_for_every_other_member() {
    let server = TestServer::start(&[]);
    // Unpaced: far more than the server's burst of 200 at once.
    let (out, r) = bench(
        &server,
        &[
            "--clients",
            "3",
            "--senders",
            "1",
            "--messages",
            "500",
            "--rate",
            "0",
            "--timeout",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{r:#}");
    let errors = num(&r, "/errors");
    assert!(errors > 0.0, "the server never refused a message: {r:#}");
    assert!(r["first_error"]
        .as_str()
        .is_some_and(|e| e.starts_with("7:")));
    // Each refused message misses both other members, nothing else is lost.
    assert_eq!(num(&r, "/deliveries/lost"), errors * 2.0);
    assert_eq!(
        num(&r, "/deliveries/received") + num(&r, "/deliveries/lost"),
        1000.0
    );
}

#[test]
fn several_servers_get_the_clients_round_robin_starting_with_the_first() {
    let server = TestServer::start(&[]);
    // A loopback port with nothing listening: every client sent there fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let servers = format!("{},{closed}", server.addr);
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-bench"))
        .args(["--server", &servers])
        .args(["--server-key", &server.key.to_string()])
        .args(["--clients", "6", "--senders", "1", "--messages", "10"])
        .args(["--timeout", "10", "--json"])
        .output()
        .expect("run dhchat-bench");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // Clients 0, 2, 4 go to the server, 1, 3, 5 to the closed port.
    assert_eq!(out.status.code(), Some(2), "{r:#}");
    assert_eq!(num(&r, "/connect/ok"), 3.0, "{r:#}");
    assert_eq!(num(&r, "/connect/failed"), 3.0, "{r:#}");
    // The sender (client 0) reached the server: its 10 messages reach the
    // two other connected members, nothing lost.
    assert_eq!(num(&r, "/deliveries/expected"), 20.0, "{r:#}");
    assert_eq!(num(&r, "/deliveries/lost"), 0.0, "{r:#}");
}
