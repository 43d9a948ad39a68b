//! Cluster mode (`--cluster`): several `dhchat-server` nodes behind one
//! address share rooms, history and nicks through NATS JetStream.
//!
//! Each node keeps its own clients' sessions (handshake, records, limits:
//! all unchanged); what the [`Bus`](super::bus::Bus) does goes to NATS:
//!
//! | module | what it holds |
//! |---|---|
//! | [`options`] | the `--cluster*` flags and the NATS connection options |
//! | [`names`] | the cluster's subjects, stream and buckets |
//! | [`wire`] | what nodes send each other (JSON), checked on receipt |
//! | [`nicks`] | the nick bucket: create if absent, renewed, given back |
//! | [`accounts`] | the account bucket: nick bound to a key, one account across the cluster |
//! | [`offline`] | the stream of direct messages waiting for offline accounts |
//! | [`feeds`] | one ordered consumer per room with local members: history, then live |
//! | [`direct`] | direct messages: a request to the nick's subject |
//! | [`notices`] | join, part and rename notices to the other nodes' members |
//! | [`who`] | WHO across nodes; the live-node list |
//! | [`bus`] | [`NatsBus`], the [`Bus`](super::bus::Bus) over all of them |
//!
//! NATS resources of a cluster called NAME: the stream `NAME-rooms`
//! (subjects `NAME.room.<hex room>`, at most `--retain` messages per
//! subject, file storage), the key-value buckets `NAME-nicks` and
//! `NAME-nodes` (one revision per key, `max_age` = `--cluster-nick-ttl`),
//! and the core subjects `NAME.dm.<hex nick>`, `NAME.who`, `NAME.notice.<hex room>`
//! and `NAME.renames`. With accounts
//! (the default; not with `--no-accounts`) also the bucket `NAME-accounts`
//! (one revision per key, file storage, no `max_age`: an account lasts until
//! released) and the stream `NAME-offline` (subjects
//! `NAME.offline.<hex nick>`, at most `--offline-max` messages per subject
//! with `discard: new` per subject, file storage). All of them have the
//! stream's replicas.
//!
//! Messages cross between nodes and NATS in plaintext (TLS on the links if
//! configured), inside the operator's trust boundary, like the SQLite file
//! of a single node.
//!
//! Losing NATS: while the connection is down the node admits no new client
//! (ERROR 8). A SAY keeps retrying for [`bus::PUBLISH_DEADLINE`] under the
//! same message id (stored once), then tells its sender it was not stored.
//! If NATS stays away longer than [`LOSS_GRACE`], every client gets ERROR 8
//! and CLOSE; the node admits clients again as soon as NATS is back.

pub mod accounts;
pub mod bus;
pub mod direct;
pub mod feeds;
pub mod names;
pub mod nicks;
pub mod notices;
pub mod offline;
pub mod options;
pub mod who;
pub mod wire;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use dhchat_core::message::error_code as code;
use tokio::sync::mpsc;

pub use bus::NatsBus;
pub use options::ClusterOptions;

use super::accounts::Service as AccountService;
use super::event::Event;
use super::history;
use super::rooms::Hub;
use direct::Direct;
use feeds::{FeedContext, Feeds};
use names::Names;
use nicks::Nicks;
use who::Nodes;

/// How long NATS may be unreachable before the node closes its clients'
/// sessions (ERROR 8, CLOSE). Shorter outages (a NATS server restarting,
/// the client moving to another one) only delay messages.
pub const LOSS_GRACE: Duration = Duration::from_secs(5);

/// How long startup keeps trying to reach NATS and set up the stream.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// A random node id (16 hex digits), new at every start.
fn new_node_id() -> String {
    let bytes: [u8; 8] = rand::random();
    hex::encode(bytes)
}

/// Repeats `f` until it succeeds or [`STARTUP_DEADLINE`] passes.
async fn retry<T, F, Fut>(what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() < STARTUP_DEADLINE => {
                tracing::warn!(error = %format!("{e:#}"), "cluster: {what} failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.context(format!("cluster: {what}"))),
        }
    }
}

/// A node joined to its cluster: the bus, and the account stores unless
/// accounts are off.
pub struct Started {
    /// Rooms, history, nicks, direct messages, WHO.
    pub bus: Arc<NatsBus>,
    /// Accounts and offline direct messages in the cluster's bucket and
    /// stream (`None` with `--no-accounts`), ready: the node's copy of the
    /// account bucket is loaded.
    pub accounts: Option<AccountService>,
}

/// How long a request of the account stores is retried while JetStream is
/// not ready to answer it (a bucket or stream just created, a leader being
/// elected, NATS moving to another server).
pub const STORE_RETRY: Duration = Duration::from_secs(3);

