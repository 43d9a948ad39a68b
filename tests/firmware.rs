//! End-to-end tests of `firmware-sim/`: the dhchat firmware for QEMU's
//! lm3s6965evb, built in release (its size profile) with a nested
//! `cargo build`, chatting over its UART with a real `dhchat-server` (QEMU's
//! `-serial tcp:` connects the UART to the server's port).
//!
//! Every QEMU run has a timeout and is killed when its handle drops, pass or
//! fail. Needs `qemu-system-arm` and the `thumbv7m-none-eabi` rustup target.
//!
//! The footprint report (`firmware-sim/footprint.sh`) shares this harness
//! (`tests/firmware_support/`) and is a separate, non-default target.

mod common;
mod firmware_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use common::TestServer;
use dhchat_core::connection::ServerConnection;
use dhchat_core::group::Group;
use dhchat_core::handshake::SERVER_HELLO_LEN;
use dhchat_core::identity::IdentityKey;
use dhchat_core::message::Message;
use dhchat_core::record::MAX_RECORD;
use dhchat_host::rng::new_rng;
use firmware_support::*;

/// The firmware's line reaches a host client and the host's reply reaches
/// the firmware, through a real server using `group`.
async fn chat(group: &str, room: &str) -> Run {
    let server = TestServer::start(&["--group", group]);
    let mut host = common::connect(&server, "host").await;
    if room != "#lobby" {
        host.send(&Message::Join { room }).await;
    }
    let conf = config(
        &server.key,
        &[
            ("nick", "device"),
            ("room", room),
            ("send", "hello from the device"),
            ("expect", "hello device"),
            ("timeout_ms", "60000"),
        ],
    );
    let elf = firmware_for(group.parse().expect("a group name")).join("dhchat-fw");
    let qemu = Qemu::start(&elf, Some(server.addr.port()), &conf, &[]);
    let end = Instant::now() + QEMU_LIMIT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match host.try_recv(left).await {
            Some(Ok(got)) if matches!(got.message(), Message::Message(m) if m.text == "hello from the device") =>
            {
                if let Message::Message(m) = got.message() {
                    assert!(m.from.starts_with("device"), "from {}", m.from);
                    assert_eq!(m.room, room);
                }
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("host client: {e}"),
            None => panic!(
                "the firmware's message did not arrive; server log:\n{}",
                server.log_text()
            ),
        }
    }
    host.say(room, "hello device").await;
    let run = wait_qemu(qemu).await;
    eprintln!("{group}: {}", run.diagnosis());
    assert_eq!(
        run.code,
        code::OK,
        "firmware failed: {}\nserver log:\n{}",
        run.stdout,
        server.log_text()
    );
    assert!(
        run.diagnosis().starts_with("dhchat-fw: ok"),
        "{}",
        run.stdout
    );
    assert!(run.diagnosis().contains(group), "{}", run.stdout);
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn firmware_chats_with_server_ffdhe2048() {
    let run = chat("ffdhe2048", "#lobby").await;
    assert!(run.stack_peak() <= STACK_BUDGET, "{}", run.stdout);
}

/// ffdhe3072 is not in the session firmware (ffdhe2048 only): this runs the
/// build with every group.
#[tokio::test(flavor = "multi_thread")]
async fn firmware_chats_with_server_ffdhe3072_in_a_room() {
    let run = chat("ffdhe3072", "#firmware").await;
    assert!(run.stack_peak() <= STACK_BUDGET, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn firmware_refuses_a_server_with_another_key() {
    let server = TestServer::start(&["--group", "ffdhe2048"]);
    let other = IdentityKey::generate(&mut new_rng()).public_key();
    let conf = config(&other, &[("send", "must not be sent")]);
    let run = run_session(server.addr.port(), &conf).await;
    assert_eq!(run.code, code::PIN_MISMATCH, "{}", run.stdout);
    assert!(run.diagnosis().contains("pin-mismatch"), "{}", run.stdout);
    assert!(
        run.diagnosis().contains(&server.key.to_string()),
        "{}",
        run.stdout
    );
}

/// Forwards one connection from QEMU to `server`, flipping one bit in the
/// ciphertext of the server's record number `flip` (0: SERVER_AUTH, 1:
/// WELCOME); returns the port QEMU connects to.
fn bit_flip_proxy(server: std::net::SocketAddr, flip: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((device, _)) = listener.accept() else {
            return;
        };
        let Ok(upstream) = TcpStream::connect(server) else {
            return;
        };
        let (mut d_in, mut u_out) = (
            device.try_clone().expect("clone"),
            upstream.try_clone().expect("clone"),
        );
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut d_in, &mut u_out);
        });
        let (mut up, mut down) = (upstream, device);
        let mut hello = vec![0u8; SERVER_HELLO_LEN];
        if up.read_exact(&mut hello).is_err() || down.write_all(&hello).is_err() {
            return;
        }
        for i in 0.. {
            let mut header = [0u8; 2];
            if up.read_exact(&mut header).is_err() {
                return;
            }
            let mut body = vec![0u8; u16::from_be_bytes(header) as usize];
            if up.read_exact(&mut body).is_err() {
                return;
            }
            if i == flip {
                let at = body.len() - 33; // last ciphertext byte, before the tag
                body[at] ^= 0x01;
            }
            if down.write_all(&header).is_err() || down.write_all(&body).is_err() {
                return;
            }
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn firmware_detects_a_tampered_record() {
    let server = TestServer::start(&["--group", "ffdhe2048"]);
    let port = bit_flip_proxy(server.addr, 1);
    let conf = config(&server.key, &[("send", "must not be sent")]);
    let run = run_session(port, &conf).await;
    assert_eq!(run.code, code::RECORD_AUTH, "{}", run.stdout);
    assert!(
        run.diagnosis().contains("record authentication failed"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn firmware_times_out_waiting_for_a_text() {
    let server = TestServer::start(&["--group", "ffdhe2048"]);
    let conf = config(
        &server.key,
        &[("expect", "never sent"), ("timeout_ms", "2000")],
    );
    let run = run_session(server.addr.port(), &conf).await;
    assert_eq!(run.code, code::TIMEOUT, "{}", run.stdout);
    assert!(run.diagnosis().contains("timeout"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn firmware_reports_a_server_refusal() {
    // A direct message to a nick nobody has: the server answers ERROR 6.
    let server = TestServer::start(&["--group", "ffdhe2048"]);
    let conf = config(
        &server.key,
        &[("room", "@nobody"), ("send", "hello?"), ("expect", "never")],
    );
    let run = run_session(server.addr.port(), &conf).await;
    assert_eq!(run.code, code::REFUSED, "{}", run.stdout);
    assert!(run.diagnosis().contains("ERROR 6"), "{}", run.stdout);
}
#[test]
fn firmware_chats_with_the_core_server_handshake() {
    for group in [Group::Ffdhe2048, Group::Ffdhe3072] {
        session_with_core_peer(group);
    }
}

/// The session firmware (ffdhe2048 only) fits 64 KiB of flash; a full keyed
/// session's peak stack fits 32 KiB on every group (the larger groups on the
/// build that has them).
#[test]
fn firmware_budgets() {
    let (flash, ram) = flash_and_ram(&firmware().join("dhchat-fw"));
    eprintln!("flash {flash} bytes, static RAM {ram} bytes");
    assert!(
        flash <= FLASH_BUDGET,
        "flash {flash} bytes > {FLASH_BUDGET}"
    );
    // ffdhe4096 is the worst case a firmware with every group accepts.
    for group in Group::ALL {
        let peak = session_with_core_peer(group).stack_peak();
        eprintln!("{group:?}: stack peak {peak} bytes");
        assert!(
            peak <= STACK_BUDGET,
            "{group:?}: stack peak {peak} bytes > {STACK_BUDGET}"
        );
    }
}

#[test]
fn instruction_counts_are_deterministic_under_icount() {
    let (ci1, ct1, first, _) = bench(firmware_all_groups());
    let (ci2, ct2, second, _) = bench(firmware_all_groups());
    assert_eq!((ci1, ct1), (ci2, ct2), "calibration differs between runs");
    assert_eq!(
        first, second,
        "-icount instruction counts differ between two runs"
    );
    let keygen: Vec<u64> = first.iter().map(|(_, [k, ..])| *k).collect();
    assert_eq!(keygen.len(), 3, "one line per group: {first:?}");
    assert!(
        keygen[0] > 0 && keygen[0] < keygen[1] && keygen[1] < keygen[2],
        "{first:?}"
    );
}

/// The device's side of an ffdhe2048 handshake (key generation and shared
/// value, counted under `-icount` on the session firmware's build) takes
/// fewer than 40 million instructions.
#[test]
fn the_device_handshake_on_ffdhe2048_takes_under_40_million_instructions() {
    let (insns, ticks, groups, _) = bench(firmware());
    let names: Vec<&str> = groups.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["ffdhe2048"], "the session build has ffdhe2048 only");
    let [keygen, shared, ..] = groups[0].1;
    // Ticks to instructions, rounded up: the count is never understated.
    let handshake = ((keygen + shared) * insns).div_ceil(ticks);
    eprintln!("ffdhe2048 device handshake: {handshake} instructions");
    assert!(
        handshake < HANDSHAKE_INSTRUCTION_BUDGET,
        "{handshake} instructions >= {HANDSHAKE_INSTRUCTION_BUDGET}"
    );
}

/// The session firmware is built without ffdhe3072: a server that offers it
/// is refused like any unsupported group (PROTOCOL.md section 6: close the
/// connection, send nothing), with a protocol failure that names the groups
/// the firmware has and says how to match the server.
#[test]
fn a_firmware_built_with_ffdhe2048_only_refuses_a_server_offering_ffdhe3072() {
    let server_key = IdentityKey::generate(&mut new_rng()).public_key();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut device, _) = listener.accept().expect("accept");
        let mut tx = vec![0u8; MAX_RECORD];
        let (_, n) = ServerConnection::start(Group::Ffdhe3072, &mut new_rng(), &mut tx)
            .expect("server start");
        device
            .write_all(&tx[..n])
            .expect("send MAGIC and the DH message");
        // Everything the device sends until it closes the connection.
        let mut got = Vec::new();
        let _ = device.read_to_end(&mut got);
        got
    });
    let conf = config(&server_key, &[("send", "must not be sent")]);
    let run = Qemu::start(&firmware().join("dhchat-fw"), Some(port), &conf, &[]).wait(QEMU_LIMIT);
    let sent = server.join().expect("server thread");
    assert_eq!(run.code, code::PROTOCOL, "{}", run.stdout);
    let diagnosis = run.diagnosis();
    assert!(
        diagnosis.contains("DH group that is not ffdhe2048 with generator 2"),
        "{}",
        run.stdout
    );
    assert!(
        diagnosis.contains("--features ffdhe3072") && diagnosis.contains("--group ffdhe2048"),
        "the diagnosis says how to fix it: {}",
        run.stdout
    );
    assert!(
        sent.is_empty(),
        "the device sent {} bytes after an unknown group",
        sent.len()
    );
}

/// The `identity` line of a firmware configuration for `key` (the same text
/// as a `dhchat-client keygen` key file).
fn identity_line(key: &IdentityKey) -> String {
    format!("ed25519-seed:{}", hex::encode(&key.to_seed()[..]))
}

/// A device with an identity seed in its configuration owns its nick as an
/// account: its line reaches a host client with the account flag (MESSAGE
/// flags bit 2) from the nick it asked for, and an anonymous host client
/// asking for that nick afterwards gets a variant.
#[tokio::test(flavor = "multi_thread")]
async fn a_firmware_with_an_identity_seed_owns_its_nick_as_an_account() {
    let server = TestServer::start(&["--group", "ffdhe2048"]);
    let mut host = common::connect(&server, "host").await;
    let device = IdentityKey::generate(&mut new_rng());
    let conf = config(
        &server.key,
        &[
            ("nick", "sensor7"),
            ("identity", &identity_line(&device)),
            ("send", "reading from the device"),
            ("timeout_ms", "60000"),
        ],
    );
    let run = run_session(server.addr.port(), &conf).await;
    assert_eq!(
        run.code,
        code::OK,
        "firmware failed: {}\nserver log:\n{}",
        run.stdout,
        server.log_text()
    );
    let seed_hex = hex::encode(&device.to_seed()[..]);
    assert!(
        !run.stdout.contains(&seed_hex) && !server.log_text().contains(&seed_hex),
        "the seed was printed: {}",
        run.stdout
    );
    assert!(
        run.diagnosis().contains(&device.public_key().to_string()),
        "the diagnosis names the device's public key: {}",
        run.stdout
    );
    let end = Instant::now() + QEMU_LIMIT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let got = tokio::time::timeout(left, host.conn.recv())
            .await
            .expect("the firmware's message did not arrive")
            .expect("host client");
        if let Message::Message(m) = got {
            if m.text == "reading from the device" {
                assert_eq!(m.from, "sensor7");
                assert!(m.account, "MESSAGE flags bit 2 (account) is set");
                assert!(!m.history && !m.legacy);
                break;
            }
        }
    }
    let anonymous = common::connect(&server, "sensor7").await;
    assert_ne!(
        anonymous.nick.to_lowercase(),
        "sensor7",
        "an anonymous client must get a variant of the device's nick"
    );
}

/// A malformed identity seed is a configuration error (exit 2) whose
/// message does not repeat the value, and nothing is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_firmware_with_a_malformed_identity_seed_stops_with_a_configuration_error() {
    let server = TestServer::start(&["--group", "ffdhe2048"]);
    let bad = format!("ed25519-seed:{}zz", "ab".repeat(31));
    let conf = config(
        &server.key,
        &[("identity", &bad), ("send", "must not be sent")],
    );
    let run = run_session(server.addr.port(), &conf).await;
    assert_eq!(run.code, code::CONFIG, "{}", run.stdout);
    assert!(run.diagnosis().contains("identity"), "{}", run.stdout);
    assert!(!run.stdout.contains(&"ab".repeat(31)), "{}", run.stdout);
}
