//! The firmware harness shared by the firmware tests (`tests/firmware.rs`)
//! and the footprint report (`tests/footprint.rs`): the nested release build,
//! QEMU runs with a timeout and kill on drop, a small server on the core's
//! own handshake, ELF section sizes, and the `-icount` bench.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dhchat_core::connection::{ServerConnection, ServerEvent};
use dhchat_core::dh::LEN_PK;
use dhchat_core::group::Group;
use dhchat_core::handshake::AdmitAll;
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::message::{ChatMessage, Message};
use dhchat_core::record::MAX_RECORD;
use dhchat_host::rng::new_rng;

/// The firmware's exit codes (firmware-sim/src/exit.rs).
pub mod code {
    pub const OK: i32 = 0;
    pub const CONFIG: i32 = 2;
    pub const PIN_MISMATCH: i32 = 3;
    pub const RECORD_AUTH: i32 = 4;
    pub const TIMEOUT: i32 = 5;
    pub const REFUSED: i32 = 6;
    pub const PROTOCOL: i32 = 8;
}

/// How long one QEMU run may take before it is killed and the test fails.
pub const QEMU_LIMIT: Duration = Duration::from_secs(180);
/// Budgets (issue 11): the session firmware's flash image at most 64 KiB, a
/// session's peak stack at most 32 KiB, and the ffdhe2048 device handshake
/// (client key generation + shared value) under 40 million instructions.
pub const FLASH_BUDGET: u64 = 64 * 1024;
pub const STACK_BUDGET: u64 = 32 * 1024;
pub const HANDSHAKE_INSTRUCTION_BUDGET: u64 = 40_000_000;

/// The cargo features of the firmware build with every DH group (the default
/// build, the one the flash budget measures, has ffdhe2048 only).
pub const ALL_GROUPS_FEATURES: &str = "ffdhe3072,ffdhe4096";

pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-sim")
}

/// Builds the session firmware (its default features: ffdhe2048 only) once
/// per test process (release: the size profile; the debug build is too slow
/// for the handshake) and returns its ELF directory.
pub fn firmware() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_firmware(None, "target"))
}

/// Builds the firmware with every DH group ([`ALL_GROUPS_FEATURES`]) once per
/// test process, in a target directory of its own, and returns its ELF
/// directory.
pub fn firmware_all_groups() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_firmware(Some(ALL_GROUPS_FEATURES), "target/all-groups"))
}

/// The ELF directory of a firmware that has `group`: the session firmware for
/// ffdhe2048, the all-groups build for the others.
pub fn firmware_for(group: Group) -> &'static Path {
    if group == Group::Ffdhe2048 {
        firmware()
    } else {
        firmware_all_groups()
    }
}

/// `cargo build --release` of firmware-sim with `features` (none: the
/// defaults) into `firmware-sim/<target>`; returns the ELF directory.
fn build_firmware(features: Option<&str>, target: &str) -> PathBuf {
    let dir = firmware_dir();
    let target_dir = dir.join(target);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"));
    if let Some(features) = features {
        cmd.arg("--features").arg(features);
    }
    // Nothing of the outer `cargo test` may leak into the nested build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("__CARGO")
            || k == "RUSTFLAGS"
            || k == "RUSTDOCFLAGS"
            || k == "RUSTC_WORKSPACE_WRAPPER"
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("CARGO_TARGET_DIR", &target_dir).current_dir(&dir);
    let status = cmd.status().expect("run cargo build for firmware-sim");
    assert!(
        status.success(),
        "building firmware-sim failed (needs `rustup target add thumbv7m-none-eabi`)"
    );
    target_dir.join("thumbv7m-none-eabi/release")
}

/// A QEMU process running one firmware; killed when dropped.
pub struct Qemu {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

/// How a firmware run ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
}

impl Run {
    /// The firmware's diagnosis line.
    pub fn diagnosis(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("dhchat-fw: "))
            .unwrap_or("")
    }

    /// The stack high-water mark from the success line.
    pub fn stack_peak(&self) -> u64 {
        let d = self.diagnosis();
        let rest = d
            .split("stack peak ")
            .nth(1)
            .unwrap_or_else(|| panic!("no stack peak in {d:?}"));
        rest.split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("stack peak number")
    }
}

