//! Room feeds: for each room with members on this node, one task that reads
//! the room's subject of the stream (an ordered consumer) and hands every
//! message to the local [`Fanout`] in the stream's order.
//!
//! The feed is also the only way into a room on this node: a JOIN is a
//! request to the room's feed, which answers it between two messages, with
//! the last `--history` messages it has read as the history and every later
//! one live. So a joiner sees each message exactly once (no gap, no
//! duplicate), and every member of a room on every node sees the room in one
//! order: the stream's.
//!
//! A new feed reads the room's retained messages from the stream's start
//! (keeping only the last `--history`) and answers no JOIN before it has
//! caught up with the last message that was stored when it started. A feed
//! whose room has no member left on this node ends; a JOIN that reaches a
//! feed as it ends is retried on a new one.
//!
//! The feed also follows the room's notice subject (joins, parts and
//! disconnects on other nodes, see [`notices`]): it
//! subscribes before it reads the stream, so every member it admits hears
//! of every later move in the room, on any node.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, Stream};
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, oneshot};

use super::notices;
use super::wire::RoomMessage;
use crate::server::bus::{key, ClientId, Closed, Fanout};
use crate::server::event::Chat;
use crate::server::rooms::Hub;

/// How often an idle feed checks whether its room still has local members.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Attempts to reach a room's feed before a JOIN gives up.
const JOIN_ATTEMPTS: usize = 3;
/// Longest pull request of a feed's consumer (its heartbeat is half).
const PULL_EXPIRES: Duration = Duration::from_secs(4);
/// How long a new feed keeps trying to read its room's position.
const START_DEADLINE: Duration = Duration::from_secs(10);

struct JoinRequest {
    member: ClientId,
    room: String,
    reply: oneshot::Sender<bool>,
}

struct Handle {
    generation: u64,
    tx: mpsc::Sender<JoinRequest>,
}

/// What every feed needs.
pub struct FeedContext {
    /// The stream of all rooms.
    pub stream: Stream,
    /// This node's id (its members are not relayed their own messages).
    pub node: String,
    /// The local clients and rooms.
    pub hub: Arc<Hub>,
    /// Messages replayed on JOIN.
    pub replay: usize,
    /// The room subject of a room.
    pub subject: Box<dyn Fn(&str) -> String + Send + Sync>,
    /// The core-NATS connection (for the room's notices).
    pub client: async_nats::Client,
    /// The notice subject of a room.
    pub notice_subject: Box<dyn Fn(&str) -> String + Send + Sync>,
}

/// The running feeds of this node.
pub struct Feeds {
    cx: Arc<FeedContext>,
    feeds: Arc<Mutex<HashMap<String, Handle>>>,
    generation: AtomicU64,
}

