//! End-to-end tests of accounts (PROTOCOL.md section 5.1): the real
//! `dhchat-server` at its default settings (but the small DH group), keyed
//! and anonymous clients through the core's async driver.

#[path = "common/mod.rs"]
mod common;
#[path = "accounts/support.rs"]
mod support;

use dhchat_core::identity::IdentityKey;
use dhchat_core::message::error_code as code;
use dhchat_core::message::Message;

use common::{connect, TestServer};
use support::{
    accounts_cmd, anon, chats_until_roster, expect_error_code, keyed, leave, next_chat, Line, ARGS,
};

fn key(seed: u8) -> IdentityKey {
    IdentityKey::from_seed(&[seed; 32]).expect("seed")
}

#[tokio::test]
async fn an_anonymous_client_cannot_take_an_accounts_nick_while_its_owner_is_online_or_offline() {
    let server = TestServer::start(ARGS);
    let alice = keyed(&server, "alice", &key(1)).await;
    assert_eq!(alice.nick, "alice");
    let mut watcher = connect(&server, "watcher").await;
    let online = anon(&server, "Alice").await;
    assert_ne!(online.nick.to_lowercase(), "alice", "taken while online");
    leave(alice, &mut watcher, "alice").await;
    let offline = anon(&server, "ALICE").await;
    assert_ne!(
        offline.nick.to_lowercase(),
        "alice",
        "an account's nick stays its owner's while the owner is offline"
    );
}

#[tokio::test]
async fn the_owner_gets_its_nick_back_after_a_restart_and_a_second_key_cannot_take_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let server = TestServer::start_in(dir.path(), ARGS);
        let alice = keyed(&server, "alice", &key(1)).await;
        assert_eq!(alice.nick, "alice");
        drop(alice);
        server.stop();
    }
    let server = TestServer::start_in(dir.path(), ARGS);
    let other = keyed(&server, "alice", &key(2)).await;
    assert_ne!(other.nick.to_lowercase(), "alice", "a second key");
    let back = keyed(&server, "Alice", &key(1)).await;
    assert_eq!(back.nick, "Alice", "the owner, after a restart");
}

#[tokio::test]
async fn nick_to_an_account_is_refused_for_everyone_but_its_owner() {
    let server = TestServer::start(ARGS);
    let alice = keyed(&server, "alice", &key(1)).await;
    let mut watcher = connect(&server, "watcher").await;
    leave(alice, &mut watcher, "alice").await;
    let mut a = anon(&server, "anon").await;
    a.send(&Message::Nick { nick: "ALICE" }).await;
    assert_eq!(expect_error_code(&mut a).await, code::NAME_IN_USE);
    let mut k2 = keyed(&server, "second", &key(2)).await;
    k2.send(&Message::Nick { nick: "alice" }).await;
    assert_eq!(expect_error_code(&mut k2).await, code::NAME_IN_USE);
    // The owner, connected under another nick, may take it.
    let mut owner = keyed(&server, "elsewhere", &key(1)).await;
    owner.send(&Message::Nick { nick: "alice" }).await;
    owner.send(&Message::Who { room: "#lobby" }).await;
    let lines = chats_until_roster(&mut owner).await;
    assert!(lines.errors.is_empty(), "{:?}", lines.errors);
    assert!(
        lines.roster.iter().any(|n| n == "alice"),
        "{:?}",
        lines.roster
    );
}

#[tokio::test]
async fn bit_2_is_set_live_and_in_history_and_only_for_sessions_that_proved_the_accounts_key() {
    let server = TestServer::start(ARGS);
    let mut bob = anon(&server, "bob").await;
    let mut alice = keyed(&server, "alice", &key(1)).await;
    alice.say("#lobby", "from the owner").await;
    let got = next_chat(&mut bob).await;
    assert_eq!(got, Line::live("alice", "#lobby", "from the owner", true));
    // A keyed session under a nick that is not an account (NICK makes none).
    alice.send(&Message::Nick { nick: "renamed" }).await;
    alice.say("#lobby", "not under the account").await;
    assert_eq!(
        next_chat(&mut bob).await,
        Line::live("renamed", "#lobby", "not under the account", false)
    );
    bob.say("#lobby", "anonymous").await;
    assert_eq!(
        next_chat(&mut alice).await,
        Line::live("bob", "#lobby", "anonymous", false)
    );
    // Back under its own account: marked again; direct messages too.
    alice.send(&Message::Nick { nick: "alice" }).await;
    alice.say("@bob", "direct").await;
    assert_eq!(
        next_chat(&mut bob).await,
        Line::live("alice", "@bob", "direct", true)
    );
    let mut late = anon(&server, "late").await;
    late.send(&Message::Who { room: "#lobby" }).await;
    let history = chats_until_roster(&mut late).await.chats;
    let marks: Vec<(&str, bool, bool)> = history
        .iter()
        .map(|l| (l.text.as_str(), l.history, l.account))
        .collect();
    assert_eq!(
        marks,
        [
            ("from the owner", true, true),
            ("not under the account", true, false),
            ("anonymous", true, false),
        ]
    );
}