impl Qemu {
    /// Boots `elf` with its UART connected to 127.0.0.1:`port` (`None`: not
    /// connected) and `config` as its configuration file.
    pub fn start(elf: &Path, port: Option<u16>, config: &str, extra: &[&str]) -> Qemu {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("dhchat-fw.conf");
        std::fs::write(&conf, config).expect("write config");
        let serial = match port {
            Some(p) => format!("tcp:127.0.0.1:{p},nodelay=on"),
            None => "null".into(),
        };
        let mut child = Command::new("qemu-system-arm")
            .args(["-cpu", "cortex-m3", "-machine", "lm3s6965evb"])
            .args(["-display", "none", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .args(["-serial", &serial])
            .args(extra)
            .arg("-kernel")
            .arg(elf)
            .arg("-append")
            .arg(&conf)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start qemu-system-arm (install it: apt-get install qemu-system-arm)");
        let out = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let lines = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        });
        Qemu {
            child,
            out,
            _dir: dir,
        }
    }

    /// Waits for the exit (failing the test after `limit`, QEMU killed).
    pub fn wait(mut self, limit: Duration) -> Run {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread drain the pipe.
                std::thread::sleep(Duration::from_millis(100));
                let stdout = self.out.lock().expect("lines").join("\n");
                let code = status.code().unwrap_or(-1);
                return Run { code, stdout };
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "QEMU still running after {limit:?}; output: {:?}",
                    self.out.lock()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the session firmware against `port` with configuration `conf` and
/// waits for it to exit (killed at [`QEMU_LIMIT`]).
pub async fn run_session(port: u16, conf: &str) -> Run {
    let qemu = Qemu::start(&firmware().join("dhchat-fw"), Some(port), conf, &[]);
    wait_qemu(qemu).await
}

/// Waits in a blocking thread for QEMU to exit.
pub async fn wait_qemu(qemu: Qemu) -> Run {
    tokio::task::spawn_blocking(move || qemu.wait(QEMU_LIMIT))
        .await
        .expect("join")
}

pub fn config(pin: &PublicKey, lines: &[(&str, &str)]) -> String {
    let mut s = format!("pin {pin}\n");
    for (k, v) in lines {
        s.push_str(&format!("{k} {v}\n"));
    }
    s
}

/// A minimal server on the core's sans-io handshake (independent of
/// `dhchat-server`): accepts one client on `group`, answers each SAY with a
/// MESSAGE `echo: <text>`, and stops at CLOSE. Returns the port.
pub fn core_peer(group: Group, identity: IdentityKey) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut rng = new_rng();
        let mut tx = vec![0u8; MAX_RECORD];
        let mut rx = vec![0u8; MAX_RECORD];
        let (mut conn, n) = ServerConnection::start(group, &mut rng, &mut tx).expect("start");
        s.write_all(&tx[..n]).expect("write");
        loop {
            let n = match s.read(conn.space(&mut rx)) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let echo = match conn.received(n, &mut rx, &mut AdmitAll, &mut rng, &mut tx) {
                Ok(ServerEvent::NeedBytes) => continue,
                Ok(ServerEvent::Compute(step)) => {
                    let (done, n) = step
                        .run(&rx[..LEN_PK], &identity, &mut rng, &mut tx)
                        .expect("key");
                    s.write_all(&tx[..n]).expect("write");
                    conn.resume(done);
                    continue;
                }
                Ok(ServerEvent::Hello(_)) => {
                    let n = conn
                        .welcome("device", "core-peer", "", &mut rng, &mut tx)
                        .expect("welcome");
                    s.write_all(&tx[..n]).expect("write");
                    continue;
                }
                Ok(ServerEvent::Refused { .. }) => panic!("refused"),
                Ok(ServerEvent::Received(r)) => match r.message {
                    Ok(Message::Say { room, text }) => format!("{room}\n{text}"),
                    Ok(Message::Close { .. }) | Err(_) => return,
                    Ok(_) => continue,
                },
                Err(_) => return,
            };
            let (room, text) = echo.split_once('\n').expect("split");
            let text = format!("echo: {text}");
            let msg = ChatMessage {
                time_ms: 0,
                history: false,
                legacy: false,
                account: false,
                from: "peer",
                room,
                text: &text,
            };
            let n = conn
                .sender()
                .expect("established")
                .seal(&Message::Message(msg), &mut rng, &mut tx)
                .expect("seal");
            if s.write_all(&tx[..n]).is_err() {
                return;
            }
        }
    });
    port
}

/// A full session against the core's own server handshake on `group`, the
/// firmware keyed (an `identity` line: the worst case, an Ed25519 signature
/// in CLIENT_HELLO).
pub fn session_with_core_peer(group: Group) -> Run {
    session_with_core_peer_as(group, true)
}

