//! The man-in-the-middle suite: a real `dhchat-client --batch` (the victim,
//! "alice") talks to a real `dhchat-server` through an attacker, while a
//! second pair of clients (carol and dave, connected straight to the server)
//! keeps chatting and watches `#lobby`, and bob (also straight) talks to alice.
//!
//! - A proxy that knows the framing but no key (`mitm/proxy.rs`) flips bits,
//!   drops, duplicates, reorders, shortens, cuts and injects records in either
//!   direction, or delivers every byte on its own. Each attack must end the
//!   victim's session with the right error on the right side (the client
//!   exits 5 with the record-authentication error; the server closes without a
//!   byte and logs the record error), deliver nothing forged, and leave the
//!   other sessions untouched.
//! - An attacker that substitutes its own Diffie-Hellman values
//!   (`mitm/dh.rs`) is caught by the pinned server key: the batch client exits
//!   4, the firmware exits with its pin-mismatch code, and neither sends a
//!   record to it. Without a pin (trust on first use) it succeeds, and only
//!   the session fingerprint shows it.
//! - Display spoofing end to end: bidirectional controls, invisible
//!   characters and a peer's backslash in batch JSON.

#[path = "mitm/batch.rs"]
mod batch;
#[path = "mitm/bystanders.rs"]
mod bystanders;
mod common;
#[path = "mitm/dh.rs"]
mod dh;
mod firmware_support;
#[path = "mitm/proxy.rs"]
mod proxy;

use std::time::Duration;

use batch::{exit, Batch, Ended};
use bystanders::Bystanders;
use common::{connect, TestClient, TestServer, STEP};
use proxy::{Attack, Dir, Part, RecordProxy};

/// The texts a client prints for a record-authentication failure.
const BAD_TAG: &str = "record authentication failed";

/// A server (default settings, the smallest group for speed), bob, and the
/// bystanders.
struct Scene {
    server: TestServer,
    bob: TestClient,
    by: Bystanders,
    dir: tempfile::TempDir,
}

