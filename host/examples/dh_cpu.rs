//! The CPU time (user + system, not wall time) of the DH alone: key
//! generation and shared value, the denominator of the in-situ handshake
//! figure in docs/PERFORMANCE.md ("Server CPU per handshake, in situ").
//! Wall time on a loaded machine overstates it; CPU time does not.
//!
//! `cargo run --release -p dhchat-host --example dh_cpu -- [GROUP] [PAIRS]`
//! (default ffdhe2048, 3000 pairs).

use std::hint::black_box;
use std::time::Instant;

use dhchat_core::dh::{PrivateKey, SharedValue, MAX_PLEN};
use dhchat_core::group::Group;
use dhchat_host::bench::procfs;
use dhchat_host::rng::new_rng;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let group: Group = match args.next() {
        Some(g) => g.parse().map_err(|_| format!("unknown group {g:?}"))?,
        None => Group::Ffdhe2048,
    };
    let pairs: u32 = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("pairs {n:?}: {e}"))?,
        None => 3000,
    };
    let mut rng = new_rng();
    let peer = PrivateKey::generate(group, &mut rng);
    let mut peer_y = [0u8; MAX_PLEN];
    let n = peer
        .public_value(&mut peer_y)
        .map_err(|e| format!("public value: {e}"))?;
    let peer_y = peer_y.get(..n).ok_or("public value length")?;
    let (mut y, mut z) = ([0u8; MAX_PLEN], SharedValue::default());
    let me = std::process::id();
    let (cpu0, wall0) = (procfs::usage(me)?.cpu_ms, Instant::now());
    for _ in 0..pairs {
        let key = PrivateKey::generate(group, &mut rng);
        key.public_value(black_box(&mut y))
            .map_err(|e| format!("public value: {e}"))?;
        key.shared_value(black_box(peer_y), &mut z)
            .map_err(|e| format!("shared value: {e}"))?;
    }
    let cpu = procfs::usage(me)?.cpu_ms.saturating_sub(cpu0) as f64;
    let wall = wall0.elapsed().as_secs_f64() * 1000.0;
    let per = f64::from(pairs.max(1));
    println!(
        "{group} keygen + shared value: {:.3} ms CPU, {:.3} ms wall per pair ({pairs} pairs)",
        cpu / per,
        wall / per
    );
    Ok(())
}