/// A full session against the core's own server handshake on `group`, the
/// firmware keyed or anonymous.
pub fn session_with_core_peer_as(group: Group, keyed: bool) -> Run {
    let identity = IdentityKey::generate(&mut new_rng());
    let key = identity.public_key();
    let port = core_peer(group, identity);
    let device = IdentityKey::generate(&mut new_rng());
    let seed = format!("ed25519-seed:{}", hex::encode(&device.to_seed()[..]));
    let mut lines = vec![
        ("room", "#lobby"),
        ("send", "ping"),
        ("expect", "echo: ping"),
    ];
    if keyed {
        lines.push(("identity", seed.as_str()));
    }
    let conf = config(&key, &lines);
    let elf = firmware_for(group).join("dhchat-fw");
    let run = Qemu::start(&elf, Some(port), &conf, &[]).wait(QEMU_LIMIT);
    assert_eq!(run.code, code::OK, "{group:?}: {}", run.stdout);
    run
}

/// Sizes from the ELF section headers: (name, size, address, allocated,
/// occupies file bytes).
pub fn elf_sections(path: &Path) -> Vec<(String, u64, u64, bool, bool)> {
    let elf = std::fs::read(path).expect("read ELF");
    assert_eq!(&elf[..5], b"\x7fELF\x01", "a 32-bit ELF");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().expect("4")) as u64;
    let (shoff, shentsize, shnum, shstrndx) = (
        u32_at(0x20) as usize,
        u16_at(0x2E),
        u16_at(0x30),
        u16_at(0x32),
    );
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(sh(shstrndx) + 16) as usize;
    (0..shnum)
        .map(|i| {
            let h = sh(i);
            let name_at = strtab + u32_at(h) as usize;
            let end = elf[name_at..].iter().position(|&b| b == 0).expect("name") + name_at;
            let name = String::from_utf8_lossy(&elf[name_at..end]).into_owned();
            let (ty, flags, addr, size) =
                (u32_at(h + 4), u32_at(h + 8), u32_at(h + 12), u32_at(h + 20));
            (name, size, addr, flags & 2 != 0, ty != 8)
        })
        .collect()
}

/// Flash (everything allocated with file contents: vectors, text, rodata,
/// the initial image of .data) and static RAM (allocated in RAM: data, bss).
pub fn flash_and_ram(path: &Path) -> (u64, u64) {
    let secs = elf_sections(path);
    let flash = secs.iter().filter(|s| s.3 && s.4).map(|s| s.1).sum();
    let ram = secs
        .iter()
        .filter(|s| s.3 && s.2 >= 0x2000_0000)
        .map(|s| s.1)
        .sum();
    (flash, ram)
}

/// Runs the footprint bench of the firmware build in `elf_dir` (one line per
/// group it has) under `-icount shift=0`: (calibration instructions,
/// calibration ticks, per group [keygen, shared, seal, open] ticks, bench
/// stack peak).
pub fn bench(elf_dir: &Path) -> (u64, u64, Vec<(String, [u64; 4])>, u64) {
    let run = Qemu::start(
        &elf_dir.join("footprint"),
        None,
        "",
        &["-icount", "shift=0"],
    )
    .wait(QEMU_LIMIT);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let (mut calib, mut groups, mut stack) = ((0, 0), Vec::new(), 0);
    for line in run.stdout.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| w[i].parse::<u64>().expect("number");
        match w.get(1) {
            Some(&"calib") => calib = (num(2), num(3)),
            Some(&"group") => groups.push((w[2].to_string(), [num(4), num(6), num(8), num(10)])),
            Some(&"stack") => stack = num(2),
            _ => {}
        }
    }
    (calib.0, calib.1, groups, stack)
}