/// Runs `f` until it succeeds or [`STORE_RETRY`] passes (then its last
/// error). `f` answers the expected outcomes (not found, already exists) as
/// `Ok`; only failures are retried.
async fn patiently<T, E, F, Fut>(what: &str, mut f: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let start = tokio::time::Instant::now();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() < STORE_RETRY => {
                tracing::debug!(error = %e, "cluster: {what} failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Connects to NATS, sets up the stream and buckets (and, if `offline_max`
/// is given, the account bucket and the offline stream with that bound per
/// account), and starts this node's background tasks.
///
/// # Errors
/// NATS unreachable or JetStream refusing the stream or a bucket for
/// [`STARTUP_DEADLINE`]; unreadable credentials.
pub async fn start(
    options: &ClusterOptions,
    hub: Arc<Hub>,
    settings: history::Settings,
    offline_max: Option<u32>,
) -> anyhow::Result<Started> {
    let node = new_node_id();
    let names = Names::new(&options.cluster_name);
    let (events_tx, events) = mpsc::channel(64);
    let urls = options.urls.join(",");
    let servers = options
        .urls
        .iter()
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("--cluster: {u}: not a NATS server URL"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = retry("connecting to NATS", || {
        let events_tx = events_tx.clone();
        let urls = urls.clone();
        let servers = servers.clone();
        async move {
            let connect = options
                .connect_options()
                .await?
                .event_callback(move |event| {
                    let tx = events_tx.clone();
                    async move {
                        let _ = tx.try_send(event);
                    }
                });
            connect
                .connect(servers)
                .await
                .with_context(|| format!("cannot connect to {urls}"))
        }
    })
    .await?;
    let js = jetstream::new(client.clone());
    let advertised = client.server_info().connect_urls.len().max(1);
    let (stream, replicas) = retry("setting up the JetStream stream", || {
        ensure_stream(
            &js,
            &names,
            options.cluster_replicas,
            advertised,
            settings.retain,
        )
    })
    .await?;
    let ttl = options.nick_ttl();
    let nick_kv = retry("setting up the nick bucket", || {
        ensure_bucket(&js, names.nick_bucket(), ttl, replicas)
    })
    .await?;
    let node_kv = retry("setting up the node bucket", || {
        ensure_bucket(&js, names.node_bucket(), ttl, replicas)
    })
    .await?;
    // A bucket just created may not take writes on every server yet.
    retry("registering this node", || async {
        node_kv
            .put(&node, Bytes::new())
            .await
            .context("cannot put this node's liveness entry")
    })
    .await?;
    let account_service = match offline_max {
        None => None,
        Some(max) => Some(start_accounts(&js, &names, replicas, max).await?),
    };
    let nodes = Nodes::new(ttl);
    nodes
        .clone()
        .follow(node_kv.clone())
        .await
        .map_err(anyhow::Error::msg)
        .context("cluster: cannot watch the node bucket")?;
    who::answer(client.clone(), &names, node.clone(), hub.clone())
        .await
        .map_err(anyhow::Error::msg)
        .context("cluster: cannot answer WHO")?;
    let room_names = names.clone();
    let notice_names = names.clone();
    let feeds = Feeds::new(FeedContext {
        stream,
        node: node.clone(),
        hub: hub.clone(),
        replay: settings.replay as usize,
        subject: Box::new(move |room| room_names.room(room)),
        client: client.clone(),
        notice_subject: Box::new(move |room| notice_names.notice(room)),
    });
    notices::follow_renames(&client, &names, node.clone(), hub.clone())
        .await
        .map_err(anyhow::Error::msg)
        .context("cluster: cannot follow renames")?;
    let nicks = Nicks::new(nick_kv, &node);
    let bus = Arc::new(NatsBus {
        node: node.clone(),
        names: names.clone(),
        client: client.clone(),
        js,
        hub: hub.clone(),
        nicks: nicks.clone(),
        direct: Arc::new(Direct::new(client.clone(), names.clone(), hub.clone())),
        feeds,
        nodes,
        next_message: AtomicU64::new(0),
        notices: notices::Notices::start(client.clone(), names.clone(), node.clone()),
    });
    tokio::spawn(renew(nicks, node_kv, node.clone(), hub.clone(), ttl));
    tokio::spawn(watch_connection(events, hub));
    tracing::info!(
        node = %node,
        cluster = %options.cluster_name,
        replicas,
        nick_ttl_secs = ttl.as_secs(),
        accounts = account_service.is_some(),
        "cluster: joined over NATS"
    );
    Ok(Started {
        bus,
        accounts: account_service,
    })
}

/// Sets up the offline stream and the account bucket and loads this node's
/// copy of the accounts.
async fn start_accounts(
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
    offline_max: u32,
) -> anyhow::Result<AccountService> {
    let stream = retry("setting up the offline stream", || {
        offline::ensure_stream(js, names, replicas, offline_max)
    })
    .await?;
    let offline = Arc::new(offline::ClusterOffline::new(
        js.clone(),
        stream,
        names.clone(),
        offline_max,
    ));
    let store = retry("setting up the account bucket", || async {
        let kv = accounts::ensure_bucket(js, names, replicas).await?;
        let store = accounts::ClusterAccounts::new(js, kv, names.clone(), offline.clone()).await?;
        store.follow().await?;
        Ok(store)
    })
    .await?;
    Ok(AccountService {
        accounts: store,
        offline,
        offline_max,
    })
}

/// Connects to NATS for an operator's command (no reconnection events,
/// nothing set up): the JetStream context.
///
/// # Errors
/// Bad URLs, unreadable credentials, NATS unreachable.
pub async fn connect_operator(options: &ClusterOptions) -> anyhow::Result<jetstream::Context> {
    let servers = options
        .urls
        .iter()
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("--cluster: {u}: not a NATS server URL"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = options
        .connect_options()
        .await?
        .connect(servers)
        .await
        .with_context(|| format!("cannot connect to {}", options.urls.join(",")))?;
    Ok(jetstream::new(client))
}

/// Creates the stream, or brings an existing one's per-room limit (and,
/// if `--cluster-replicas` was given, its replicas) to the settings.
/// Returns it and its replicas.
async fn ensure_stream(
    js: &jetstream::Context,
    names: &Names,
    replicas: Option<u8>,
    advertised: usize,
    retain: u32,
) -> anyhow::Result<(stream::Stream, usize)> {
    // JetStream keeps no message of a subject with a limit of 0: one it
    // must keep to deliver it. (0 in JetStream means "no limit".)
    let per_room = i64::from(retain.max(1));
    let default_replicas = if advertised >= 3 { 3 } else { 1 };
    if let Ok(mut existing) = js.get_stream(names.stream()).await {
        let info = existing.info().await.context("reading the stream")?.clone();
        let mut config = info.config.clone();
        let want_replicas = replicas.map_or(config.num_replicas, usize::from);
        if config.max_messages_per_subject != per_room || config.num_replicas != want_replicas {
            config.max_messages_per_subject = per_room;
            config.num_replicas = want_replicas;
            js.update_stream(config)
                .await
                .context("updating the stream")?;
        }
        let stream = js
            .get_stream(names.stream())
            .await
            .context("reading the stream")?;
        return Ok((stream, want_replicas));
    }
    let num_replicas = replicas.map_or(default_replicas, usize::from);
    let stream = js
        .create_stream(stream::Config {
            name: names.stream(),
            description: Some("dhchat rooms: one subject per room".into()),
            subjects: vec![names.room_wildcard()],
            max_messages_per_subject: per_room,
            discard: stream::DiscardPolicy::Old,
            storage: stream::StorageType::File,
            num_replicas,
            allow_direct: true,
            ..stream::Config::default()
        })
        .await
        .context("creating the stream")?;
    Ok((stream, num_replicas))
}

async fn ensure_bucket(
    js: &jetstream::Context,
    bucket: String,
    ttl: Duration,
    replicas: usize,
) -> anyhow::Result<kv::Store> {
    js.create_or_update_key_value(kv::Config {
        bucket: bucket.clone(),
        history: 1,
        max_age: ttl,
        storage: stream::StorageType::Memory,
        num_replicas: replicas,
        ..kv::Config::default()
    })
    .await
    .with_context(|| format!("setting up the bucket {bucket}"))
}

/// Every third of the time to live: renews this node's nicks and its
/// liveness entry; a member whose nick another member took meanwhile is
/// told and disconnected.
async fn renew(nicks: Arc<Nicks>, node_kv: kv::Store, node: String, hub: Arc<Hub>, ttl: Duration) {
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = node_kv.put(&node, Bytes::new()).await {
            tracing::warn!(error = %e, "cluster: cannot renew this node's liveness entry");
        }
        for member in nicks.renew().await {
            tracing::warn!(
                client = member,
                "cluster: the member's nick expired and was taken"
            );
            let text = "your nick was taken while the cluster was unreachable; reconnect";
            hub.send_to(member, Event::error(code::NAME_IN_USE, text));
            hub.send_to(member, Event::close(text));
        }
    }
}

/// Follows the NATS connection: after [`LOSS_GRACE`] without it, every
/// client gets ERROR 8 and CLOSE.
async fn watch_connection(mut events: mpsc::Receiver<async_nats::Event>, hub: Arc<Hub>) {
    let mut down_since: Option<tokio::time::Instant> = None;
    loop {
        let event = match down_since {
            Some(since) => match tokio::time::timeout_at(since + LOSS_GRACE, events.recv()).await {
                Ok(event) => event,
                Err(_) => {
                    tracing::error!(
                        "cluster: NATS unreachable for {}s; closing every session and refusing clients until it is back",
                        LOSS_GRACE.as_secs()
                    );
                    hub.refuse_all(
                        code::SERVER_BUSY,
                        "the server lost its cluster; try again later",
                    );
                    down_since = None;
                    continue;
                }
            },
            None => events.recv().await,
        };
        match event {
            Some(async_nats::Event::Disconnected) => {
                tracing::warn!("cluster: disconnected from NATS; reconnecting");
                down_since.get_or_insert_with(tokio::time::Instant::now);
            }
            Some(async_nats::Event::Connected) => {
                tracing::info!("cluster: connected to NATS");
                down_since = None;
            }
            Some(other) => tracing::info!(event = %other, "cluster: NATS event"),
            None => return,
        }
    }
}
