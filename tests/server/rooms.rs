//! Rooms, direct messages and nicks: who receives what, in which order.

use std::sync::Arc;

use dhchat_core::message::Message;

use crate::common::{connect, TestServer};
use crate::support::{args, expect_error, join, msg, next, FAST};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_message_reaches_every_other_member_and_not_the_sender() {
    let server = TestServer::start(FAST);
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let mut carol = connect(&server, "carol").await;
    alice.say("#lobby", "hello all").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#lobby", "hello all"));
    assert_eq!(carol.recv_msg().await, msg("alice", "#lobby", "hello all"));
    // Alice's next message is Bob's, not her own echo.
    bob.say("#lobby", "hi alice").await;
    assert_eq!(alice.recv_msg().await, msg("bob", "#lobby", "hi alice"));
    // Rooms: only members receive; JOIN creates; a non-member's SAY is refused.
    join(&mut alice, "#Rust").await;
    bob.send(&Message::Join { room: "#rust" }).await;
    // Bob's JOIN is done once the server answers his WHO.
    bob.send(&Message::Who { room: "#rust" }).await;
    match next(&mut bob).await.message() {
        Message::Roster {
            room,
            more: false,
            nicks,
        } => {
            assert_eq!(room, "#Rust", "first spelling is kept");
            assert_eq!(nicks.iter().collect::<Vec<_>>(), ["alice", "bob"]);
        }
        other => panic!("expected ROSTER, got {other:?}"),
    }
    alice.say("#rust", "rusty").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#Rust", "rusty"));
    carol.say("#rust", "let me in").await;
    assert_eq!(expect_error(&mut carol).await, 6);
    carol.say("#lobby", "lobby only").await;
    assert_eq!(alice.recv_msg().await, msg("carol", "#lobby", "lobby only"));
    // PART: no longer receives that room.
    bob.send(&Message::Part { room: "#RUST" }).await;
    bob.send(&Message::Part { room: "#rust" }).await;
    assert_eq!(expect_error(&mut bob).await, 6, "PART of a room not joined");
    alice.say("#rust", "alone").await;
    alice.say("#lobby", "marker").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "#lobby", "marker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_one_sender_arrive_in_order() {
    let server = TestServer::start(&args(&["--rate", "100000", "--burst", "100000"]));
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    const N: usize = 500;
    let sender = tokio::spawn(async move {
        for i in 0..N {
            alice.say("#lobby", &format!("message {i}")).await;
        }
        alice
    });
    for i in 0..N {
        assert_eq!(
            bob.recv_msg().await,
            msg("alice", "#lobby", &format!("message {i}"))
        );
    }
    sender.await.expect("sender");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_reach_only_their_recipient() {
    let server = TestServer::start(FAST);
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "Bob").await;
    let mut carol = connect(&server, "carol").await;
    alice.say("@bob", "psst").await;
    assert_eq!(bob.recv_msg().await, msg("alice", "@Bob", "psst"));
    alice.say("@alice", "note to self").await;
    assert_eq!(
        alice.recv_msg().await,
        msg("alice", "@alice", "note to self")
    );
    alice.say("@nobody", "hello?").await;
    assert_eq!(expect_error(&mut alice).await, 6);
    // Carol saw none of it: her next message is a room message.
    bob.say("#lobby", "public").await;
    assert_eq!(carol.recv_msg().await, msg("Bob", "#lobby", "public"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nicks_get_free_variants_and_nick_changes_follow_the_rules() {
    let server = TestServer::start(FAST);
    let mut alice = connect(&server, "alice").await;
    let second = connect(&server, "ALICE").await;
    assert_eq!(alice.nick, "alice");
    assert_eq!(
        second.nick, "ALICE2",
        "taken nick gets a free variant (case-insensitive)"
    );
    let mut bob = connect(&server, "bob").await;
    bob.send(&Message::Nick { nick: "Alice" }).await;
    assert_eq!(expect_error(&mut bob).await, 5);
    bob.send(&Message::Nick { nick: "robert" }).await;
    bob.say("#lobby", "renamed").await;
    assert_eq!(alice.recv_msg().await, msg("robert", "#lobby", "renamed"));
    // The old nick is free again.
    let bob2 = connect(&server, "bob").await;
    assert_eq!(bob2.nick, "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_all_receive_a_broadcast_and_who_lists_them_all() {
    const N: usize = 200;
    // All 200 connect at once from 127.0.0.1: more pending handshakes from
    // one address than the default --max-pending-per-ip allows, and past
    // the default start of random early drop (half of 256 on 2 cores).
    let server = Arc::new(TestServer::start(&args(&[
        "--max-pending-per-ip",
        "200",
        "--max-pending",
        "1024",
    ])));
    let mut tasks = Vec::new();
    for i in 0..N {
        let server = server.clone();
        // Long nicks, so that WHO needs several ROSTER records.
        tasks.push(tokio::spawn(async move {
            connect(&server, &format!("client-{i:03}-{}", "n".repeat(20))).await
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("connect"));
    }
    let mut sender = clients.pop().expect("sender");
    sender.say("#lobby", "hello everyone").await;
    let mut receivers = Vec::new();
    for mut c in clients {
        let from = sender.nick.clone();
        receivers.push(tokio::spawn(async move {
            assert_eq!(c.recv_msg().await, msg(&from, "#lobby", "hello everyone"));
            c
        }));
    }
    let mut clients = Vec::new();
    for r in receivers {
        clients.push(r.await.expect("receiver"));
    }
    sender.send(&Message::Who { room: "#lobby" }).await;
    let mut nicks = Vec::new();
    let mut records = 0;
    loop {
        match sender.recv().await.message() {
            Message::Roster {
                room,
                more,
                nicks: part,
            } => {
                assert_eq!(room, "#lobby");
                records += 1;
                nicks.extend(part.iter().map(String::from));
                if !more {
                    break;
                }
            }
            Message::Notice { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(records > 1, "one ROSTER record for {N} long nicks");
    nicks.sort();
    nicks.dedup();
    assert_eq!(nicks.len(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_has_its_welcome_is_already_listed_in_the_lobby() {
    let server = TestServer::start(FAST);
    let mut observer = connect(&server, "observer").await;
    // Several rounds: the lobby join used to race with WELCOME.
    let mut clients = Vec::new();
    for i in 0..20 {
        let c = connect(&server, &format!("joiner{i}")).await;
        observer.send(&Message::Who { room: "#lobby" }).await;
        let mut nicks = Vec::new();
        loop {
            match observer.recv().await.message() {
                Message::Roster {
                    more, nicks: part, ..
                } => {
                    nicks.extend(part.iter().map(String::from));
                    if !more {
                        break;
                    }
                }
                Message::Notice { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(nicks.contains(&c.nick), "{} not in {nicks:?}", c.nick);
        clients.push(c);
    }
}