/// Measures everything and writes firmware-sim/FOOTPRINT.md (run by
/// firmware-sim/footprint.sh through the `footprint` target).
pub fn write_report() {
    let elf = firmware().join("dhchat-fw");
    let secs = elf_sections(&elf);
    let size = |n: &str| secs.iter().find(|s| s.0 == n).map_or(0, |s| s.1);
    let (flash, ram) = flash_and_ram(&elf);
    let (all_flash, all_ram) = flash_and_ram(&firmware_all_groups().join("dhchat-fw"));
    let peaks: Vec<(Group, u64)> = [Group::Ffdhe2048, Group::Ffdhe3072, Group::Ffdhe4096]
        .into_iter()
        .map(|g| (g, session_with_core_peer(g).stack_peak()))
        .collect();
    let anonymous = session_with_core_peer_as(Group::Ffdhe2048, false).stack_peak();
    let (si, st, session_groups, _) = bench(firmware());
    let (ci, ct, groups, bench_stack) = bench(firmware_all_groups());
    let insns = |t: u64| t * ci / ct;
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut md = String::new();
    md.push_str("# Firmware footprint (firmware-sim, lm3s6965evb, thumbv7m-none-eabi)\n\n");
    md.push_str("Regenerate with `firmware-sim/footprint.sh` (builds the release firmware, runs\n");
    md.push_str(
        "QEMU, rewrites this file). Budgets enforced by `cargo test -p dhchat-host --test\n",
    );
    md.push_str(&format!(
        "firmware`: flash <= {} KiB (`firmware_budgets`), session stack peak <= {} KiB,\n",
        FLASH_BUDGET / 1024,
        STACK_BUDGET / 1024
    ));
    md.push_str(&format!(
        "ffdhe2048 device handshake (key generation + shared value) < {} M instructions.\n\n",
        HANDSHAKE_INSTRUCTION_BUDGET / 1_000_000
    ));
    md.push_str(&format!(
        "Measured {date} at commit `{commit}` (working tree may differ), release profile\n"
    ));
    md.push_str("(`opt-level = \"z\"`, LTO, 1 codegen unit, `panic = \"abort\"`, identical code\n");
    md.push_str("folding, compact SHA-2 and AES, records decrypted one AES block at a time).\n\n");
    md.push_str("Two builds: the session firmware `dhchat-fw` links the DH group ffdhe2048 only\n");
    md.push_str("(its default features; a server offering another group is refused), and the\n");
    md.push_str(&format!(
        "same firmware built with `--features {ALL_GROUPS_FEATURES}` runs the sessions and the\n"
    ));
    md.push_str("bench of the larger groups.\n\n");
    md.push_str("## Memory (session firmware `dhchat-fw`)\n\n| what | bytes |\n|---|---:|\n");
    md.push_str(&format!(
        "| flash total (vectors+text+rodata+data image) | {flash} ({:.1} KiB) |\n",
        flash as f64 / 1024.0
    ));
    md.push_str(&format!(
        "| .text | {} |\n| .rodata | {} |\n",
        size(".text"),
        size(".rodata")
    ));
    md.push_str(&format!("| static RAM (data+bss) | {ram} |\n",));
    md.push_str(&format!(
        "| flash total, all-groups build | {all_flash} ({:.1} KiB) |\n",
        all_flash as f64 / 1024.0
    ));
    md.push_str(&format!("| static RAM, all-groups build | {all_ram} |\n",));
    for (g, p) in &peaks {
        let build = if *g == Group::Ffdhe2048 {
            ""
        } else {
            " (all-groups build)"
        };
        md.push_str(&format!(
            "| peak stack, full session, keyed, {}{build} | {p} |\n",
            g.name()
        ));
    }
    md.push_str(&format!(
        "| peak stack, full session, anonymous, ffdhe2048 | {anonymous} |\n"
    ));
    md.push_str(&format!(
        "| peak stack, footprint bench (all groups) | {bench_stack} |\n"
    ));
    md.push_str("\nPeak stack: stack painting (`fw::stack`) during a full session against an\n");
    md.push_str("in-test server on the core's handshake: handshake, SAY, MESSAGE, CLOSE.\n");
    md.push_str("Keyed: the configuration has an `identity` seed, so the firmware signs the\n");
    md.push_str("transcript (Ed25519) in CLIENT_HELLO; the budget test runs keyed sessions.\n\n");
    md.push_str("## Instruction counts (`-icount shift=0`, SysTick)\n\n");
    md.push_str(&format!(
        "Calibration: a 2-instruction loop of {ci} instructions took {ct} SysTick ticks\n"
    ));
    md.push_str(&format!(
        "({} instructions a tick); counts are ticks x that ratio (+-{} instructions).\n\n",
        ci / ct,
        ci / ct
    ));
    for (name, [k, s, _, _]) in &session_groups {
        let (k, s) = (k * si / st, s * si / st);
        md.push_str(&format!(
            "Session firmware (`dhchat-fw`'s build), {name}: key generation {k} + shared value\n\
             {s} = {} instructions for the device's handshake (goal: under {}).\n\n",
            k + s,
            HANDSHAKE_INSTRUCTION_BUDGET
        ));
    }
    md.push_str("All-groups build:\n\n");
    md.push_str("| group | client key generation | shared secret | seal 1 KiB record (c->s) | open 1 KiB record (s->c) |\n|---|---:|---:|---:|---:|\n");
    for (name, [k, s, se, op]) in &groups {
        md.push_str(&format!(
            "| {name} | {} | {} | {} | {} |\n",
            insns(*k),
            insns(*s),
            insns(*se),
            insns(*op)
        ));
    }
    std::fs::write(firmware_dir().join("FOOTPRINT.md"), md).expect("write FOOTPRINT.md");
}
