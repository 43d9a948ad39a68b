//! Start-up refusals and file modes: a data directory others can access, a
//! WELCOME that cannot fit, the database files' mode whatever the umask.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::common::{connect, TestServer};
use crate::support::{live_msg, msg};

fn server_exit(args: &[&str], data: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dhchat-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_data_directory_others_can_read_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, err) = server_exit(&[], dir.path());
    assert_ne!(code, Some(0));
    assert!(err.contains("chmod 700"), "{err}");
    assert!(
        !dir.path().join("server.key").exists(),
        "nothing written to it"
    );
}

#[test]
fn a_motd_or_name_that_cannot_fit_welcome_stops_the_server_with_exit_2_naming_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let motd = "m".repeat(4061);
    let (code, err) = server_exit(&["--motd", &motd], &data);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--motd") && err.contains("4060"), "{err}");
    let name = "n".repeat(256);
    let (code, err) = server_exit(&["--name", &name], &data);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--name") && err.contains("255"), "{err}");
    assert!(!data.exists(), "refused before touching the data directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_motd_that_fits_is_welcomed_with_the_longest_nick() {
    let motd = "m".repeat(4060 - "dhchat".len());
    let server = TestServer::start(&["--group", "ffdhe2048", "--motd", &motd]);
    let long = "x".repeat(32);
    let mut a = connect(&server, &long).await;
    let mut b = connect(&server, "b").await;
    a.say("#lobby", "fits").await;
    assert_eq!(live_msg(&mut b).await, msg(&long, "#lobby", "fits"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_database_and_its_wal_and_shm_are_0600_even_with_umask_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 0; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_dhchat-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--group",
            "ffdhe2048",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr: std::net::SocketAddr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| {
            l.strip_prefix("listening on ")
                .map(|a| a.parse().expect("addr"))
        })
        .expect("listening line");
    let key = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| {
            l.strip_prefix("server key ")
                .map(|k| k.parse().expect("key"))
        })
        .expect("key line");
    let mut a = crate::common::try_connect(addr, key, "a", None)
        .await
        .expect("connect");
    let mut b = crate::common::try_connect(addr, key, "b", None)
        .await
        .expect("connect");
    a.say("#lobby", "stored").await;
    assert_eq!(live_msg(&mut b).await, msg("a", "#lobby", "stored"));
    let modes: Vec<(String, u32)> = [
        "history.sqlite3",
        "history.sqlite3-wal",
        "history.sqlite3-shm",
    ]
    .iter()
    .map(|f| {
        let mode = std::fs::metadata(data.join(f))
            .expect(f)
            .permissions()
            .mode();
        (f.to_string(), mode & 0o777)
    })
    .collect();
    let _ = child.kill();
    let _ = child.wait();
    for (f, mode) in modes {
        assert_eq!(mode, 0o600, "{f} is {mode:o}");
    }
}
