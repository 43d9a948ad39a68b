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
//! | [`cluster`] | the cluster bus (`--cluster`): NATS JetStream, and the cluster's account stores |
//! | [`rooms`] | clients, nicks, rooms, fan-out to bounded queues |
//! | [`queue_bytes`] | the byte budget of the send queues, per client and in all |
//! | [`loglimit`] | lines per second of one kind of log line, with the count left out |
//! | [`event`] | the owned values queued for a client's writer |
//! | [`history`] | the SQLite history thread (store before relay) |
//! | [`ratelimit`] | the per-client token bucket |
//! | [`authorized_keys`] | the admission list, re-read on SIGHUP |
//! | [`accounts`] | nicks bound to identity keys (the [`accounts::Accounts`] store interface) |
//! | [`offline`] | direct messages waiting for offline accounts (the [`offline::Offline`] interface) |
//! | [`accounts_sqlite`] | both stores in the SQLite database |
//! | [`accounts_cli`] | `dhchat-server accounts list\|release` |
//! | [`shutdown`] | signals and the graceful shutdown |
//! | [`legacy`] | the opt-in legacy listener (`--legacy-listen`, unauthenticated) |
//!
//! Startup contract: once listening, the server prints `listening on ADDR`
//! and `server key ed25519:...` on standard output; everything else is logged
//! with `tracing` on standard error.

pub mod accounts;
pub mod accounts_cli;
pub mod accounts_sqlite;
pub mod authorized_keys;
pub mod bus;
pub mod cluster;
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
pub mod loglimit;
pub mod offline;
pub mod pressure;
pub mod queue_bytes;
pub mod ratelimit;
pub mod reader;
pub mod rooms;
pub mod shutdown;
pub mod trim;
pub mod writer;

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

pub use config::{AccountsCommand, Args, Command};

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

/// Refuses a data directory that group or others can access (it holds the
/// identity key and every stored message).
///
/// # Errors
/// The directory's mode and the command that fixes it.
pub fn check_private(dir: &std::path::Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("{}: cannot read the data directory", dir.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "{}: data directory permissions are {mode:o}; it must not be accessible by group or \
             others (run: chmod 700 {})",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

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
    check_private(dir)?;
    let identity = crate::keyfile::load_or_create(&dir.join(KEY_FILE))?;
    let admission = Admission::new(args.authorized_keys.clone()).map_err(anyhow::Error::msg)?;
    let settings = args.settings();
    let hub = Hub::new(settings.rooms);
    let offline_max = (!args.no_accounts).then_some(args.offline_max);
    // In cluster mode the accounts live in the cluster's key-value bucket
    // and stream (one account across the nodes); else in the database.
    let (backend, account_service) = if args.cluster.enabled() {
        let started =
            cluster::start(&args.cluster, hub.clone(), settings.history, offline_max).await?;
        (Backend::Cluster(started.bus), started.accounts)
    } else {
        let account_service = match offline_max {
            None => None,
            Some(offline_max) => {
                let store =
                    accounts_sqlite::SqliteStore::new(accounts_sqlite::open(&dir.join(DB_FILE))?);
                Some(accounts::Service {
                    accounts: Arc::new(store.clone()),
                    offline: Arc::new(store),
                    offline_max,
                })
            }
        };
        let db = history::open(&dir.join(DB_FILE))?;
        let (history, thread) = History::start(db, hub.clone(), settings.history)?;
        (Backend::Local(history, thread), account_service)
    };

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
        dh_workers = settings.handshake.cpu_permits,
        max_pending = settings.gate.max_pending,
        max_pending_per_ip = settings.gate.max_pending_per_ip,
        authorized_keys = admission.restricted().then(|| admission.key_count()),
        accounts = !args.no_accounts,
        "dhchat server started"
    );

    let services = Arc::new(Services {
        handshaker: Handshaker::new(settings.handshake, Arc::new(identity), admission.clone()),
        settings: settings.session,
        hub: hub.clone(),
        bus: backend.bus(&hub),
        accounts: account_service,
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
    let trim = tokio::spawn(trim::run());
    let signal = shutdown::wait_for_stop(&admission).await;
    trim.abort();
    let _ = stop_tx.send(true);
    let _ = accept.await;
    if let Some(a) = legacy_accept {
        let _ = a.await;
    }
    let signal = signal?;
    tracing::info!("{signal}: shutting down");
    shutdown::close_sessions(&hub, done).await;
    match backend {
        Backend::Local(history, thread) => {
            history.shutdown().await;
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            tracing::info!("history closed; bye");
        }
        Backend::Cluster(bus) => {
            bus.shutdown().await;
            tracing::info!("cluster nicks given back; bye");
        }
    }
    Ok(())
}

/// Where rooms, history and nicks live: this process (SQLite) or a cluster.
enum Backend {
    Local(History, std::thread::JoinHandle<()>),
    Cluster(Arc<cluster::NatsBus>),
}

impl Backend {
    fn bus(&self, hub: &Arc<Hub>) -> Arc<dyn bus::Bus> {
        match self {
            Backend::Local(history, _) => Arc::new(LocalBus::new(hub.clone(), history.clone())),
            Backend::Cluster(bus) => bus.clone(),
        }
    }
}