#[tokio::test]
async fn an_offline_direct_message_is_delivered_once_in_order_after_the_lobby_history_across_a_restart(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let server = TestServer::start_in(dir.path(), ARGS);
        let alice = keyed(&server, "alice", &key(1)).await;
        let mut bob = keyed(&server, "bob", &key(2)).await;
        leave(alice, &mut bob, "alice").await;
        bob.say("#lobby", "room line").await;
        for text in ["one", "two", "three"] {
            bob.say("@ALICE", text).await;
        }
        bob.send(&Message::Who { room: "#lobby" }).await;
        let lines = chats_until_roster(&mut bob).await;
        assert!(
            lines.errors.is_empty(),
            "stored without error: {:?}",
            lines.errors
        );
        drop(bob);
        server.stop();
    }
    let server = TestServer::start_in(dir.path(), ARGS);
    let mut alice = keyed(&server, "alice", &key(1)).await;
    alice.send(&Message::Who { room: "#lobby" }).await;
    let got = chats_until_roster(&mut alice).await.chats;
    let texts: Vec<(&str, &str, bool, bool)> = got
        .iter()
        .map(|l| (l.room.as_str(), l.text.as_str(), l.history, l.account))
        .collect();
    assert_eq!(
        texts,
        [
            ("#lobby", "room line", true, true),
            ("@alice", "one", true, true),
            ("@alice", "two", true, true),
            ("@alice", "three", true, true),
        ]
    );
    assert!(got.iter().all(|l| l.from == "bob"));
    drop(alice);
    let mut watcher = connect(&server, "watcher").await;
    support::wait_gone(&mut watcher, "alice").await;
    let mut again = keyed(&server, "alice", &key(1)).await;
    again.send(&Message::Who { room: "#lobby" }).await;
    let got = chats_until_roster(&mut again).await.chats;
    assert!(
        got.iter().all(|l| !l.room.starts_with('@')),
        "delivered once: {got:?}"
    );
}

#[tokio::test]
async fn an_account_holds_at_most_the_default_100_offline_messages_then_error_7() {
    let server = TestServer::start(ARGS);
    let alice = keyed(&server, "alice", &key(1)).await;
    let mut bob = anon(&server, "bob").await;
    leave(alice, &mut bob, "alice").await;
    for i in 0..100 {
        bob.say("@alice", &format!("m{i}")).await;
    }
    bob.say("@alice", "one too many").await;
    bob.send(&Message::Who { room: "#lobby" }).await;
    let lines = chats_until_roster(&mut bob).await;
    assert_eq!(
        lines.errors.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        [code::RATE_LIMITED],
        "{:?}",
        lines.errors
    );
    let mut alice = keyed(&server, "alice", &key(1)).await;
    alice.send(&Message::Who { room: "#lobby" }).await;
    let got = chats_until_roster(&mut alice).await.chats;
    let texts: Vec<String> = got
        .into_iter()
        .filter(|l| l.room == "@alice")
        .map(|l| l.text)
        .collect();
    let want: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, want);
}

#[tokio::test]
async fn release_frees_the_nick_while_the_server_runs() {
    let server = TestServer::start(ARGS);
    let alice = keyed(&server, "alice", &key(1)).await;
    let mut watcher = connect(&server, "watcher").await;
    leave(alice, &mut watcher, "alice").await;
    watcher.say("@alice", "waiting for the old owner").await;
    watcher.send(&Message::Who { room: "#lobby" }).await;
    let lines = chats_until_roster(&mut watcher).await;
    assert!(lines.errors.is_empty(), "stored: {:?}", lines.errors);
    let (ok, listed) = accounts_cmd(&server.data_dir, &["list"]);
    assert!(ok, "{listed}");
    let line = listed
        .lines()
        .find(|l| l.starts_with("alice "))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains(&key(1).public_key().to_string()), "{line}");
    assert!(line.contains("waiting=1"), "{line}");
    let (ok, out) = accounts_cmd(&server.data_dir, &["release", "ALICE"]);
    assert!(ok, "{out}");
    let (ok, out) = accounts_cmd(&server.data_dir, &["release", "alice"]);
    assert!(!ok, "releasing twice fails: {out}");
    let mut taker = anon(&server, "alice").await;
    assert_eq!(taker.nick, "alice", "released: anyone may take it");
    taker.send(&Message::Who { room: "#lobby" }).await;
    let got = chats_until_roster(&mut taker).await.chats;
    assert!(
        got.iter().all(|l| !l.room.starts_with('@')),
        "the old owner's mail went with the account: {got:?}"
    );
    let (ok, listed) = accounts_cmd(&server.data_dir, &["list"]);
    assert!(ok && !listed.contains("alice "), "{listed}");
}

#[tokio::test]
async fn with_no_accounts_nicks_behave_as_before_and_bit_2_is_never_set() {
    let server = TestServer::start(&["--group", "ffdhe2048", "--no-accounts"]);
    let alice = keyed(&server, "alice", &key(1)).await;
    let mut bob = anon(&server, "bob").await;
    let mut alice = alice;
    alice.say("#lobby", "keyed").await;
    assert_eq!(
        next_chat(&mut bob).await,
        Line::live("alice", "#lobby", "keyed", false)
    );
    leave(alice, &mut bob, "alice").await;
    bob.say("@alice", "anyone there?").await;
    assert_eq!(expect_error_code(&mut bob).await, code::NO_SUCH_TARGET);
    let taker = anon(&server, "alice").await;
    assert_eq!(taker.nick, "alice");
    let (ok, listed) = accounts_cmd(&server.data_dir, &["list"]);
    assert!(ok && listed.contains("no accounts"), "{listed}");
}
