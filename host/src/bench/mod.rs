//! `dhchat-bench`: a load generator for a running server, written against
//! the core's public async driver (`connect`, `Connection::split`).
//!
//! | module | what it holds |
//! |---|---|
//! | [`args`] | the command line and the JSON keys' documentation |
//! | [`member`] | one client: connect, reader task, bench texts |
//! | [`procfs`] | the server's RSS and CPU time from /proc |
//! | [`stats`] | percentiles |
//!
//! Phases: all clients connect at once (handshake times; the server's CPU
//! is read once every client has connected and the server has gone idle);
//! then, and not before, all join one room and wait for their WHO answer; the senders send, paced; every member
//! counts what it should receive until all arrived or `--timeout` passed.

pub mod args;
pub mod member;
pub mod procfs;
pub mod stats;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhchat_core::message::Message;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

pub use args::Args;
use member::{Connected, SendSide, Shared};
use stats::Summary;

/// The report (`--json` prints it; keys in [`args::JSON_KEYS`]).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// --clients.
    pub clients: u32,
    /// --senders.
    pub senders: u32,
    /// --messages (per sender).
    pub messages: u32,
    /// --size.
    pub size: u32,
    /// --rate.
    pub rate: f64,
    /// The room used.
    pub room: String,
    /// The connect phase.
    pub connect: ConnectReport,
    /// The message phase.
    pub deliveries: DeliveryReport,
    /// Send-to-receipt latency.
    pub latency: Summary,
    /// ERROR records the server sent.
    pub errors: u64,
    /// The first of them.
    pub first_error: Option<String>,
    /// The server's costs (with --server-pid).
    pub server: Option<ServerReport>,
}

/// The connect phase.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    /// Handshakes that gave a WELCOME.
    pub ok: u32,
    /// Those that did not.
    pub failed: u32,
    /// First TCP connect to last WELCOME, ms.
    pub wall_ms: f64,
    /// ok / wall.
    pub handshakes_per_s: f64,
    /// Per-client connect-to-WELCOME times.
    #[serde(flatten)]
    pub times: Summary,
    /// The first failure.
    pub first_error: Option<String>,
}

/// The message phase.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryReport {
    /// Messages sent x the members that should see each.
    pub expected: u64,
    /// Distinct (sender, sequence) pairs received over all members.
    pub received: u64,
    /// expected - received.
    pub lost: u64,
    /// Copies received more than once.
    pub duplicates: u64,
    /// First send to last receipt, ms.
    pub wall_ms: f64,
    /// received / wall.
    pub per_s: f64,
}

/// The server's memory and CPU, from /proc.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// VmRSS before connecting, KiB.
    pub rss_kib_before: u64,
    /// VmRSS with every client connected and joined, KiB.
    pub rss_kib_connected: u64,
    /// The difference per connected client, KiB.
    pub rss_kib_per_client: f64,
    /// CPU during the connects, ms.
    pub cpu_ms_connect: u64,
    /// Per handshake, ms.
    pub cpu_ms_per_handshake: f64,
    /// CPU from the first send to the end of the deliveries, ms.
    pub cpu_ms_messages: u64,
    /// Per delivery, microseconds.
    pub cpu_us_per_delivery: f64,
}

impl Report {
    /// True when every client connected and nothing was lost.
    pub fn is_complete(&self) -> bool {
        self.connect.failed == 0 && self.deliveries.lost == 0
    }

    /// A short human summary.
    pub fn text(&self) -> String {
        let c = &self.connect;
        let d = &self.deliveries;
        let mut s = format!(
            "connect: {} ok, {} failed in {:.0} ms ({:.1} handshakes/s), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
             deliveries: {} of {} ({} lost, {} duplicates) in {:.0} ms ({:.0}/s)\n\
             latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n\
             errors from the server: {}{}\n",
            c.ok, c.failed, c.wall_ms, c.handshakes_per_s, c.times.p50_ms, c.times.p99_ms,
            c.times.max_ms, d.received, d.expected, d.lost, d.duplicates, d.wall_ms, d.per_s,
            self.latency.p50_ms, self.latency.p99_ms, self.latency.max_ms, self.errors,
            self.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default(),
        );
        if let Some(srv) = &self.server {
            s += &format!(
                "server: {:.1} KiB RSS per client, {:.2} ms CPU per handshake, {:.2} us CPU per delivery\n",
                srv.rss_kib_per_client, srv.cpu_ms_per_handshake, srv.cpu_us_per_delivery
            );
        }
        if let Some(e) = &c.first_error {
            s += &format!("first connect failure: {e}\n");
        }
        s
    }
}

