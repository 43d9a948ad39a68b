//! Clients on different nodes: rooms, direct messages, nicks, WHO, history.

use dhchat_core::message::error_code as code;
use dhchat_core::message::Message;

use crate::common::connect;
use crate::nats::NatsCluster;
use crate::nodes::{history_texts, live_texts, Nodes};
use crate::support::{expect_error, join, live_msg, msg};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_different_nodes_chat_in_a_room_and_by_direct_message() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);
    assert_eq!(a.key, b.key, "the nodes share one server key");

    let mut alice = connect(&a, "alice").await;
    let mut bob = connect(&b, "bob").await;
    join(&mut alice, "#ops").await;
    join(&mut bob, "#ops").await;

    alice.say("#ops", "hello from a").await;
    assert_eq!(
        live_msg(&mut bob).await,
        msg("alice", "#ops", "hello from a")
    );
    bob.say("#ops", "hello from b").await;
    assert_eq!(
        live_msg(&mut alice).await,
        msg("bob", "#ops", "hello from b")
    );

    alice.say("@bob", "psst").await;
    assert_eq!(live_msg(&mut bob).await, msg("alice", "@bob", "psst"));
    bob.say("@ALICE", "back").await;
    assert_eq!(live_msg(&mut alice).await, msg("bob", "@alice", "back"));

    alice.say("@nobody", "anyone?").await;
    assert_eq!(expect_error(&mut alice).await, code::NO_SUCH_TARGET);

    alice.send(&Message::Who { room: "#ops" }).await;
    let mut nicks = Vec::new();
    loop {
        match alice.recv().await.message() {
            Message::Roster {
                room,
                more,
                nicks: part,
            } => {
                assert_eq!(room, "#ops");
                nicks.extend(part.iter().map(String::from));
                if !more {
                    break;
                }
            }
            Message::Notice { .. } => {}
            other => panic!("expected ROSTER, got {other:?}"),
        }
    }
    nicks.sort();
    assert_eq!(nicks, ["alice", "bob"], "WHO answers for the whole cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_held_on_one_node_is_not_given_out_on_another() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    let _alice = connect(&a, "alice").await;
    let other = connect(&b, "Alice").await;
    assert_eq!(other.nick, "Alice2", "a free variant, as on one server");

    let mut carol = connect(&b, "carol").await;
    carol.send(&Message::Nick { nick: "ALICE" }).await;
    assert_eq!(expect_error(&mut carol).await, code::NAME_IN_USE);
    carol.send(&Message::Nick { nick: "dave" }).await;
    loop {
        if let Message::Notice { text } = carol.recv().await.message() {
            if text == "you are now known as dave" {
                break;
            }
        }
    }
    // carol is free again, across the cluster.
    let carol_again = connect(&a, "carol").await;
    assert_eq!(carol_again.nick, "carol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_replays_the_history_of_messages_sent_through_another_node() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    let mut alice = connect(&a, "alice").await;
    let mut witness = connect(&a, "witness").await;
    for i in 0..5 {
        alice.say("#lobby", &format!("line {i}")).await;
    }
    // Stored: a member on the same node saw all five.
    assert_eq!(live_texts(&mut witness, 5).await.len(), 5);

    let mut carol = connect(&b, "carol").await;
    let expected: Vec<String> = (0..5).map(|i| format!("line {i}")).collect();
    assert_eq!(history_texts(&mut carol, 5).await, expected);
    // ...then live, no gap and no duplicate.
    alice.say("#lobby", "line 5").await;
    assert_eq!(live_texts(&mut carol, 1).await, ["line 5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_just_started_answers_who_for_the_members_of_nodes_started_before_it() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let _alice = connect(&a, "alice").await;
    // Node b starts after node a registered as live; it must know a at once
    // (from the node bucket's current entries), not after a's next renewal.
    let b = nodes.start(1);
    let mut bob = connect(&b, "bob").await;
    bob.send(&Message::Who { room: "#lobby" }).await;
    let mut nicks = Vec::new();
    loop {
        match bob.recv().await.message() {
            Message::Roster {
                more, nicks: part, ..
            } => {
                nicks.extend(part.iter().map(String::from));
                if !more {
                    break;
                }
            }
            Message::Notice { .. } | Message::Message(_) => {}
            other => panic!("expected ROSTER, got {other:?}"),
        }
    }
    nicks.sort();
    assert_eq!(nicks, ["alice", "bob"]);
}
