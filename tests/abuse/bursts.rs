//! Bursts within the limits (issue 11): senders that spend their whole
//! allowance at once are slowed down; members that read are not dropped and
//! nothing is lost. Driven by `dhchat-bench` against the default server.

use std::net::SocketAddr;
use std::process::Command;

use dhchat_core::identity::PublicKey;

use serde_json::Value;

use crate::common::TestServer;

fn num(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("report lacks number {path}: {v:#}"))
}

/// Runs the bench: `clients` in one room, 8 senders each sending its
/// whole `--burst` (200, the server's default) at once, of `size` bytes.
fn burst(addr: SocketAddr, key: PublicKey, clients: u32, size: u32) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-bench"))
        .args(["--server", &addr.to_string()])
        .args(["--server-key", &key.to_string()])
        .args(["--clients", &clients.to_string(), "--senders", "8"])
        .args(["--messages", "200", "--rate", "0"])
        .args(["--size", &size.to_string()])
        // Within the default --max-pending-per-ip while all connect at once.
        .args(["--sources", "16", "--timeout", "120", "--json"])
        .output()
        .expect("run dhchat-bench");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "exit {:?}: {r:#}", out.status);
    r
}

fn assert_nothing_lost_nobody_dropped(server: &TestServer, r: &Value, clients: f64) {
    assert_eq!(num(r, "/connect/ok"), clients, "{r:#}");
    assert_eq!(num(r, "/errors"), 0.0, "a sender was refused: {r:#}");
    // 8 x 200 messages, each for every member but its sender.
    assert_eq!(num(r, "/deliveries/expected"), 1600.0 * (clients - 1.0));
    assert_eq!(num(r, "/deliveries/lost"), 0.0, "{r:#}");
    assert_eq!(num(r, "/deliveries/duplicates"), 0.0, "{r:#}");
    let log = server.log_text();
    assert!(
        !log.contains("cannot keep up"),
        "a member that reads was dropped:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_senders_bursting_their_allowance_into_a_108_member_room_drop_nobody_and_lose_nothing(
) {
    let _serial = crate::SERIAL.lock().await;
    let server = TestServer::start(&[]);
    // 1,600 messages for each member: past its 1,024-record queue unless
    // the senders wait for the readers.
    let (addr, key) = (server.addr, server.key);
    let r = tokio::task::spawn_blocking(move || burst(addr, key, 108, 64))
        .await
        .expect("bench");
    assert_nothing_lost_nobody_dropped(&server, &r, 108.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_kilobyte_messages_past_each_member_s_byte_bound_drop_nobody_and_lose_nothing() {
    let _serial = crate::SERIAL.lock().await;
    let server = TestServer::start(&[]);
    // 1,600 messages of 1,000 bytes for each member: 1.6 MB, past its
    // 1 MiB queue unless the senders wait for the readers.
    let (addr, key) = (server.addr, server.key);
    let r = tokio::task::spawn_blocking(move || burst(addr, key, 24, 1000))
        .await
        .expect("bench");
    assert_nothing_lost_nobody_dropped(&server, &r, 24.0);
}
