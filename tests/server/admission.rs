//! Admission: the identity key file and the authorized-keys list.

use dhchat_core::driver::DriverError;
use dhchat_core::error::Error;
use dhchat_core::identity::IdentityKey;
use dhchat_host::rng::new_rng;

use crate::common::{try_connect, TestServer};
use crate::support::{args, msg, wait_for_log, FAST};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_readable_by_others_stops_the_server_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    drop(TestServer::start_in(dir.path(), FAST));
    let key = dir.path().join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorized_keys_admit_listed_clients_and_refuse_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listed = IdentityKey::generate(&mut new_rng());
    let other = IdentityKey::generate(&mut new_rng());
    let file = dir.path().join("authorized_keys");
    std::fs::write(&file, format!("# team\n\n{} alice\n", listed.public_key())).expect("write");

    // A bad line refuses the start, naming the line.
    let bad = dir.path().join("bad_keys");
    std::fs::write(&bad, "# ok\nssh-rsa AAAA nope\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data-bad"))
        .arg("--authorized-keys")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));

    let data = dir.path().join("data");
    let file_arg = file.to_str().expect("utf8");
    let server = TestServer::start_in(&data, &args(&["--authorized-keys", file_arg]));
    let mut alice = try_connect(server.addr, server.key, "alice", Some(&listed))
        .await
        .expect("listed key admitted");
    for (identity, what) in [(Some(&other), "unlisted key"), (None, "anonymous")] {
        match try_connect(server.addr, server.key, "mallory", identity).await {
            Err(DriverError::Protocol(Error::RefusedByServer { code, .. })) => {
                assert_eq!(code, 3, "{what}")
            }
            Err(e) => panic!("{what}: unexpected error {e}"),
            Ok(_) => panic!("{what} was admitted"),
        }
    }
    // SIGHUP re-reads the file.
    std::fs::write(
        &file,
        format!(
            "{} alice\n{} bob\n",
            listed.public_key(),
            other.public_key()
        ),
    )
    .expect("write");
    server.signal(1);
    wait_for_log(&server, "authorized keys reloaded").await;
    let mut bob = try_connect(server.addr, server.key, "bob", Some(&other))
        .await
        .expect("admitted after reload");
    // A broken file on reload keeps the old list.
    std::fs::write(&file, "garbage\n").expect("write");
    server.signal(1);
    wait_for_log(&server, "keeping the old list").await;
    let _again = try_connect(server.addr, server.key, "bob2", Some(&other))
        .await
        .expect("old list kept");
    bob.say("#lobby", "in").await;
    assert_eq!(alice.recv_msg().await, msg("bob", "#lobby", "in"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_removed_on_sighup_gets_error_3_and_close_within_a_second_and_others_stay() {
    use dhchat_core::message::Message;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("tempdir");
    let alice_key = IdentityKey::generate(&mut new_rng());
    let bob_key = IdentityKey::generate(&mut new_rng());
    let file = dir.path().join("authorized_keys");
    let both = format!(
        "{} alice\n{} bob\n",
        alice_key.public_key(),
        bob_key.public_key()
    );
    std::fs::write(&file, both).expect("write");
    let data = dir.path().join("data");
    let file_arg = file.to_str().expect("utf8");
    let server = TestServer::start_in(&data, &args(&["--authorized-keys", file_arg]));
    let mut alice = try_connect(server.addr, server.key, "alice", Some(&alice_key))
        .await
        .expect("alice");
    let mut bob = try_connect(server.addr, server.key, "bob", Some(&bob_key))
        .await
        .expect("bob");
    std::fs::write(&file, format!("{} alice\n", alice_key.public_key())).expect("write");
    let signalled = Instant::now();
    server.signal(1);
    let mut got_error = false;
    loop {
        match bob.try_recv(Duration::from_secs(5)).await {
            Some(Ok(got)) if matches!(got.message(), Message::Error { .. }) => {
                assert!(
                    matches!(got.message(), Message::Error { code: 3, .. }),
                    "{got:?}"
                );
                got_error = true;
            }
            Some(Ok(got)) if matches!(got.message(), Message::Close { .. }) => break,
            Some(Err(_)) => break,
            Some(Ok(_)) => continue,
            None => panic!("bob's session was not ended"),
        }
    }
    let took = signalled.elapsed();
    assert!(got_error, "no ERROR 3 before the end");
    assert!(took < Duration::from_secs(1), "ended after {took:?}");
    wait_for_log(&server, "key no longer authorized").await;
    let mut carol = try_connect(server.addr, server.key, "carol", Some(&alice_key))
        .await
        .expect("alice's key still admitted");
    carol.say("#lobby", "still here").await;
    assert_eq!(alice.recv_msg().await, msg("carol", "#lobby", "still here"));
}