/// A fresh room name, `#bench-` and six hex digits.
fn fresh_room() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("#bench-{:06x}", (nanos ^ std::process::id()) & 0xff_ffff)
}

/// The summed usage of the given processes, or `None` when none is given.
fn usage(pids: &[u32]) -> Result<Option<procfs::Usage>, String> {
    let mut total: Option<procfs::Usage> = None;
    for &pid in pids {
        let u = procfs::usage(pid)?;
        let t = total.get_or_insert(procfs::Usage {
            rss_kib: 0,
            cpu_ms: 0,
        });
        t.rss_kib += u.rss_kib;
        t.cpu_ms += u.cpu_ms;
    }
    Ok(total)
}

/// How often [`settle`] reads the servers' CPU time.
const SETTLE_POLL: Duration = Duration::from_millis(200);
/// CPU time under which the servers count as idle over one [`SETTLE_POLL`]
/// (a tenth of one core).
const SETTLE_IDLE_MS: u64 = 20;
/// Longest wait in [`settle`].
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// Waits until the servers' CPU time grows by less than [`SETTLE_IDLE_MS`]
/// over one [`SETTLE_POLL`] (at most [`SETTLE_MAX`]) and returns the last
/// reading; `None` without `--server-pid`.
async fn settle(pids: &[u32]) -> Result<Option<procfs::Usage>, String> {
    let Some(mut last) = usage(pids)? else {
        return Ok(None);
    };
    let start = Instant::now();
    loop {
        tokio::time::sleep(SETTLE_POLL).await;
        let Some(now) = usage(pids)? else {
            return Ok(None);
        };
        if now.cpu_ms.saturating_sub(last.cpu_ms) < SETTLE_IDLE_MS || start.elapsed() >= SETTLE_MAX
        {
            return Ok(Some(now));
        }
        last = now;
    }
}

