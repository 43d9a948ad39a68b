//! The dhchat server: PROTOCOL.md sections 3-7 from the server side, on tokio.
//!
//! Layers, each depending only on the ones below it:
//!
//! ```text
//! run (this module): wiring, startup, signals, shutdown
//!  └─ listener            accept loop
//!      ├─ gate            per-address and pending caps, RAII tickets (imports nothing)
//!      └─ connection      handshake → WELCOME or busy refusal → session
//!          ├─ handshake   slot, deadline, the core's accept, admission list
//!          ├─ writer      queue → sealed records
//!          └─ reader      records → rate limit → commands
//!              └─ commands/*  one `apply` per client message
//!                  └─ bus      the Bus trait: publish, direct, nicks, join (+ Fanout)
//!                      └─ local_bus = history (SQLite thread) → rooms (Hub, implements Fanout)
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | [`config`] | the command line, split into each layer's settings |
//! | [`gate`] | connection limits before the handshake; the [`gate::Ticket`] |
//! | [`listener`] | the accept loop |
//! | [`handshake`] | the handshake phase: slot, deadline, the core's `accept` |
//! | [`connection`] | one connection: handshake, WELCOME or refusal, session |
//! | [`reader`] | the session's reader loop: open, rate-limit, dispatch |
//! | [`writer`] | the session's writer task |
//! | [`commands`] | one module per client message |
//! | [`disconnect`] | why a session ended (log text, short reason) |
//! | [`bus`] | the message-bus interface ([`bus::Bus`], [`bus::Fanout`]) |
//! | [`local_bus`] | the first bus: SQLite history in front of the hub |
//! | [`rooms`] | clients, nicks, rooms, fan-out to bounded queues |
//! | [`event`] | the owned values queued for a client's writer |
//! | [`history`] | the SQLite history thread (store before relay) |
//! | [`ratelimit`] | the per-client token bucket |
//! | [`authorized_keys`] | the admission list, re-read on SIGHUP |
//! | [`shutdown`] | signals and the graceful shutdown |
//! | [`legacy`] | the opt-in legacy listener (`--legacy-listen`, unauthenticated) |
//!
//! Startup contract: once listening, the server prints `listening on ADDR`
//! and `server key ed25519:...` on standard output; everything else is logged
//! with `tracing` on standard error.

pub mod authorized_keys;
pub mod bus;
pub mod commands;
pub mod config;
pub mod connection;
pub mod disconnect;
pub mod event;
pub mod gate;
pub mod handshake;
pub mod history;
pub mod legacy;
pub mod listener;
pub mod local_bus;
pub mod ratelimit;
pub mod reader;
pub mod rooms;
pub mod shutdown;
pub mod writer;

use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

pub use config::Args;

use authorized_keys::Admission;
use connection::Services;
use gate::Gate;
use handshake::Handshaker;
use history::History;
use local_bus::LocalBus;
use rooms::Hub;

/// Name of the identity key file in the data directory.
pub const KEY_FILE: &str = "server.key";
/// Name of the history database in the data directory.
pub const DB_FILE: &str = "history.sqlite3";

/// Binds `addr` (with `SO_REUSEADDR`, as `TcpListener::bind` does) and
/// listens with a queue of `backlog` connections.
///
/// # Errors
/// The socket, bind or listen failure.
pub fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Runs the server until SIGINT or SIGTERM.
///
/// # Errors
/// Startup failures (data directory, key file, authorized keys, database,
/// binding), as one line each.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("{}: cannot create the data directory", dir.display()))?;
    let identity = crate::keyfile::load_or_create(&dir.join(KEY_FILE))?;
    let admission = Admission::new(args.authorized_keys.clone()).map_err(anyhow::Error::msg)?;
    let db = history::open(&dir.join(DB_FILE))?;
    let settings = args.settings();
    let hub = Hub::new(settings.rooms);
    let (history, history_thread) = History::start(db, hub.clone(), settings.history)?;

    let listener = listen(args.listen, args.listen_backlog)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let key = identity.public_key();
    // Bound before anything is announced, so a bad address fails the start.
    let legacy_listener = match args.legacy_listen {
        Some(a) => Some(legacy::bind(a).await?),
        None => None,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}").context("stdout")?;
        writeln!(out, "server key {key}").context("stdout")?;
        if let Some((_, a)) = &legacy_listener {
            writeln!(out, "legacy listening on {a}").context("stdout")?;
            writeln!(out, "{}", legacy::WARNING).context("stdout")?;
        }
        out.flush().context("stdout")?;
    }
    tracing::info!(
        %addr,
        server_key = %key,
        group = %args.group,
        max_clients = args.max_clients,
        max_handshakes = settings.handshake.max_handshakes,
        max_pending = settings.gate.max_pending,
        authorized_keys = admission.restricted().then(|| admission.key_count()),
        "dhchat server started"
    );

    let services = Arc::new(Services {
        handshaker: Handshaker::new(settings.handshake, Arc::new(identity), admission.clone()),
        settings: settings.session,
        hub: hub.clone(),
        bus: Arc::new(LocalBus::new(hub.clone(), history.clone())),
    });
    let gate = Gate::new(settings.gate);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (guard, done) = mpsc::channel(1);
    let legacy_accept = legacy_listener.map(|(l, a)| {
        tracing::warn!(addr = %a, "{}", legacy::WARNING);
        tokio::spawn(legacy::accept_loop(
            services.clone(),
            gate.clone(),
            l,
            stop_rx.clone(),
            guard.clone(),
        ))
    });
    let accept = tokio::spawn(listener::accept_loop(
        services, gate, listener, stop_rx, guard,
    ));
    let signal = shutdown::wait_for_stop(&admission).await;
    let _ = stop_tx.send(true);
    let _ = accept.await;
    if let Some(a) = legacy_accept {
        let _ = a.await;
    }
    let signal = signal?;
    tracing::info!("{signal}: shutting down");
    shutdown::close_sessions(&hub, done).await;
    history.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || history_thread.join()).await;
    tracing::info!("history closed; bye");
    Ok(())
}
