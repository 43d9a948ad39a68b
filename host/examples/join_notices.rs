//! Measures what N joins into one fresh room cost a running server: the
//! NOTICEs its members receive about those joins, and the server's CPU time
//! per join (from /proc/PID/stat).
//!
//! ```text
//! dhchat-server --listen 127.0.0.1:39481 --group ffdhe2048 [--room-notice-limit N] &
//! cargo run --release -p dhchat-host --example join_notices -- \
//!     --server 127.0.0.1:39481 --server-key ed25519:... --server-pid PID \
//!     --clients 1000 --sources 8
//! ```
//!
//! The clients connect (at most 32 handshakes at once, so the server's
//! default limits admit them all), their lobby notices are let drain, then
//! every client sends JOIN at once and the program waits until each one was
//! told "you joined ROOM" (the server's answer to JOIN) and no further
//! notice about the room arrives for a second. It prints one JSON object:
//! `clients`, `room`, `notices_to_others` (NOTICEs "NICK joined ROOM"
//! received by the other members, summed), `notices_own` (the joiners' "you
//! joined ROOM"), `server_cpu_ms` and `server_cpu_ms_per_join` (the
//! server's CPU from the first JOIN until the notices stopped), and
//! `server_cpu_ms_connects` (the handshakes and the lobby's notices before).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dhchat_core::identity::PublicKey;
use dhchat_core::message::Message;
use dhchat_host::bench::member::{self, RecvSide};
use dhchat_host::bench::procfs::usage;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Command line.
#[derive(Debug, Parser)]
struct Args {
    /// The server's address.
    #[arg(long)]
    server: SocketAddr,
    /// The server's key (`ed25519:...`).
    #[arg(long)]
    server_key: PublicKey,
    /// The server's process id (for its CPU time).
    #[arg(long)]
    server_pid: u32,
    /// Clients that join the room.
    #[arg(long, default_value_t = 1000)]
    clients: u32,
    /// Loopback source addresses to spread the clients over.
    #[arg(long, default_value_t = 8)]
    sources: u8,
}

#[derive(Default)]
struct Counts {
    others: AtomicU64,
    own: AtomicU64,
}

/// Reads until the connection ends, counting the notices about `room`.
async fn read(mut recv: RecvSide, room: String, counts: Arc<Counts>) {
    let joined = format!(" joined {room}");
    let own = format!("you joined {room}");
    while let Ok(m) = recv.recv().await {
        if let Ok(Message::Notice { text }) = m.message {
            if text == own {
                counts.own.fetch_add(1, Ordering::Relaxed);
            } else if text.ends_with(&joined) {
                counts.others.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Waits until `value()` has not changed for a second.
async fn settle(value: impl Fn() -> u64) {
    let mut last = value();
    let mut still = 0;
    while still < 5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = value();
        if now == last {
            still += 1;
        } else {
            still = 0;
            last = now;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let timeout = Duration::from_secs(60);
    let room = format!("#joins-{}", std::process::id());
    let counts = Arc::new(Counts::default());

    let initial = usage(args.server_pid)?;
    let permits = Arc::new(Semaphore::new(32));
    let mut connecting = JoinSet::new();
    for i in 0..args.clients {
        let permits = permits.clone();
        let (server, key, sources) = (args.server, args.server_key, args.sources);
        connecting.spawn(async move {
            let _permit = permits.acquire_owned().await;
            member::connect(server, key, i, sources, timeout).await
        });
    }
    let mut senders = Vec::new();
    let mut readers = JoinSet::new();
    while let Some(c) = connecting.join_next().await {
        let c = c.map_err(|e| e.to_string())??;
        readers.spawn(read(c.recv, room.clone(), counts.clone()));
        senders.push(c.send);
    }
    // The lobby's join notices of the connects drain first (they are not
    // counted: another room).
    settle(|| usage(args.server_pid).map_or(0, |u| u.cpu_ms)).await;

    let start = usage(args.server_pid)?;
    let mut joining = JoinSet::new();
    for send in &senders {
        let (send, room) = (send.clone(), room.clone());
        joining.spawn(async move { send.lock().await.send(&Message::Join { room: &room }).await });
    }
    while let Some(j) = joining.join_next().await {
        j.map_err(|e| e.to_string())?
            .map_err(|e| format!("JOIN: {e:?}"))?;
    }
    let n = u64::from(args.clients);
    tokio::time::timeout(timeout, async {
        while counts.own.load(Ordering::Relaxed) < n {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .map_err(|_| "not every JOIN was answered".to_owned())?;
    settle(|| counts.others.load(Ordering::Relaxed)).await;
    let end = usage(args.server_pid)?;
    // The settle time is idle: the server's CPU does not grow meanwhile.
    let cpu_ms = end.cpu_ms.saturating_sub(start.cpu_ms);
    let report = serde_json::json!({
        "clients": args.clients,
        "room": room,
        "notices_to_others": counts.others.load(Ordering::Relaxed),
        "notices_own": counts.own.load(Ordering::Relaxed),
        "server_cpu_ms": cpu_ms,
        "server_cpu_ms_per_join": cpu_ms as f64 / n as f64,
        "server_cpu_ms_connects": start.cpu_ms.saturating_sub(initial.cpu_ms),
    });
    println!("{report}");
    readers.abort_all();
    Ok(())
}
