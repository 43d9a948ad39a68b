//! Faults: a NATS server killed mid-chat, a dhchat node killed, the whole
//! NATS cluster restarted.

use std::time::{Duration, Instant};

use dhchat_core::message::Message;

use crate::common::{connect, try_connect};
use crate::nats::NatsCluster;
use crate::nodes::{
    connect_when_accepting, expect_busy_then_close, history_texts, live_texts, Nodes, WAIT,
};

/// The default `--cluster-nick-ttl`.
const NICK_TTL: Duration = Duration::from_secs(15);

/// The client port of the NATS server a node last connected to (from the
/// NATS client's log line `connected successfully server=PORT`).
fn connected_port(log: &str) -> u16 {
    log.lines()
        .rev()
        .find_map(|l| {
            let rest = l.split("connected successfully server=").nth(1)?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or_else(|| panic!("no NATS connection in the node's log:\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_nats_server_mid_chat_loses_nothing_and_keeps_the_order() {
    let mut nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);
    let mut alice = connect(&a, "alice").await;
    let mut bob = connect(&b, "bob").await;

    let total = 40;
    let expected: Vec<String> = (0..total).map(|i| format!("m{i}")).collect();
    let sender = tokio::spawn(async move {
        for (i, text) in (0..total).map(|i| (i, format!("m{i}"))) {
            alice.say("#lobby", &text).await;
            if i % 10 == 9 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        alice
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The NATS server alice's node is connected to: the node must move to
    // another one mid-chat.
    let port = connected_port(&a.log_text());
    let victim = nats
        .index_of_port(port)
        .unwrap_or_else(|| panic!("node a is connected to no server of the cluster ({port})"));
    nats.kill(victim);
    let mut got = Vec::new();
    while got.len() < total {
        match bob.try_recv(WAIT).await {
            Some(Ok(buf)) => {
                if let Message::Message(m) = buf.message() {
                    if !m.history {
                        got.push(m.text.to_owned());
                    }
                }
            }
            other => panic!(
                "bob got {got:?}, then {other:?}\nnode a:\n{}\nnode b:\n{}\nnats:\n{}",
                a.log_text(),
                b.log_text(),
                nats.logs()
            ),
        }
    }
    assert_eq!(got, expected, "every message once, in the order sent");
    let moved = connected_port(&a.log_text());
    assert_ne!(moved, port, "node a reconnected to another NATS server");
    let mut alice = sender.await.expect("sender");
    // And nothing more (no duplicate after the last one).
    alice.say("#lobby", "end").await;
    assert_eq!(live_texts(&mut bob, 1).await, ["end"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_clients_reconnect_elsewhere_see_the_history_and_their_nicks_free_within_the_ttl(
) {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);
    let mut alice = connect(&a, "alice").await;
    let mut witness = connect(&b, "witness").await;
    alice.say("#lobby", "before the crash").await;
    assert_eq!(live_texts(&mut witness, 1).await, ["before the crash"]);

    // SIGKILL the node while alice is still connected: it gives nothing
    // back. (Closing alice first would let the node release her nick in
    // the ordinary way, racing the kill.)
    drop(a);
    let killed = Instant::now();
    drop(alice);

    let mut again = connect(&b, "alice").await;
    assert_eq!(
        again.nick, "alice2",
        "the crashed node's reservation still holds"
    );
    assert_eq!(history_texts(&mut again, 1).await, ["before the crash"]);

    // Within the TTL (plus one renewal period) the nick is free again.
    let deadline = NICK_TTL + NICK_TTL / 3 + Duration::from_secs(5);
    loop {
        again.send(&Message::Nick { nick: "alice" }).await;
        let renamed = loop {
            match again.recv().await.message() {
                Message::Notice {
                    text: "you are now known as alice",
                } => break true,
                Message::Error { .. } => break false,
                _ => {}
            }
        };
        if renamed {
            break;
        }
        assert!(
            killed.elapsed() < deadline,
            "the crashed node's nick was not freed within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_whole_nats_cluster_keeps_the_history_and_clients_are_told_while_it_is_down()
{
    let mut nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);
    let mut alice = connect(&a, "alice").await;
    let mut witness = connect(&b, "witness").await;
    for i in 0..3 {
        alice.say("#lobby", &format!("kept {i}")).await;
    }
    assert_eq!(live_texts(&mut witness, 3).await.len(), 3);

    for i in 0..3 {
        nats.kill(i);
    }
    // The node tells its clients rather than dropping their messages...
    expect_busy_then_close(&mut alice, Duration::from_secs(20)).await;
    expect_busy_then_close(&mut witness, Duration::from_secs(20)).await;
    // ...and admits nobody while NATS is away.
    assert!(
        try_connect(b.addr, b.key, "late", None).await.is_err(),
        "a node without NATS admitted a client"
    );

    for i in 0..3 {
        nats.restart(i);
    }
    nats.wait_ready();
    let mut carol = connect_when_accepting(&b, "carol", Duration::from_secs(60)).await;
    let expected: Vec<String> = (0..3).map(|i| format!("kept {i}")).collect();
    assert_eq!(history_texts(&mut carol, 3).await, expected);
    let mut dave = connect_when_accepting(&a, "dave", Duration::from_secs(60)).await;
    assert_eq!(history_texts(&mut dave, 3).await, expected);
    carol.say("#lobby", "after").await;
    assert_eq!(live_texts(&mut dave, 1).await, ["after"]);
}
