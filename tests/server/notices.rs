//! Join, part and rename notices, and the room notice limit
//! (`--room-notice-limit`, default 200): at the server's default settings.

use std::sync::Arc;

use dhchat_core::message::Message;
use dhchat_host::server::rooms::DEFAULT_ROOM_NOTICE_LIMIT;

use crate::common::{connect, TestClient, TestServer};
use crate::support::{connect_from, join, loopback, FAST};

/// Sends WHO `room` and reads until its last ROSTER record: the NOTICE
/// texts that came before it, and the room's nicks.
async fn notices_then_who(c: &mut TestClient, room: &str) -> (Vec<String>, Vec<String>) {
    c.send(&Message::Who { room }).await;
    let mut notices = Vec::new();
    let mut nicks = Vec::new();
    loop {
        match c.recv().await.message() {
            Message::Notice { text } => notices.push(text.to_owned()),
            Message::Roster {
                more, nicks: part, ..
            } => {
                nicks.extend(part.iter().map(String::from));
                if !more {
                    return (notices, nicks);
                }
            }
            _ => {}
        }
    }
}

/// Reads until a NOTICE saying `text` arrives; returns the notices before it.
async fn until_notice(c: &mut TestClient, text: &str) -> Vec<String> {
    let mut before = Vec::new();
    loop {
        if let Message::Notice { text: t } = c.recv().await.message() {
            if t == text {
                return before;
            }
            before.push(t.to_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_below_the_limit_announces_joins_parts_and_renames_to_its_other_members() {
    let server = TestServer::start(FAST);
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    until_notice(&mut alice, "bob joined #lobby").await;
    join(&mut alice, "#x").await;
    bob.send(&Message::Join { room: "#X" }).await;
    until_notice(&mut bob, "you joined #x").await;
    until_notice(&mut alice, "bob joined #x").await;
    bob.send(&Message::Part { room: "#x" }).await;
    until_notice(&mut bob, "you left #x").await;
    until_notice(&mut alice, "bob left #x").await;
    // bob shares #lobby (and #y) with alice: told once.
    join(&mut alice, "#y").await;
    join(&mut bob, "#y").await;
    bob.send(&Message::Nick { nick: "robert" }).await;
    until_notice(&mut bob, "you are now known as robert").await;
    let before = until_notice(&mut alice, "bob is now known as robert").await;
    assert_eq!(before, ["bob joined #y"]);
    drop(bob);
    until_notice(&mut alice, "robert left (connection lost)").await;
    // Nothing else came: no second rename notice.
    let (rest, _) = notices_then_who(&mut alice, "#y").await;
    assert_eq!(
        rest,
        ["robert left (connection lost)"],
        "one per shared room"
    );
}

/// Connects `n` clients at the server's default limits: from eight
/// loopback addresses, at most four handshakes pending per address.
async fn connect_many(server: &Arc<TestServer>, n: usize) -> Vec<TestClient> {
    let mut clients = Vec::with_capacity(n);
    for batch in (0..n).collect::<Vec<_>>().chunks(32) {
        let tasks: Vec<_> = batch
            .iter()
            .map(|&i| {
                let server = server.clone();
                tokio::spawn(async move {
                    let source = loopback(1 + (i % 8) as u8);
                    connect_from(&server, source, &format!("m{i:03}"), None).await
                })
            })
            .collect();
        for t in tasks {
            clients.push(t.await.expect("connect"));
        }
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_default_limit_a_long_standing_member_stops_hearing_joins_and_the_total_stays_linear(
) {
    let limit = DEFAULT_ROOM_NOTICE_LIMIT;
    let joiners = limit + 20;
    let server = Arc::new(TestServer::start(FAST));
    let mut first = connect(&server, "first").await;
    join(&mut first, "#big").await;
    let mut clients = connect_many(&server, joiners).await;
    // Each joins and waits for its WHO answer, a few at once; the notices
    // each got until then are kept.
    let mut early: Vec<Vec<String>> = Vec::new();
    for chunk in clients.chunks_mut(16) {
        let told = futures_util::future::join_all(chunk.iter_mut().map(|c| async move {
            c.send(&Message::Join { room: "#big" }).await;
            notices_then_who(c, "#big").await.0
        }))
        .await;
        early.extend(told);
    }
    // Every join is done: what `first` was told is queued before its ROSTER.
    let (told, nicks) = notices_then_who(&mut first, "#big").await;
    let joined_big = told
        .iter()
        .filter(|t| t.ends_with(" joined #big") && !t.starts_with("you "))
        .count();
    assert_eq!(
        joined_big,
        limit - 1,
        "joins are announced while the room has at most {limit} members, then no more"
    );
    assert_eq!(nicks.len(), joiners + 1, "WHO lists everyone");
    let joined_lobby = told
        .iter()
        .filter(|t| t.ends_with(" joined #lobby") && !t.starts_with("you "))
        .count();
    assert_eq!(
        joined_lobby,
        limit - 1,
        "the lobby is a room like any other"
    );

    // All members' notices about #big together: each join told the members
    // before it only while the room was within the limit, and the joiner
    // itself once.
    let mut others = joined_big;
    let mut own = 0;
    for (c, mut told) in clients.iter_mut().zip(early) {
        told.extend(notices_then_who(c, "#big").await.0);
        others += told
            .iter()
            .filter(|t| t.ends_with(" joined #big") && !t.starts_with("you "))
            .count();
        own += told.iter().filter(|t| *t == "you joined #big").count();
    }
    assert_eq!(own, joiners, "every joiner is told it joined");
    assert_eq!(
        others,
        limit * (limit - 1) / 2,
        "{joiners} joins: at most limit*(limit-1)/2 notices to others, however many join"
    );

    // A part past the limit: the parter is told, the others are not.
    let mut parter = clients.pop().expect("parter");
    parter.send(&Message::Part { room: "#big" }).await;
    until_notice(&mut parter, "you left #big").await;
    let (told, nicks) = notices_then_who(&mut first, "#big").await;
    assert!(told.iter().all(|t| !t.contains(&parter.nick)), "{told:?}");
    assert_eq!(nicks.len(), joiners);
    // A rename of a member whose only shared rooms are past the limit
    // tells only it.
    let renamed = &mut clients[0];
    renamed.send(&Message::Nick { nick: "renamed" }).await;
    until_notice(renamed, "you are now known as renamed").await;
    let (told, _) = notices_then_who(&mut first, "#big").await;
    assert!(told.is_empty(), "{told:?}");
}