fn per_s(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the bench.
///
/// # Errors
/// Setup failures (bad arguments, /proc unreadable, no client connected).
pub async fn run(args: &Args) -> Result<Report, String> {
    args.check()?;
    let timeout = Duration::from_secs(args.timeout);
    let room = args.room.clone().unwrap_or_else(fresh_room);
    let before = usage(&args.server_pid)?;

    // Phase 1: every client connects at once.
    let connect_start = Instant::now();
    let mut connecting = JoinSet::new();
    for i in 0..args.clients {
        let server = args.server[i as usize % args.server.len()];
        let (key, sources) = (args.server_key, args.sources);
        connecting
            .spawn(async move { (i, member::connect(server, key, i, sources, timeout).await) });
    }
    let mut members: Vec<(u32, Connected)> = Vec::new();
    let mut failed = 0u32;
    let mut first_connect_error = None;
    while let Some(joined) = connecting.join_next().await {
        match joined {
            Ok((i, Ok(c))) => members.push((i, c)),
            Ok((_, Err(e))) => {
                failed += 1;
                first_connect_error.get_or_insert(e);
            }
            Err(e) => {
                failed += 1;
                first_connect_error.get_or_insert(format!("connect task: {e}"));
            }
        }
    }
    let connect_wall = connect_start.elapsed();
    // The barrier: no client joins the bench room before every client has
    // connected, so the connect window holds connects only. What the
    // connects still cost after the last WELCOME (the last clients' #lobby
    // join notices, being written) is counted in it: the window closes when
    // the server has gone idle.
    let after_connect = settle(&args.server_pid).await?;
    if members.is_empty() {
        return Err(format!(
            "no client connected: {}",
            first_connect_error.unwrap_or_default()
        ));
    }
    members.sort_by_key(|(i, _)| *i);
    let mut handshake_us: Vec<u64> = members.iter().map(|(_, c)| c.handshake_us).collect();
    let ok = u32::try_from(members.len()).unwrap_or(u32::MAX);

    // Phase 2: every member joins the room; WHO's answer proves the join.
    let epoch = Instant::now();
    let shared = Arc::new(Shared::default());
    let mut readers = JoinSet::new();
    let mut joins = Vec::new();
    let mut sends: Vec<(u32, SendSide)> = Vec::new();
    for (i, c) in members {
        let (tx, rx) = oneshot::channel();
        readers.spawn(member::read(
            c.recv,
            c.send.clone(),
            room.clone(),
            args.senders,
            args.messages,
            epoch,
            shared.clone(),
            tx,
        ));
        joins.push(rx);
        let send = c.send.clone();
        let r = room.clone();
        let joined = tokio::time::timeout(timeout, async move {
            let mut s = send.lock().await;
            s.send(&Message::Join { room: &r }).await?;
            s.send(&Message::Who { room: &r }).await
        })
        .await;
        if !matches!(joined, Ok(Ok(()))) {
            return Err(format!("client {i} could not send JOIN/WHO"));
        }
        sends.push((i, c.send));
    }
    for (n, rx) in joins.into_iter().enumerate() {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(())) => {}
            _ => {
                return Err(format!(
                    "member {n} never saw its JOIN done (no WHO answer)"
                ))
            }
        }
    }
    let connected = usage(&args.server_pid)?;

    // Phase 3: the senders send, paced; the readers count.
    let members = u64::from(ok);
    let active_senders: Vec<(u32, SendSide)> = sends
        .iter()
        .filter(|(i, _)| *i < args.senders)
        .cloned()
        .collect();
    let expected = active_senders.len() as u64 * u64::from(args.messages) * (members - 1);
    let send_start = Instant::now();
    let send_start_us = member::micros(send_start - epoch);
    let mut sending = JoinSet::new();
    let k = active_senders.len().max(1) as f64;
    for (i, send) in active_senders {
        let (messages, size, rate) = (args.messages, args.size as usize, args.rate);
        // Senders start spread over one interval, not all at once.
        let offset = if rate > 0.0 {
            Duration::from_secs_f64(f64::from(i) / (k * rate))
        } else {
            Duration::ZERO
        };
        let room = room.clone();
        sending.spawn(async move {
            for seq in 0..messages {
                if rate > 0.0 {
                    let at = send_start + offset + Duration::from_secs_f64(f64::from(seq) / rate);
                    tokio::time::sleep_until(at.into()).await;
                }
                let text = member::bench_text(i, seq, member::micros(epoch.elapsed()), size);
                let say = Message::Say {
                    room: &room,
                    text: &text,
                };
                if send.lock().await.send(&say).await.is_err() {
                    return;
                }
            }
        });
    }
    while sending.join_next().await.is_some() {}

    // Wait for every delivery, or until nothing arrived for --timeout.
    let mut last = (shared.received.load(Ordering::Relaxed), Instant::now());
    loop {
        let now = shared.received.load(Ordering::Relaxed);
        if now >= expected {
            break;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end = usage(&args.server_pid)?;

    // Close every session and collect the readers.
    for (_, send) in &sends {
        let mut s = send.lock().await;
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            s.send(&Message::Close { reason: "" }),
        )
        .await;
    }
    let mut latencies = Vec::new();
    let collect = async {
        while let Some(seen) = readers.join_next().await {
            if let Ok(seen) = seen {
                latencies.extend(seen.latencies_us);
            }
        }
    };
    if tokio::time::timeout(timeout, collect).await.is_err() {
        readers.abort_all();
    }

    let received = shared.received.load(Ordering::Relaxed);
    let last_us = shared.last_receipt_us.load(Ordering::Relaxed);
    let delivery_wall = Duration::from_micros(last_us.saturating_sub(send_start_us));
    let server = match (before, after_connect, connected, end) {
        (Some(b), Some(a), Some(c), Some(e)) => Some(ServerReport {
            rss_kib_before: b.rss_kib,
            rss_kib_connected: c.rss_kib,
            rss_kib_per_client: c.rss_kib.saturating_sub(b.rss_kib) as f64 / f64::from(ok),
            cpu_ms_connect: a.cpu_ms.saturating_sub(b.cpu_ms),
            cpu_ms_per_handshake: a.cpu_ms.saturating_sub(b.cpu_ms) as f64 / f64::from(ok),
            cpu_ms_messages: e.cpu_ms.saturating_sub(c.cpu_ms),
            cpu_us_per_delivery: if received > 0 {
                e.cpu_ms.saturating_sub(c.cpu_ms) as f64 * 1000.0 / received as f64
            } else {
                0.0
            },
        }),
        _ => None,
    };
    let first_error = shared.first_error.lock().ok().and_then(|e| e.clone());
    Ok(Report {
        clients: args.clients,
        senders: args.senders,
        messages: args.messages,
        size: args.size,
        rate: args.rate,
        room,
        connect: ConnectReport {
            ok,
            failed,
            wall_ms: ms(connect_wall),
            handshakes_per_s: per_s(u64::from(ok), connect_wall),
            times: Summary::of(&mut handshake_us),
            first_error: first_connect_error,
        },
        deliveries: DeliveryReport {
            expected,
            received,
            lost: expected.saturating_sub(received),
            duplicates: shared.duplicates.load(Ordering::Relaxed),
            wall_ms: ms(delivery_wall),
            per_s: per_s(received, delivery_wall),
        },
        latency: Summary::of(&mut latencies),
        errors: shared.errors.load(Ordering::Relaxed),
        first_error,
        server,
    })
}