impl Scene {
    async fn new() -> Scene {
        let server = TestServer::start(&["--group", "ffdhe2048"]);
        let bob = connect(&server, "bob").await;
        let by = Bystanders::join(&server).await;
        Scene {
            server,
            bob,
            by,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Alice, pinning the server's key, connected to `addr`; her welcome and
    /// everything the server sent before her `/who` answer have arrived.
    async fn alice(&self, addr: std::net::SocketAddr) -> Batch {
        let key = self.server.key.to_string();
        let mut alice = Batch::spawn(
            addr,
            &self.dir.path().join("known_hosts"),
            &["--nick", "alice", "--server-key", &key],
        );
        alice.welcome().await;
        alice.sync().await;
        alice
    }

    /// Waits for the server's log line that ends the session coming from
    /// `peer`, and returns it.
    async fn disconnect_line(&self, peer: std::net::SocketAddr) -> String {
        let needle = peer.to_string();
        let end = tokio::time::Instant::now() + STEP;
        loop {
            let log = self.server.log_text();
            if let Some(line) = log
                .lines()
                .find(|l| l.contains(&needle) && l.contains("disconnect"))
            {
                return line.to_owned();
            }
            assert!(
                tokio::time::Instant::now() < end,
                "the server did not end the session from {needle}; log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `attack` on the server's next record to alice; bob then says
    /// each of `texts` in `#lobby`. Returns how alice ended.
    async fn attack_to_client(&mut self, attack: Attack, texts: &[&str]) -> Ended {
        let proxy = RecordProxy::start(self.server.addr);
        let alice = self.alice(proxy.addr).await;
        proxy.arm(Dir::ToClient, attack);
        for text in texts {
            self.bob.say("#lobby", text).await;
        }
        self.by.chat(&format!("during {attack:?}")).await;
        let ended = alice.ended().await;
        self.by.chat(&format!("after {attack:?}")).await;
        ended
    }

    /// Runs `attack` on alice's next record to the server, then alice says
    /// each of `texts`. Checks that the server sent alice nothing more and
    /// closed her session; returns how alice ended and the server's log line.
    async fn attack_to_server(&mut self, attack: Attack, texts: &[&str]) -> (Ended, String) {
        let proxy = RecordProxy::start(self.server.addr);
        let mut alice = self.alice(proxy.addr).await;
        let before = proxy.quiet(Dir::ToClient).await;
        proxy.arm(Dir::ToServer, attack);
        for text in texts {
            alice.send(text).await;
        }
        self.by.chat(&format!("during {attack:?}")).await;
        let ended = alice.ended().await;
        let line = self.disconnect_line(proxy.upstream_local()).await;
        assert!(
            proxy.wait_ended(Dir::ToClient, STEP),
            "{attack:?}: the server did not close the connection"
        );
        assert_eq!(
            proxy.forwarded(Dir::ToClient),
            before,
            "{attack:?}: the server must send nothing after a bad record"
        );
        assert_eq!(ended.code, exit::CONNECTION, "{attack:?}: {ended:?}");
        // Anything the server delivered from alice reached dave before this.
        self.by.lobby_marker(&format!("after {attack:?}")).await;
        self.by.chat(&format!("after {attack:?}")).await;
        (ended, line)
    }
}

/// Alice ended with the record-authentication code and error.
fn assert_record_auth(ended: &Ended, what: &str) {
    assert_eq!(ended.code, exit::RECORD_AUTH, "{what}: {ended:?}");
    assert!(ended.stderr.contains("authentication"), "{what}: {ended:?}");
}

// ---------------------------------------------------------------------------
// Server -> client: the batch client detects it (exit 5), prints nothing of it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bit_flipped_anywhere_in_a_record_to_the_client_ends_it_with_the_authentication_code() {
    let mut s = Scene::new().await;
    for part in [Part::Iv, Part::Ciphertext, Part::Tag] {
        let text = format!("flip {part:?}");
        let ended = s.attack_to_client(Attack::Flip(part), &[&text]).await;
        assert_record_auth(&ended, &text);
        assert!(ended.stderr.contains(BAD_TAG), "{ended:?}");
        assert!(!ended.texts().contains(&text.as_str()), "{ended:?}");
    }
    // A flipped length bit fails the length check before any byte is used.
    let ended = s
        .attack_to_client(Attack::Flip(Part::Length), &["flip length"])
        .await;
    assert_eq!(ended.code, exit::RECORD_AUTH, "{ended:?}");
    assert!(
        ended.stderr.contains("not 48 plus a multiple of 16"),
        "{ended:?}"
    );
    assert!(ended.texts().is_empty(), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_to_the_client_dropped_reordered_or_shortened_ends_it_and_nothing_after_is_shown()
{
    let mut s = Scene::new().await;
    for attack in [Attack::Drop, Attack::Reorder, Attack::Shorten] {
        let (one, two) = (format!("{attack:?} one"), format!("{attack:?} two"));
        let ended = s.attack_to_client(attack, &[&one, &two]).await;
        assert_record_auth(&ended, &one);
        assert!(ended.stderr.contains(BAD_TAG), "{ended:?}");
        assert!(
            ended.texts().is_empty(),
            "{attack:?}: nothing is shown once a record is missing or out of order: {ended:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_to_the_client_replayed_is_shown_once_then_ends_it() {
    let mut s = Scene::new().await;
    let ended = s.attack_to_client(Attack::Duplicate, &["only once"]).await;
    assert_record_auth(&ended, "duplicate");
    assert_eq!(ended.texts(), ["only once"], "{ended:?}");

    // An old record (WELCOME, the server's second) injected later.
    let proxy = RecordProxy::start(s.server.addr);
    let alice = s.alice(proxy.addr).await;
    proxy.inject(Dir::ToClient, &proxy.record(Dir::ToClient, 1));
    s.by.chat("during the replay").await;
    let ended = alice.ended().await;
    assert_record_auth(&ended, "replay");
    assert!(ended.texts().is_empty(), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_forged_toward_the_client_ends_it_with_the_authentication_code() {
    let mut s = Scene::new().await;
    let proxy = RecordProxy::start(s.server.addr);
    let alice = s.alice(proxy.addr).await;
    // Well-formed framing: 16 IV bytes, 32 ciphertext bytes, a 32-byte tag.
    let mut forged = 80u16.to_be_bytes().to_vec();
    forged.extend((0..80u8).map(|i| i.wrapping_mul(37)));
    proxy.inject(Dir::ToClient, &forged);
    s.by.chat("during the forgery").await;
    let ended = alice.ended().await;
    assert_record_auth(&ended, "forged");
    assert!(ended.stderr.contains(BAD_TAG), "{ended:?}");
    assert!(ended.texts().is_empty(), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_to_the_client_cut_short_is_a_lost_connection_and_shows_nothing() {
    let mut s = Scene::new().await;
    let ended = s.attack_to_client(Attack::Cut, &["cut in half"]).await;
    assert_eq!(ended.code, exit::CONNECTION, "{ended:?}");
    assert!(ended.texts().is_empty(), "{ended:?}");
}

// ---------------------------------------------------------------------------
// Client -> server: the server closes without a byte and logs the record error.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bit_flipped_in_a_record_to_the_server_closes_that_session_silently_and_is_logged() {
    let mut s = Scene::new().await;
    for part in [Part::Iv, Part::Ciphertext, Part::Tag] {
        let text = format!("flip {part:?}");
        let (_, line) = s.attack_to_server(Attack::Flip(part), &[&text]).await;
        assert!(line.contains(BAD_TAG), "{part:?}: {line}");
        assert_eq!(s.by.count(&text), 0, "a tampered record was delivered");
    }
    let (_, line) = s
        .attack_to_server(Attack::Flip(Part::Length), &["flip length"])
        .await;
    assert!(line.contains("not 48 plus a multiple of 16"), "{line}");
    assert_eq!(s.by.count("flip length"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_to_the_server_dropped_reordered_or_shortened_is_refused_and_nothing_after_is_delivered(
) {
    let mut s = Scene::new().await;
    for attack in [Attack::Drop, Attack::Reorder, Attack::Shorten] {
        let (one, two) = (format!("{attack:?} one"), format!("{attack:?} two"));
        let (_, line) = s.attack_to_server(attack, &[&one, &two]).await;
        assert!(line.contains(BAD_TAG), "{attack:?}: {line}");
        assert_eq!(
            (s.by.count(&one), s.by.count(&two)),
            (0, 0),
            "{attack:?}: {:?}",
            s.by.dave_heard
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_to_the_server_replayed_is_delivered_once_and_closes_the_session() {
    let mut s = Scene::new().await;
    let (_, line) = s.attack_to_server(Attack::Duplicate, &["said once"]).await;
    assert!(line.contains(BAD_TAG), "{line}");
    assert_eq!(s.by.count("said once"), 1, "{:?}", s.by.dave_heard);

    // Alice's CLIENT_HELLO (her first record) injected again later.
    let proxy = RecordProxy::start(s.server.addr);
    let alice = s.alice(proxy.addr).await;
    proxy.inject(Dir::ToServer, &proxy.record(Dir::ToServer, 0));
    let line = s.disconnect_line(proxy.upstream_local()).await;
    assert!(line.contains(BAD_TAG), "{line}");
    let ended = alice.ended().await;
    assert_eq!(ended.code, exit::CONNECTION, "{ended:?}");
    s.by.chat("after the replayed hello").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_forged_toward_the_server_closes_that_session_and_others_carry_on() {
    let mut s = Scene::new().await;
    let proxy = RecordProxy::start(s.server.addr);
    let alice = s.alice(proxy.addr).await;
    let before = proxy.quiet(Dir::ToClient).await;
    let mut forged = 80u16.to_be_bytes().to_vec();
    forged.extend((0..80u8).map(|i| i.wrapping_mul(37)));
    proxy.inject(Dir::ToServer, &forged);
    s.by.chat("during the forgery").await;
    let line = s.disconnect_line(proxy.upstream_local()).await;
    assert!(line.contains(BAD_TAG), "{line}");
    let ended = alice.ended().await;
    assert_eq!(ended.code, exit::CONNECTION, "{ended:?}");
    assert_eq!(
        proxy.forwarded(Dir::ToClient),
        before,
        "the server sent nothing"
    );
    s.by.chat("after the forgery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_to_the_server_cut_short_is_a_lost_connection_and_delivers_nothing() {
    let mut s = Scene::new().await;
    let (_, line) = s.attack_to_server(Attack::Cut, &["cut in half"]).await;
    assert!(line.contains("connection lost"), "{line}");
    assert_eq!(s.by.count("cut in half"), 0);
}

// ---------------------------------------------------------------------------
// Slow delivery is not an attack: everything still works.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_delivered_one_byte_at_a_time_both_ways_works() {
    let mut s = Scene::new().await;
    let proxy = RecordProxy::byte_by_byte(s.server.addr, Duration::from_millis(1));
    let mut alice = s.alice(proxy.addr).await;
    alice.send("typed slowly").await;
    s.by.dave_hears("alice", "typed slowly").await;
    s.bob.say("#lobby", "answered slowly").await;
    alice
        .wait_for("bob's answer", |v| {
            v["type"] == "message" && v["text"] == "answered slowly"
        })
        .await;
    s.by.chat("after the slow session").await;
    assert!(
        proxy.forwarded(Dir::ToClient) > 2072 && proxy.forwarded(Dir::ToServer) > 1032,
        "every byte went through the proxy"
    );
}

// ---------------------------------------------------------------------------
// Substituted Diffie-Hellman values.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substituted_dh_values_are_caught_by_the_pinned_key_and_nothing_is_sent() {
    let mut s = Scene::new().await;
    let mitm = dh::DhMitm::start(s.server.addr, s.server.key);
    let key = s.server.key.to_string();
    let mut alice = Batch::spawn(
        mitm.addr,
        &s.dir.path().join("known_hosts"),
        &["--nick", "alice", "--server-key", &key],
    );
    alice.send("for the server only").await;
    let ended = alice.ended().await;
    assert_eq!(ended.code, exit::TRUST, "{ended:?}");
    assert!(ended.events.is_empty(), "nothing printed: {ended:?}");
    assert!(
        ended.stderr.contains(&key) && ended.stderr.contains(&mitm.key.to_string()),
        "names the pinned and the received key: {}",
        ended.stderr
    );
    assert!(mitm.wait_done(STEP), "the attacker is still waiting");
    let seen = mitm.snapshot();
    assert!(seen.client_key, "the handshake reached the attacker");
    assert_eq!(
        seen.client_records, 0,
        "a record was sent to the attacker: {seen:?}"
    );
    s.by.lobby_marker("after the substitution").await;
    assert_eq!(s.by.count("for the server only"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substituted_dh_values_are_caught_by_a_known_hosts_entry() {
    let s = Scene::new().await;
    let mitm = dh::DhMitm::start(s.server.addr, s.server.key);
    let kh = s.dir.path().join("known_hosts");
    // The user recorded the real key for the address the attacker answers on.
    std::fs::write(&kh, format!("{} {}\n", mitm.addr, s.server.key)).expect("write");
    let mut alice = Batch::spawn(mitm.addr, &kh, &["--nick", "alice", "--accept-new"]);
    alice.send("for the server only").await;
    let ended = alice.ended().await;
    assert_eq!(ended.code, exit::TRUST, "{ended:?}");
    assert!(ended.stderr.contains("line 1"), "{}", ended.stderr);
    assert!(mitm.wait_done(STEP));
    assert_eq!(mitm.snapshot().client_records, 0);
    assert_eq!(
        std::fs::read_to_string(&kh).expect("read"),
        format!("{} {}\n", mitm.addr, s.server.key),
        "--accept-new never replaces a recorded key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_pin_a_first_contact_man_in_the_middle_is_shown_only_by_the_fingerprint() {
    let mut s = Scene::new().await;
    let mitm = dh::DhMitm::start(s.server.addr, s.server.key);
    let kh = s.dir.path().join("known_hosts");
    let mut alice = Batch::spawn(mitm.addr, &kh, &["--nick", "alice", "--accept-new"]);
    let welcome = alice.welcome().await;
    // Trust on first use accepted the attacker's key: the documented limit.
    assert_eq!(welcome["server_key"], mitm.key.to_string());
    alice.send("read by the attacker").await;
    // Relayed to the room, and read on the way.
    s.by.dave_hears("alice", "read by the attacker").await;
    assert_eq!(mitm.snapshot().texts, ["read by the attacker"]);
    // The fingerprints differ: the user's and the server's operator's
    // comparison shows the attack.
    let fingerprint = welcome["fingerprint"].as_str().expect("fingerprint");
    let log = s.server.log_text();
    let logged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("handshake complete"))
        .filter_map(|l| l.split("fingerprint=").nth(1))
        .filter_map(|f| f.split_whitespace().next())
        .collect();
    assert!(
        logged.len() >= 3,
        "bob, carol, dave, and the attacker: {log}"
    );
    assert!(
        !logged.contains(&fingerprint),
        "the victim's fingerprint {fingerprint} matches a server session: {logged:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn substituted_dh_values_are_caught_by_the_firmware_pin() {
    use firmware_support::{code, config, run_session};
    let server = TestServer::start(&["--group", "ffdhe2048"]);
    let mitm = dh::DhMitm::start(server.addr, server.key);
    let conf = config(&server.key, &[("send", "must not be sent")]);
    let run = run_session(mitm.addr.port(), &conf).await;
    assert_eq!(run.code, code::PIN_MISMATCH, "{}", run.stdout);
    assert!(run.diagnosis().contains("pin-mismatch"), "{}", run.stdout);
    assert!(
        run.diagnosis().contains(&mitm.key.to_string()),
        "names the attacker's key: {}",
        run.stdout
    );
    assert!(mitm.wait_done(STEP));
    let seen = mitm.snapshot();
    assert!(seen.client_key);
    assert_eq!(
        seen.client_records, 0,
        "the firmware sent a record: {seen:?}"
    );
}

// ---------------------------------------------------------------------------
// A malicious peer's text in batch JSON.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_invisible_and_backslash_text_from_a_peer_reaches_batch_json_escaped_and_exact(
) {
    let mut s = Scene::new().await;
    let mut alice = s.alice(s.server.addr).await;
    let texts = [
        "invoice\u{202e}fdp.exe",
        "a\u{200b}b\u{200d}c\u{feff}d\u{2066}e\u{2069}",
        "line\u{2028}sep and tag\u{e0041}",
        "typed \\u{202e} and \\x1b[2J and \\\\",
    ];
    for text in texts {
        s.bob.say("#lobby", text).await;
    }
    for text in texts {
        alice
            .wait_for("the peer's text", |v| {
                v["type"] == "message" && v["text"] == text
            })
            .await;
    }
    alice.send("/quit").await;
    let ended = alice.ended().await;
    assert_eq!(ended.code, 0, "{ended:?}");
    // The raw lines: no hidden character, every one escaped; a peer's
    // backslash doubled by JSON, so its `\u{202e}` is not an escape.
    let raw: Vec<&String> = ended
        .raw
        .iter()
        .filter(|l| l.contains(r#""type":"message""#))
        .collect();
    assert_eq!(raw.len(), texts.len(), "{:?}", ended.raw);
    for line in &raw {
        assert!(
            !line.chars().any(dhchat_core::names::is_escaped_char),
            "a hidden character reached the output: {line:?}"
        );
    }
    let joined = ended.raw.join("\n");
    assert!(
        joined.contains(r#""text":"invoice\u202efdp.exe""#),
        "{joined}"
    );
    assert!(
        joined.contains(r#""text":"a\u200bb\u200dc\ufeffd\u2066e\u2069""#),
        "{joined}"
    );
    assert!(
        joined.contains(r#"line\u2028sep and tag\udb40\udc41"#),
        "{joined}"
    );
    assert!(
        joined.contains(r#""text":"typed \\u{202e} and \\x1b[2J and \\\\""#),
        "{joined}"
    );
}