fn lock(m: &Mutex<HashMap<String, Handle>>) -> MutexGuard<'_, HashMap<String, Handle>> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Feeds {
    /// No feeds yet.
    pub fn new(cx: FeedContext) -> Feeds {
        Feeds {
            cx: Arc::new(cx),
            feeds: Arc::new(Mutex::new(HashMap::new())),
            generation: AtomicU64::new(0),
        }
    }

    /// The feed of `room_key`, started if there is none.
    fn feed(&self, room_key: &str) -> mpsc::Sender<JoinRequest> {
        let mut feeds = lock(&self.feeds);
        if let Some(h) = feeds.get(room_key) {
            if !h.tx.is_closed() {
                return h.tx.clone();
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(256);
        feeds.insert(
            room_key.to_owned(),
            Handle {
                generation,
                tx: tx.clone(),
            },
        );
        tokio::spawn(run(
            self.cx.clone(),
            self.feeds.clone(),
            room_key.to_owned(),
            generation,
            rx,
        ));
        tx
    }

    /// Joins `member` to `room` through the room's feed. `Ok(false)` if it
    /// was a member already.
    ///
    /// # Errors
    /// [`Closed`] if no feed of the room could be started (NATS is
    /// unreachable).
    pub async fn join(&self, member: ClientId, room: &str) -> Result<bool, Closed> {
        let room_key = key(room);
        if self.cx.hub.is_member(member, &room_key) {
            return Ok(false);
        }
        for _ in 0..JOIN_ATTEMPTS {
            let tx = self.feed(&room_key);
            let (reply, answer) = oneshot::channel();
            let request = JoinRequest {
                member,
                room: room.to_owned(),
                reply,
            };
            if tx.send(request).await.is_err() {
                continue;
            }
            if let Ok(joined) = answer.await {
                return Ok(joined);
            }
        }
        Err(Closed)
    }

    /// Rooms with a running feed on this node.
    pub fn count(&self) -> usize {
        lock(&self.feeds).len()
    }
}

/// The room's last stored sequence now (0 if it has no message).
async fn last_sequence(cx: &FeedContext, subject: &str) -> Result<u64, String> {
    match cx.stream.get_last_raw_message_by_subject(subject).await {
        Ok(m) => Ok(m.sequence),
        Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(0),
        Err(e) => Err(e.to_string()),
    }
}

async fn subscribe(
    cx: &FeedContext,
    subject: &str,
    deliver_policy: DeliverPolicy,
) -> Result<async_nats::jetstream::consumer::pull::Ordered, String> {
    let consumer = cx
        .stream
        .create_consumer(OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy,
            // Pull requests of at most this long, and idle heartbeats of
            // half of it: a consumer lost with its NATS server is noticed
            // and recreated (from the next sequence) within seconds, not
            // the client's default of tens of seconds.
            max_expires: PULL_EXPIRES,
            ..OrderedConfig::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    consumer.messages().await.map_err(|e| e.to_string())
}

/// The room's feed: start, catch up, then relay and answer JOINs.
async fn run(
    cx: Arc<FeedContext>,
    feeds: Arc<Mutex<HashMap<String, Handle>>>,
    room_key: String,
    generation: u64,
    mut joins: mpsc::Receiver<JoinRequest>,
) {
    let subject = (cx.subject)(&room_key);
    let notice_subject = (cx.notice_subject)(&room_key);
    let start = tokio::time::Instant::now();
    let (caught_up_at, mut messages, mut notices) = loop {
        let attempt = async {
            // Notices first: a member admitted later hears of every move.
            let notices = cx
                .client
                .subscribe(notice_subject.clone())
                .await
                .map_err(|e| e.to_string())?;
            cx.client.flush().await.map_err(|e| e.to_string())?;
            let last = last_sequence(&cx, &subject).await?;
            let messages = subscribe(&cx, &subject, DeliverPolicy::All).await?;
            Ok::<_, String>((last, messages, notices))
        }
        .await;
        match attempt {
            Ok(started) => break started,
            Err(e) if start.elapsed() < START_DEADLINE => {
                tracing::warn!(room = %room_key, error = %e, "cluster: cannot start the room's feed yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                tracing::error!(room = %room_key, error = %e, "cluster: cannot start the room's feed");
                end(&feeds, &room_key, generation, &mut joins);
                return;
            }
        }
    };
    let mut feed = Feed {
        cx: &cx,
        room_key: &room_key,
        ring: VecDeque::with_capacity(cx.replay),
        last_seen: 0,
        caught_up: caught_up_at == 0,
        caught_up_at,
        waiting: Vec::new(),
    };
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut notices_open = true;
    loop {
        tokio::select! {
            notice = notices.next(), if notices_open => match notice {
                Some(n) => notices::deliver(&cx.hub, &cx.node, &room_key, &n.payload),
                None => {
                    tracing::warn!(room = %room_key, "cluster: the room's notice subscription ended");
                    notices_open = false;
                }
            },
            next = messages.next() => match next {
                Some(Ok(msg)) => {
                    let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
                    feed.on_message(seq, &msg.payload);
                }
                Some(Err(e)) => {
                    tracing::warn!(room = %room_key, error = %e, "cluster: room feed error (the consumer resumes)");
                }
                None => {
                    // The consumer ended: resume after the last message read.
                    let resume = DeliverPolicy::ByStartSequence { start_sequence: feed.last_seen + 1 };
                    match subscribe(&cx, &subject, resume).await {
                        Ok(m) => messages = m,
                        Err(e) => {
                            tracing::warn!(room = %room_key, error = %e, "cluster: cannot resume the room's feed");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            },
            request = joins.recv() => match request {
                Some(request) => feed.on_join(request),
                None => return,
            },
            _ = check.tick() => {
                if !feed.caught_up {
                    // The newest stored message may have been trimmed away
                    // before it was read: catch up to what is there now.
                    if let Ok(last) = last_sequence(&cx, &subject).await {
                        if last <= feed.last_seen {
                            feed.mark_caught_up();
                        }
                    }
                } else if feed.waiting.is_empty() && !has_local_members(&cx.hub, &room_key) {
                    let mut map = lock(&feeds);
                    if has_local_members(&cx.hub, &room_key) {
                        continue;
                    }
                    if map.get(&room_key).is_some_and(|h| h.generation == generation) {
                        map.remove(&room_key);
                    }
                    drop(map);
                    // Pending JOINs are dropped: their senders retry on a
                    // new feed.
                    joins.close();
                    tracing::debug!(room = %room_key, "cluster: room feed ended (no local members)");
                    return;
                }
            }
        }
    }
}

fn end(
    feeds: &Mutex<HashMap<String, Handle>>,
    room_key: &str,
    generation: u64,
    joins: &mut mpsc::Receiver<JoinRequest>,
) {
    let mut map = lock(feeds);
    if map
        .get(room_key)
        .is_some_and(|h| h.generation == generation)
    {
        map.remove(room_key);
    }
    drop(map);
    joins.close();
}

fn has_local_members(hub: &Hub, room_key: &str) -> bool {
    hub.roster(room_key)
        .is_some_and(|(_, nicks)| !nicks.is_empty())
}

/// A running feed's state.
struct Feed<'a> {
    cx: &'a FeedContext,
    room_key: &'a str,
    /// The last `replay` messages read, oldest first (history copies).
    ring: VecDeque<Chat>,
    /// Sequence of the last message read.
    last_seen: u64,
    /// Whether the feed has read every message stored when it started.
    caught_up: bool,
    caught_up_at: u64,
    /// JOINs that arrived before the feed caught up.
    waiting: Vec<JoinRequest>,
}

impl Feed<'_> {
    fn on_message(&mut self, seq: u64, payload: &[u8]) {
        if seq != 0 && seq <= self.last_seen {
            return;
        }
        self.last_seen = seq.max(self.last_seen);
        match RoomMessage::decode(payload) {
            Ok(m) => {
                if self.cx.replay > 0 {
                    if self.ring.len() == self.cx.replay {
                        self.ring.pop_front();
                    }
                    self.ring.push_back(m.chat(true));
                }
                if self.caught_up {
                    let except = if m.node == self.cx.node { m.sender } else { 0 };
                    self.cx
                        .hub
                        .deliver_room(self.room_key, except, Arc::new(m.chat(false)));
                }
            }
            Err(why) => {
                tracing::warn!(room = %self.room_key, seq, why, "cluster: dropped a stored message that is not valid");
            }
        }
        if !self.caught_up && self.last_seen >= self.caught_up_at {
            self.mark_caught_up();
        }
    }

    fn mark_caught_up(&mut self) {
        self.caught_up = true;
        for request in std::mem::take(&mut self.waiting) {
            self.on_join(request);
        }
    }

    fn on_join(&mut self, request: JoinRequest) {
        if !self.caught_up {
            self.waiting.push(request);
            return;
        }
        let history: Vec<Chat> = self.ring.iter().cloned().collect();
        let joined = Fanout::join(self.cx.hub.as_ref(), request.member, &request.room, history);
        let _ = request.reply.send(joined);
    }
}
