//! Accounts and offline direct messages across the cluster (PROTOCOL.md
//! section 5.1): the account bucket and the offline stream are shared, so an
//! account made on one node is the same account on every node.

use std::process::Command;
use std::time::{Duration, Instant};

use dhchat_core::identity::IdentityKey;
use dhchat_core::message::error_code as code;
use dhchat_core::message::Message;

use crate::account_support::{anon, chats_until_roster, expect_error_code, keyed, next_chat, Line};
use crate::common::{connect, TestClient, STEP};
use crate::nats::NatsCluster;
use crate::nodes::Nodes;

/// The default `--cluster-name`'s nick bucket.
const NICK_BUCKET: &str = "dhchat-nicks";

fn key(seed: u8) -> IdentityKey {
    IdentityKey::from_seed(&[seed; 32]).expect("seed")
}

/// Waits until no member of the cluster holds `nick` (a closed client's
/// node gives its nick back in the background), reading the nick bucket.
async fn wait_nick_free(urls: &str, nick: &str) {
    let servers: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(|u| u.parse().expect("NATS URL"))
        .collect();
    let client = async_nats::connect(servers).await.expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let kv = retrying("the nick bucket", || js.get_key_value(NICK_BUCKET)).await;
    let k = hex::encode(nick.to_ascii_lowercase());
    let start = Instant::now();
    loop {
        // A read can meet a bucket whose replicas are still electing a
        // leader ("503 no responders"): that is "not known yet", not free.
        match kv.get(&k).await {
            Ok(None) => return,
            Ok(Some(_)) => {}
            Err(e) => eprintln!("reading the nick bucket: {e}; retrying"),
        }
        assert!(start.elapsed() < STEP, "{nick} was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Closes `client` and waits until its nick is free across the cluster.
async fn leave(mut client: TestClient, urls: &str) {
    let nick = client.nick.clone();
    client.send(&Message::Close { reason: "bye" }).await;
    drop(client);
    wait_nick_free(urls, &nick).await;
}

/// The direct messages (`@...`) among the chat lines before the next WHO
/// answer, and the errors.
async fn mail_and_errors(c: &mut TestClient) -> (Vec<Line>, Vec<u16>) {
    c.send(&Message::Who { room: "#lobby" }).await;
    let lines = chats_until_roster(c).await;
    let mail = lines
        .chats
        .into_iter()
        .filter(|l| l.room.starts_with('@'))
        .collect();
    (mail, lines.errors.into_iter().map(|(c, _)| c).collect())
}

/// Runs `dhchat-server accounts ARGS --cluster URLS`: success and output.
async fn accounts_cmd(urls: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhchat-server"));
    cmd.arg("accounts").args(args).arg("--cluster").arg(urls);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run dhchat-server accounts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Waits for the NOTICE that confirms a NICK.
async fn renamed(c: &mut TestClient, nick: &str) {
    let want = format!("you are now known as {nick}");
    loop {
        match c.recv().await.message() {
            Message::Notice { text } if text == want => return,
            Message::Error { code, text } => panic!("NICK {nick} refused: {code} {text}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_made_on_one_node_is_kept_for_its_key_on_every_node() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    let alice = keyed(&a, "alice", &key(1)).await;
    assert_eq!(alice.nick, "alice");
    leave(alice, nodes.urls()).await;

    // The owner is offline and the nick held by nobody: still not given out
    // on the other node, to an anonymous client or another key.
    let hello = anon(&b, "Alice").await;
    assert_ne!(
        hello.nick.to_lowercase(),
        "alice",
        "an anonymous CLIENT_HELLO"
    );
    let second = keyed(&b, "ALICE", &key(2)).await;
    assert_ne!(second.nick.to_lowercase(), "alice", "a second key");
    let mut other = anon(&b, "other").await;
    other.send(&Message::Nick { nick: "alice" }).await;
    assert_eq!(expect_error_code(&mut other).await, code::NAME_IN_USE);
    let mut second = second;
    second.send(&Message::Nick { nick: "aLiCe" }).await;
    assert_eq!(expect_error_code(&mut second).await, code::NAME_IN_USE);

    // Its owner gets it on the other node, by CLIENT_HELLO and by NICK.
    let back = keyed(&b, "Alice", &key(1)).await;
    assert_eq!(back.nick, "Alice", "the owner, on another node");
    leave(back, nodes.urls()).await;
    let mut owner = keyed(&a, "elsewhere", &key(1)).await;
    owner.send(&Message::Nick { nick: "alice" }).await;
    renamed(&mut owner, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_sent_through_one_node_waits_and_is_delivered_once_on_another() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    let alice = keyed(&a, "alice", &key(1)).await;
    leave(alice, nodes.urls()).await;
    let mut bob = keyed(&b, "bob", &key(2)).await;
    for text in ["one", "two", "three"] {
        bob.say("@ALICE", text).await;
    }
    let (_, errors) = mail_and_errors(&mut bob).await;
    assert!(errors.is_empty(), "stored without error: {errors:?}");

    let mut alice = keyed(&a, "alice", &key(1)).await;
    let (mail, errors) = mail_and_errors(&mut alice).await;
    assert!(errors.is_empty(), "{errors:?}");
    let got: Vec<(&str, &str, &str, bool, bool)> = mail
        .iter()
        .map(|l| {
            (
                l.from.as_str(),
                l.room.as_str(),
                l.text.as_str(),
                l.history,
                l.account,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("bob", "@alice", "one", true, true),
            ("bob", "@alice", "two", true, true),
            ("bob", "@alice", "three", true, true),
        ],
        "in order, as history, with the sender's account mark"
    );

    // Delivered once: not again on the next connect, on either node.
    leave(alice, nodes.urls()).await;
    let mut again = keyed(&a, "alice", &key(1)).await;
    let (mail, _) = mail_and_errors(&mut again).await;
    assert!(mail.is_empty(), "delivered twice: {mail:?}");
    leave(again, nodes.urls()).await;
    let mut there = keyed(&b, "alice", &key(1)).await;
    let (mail, _) = mail_and_errors(&mut there).await;
    assert!(mail.is_empty(), "delivered twice: {mail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_bound_of_100_waiting_messages_holds_across_two_nodes() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    let alice = keyed(&a, "alice", &key(1)).await;
    leave(alice, nodes.urls()).await;
    let mut bob = anon(&a, "bob").await;
    let mut carol = anon(&b, "carol").await;
    for i in 0..60 {
        bob.say("@alice", &format!("a{i}")).await;
    }
    let (_, errors) = mail_and_errors(&mut bob).await;
    assert!(errors.is_empty(), "{errors:?}");
    for i in 0..40 {
        carol.say("@alice", &format!("b{i}")).await;
    }
    let (_, errors) = mail_and_errors(&mut carol).await;
    assert!(errors.is_empty(), "{errors:?}");

    // Full: each sender is told, whichever node it is on.
    bob.say("@alice", "one too many from a").await;
    carol.say("@alice", "one too many from b").await;
    let (_, errors) = mail_and_errors(&mut bob).await;
    assert_eq!(errors, [code::RATE_LIMITED]);
    let (_, errors) = mail_and_errors(&mut carol).await;
    assert_eq!(errors, [code::RATE_LIMITED]);

    let mut alice = keyed(&b, "alice", &key(1)).await;
    let (mail, _) = mail_and_errors(&mut alice).await;
    let texts: Vec<String> = mail.into_iter().map(|l| l.text).collect();
    let want: Vec<String> = (0..60)
        .map(|i| format!("a{i}"))
        .chain((0..40).map(|i| format!("b{i}")))
        .collect();
    assert_eq!(texts, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_lists_and_releases_cluster_accounts_and_a_released_nick_is_free_on_every_node(
) {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    let alice = keyed(&a, "alice", &key(1)).await;
    leave(alice, nodes.urls()).await;
    let mut watcher = connect(&b, "watcher").await;
    watcher.say("@alice", "for the old owner").await;
    let (_, errors) = mail_and_errors(&mut watcher).await;
    assert!(errors.is_empty(), "stored: {errors:?}");

    let (ok, listed) = accounts_cmd(nodes.urls(), &["list"]).await;
    assert!(ok, "{listed}");
    let line = listed
        .lines()
        .find(|l| l.starts_with("alice "))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains(&key(1).public_key().to_string()), "{line}");
    assert!(line.contains("waiting=1"), "{line}");

    let (ok, out) = accounts_cmd(nodes.urls(), &["release", "ALICE"]).await;
    assert!(ok, "{out}");
    let (ok, out) = accounts_cmd(nodes.urls(), &["release", "alice"]).await;
    assert!(!ok, "releasing twice fails: {out}");
    let (ok, listed) = accounts_cmd(nodes.urls(), &["list"]).await;
    assert!(ok && listed.contains("no accounts"), "{listed}");

    // Free on node a (CLIENT_HELLO), without the old owner's mail...
    let mut taker = anon(&a, "alice").await;
    assert_eq!(taker.nick, "alice", "released: anyone may take it");
    let (mail, _) = mail_and_errors(&mut taker).await;
    assert!(
        mail.is_empty(),
        "the old owner's mail went with it: {mail:?}"
    );
    taker.send(&Message::Nick { nick: "taker" }).await;
    renamed(&mut taker, "taker").await;
    wait_nick_free(nodes.urls(), "alice").await;
    // ...and on node b (NICK, then CLIENT_HELLO).
    watcher.send(&Message::Nick { nick: "alice" }).await;
    renamed(&mut watcher, "alice").await;
    leave(watcher, nodes.urls()).await;
    let there = anon(&b, "alice").await;
    assert_eq!(there.nick, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_offered_on_one_node_skips_an_account_made_on_another() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);

    // alice2 is an account made on node a, and bob one released again;
    // node b, started after, loads the bucket before it admits anyone.
    // While someone holds "alice", an anonymous "alice" on node b is offered
    // the next variant that is no other key's account.
    let alice2 = keyed(&a, "alice2", &key(3)).await;
    assert_eq!(alice2.nick, "alice2");
    leave(alice2, nodes.urls()).await;
    let bob = keyed(&a, "bob", &key(4)).await;
    leave(bob, nodes.urls()).await;
    let (ok, out) = accounts_cmd(nodes.urls(), &["release", "bob"]).await;
    assert!(ok, "{out}");
    let b = nodes.start(1);
    let _alice = anon(&a, "alice").await;
    let other = anon(&b, "alice").await;
    assert_eq!(other.nick, "alice3");
    // The account's owner, asking for "alice" too, is offered its own.
    let owner = keyed(&b, "alice", &key(3)).await;
    assert_eq!(owner.nick, "alice2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bit_2_crosses_nodes_live_in_history_and_on_direct_messages() {
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let a = nodes.start(0);
    let b = nodes.start(1);

    let mut bob = anon(&b, "bob").await;
    let mut alice = keyed(&a, "alice", &key(1)).await;
    alice.say("#lobby", "from the owner").await;
    assert_eq!(
        next_chat(&mut bob).await,
        Line::live("alice", "#lobby", "from the owner", true)
    );
    alice.say("@bob", "direct").await;
    assert_eq!(
        next_chat(&mut bob).await,
        Line::live("alice", "@bob", "direct", true)
    );
    bob.say("#lobby", "anonymous").await;
    assert_eq!(
        next_chat(&mut alice).await,
        Line::live("bob", "#lobby", "anonymous", false)
    );
    bob.say("@alice", "back").await;
    assert_eq!(
        next_chat(&mut alice).await,
        Line::live("bob", "@alice", "back", false)
    );
    let mut late = anon(&b, "late").await;
    late.send(&Message::Who { room: "#lobby" }).await;
    let history = chats_until_roster(&mut late).await.chats;
    let marks: Vec<(&str, bool, bool)> = history
        .iter()
        .map(|l| (l.text.as_str(), l.history, l.account))
        .collect();
    assert_eq!(
        marks,
        [("from the owner", true, true), ("anonymous", true, false)]
    );
}

/// Runs a NATS request until it succeeds (for [`STEP`]): a fresh bucket or
/// stream can answer "503 no responders" while its replicas elect a leader.
async fn retrying<T, E, F, Fut>(what: &str, mut request: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    loop {
        match request().await {
            Ok(v) => return v,
            Err(e) if start.elapsed() < STEP => {
                eprintln!("{what}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// A JetStream context on the test's NATS cluster (to plant entries no node
/// would write).
async fn jetstream(urls: &str) -> async_nats::jetstream::Context {
    let servers: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(|u| u.parse().expect("NATS URL"))
        .collect();
    let client = async_nats::connect(servers).await.expect("connect to NATS");
    async_nats::jetstream::new(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_fail_their_checks_are_given_to_nobody_never_delivered_and_never_crash_a_node()
{
    let nats = NatsCluster::start();
    let nodes = Nodes::new(&nats.urls());
    let mut a = nodes.start(0);
    let mut b = nodes.start(1);
    let alice = keyed(&a, "alice", &key(1)).await;
    leave(alice, nodes.urls()).await;
    let bob = keyed(&b, "bob", &key(2)).await;
    leave(bob, nodes.urls()).await;

    let js = jetstream(nodes.urls()).await;
    let accounts = retrying("the account bucket", || js.get_key_value("dhchat-accounts")).await;
    retrying("plant a bad account entry", || {
        accounts.put(hex::encode("alice"), "{not an account".into())
    })
    .await;
    let bad_mail = [
        &b"\xff\xfe"[..],
        br#"{"time_ms":1,"from":"x y","room":"@bob","text":"bad sender"}"#,
        br#"{"time_ms":1,"from":"eve","room":"@bob","text":"bell\u0007"}"#,
    ];
    for payload in bad_mail {
        retrying("plant a bad message", || async {
            js.publish(
                format!("dhchat.offline.{}", hex::encode("bob")),
                payload.to_vec().into(),
            )
            .await?
            .await
        })
        .await;
    }
    let mut watcher = anon(&a, "watcher").await;
    watcher.say("@bob", "real").await;
    let (_, errors) = mail_and_errors(&mut watcher).await;
    assert!(errors.is_empty(), "{errors:?}");

    // Nobody can prove the bad entry: its nick goes to nobody, not even the
    // key that once owned it, and other nicks are still served.
    let hello = anon(&b, "alice").await;
    assert_ne!(hello.nick, "alice");
    let former = keyed(&a, "alice", &key(1)).await;
    assert_ne!(former.nick, "alice");
    let mut other = anon(&b, "other").await;
    other.send(&Message::Nick { nick: "alice" }).await;
    assert_eq!(expect_error_code(&mut other).await, code::INTERNAL);

    // The bad messages are never delivered; the good one once.
    let mut bob = keyed(&a, "bob", &key(2)).await;
    let (mail, _) = mail_and_errors(&mut bob).await;
    let texts: Vec<&str> = mail.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["real"]);
    leave(bob, nodes.urls()).await;
    let mut bob = keyed(&b, "bob", &key(2)).await;
    let (mail, _) = mail_and_errors(&mut bob).await;
    assert!(mail.is_empty(), "{mail:?}");

    // The operator sees the bad entry and releases it.
    let (ok, listed) = accounts_cmd(nodes.urls(), &["list"]).await;
    assert!(ok, "{listed}");
    assert!(
        listed.lines().any(|l| l.starts_with("alice not-valid")),
        "{listed}"
    );
    let (ok, out) = accounts_cmd(nodes.urls(), &["release", "alice"]).await;
    assert!(ok, "{out}");
    drop((hello, former));
    let taker = anon(&b, "alice").await;
    assert_eq!(taker.nick, "alice");
    assert!(a.is_running() && b.is_running(), "no node died");
}
