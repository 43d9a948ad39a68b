//! What the benches share: the paired dhchat/OpenSSL ratio, measured in the same run.
//!
//! criterion measures each side on its own, one after the other; on a machine shared
//! with other work the load can change between the two. The ratio printed here instead
//! alternates the two sides in short rounds (each round times a batch of dhchat calls
//! and a batch of OpenSSL calls, in alternating order) and reports the median of the
//! per-round ratios, which a load change during one round does not move.

#![allow(dead_code)] // each bench uses part of it

pub mod ossl;

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Rounds of the paired measurement.
const ROUNDS: usize = 21;
/// Target wall time of one side's batch in a round.
const BATCH_TIME: Duration = Duration::from_millis(25);

/// Median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Times `batch` calls of `f`.
fn time_batch(batch: u32, f: &mut (impl FnMut() + ?Sized)) -> Duration {
    let start = Instant::now();
    for _ in 0..batch {
        f();
        black_box(());
    }
    start.elapsed()
}

/// Measures `ours` and `theirs` alternately and prints the median per-call times and
/// the median of the per-round ratios `ours / theirs` (below 1: dhchat is faster).
/// `bytes` (per call), when given, adds throughputs.
pub fn paired_ratio(name: &str, bytes: Option<u64>, ours: impl FnMut(), theirs: impl FnMut()) {
    paired_ratio_prepared(name, bytes, |_| {}, ours, |_| {}, theirs);
}

/// [`paired_ratio`] of two dhchat measurements, `a / b`, named by `labels`.
pub fn paired_ratio_of(name: &str, labels: [&str; 2], a: impl FnMut(), b: impl FnMut()) {
    measure(name, labels, None, |_| {}, a, |_| {}, b);
}

/// [`paired_ratio_of`] with `bytes` per call, for throughputs.
pub fn paired_ratio_of_bytes(
    name: &str,
    labels: [&str; 2],
    bytes: u64,
    a: impl FnMut(),
    b: impl FnMut(),
) {
    measure(name, labels, Some(bytes), |_| {}, a, |_| {}, b);
}

/// [`paired_ratio`] where each side first prepares, untimed, the inputs of a batch of
/// `n` calls (`prepare_ours(n)` before `n` timed calls of `ours`).
pub fn paired_ratio_prepared(
    name: &str,
    bytes: Option<u64>,
    prepare_ours: impl FnMut(u32),
    ours: impl FnMut(),
    prepare_theirs: impl FnMut(u32),
    theirs: impl FnMut(),
) {
    measure(
        name,
        ["dhchat", "openssl"],
        bytes,
        prepare_ours,
        ours,
        prepare_theirs,
        theirs,
    );
}

/// The paired measurement behind [`paired_ratio`] and its variants: `a / b`, each side
/// first preparing, untimed, the inputs of its batch of `n` calls.
pub fn measure(
    name: &str,
    labels: [&str; 2],
    bytes: Option<u64>,
    mut prepare_ours: impl FnMut(u32),
    mut ours: impl FnMut(),
    mut prepare_theirs: impl FnMut(u32),
    mut theirs: impl FnMut(),
) {
    // Batch size from a calibration call of each side (the slower one sets it).
    prepare_ours(5);
    prepare_theirs(5);
    // The fastest of a few calls: preemption by other work only makes calls slower.
    let fastest = |f: &mut dyn FnMut()| (0..5).map(|_| time_batch(1, f)).min();
    let one = fastest(&mut ours)
        .max(fastest(&mut theirs))
        .unwrap_or(BATCH_TIME);
    let batch =
        u32::try_from((BATCH_TIME.as_nanos() / one.as_nanos().max(1)).max(1)).unwrap_or(u32::MAX);
    let (mut ours_ns, mut theirs_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        prepare_ours(batch);
        prepare_theirs(batch);
        let (a, b) = if round % 2 == 0 {
            let a = time_batch(batch, &mut ours);
            (a, time_batch(batch, &mut theirs))
        } else {
            let b = time_batch(batch, &mut theirs);
            (time_batch(batch, &mut ours), b)
        };
        let per = |d: Duration| d.as_secs_f64() * 1e9 / f64::from(batch);
        ours_ns.push(per(a));
        theirs_ns.push(per(b));
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    let (o, t, r) = (
        median(&mut ours_ns),
        median(&mut theirs_ns),
        median(&mut ratios),
    );
    let (lo, hi) = (ratios[ROUNDS / 4], ratios[ROUNDS - 1 - ROUNDS / 4]);
    let [a, b] = labels;
    let rate = |ns: f64| match bytes {
        Some(n) => format!(" ({:.2} GB/s)", n as f64 / ns),
        None => String::new(),
    };
    println!(
        "RATIO {name}: {a} {}{} | {b} {}{} | {a}/{b} {r:.3}x \
         (quartiles {lo:.3}-{hi:.3}, {ROUNDS} paired rounds of {batch})",
        show(o),
        rate(o),
        show(t),
        rate(t),
    );
}

/// A per-call time in readable units.
fn show(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Runs the whole sans-io handshake of `group` (server and client typestate steps, in
/// memory) and returns the client's and the server's sessions.
pub fn handshake(
    group: dhchat_core::group::Group,
    server_id: &dhchat_core::identity::IdentityKey,
    rng: &mut impl rand_core::CryptoRng,
) -> (dhchat_core::Session, dhchat_core::Session) {
    use dhchat_core::handshake::{
        AdmitAll, ClientConfig, ClientHandshake, HelloOutcome, ServerHandshake, MAGIC_LEN,
    };
    use dhchat_core::record::MAX_RECORD;

    let mut s2c = [0u8; MAX_RECORD];
    let mut c2s = [0u8; MAX_RECORD];
    let (server, n) = ServerHandshake::start(group, rng, &mut s2c).expect("start");
    let hello = &s2c[..n];
    let magic: [u8; MAGIC_LEN] = hello[..MAGIC_LEN].try_into().expect("magic");
    let client = ClientHandshake::new(2048)
        .read_magic(&magic)
        .expect("client magic");
    let (client, n) = client
        .read_dh(&hello[MAGIC_LEN..], rng, &mut c2s)
        .expect("read dh");
    let magic: [u8; MAGIC_LEN] = c2s[..MAGIC_LEN].try_into().expect("magic");
    let server = server.read_magic(&magic).expect("server magic");
    let (server, m) = server
        .read_client_key(&c2s[MAGIC_LEN..n], server_id, rng, &mut s2c)
        .expect("client key");
    let mut pin = server_id.public_key();
    let config = ClientConfig::new("bench");
    let (client, n) = client
        .read_server_auth(&mut s2c[..m], &mut pin, &config, rng, &mut c2s)
        .expect("server auth");
    let admitted = match server
        .read_client_hello(&mut c2s[..n], &mut AdmitAll)
        .expect("client hello")
    {
        HelloOutcome::Accepted(admitted, _) => admitted,
        HelloOutcome::Refused(_, why) => panic!("refused: {why}"),
    };
    let (server, n) = admitted
        .welcome("bench", "bench", "", rng, &mut s2c)
        .expect("welcome");
    let (client, _) = client.read_welcome(&mut s2c[..n]).expect("read welcome");
    (client, server)
}
