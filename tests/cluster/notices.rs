//! Join, part, disconnect and rename notices across nodes: a member hears of
//! a member on another node as of one on its own, exactly once.

use std::collections::HashMap;

use dhchat_core::message::Message;

use crate::common::{connect, TestClient};
use crate::nats::NatsCluster;
use crate::nodes::Nodes;
use crate::support::join;

/// Reads NOTICEs into `seen` (how many times each text arrived) until the
/// notices of the moves of `old`/`new` have all arrived as often as
/// [`times`] says.
async fn tally_until(c: &mut TestClient, seen: &mut HashMap<String, usize>, old: &str, new: &str) {
    let done = |seen: &HashMap<String, usize>| {
        told_of(old, new)
            .iter()
            .all(|t| seen.get(t).copied().unwrap_or(0) >= times(t))
    };
    while !done(seen) {
        if let Message::Notice { text } = c.recv().await.message() {
            *seen.entry(text.to_owned()).or_default() += 1;
        }
    }
}

/// How often a member of #lobby, #x and #y is told `text`: a disconnect
/// once per shared room (#lobby and #y), anything else once.
fn times(text: &str) -> usize {
    if text.ends_with("(connection lost)") {
        2
    } else {
        1
    }
}

/// Waits for a NOTICE saying `text` (the sender's own confirmation).
async fn until_notice(c: &mut TestClient, text: &str) {
    loop {
        if let Message::Notice { text: t } = c.recv().await.message() {
            if t == text {
                return;
            }
        }
    }
}

/// What `nick` does for the test: join #y and #x, leave #x, rename to
/// `new` (while it shares #lobby and #y), disconnect.
async fn moves(mut c: TestClient, new: &str) {
    join(&mut c, "#y").await;
    join(&mut c, "#x").await;
    c.send(&Message::Part { room: "#x" }).await;
    until_notice(&mut c, "you left #x").await;
    c.send(&Message::Nick { nick: new }).await;
    until_notice(&mut c, &format!("you are now known as {new}")).await;
    drop(c);
}

/// The notices a member of #lobby, #x and #y is told of `moves(old, new)`.
fn told_of(old: &str, new: &str) -> Vec<String> {
    vec![
        format!("{old} joined #y"),
        format!("{old} joined #x"),
        format!("{old} left #x"),
        format!("{old} is now known as {new}"),
        format!("{new} left (connection lost)"),
    ]
}

fn assert_once_each(seen: &HashMap<String, usize>, old: &str, new: &str, who: &str) {
    for text in told_of(old, new) {
        let want = times(&text);
        assert_eq!(
            seen.get(&text).copied().unwrap_or(0),
            want,
            "{who} was told {text:?} that many times; all it was told: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_both_nodes_hear_of_joins_parts_renames_and_disconnects_exactly_once() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    // bob on node B, witness on node A (alice's own node).
    let mut bob = connect(&b, "bob").await;
    let mut witness = connect(&a, "witness").await;
    for room in ["#x", "#y"] {
        join(&mut bob, room).await;
        join(&mut witness, room).await;
    }

    let mut bob_seen = HashMap::new();
    let mut witness_seen = HashMap::new();
    moves(connect(&a, "alice").await, "al").await;
    // Node A has told its members, and so published, all of alice's moves.
    tally_until(&mut witness, &mut witness_seen, "alice", "al").await;
    // Then the same moves by zed, also on node A: on every subject they
    // come after alice's, so once bob has zed's, he has all of alice's.
    moves(connect(&a, "zed").await, "zed2").await;
    tally_until(&mut bob, &mut bob_seen, "zed", "zed2").await;
    assert_once_each(&bob_seen, "alice", "al", "bob on the other node");

    // witness (alice's node) was told locally; the node skips its own
    // notices coming back from NATS. Moves by yan on node B, which come
    // after NATS handed alice's and zed's to every node, close its view.
    moves(connect(&b, "yan").await, "yan2").await;
    tally_until(&mut witness, &mut witness_seen, "yan", "yan2").await;
    assert_once_each(&witness_seen, "alice", "al", "witness on the same node");
    assert_once_each(&witness_seen, "zed", "zed2", "witness on the same node");
}
