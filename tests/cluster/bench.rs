//! `dhchat-bench` with its clients split over two nodes of one cluster (the
//! measurement of docs/SCALING.md): every message reaches every member,
//! whichever node it was sent to. No timing is asserted.

use std::process::Command;

use serde_json::Value;

use crate::nats::NatsCluster;
use crate::nodes::Nodes;

fn num(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("report lacks number {path}: {v:#}"))
}

#[test]
fn a_bench_split_over_two_nodes_delivers_every_message_to_every_member_on_both() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);
    let servers = format!("{},{}", a.addr, b.addr);
    let pids = format!("{},{}", a.pid(), b.pid());
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-bench"))
        .args(["--server", &servers])
        .args(["--server-key", &a.key.to_string()])
        .args(["--server-pid", &pids])
        .args(["--clients", "8", "--senders", "4", "--messages", "20"])
        .args(["--size", "100", "--json"])
        .output()
        .expect("run dhchat-bench");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "exit {:?}: {r:#}", out.status);
    assert_eq!(num(&r, "/connect/ok"), 8.0, "{r:#}");
    // Senders 0 and 2 are on node a, 1 and 3 on node b; each of their 20
    // messages reaches the 7 other members, 4 of them on the other node.
    assert_eq!(num(&r, "/deliveries/expected"), 4.0 * 20.0 * 7.0, "{r:#}");
    assert_eq!(num(&r, "/deliveries/received"), 560.0, "{r:#}");
    assert_eq!(num(&r, "/deliveries/lost"), 0.0, "{r:#}");
    assert_eq!(num(&r, "/deliveries/duplicates"), 0.0, "{r:#}");
    // The server figures are the two nodes' sums: both had clients.
    assert!(num(&r, "/server/rss_kib_before") > 0.0, "{r:#}");
}

#[test]
fn bursts_within_the_limits_over_two_nodes_drop_nobody_and_lose_nothing() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);
    let servers = format!("{},{}", a.addr, b.addr);
    // 8 senders (4 on each node) each send their whole --burst of 200 at
    // once into a room of 108 split over the nodes: 1,600 messages for
    // every member, past its 1,024-record queue unless the senders are held
    // back for the readers (each SAY waits for its stream acknowledgement
    // and for its node's readers; each node's feed delivers in order).
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-bench"))
        .args(["--server", &servers])
        .args(["--server-key", &a.key.to_string()])
        .args(["--clients", "108", "--senders", "8", "--messages", "200"])
        .args(["--rate", "0", "--size", "64", "--sources", "14"])
        .args(["--timeout", "120", "--json"])
        .output()
        .expect("run dhchat-bench");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "exit {:?}: {r:#}", out.status);
    assert_eq!(num(&r, "/connect/ok"), 108.0, "{r:#}");
    assert_eq!(num(&r, "/errors"), 0.0, "a sender was refused: {r:#}");
    assert_eq!(num(&r, "/deliveries/expected"), 1600.0 * 107.0, "{r:#}");
    assert_eq!(num(&r, "/deliveries/lost"), 0.0, "{r:#}");
    assert_eq!(num(&r, "/deliveries/duplicates"), 0.0, "{r:#}");
    for (name, node) in [("a", &a), ("b", &b)] {
        let log = node.log_text();
        assert!(
            !log.contains("cannot keep up"),
            "node {name} dropped a member that reads:\n{log}"
        );
    }
}
