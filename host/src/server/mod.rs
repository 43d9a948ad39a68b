//! The dhchat server: PROTOCOL.md sections 3-7 from the server side, on tokio.
//!
//! | module | what it holds |
//! |---|---|
//! | [`config`] | the command line and the limits derived from it |
//! | [`listener`] | the accept loop; per-address and pending-handshake caps |
//! | [`handshake`] | the handshake phase: slot, deadline, the core's `accept` |
//! | [`connection`] | per-client reader loop and writer task |
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
pub mod config;
pub mod connection;
pub mod event;
pub mod handshake;
pub mod history;
pub mod legacy; // LEGACY HOOK
pub mod listener;
pub mod ratelimit;
pub mod rooms;
pub mod shutdown;

use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use anyhow::Context as _;
use dhchat_core::identity::IdentityKey;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

pub use config::Args;

use authorized_keys::Admission;
use config::Limits;
use history::History;
use rooms::Hub;

/// What every connection task shares.
pub struct Shared {
    /// The command line.
    pub args: Args,
    /// Limits derived from it.
    pub limits: Limits,
    /// The server's identity.
    pub identity: Arc<IdentityKey>,
    /// Clients and rooms.
    pub hub: Arc<Hub>,
    /// The history thread.
    pub history: History,
    /// Who is admitted.
    pub admission: Admission,
    /// Handshake slots.
    pub handshakes: Arc<Semaphore>,
    /// Per-address and pending counters.
    pub gate: listener::Gate,
    /// Server name for WELCOME.
    pub server_name: Arc<str>,
    /// MOTD for WELCOME.
    pub motd: Arc<str>,
}

/// Name of the identity key file in the data directory.
pub const KEY_FILE: &str = "server.key";
/// Name of the history database in the data directory.
pub const DB_FILE: &str = "history.sqlite3";

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
    let limits = args.limits();
    let hub = Hub::new(args.max_clients as usize, limits.queue);
    let settings = history::Settings {
        replay: args.history,
        retain: args.retain,
    };
    let (history, history_thread) = History::start(db, hub.clone(), settings)?;

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let key = identity.public_key();
    // LEGACY HOOK: bind the legacy listener (if asked for) before announcing.
    let legacy_listener = match args.legacy_listen {
        Some(a) => Some(legacy::bind(a).await?),
        None => None,
    };

    let shared = Arc::new(Shared {
        handshakes: Arc::new(Semaphore::new(limits.max_handshakes)),
        server_name: Arc::from(args.name.as_str()),
        motd: Arc::from(args.motd.as_str()),
        args,
        limits,
        identity: Arc::new(identity),
        hub,
        history,
        admission,
        gate: listener::Gate::default(),
    });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}").context("stdout")?;
        writeln!(out, "server key {key}").context("stdout")?;
        // LEGACY HOOK: announce the legacy listener, with its warning.
        if let Some((_, a)) = &legacy_listener {
            writeln!(out, "legacy listening on {a}").context("stdout")?;
            writeln!(out, "{}", legacy::WARNING).context("stdout")?;
        }
        out.flush().context("stdout")?;
    }
    tracing::info!(
        %addr,
        server_key = %key,
        group = %shared.args.group,
        max_clients = shared.args.max_clients,
        max_handshakes = shared.limits.max_handshakes,
        max_pending = shared.limits.max_pending,
        authorized_keys = shared.admission.restricted().then(|| shared.admission.key_count()),
        "dhchat server started"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    // LEGACY HOOK: the legacy accept loop stops with the main one.
    let legacy_accept = legacy_listener.map(|(l, a)| {
        tracing::warn!(addr = %a, "{}", legacy::WARNING);
        tokio::spawn(legacy::accept_loop(shared.clone(), l, stop_rx.clone()))
    });
    let accept = tokio::spawn(listener::accept_loop(shared.clone(), listener, stop_rx));
    let signal = shutdown::wait_for_stop(&shared).await;
    let _ = stop_tx.send(true);
    let _ = accept.await;
    if let Some(a) = legacy_accept {
        let _ = a.await;
    }
    let signal = signal?;
    tracing::info!("{signal}: shutting down");
    shutdown::close_sessions(&shared).await;
    shared.history.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || history_thread.join()).await;
    tracing::info!("history closed; bye");
    Ok(())
}
