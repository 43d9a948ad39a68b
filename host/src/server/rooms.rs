//! The shared chat state: connected clients, the nick registry, rooms and
//! their members, and fan-out to each member's bounded queue.
//!
//! One `std::sync::Mutex` guards it all; no critical section awaits or does
//! I/O (queue pushes are `try_send`). Queues are bounded in records and in
//! bytes ([`queue_bytes`](super::queue_bytes)). A client whose queue is full
//! cannot keep up: it is marked and its connection task is told to end it.
//!
//! Join, part and rename notices: a member who joins or leaves a room is
//! told ("you joined ...", "you left ..."); the other members are told only
//! while the room, counting the member who moves, has at most
//! [`Settings::room_notice_limit`] members (large IRC channels and streaming
//! chats stop announcing joins the same way). So the notices of N joins into
//! one room grow linearly with N past the limit, not as N^2/2. In cluster
//! mode each node counts the room's members it has; for a notice from
//! another node it adds the members that node reported with it
//! ([`Hub::notice_from_node`]), so no node keeps counts that could go stale.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dhchat_core::names::MAX_NICK;
use tokio::sync::{mpsc, Notify};

use super::bus::{key, ClientId, Fanout, RegisterError, Registered, Rename};
use super::event::{Chat, Event};
use super::pressure::{self, Ahead};
use super::queue_bytes::{Budget, ClientBytes};

/// The room every client starts in.
pub const LOBBY: &str = "#lobby";

/// Most rooms one client may be in at once (a bound on the state one client
/// can make the server keep).
pub const MAX_ROOMS_PER_CLIENT: usize = 256;

/// Most messages [`Hub::deliver_rooms`] queues under one hold of the lock
/// (a run of 16 messages to a room of 1,000 is 16,000 pushes, a fraction
/// of a millisecond; sessions wait no longer for the hub than that).
pub const RELAY_RUN: usize = 16;

/// Default of [`Settings::room_notice_limit`]: rooms of more members than
/// this do not announce joins, parts and renames to their other members.
pub const DEFAULT_ROOM_NOTICE_LIMIT: usize = 200;

struct Client {
    nick: String,
    tx: mpsc::Sender<Event>,
    bytes: Arc<ClientBytes>,
    kill: Arc<Notify>,
    rooms: BTreeSet<String>,
    kicked: bool,
    /// Its nick is an account and it proved the account's key (flags bit 2).
    account: bool,
}

struct Room {
    name: String,
    /// Ordered by id, i.e. by connection order, so WHO answers are stable.
    members: BTreeSet<ClientId>,
}

impl Room {
    fn new(name: &str) -> Room {
        Room {
            name: name.to_owned(),
            members: BTreeSet::new(),
        }
    }

    /// Members here.
    fn size(&self) -> usize {
        self.members.len()
    }
}

/// Hashes the hub's own client ids: a counter, never a peer's input, so
/// the flooding defence of the default hasher is not needed on the fan-out
/// path (a multiply, folded, spreads consecutive ids over the table).
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let p = u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

/// Maps keyed by client id.
type ById<V> = HashMap<ClientId, V, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct State {
    next_id: ClientId,
    clients: ById<Client>,
    nicks: HashMap<String, ClientId>,
    rooms: HashMap<String, Room>,
    closing: bool,
}

/// The hub's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Most clients connected at once.
    pub max_clients: usize,
    /// Records queued for one client.
    pub queue: usize,
    /// Bytes queued for one client.
    pub queue_bytes: usize,
    /// Bytes queued for all clients together.
    pub max_queued_bytes: usize,
    /// How long a member with events queued may take none of them before
    /// senders stop waiting for it ([`pressure`](super::pressure)).
    pub stall: Duration,
    /// Largest room (counting the member who joins, leaves or is renamed)
    /// whose other members are told of joins, parts and renames.
    pub room_notice_limit: usize,
}

/// The shared state.
pub struct Hub {
    state: Mutex<State>,
    max_clients: usize,
    queue: usize,
    budget: Arc<Budget>,
    stall: Duration,
    room_notice_limit: usize,
}

/// A member's move into or out of a room, as [`Hub::notice_from_node`]
/// relays it from another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// It joined: the reported count includes it.
    Joined,
    /// It left: the reported count no longer includes it.
    Left,
}

/// A sender as a room message carries it ([`Hub::speaker`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    /// Its nick.
    pub nick: String,
    /// The room's spelling.
    pub room: String,
    /// Its nick is an account whose key it proved (flags bit 2).
    pub account: bool,
}

/// What [`Hub::leave`] took a member out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    /// Its nick.
    pub nick: String,
    /// For each room it was in: the room's key, spelling and the members it
    /// has here now.
    pub rooms: Vec<(String, String, usize)>,
}

/// Queues `ev` for `client`, one of `clients` connected; a client whose
/// queue is full (records or bytes) is marked and told to end.
fn push_counted(client: &mut Client, clients: usize, ev: Event) {
    if client.kicked {
        return;
    }
    let n = ev.queued_bytes();
    if !client.bytes.try_reserve(n, clients) {
        client.kicked = true;
        client.kill.notify_one();
        return;
    }
    match client.tx.try_send(ev) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            client.bytes.release(n);
            client.kicked = true;
            client.kill.notify_one();
        }
        Err(mpsc::error::TrySendError::Closed(_)) => client.bytes.release(n),
    }
}

fn notice_room(st: &mut State, room_key: &str, except: ClientId, text: &str) {
    st.room_broadcast(room_key, except, || Event::notice(text));
}

/// Members of `room_key` here, 0 if it has none.
fn local_members(st: &State, room_key: &str) -> usize {
    st.rooms.get(room_key).map_or(0, |r| r.members.len())
}

impl State {
    /// Queues `event()` for every member of `room_key` but `except`. Borrows
    /// the rooms and the clients apart, so nothing is copied per message.
    fn room_broadcast(&mut self, room_key: &str, except: ClientId, event: impl Fn() -> Event) {
        let Some(room) = self.rooms.get(room_key) else {
            return;
        };
        let clients = self.clients.len();
        for m in room.members.iter().filter(|m| **m != except) {
            if let Some(c) = self.clients.get_mut(m) {
                push_counted(c, clients, event());
            }
        }
    }

    /// Queues each event of `run` (live messages to the room `room_key`,
    /// in order, each with its sender) for every member of the room but
    /// that message's sender. Member by member: one member's messages go
    /// onto its queue together, so its writer takes them in one batch rather
    /// than being woken for each.
    fn room_relay(&mut self, room_key: &str, run: &[(ClientId, Event)]) {
        let Some(room) = self.rooms.get(room_key) else {
            return;
        };
        let clients = self.clients.len();
        for m in &room.members {
            if let Some(c) = self.clients.get_mut(m) {
                for (sender, ev) in run {
                    if sender != m {
                        push_counted(c, clients, ev.clone());
                    }
                }
            }
        }
    }

    /// Queues `ev` for client `id`, if connected.
    fn push(&mut self, id: ClientId, ev: Event) {
        let clients = self.clients.len();
        if let Some(c) = self.clients.get_mut(&id) {
            push_counted(c, clients, ev);
        }
    }
}

impl Hub {
    /// A hub admitting `settings.max_clients`, with queues of
    /// `settings.queue` records (at least 16) and `settings.queue_bytes`
    /// bytes, `settings.max_queued_bytes` in all.
    pub fn new(settings: Settings) -> Arc<Hub> {
        let queue = settings.queue.max(16);
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            max_clients: settings.max_clients,
            queue,
            budget: Budget::new(settings.queue_bytes, settings.max_queued_bytes, queue),
            stall: settings.stall,
            room_notice_limit: settings.room_notice_limit,
        })
    }

    /// Whether a room message from `sender` to `room_key` should wait
    /// ([`pressure`]): some other member of the room that still reads has
    /// its queue, with `ahead` in flight towards it, more than half full.
    /// While no client has more than a quarter of its queue in use (the
    /// budget counts them), the answer is no without looking at the room's
    /// members one by one.
    pub fn room_congested(&self, room_key: &str, sender: ClientId, ahead: Ahead) -> bool {
        if self.budget.none_can_hold_back(ahead) {
            return false;
        }
        let st = self.lock();
        let Some(room) = st.rooms.get(room_key) else {
            return false;
        };
        let max_bytes = self.budget.per_client();
        let now = pressure::mono_ms();
        room.members
            .iter()
            .filter(|m| **m != sender)
            .filter_map(|m| st.clients.get(m))
            .any(|c| {
                !c.kicked
                    && pressure::holds_back(
                        c.tx.max_capacity().saturating_sub(c.tx.capacity()),
                        c.bytes.queued(),
                        c.tx.max_capacity(),
                        max_bytes,
                        ahead,
                        c.bytes.progress().idle_at(now),
                        self.stall,
                    )
            })
    }

    /// Waits while [`Hub::room_congested`] (with `ahead()` in flight, asked
    /// again at each check); returns how long it waited.
    pub async fn wait_for_room(
        &self,
        room_key: &str,
        sender: ClientId,
        ahead: impl Fn() -> Ahead,
    ) -> Duration {
        self.budget
            .drained()
            .wait_while(|| self.room_congested(room_key, sender, ahead()))
            .await
    }

    /// Whether a room of `size` members (counting the one who moves)
    /// announces joins, parts and renames to its other members.
    fn announces(&self, size: usize) -> bool {
        size <= self.room_notice_limit
    }

    /// Bytes queued for all clients now.
    pub fn queued_bytes(&self) -> usize {
        self.budget.total()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Clients connected now.
    pub fn count(&self) -> usize {
        self.lock().clients.len()
    }

    /// Registers a client that finished its handshake asking for `wanted`
    /// (a valid nick): assigns it or a free variant that is not in
    /// `reserved` (lookup keys of other keys' accounts), and queues WELCOME.
    ///
    /// # Errors
    /// [`RegisterError::Busy`] at the client cap or while shutting down.
    pub fn register(
        &self,
        wanted: &str,
        reserved: &HashSet<String>,
        welcome: impl FnOnce(&str) -> Event,
    ) -> Result<Registered, RegisterError> {
        let mut st = self.lock();
        if st.closing || st.clients.len() >= self.max_clients {
            return Err(RegisterError::Busy);
        }
        let nick = free_variant(&st, wanted, reserved);
        st.next_id += 1;
        let id = st.next_id;
        let (tx, rx) = mpsc::channel(self.queue);
        let kill = Arc::new(Notify::new());
        let bytes = self.budget.client();
        st.nicks.insert(key(&nick), id);
        st.clients.insert(
            id,
            Client {
                nick: nick.clone(),
                tx,
                bytes: bytes.clone(),
                kill: kill.clone(),
                rooms: BTreeSet::new(),
                kicked: false,
                account: false,
            },
        );
        st.push(id, welcome(&nick));
        Ok(Registered {
            id,
            nick,
            rx,
            bytes,
            kill,
        })
    }

    /// Removes a client, telling the members of its rooms.
    pub fn unregister(&self, id: ClientId, reason: &str) {
        self.leave(id, reason);
    }

    /// Removes a client, telling the members of its rooms (those within the
    /// notice limit) that it left; returns its nick and rooms (`None` if it
    /// was not connected).
    pub fn leave(&self, id: ClientId, reason: &str) -> Option<Departure> {
        let mut st = self.lock();
        let client = st.clients.remove(&id)?;
        st.nicks.remove(&key(&client.nick));
        let text = format!("{} left ({reason})", client.nick);
        let mut rooms = Vec::with_capacity(client.rooms.len());
        for room_key in &client.rooms {
            let (size, name, left) = match st.rooms.get_mut(room_key) {
                Some(r) => {
                    let size = r.size();
                    r.members.remove(&id);
                    (size, r.name.clone(), r.members.len())
                }
                None => continue,
            };
            if left == 0 {
                if room_key != LOBBY {
                    st.rooms.remove(room_key);
                }
            } else if self.announces(size) {
                notice_room(&mut st, room_key, id, &text);
            }
            rooms.push((room_key.clone(), name, left));
        }
        Some(Departure {
            nick: client.nick,
            rooms,
        })
    }

    /// Queues `ev` for client `id` (which is disconnected if its queue is
    /// full).
    pub fn send_to(&self, id: ClientId, ev: Event) {
        self.lock().push(id, ev);
    }

    /// What a room message from `id` to `room_key` carries, read under one
    /// lock: its nick, the room's spelling (`fallback` if the room does not
    /// exist) and whether its nick is an account whose key it proved.
    /// `None` if `id` is not connected.
    pub fn speaker(&self, id: ClientId, room_key: &str, fallback: &str) -> Option<Speaker> {
        let st = self.lock();
        let c = st.clients.get(&id)?;
        let room = st
            .rooms
            .get(room_key)
            .map_or_else(|| fallback.to_owned(), |r| r.name.clone());
        Some(Speaker {
            nick: c.nick.clone(),
            room,
            account: c.account,
        })
    }

    /// The current nick of `id`.
    pub fn nick_of(&self, id: ClientId) -> Option<String> {
        self.lock().clients.get(&id).map(|c| c.nick.clone())
    }

    /// Marks whether `id`'s nick is an account whose key it proved (flags
    /// bit 2 on what it sends from now on).
    pub fn set_account(&self, id: ClientId, account: bool) {
        if let Some(c) = self.lock().clients.get_mut(&id) {
            c.account = account;
        }
    }

    /// Whether `id`'s nick is an account whose key it proved.
    pub fn is_account(&self, id: ClientId) -> bool {
        self.lock().clients.get(&id).is_some_and(|c| c.account)
    }

    /// Whether `id` is in the room `room_key`.
    pub fn is_member(&self, id: ClientId, room_key: &str) -> bool {
        self.lock()
            .clients
            .get(&id)
            .is_some_and(|c| c.rooms.contains(room_key))
    }

    /// The spelling of a room that exists, or `fallback`.
    pub fn room_name(&self, room_key: &str, fallback: &str) -> String {
        self.lock()
            .rooms
            .get(room_key)
            .map_or_else(|| fallback.to_owned(), |r| r.name.clone())
    }

    /// Number of rooms `id` is in.
    pub fn rooms_of(&self, id: ClientId) -> usize {
        self.lock().clients.get(&id).map_or(0, |c| c.rooms.len())
    }

    /// Relays a stored room message to every member but its sender
    /// (encoded once for all of them).
    pub fn deliver_room(&self, room_key: &str, sender: ClientId, chat: Arc<Chat>) {
        let ev = Event::relay(chat);
        self.lock().room_broadcast(room_key, sender, || ev.clone());
    }

    /// Relays stored room messages (in the order given, each with its
    /// sender) to every member of each one's room but its sender: each
    /// encoded once, before the lock is taken; consecutive messages to one
    /// room (at most [`RELAY_RUN`]) are queued under one hold of the lock,
    /// member by member.
    pub fn deliver_rooms(&self, batch: &[(ClientId, Arc<Chat>)]) {
        let mut runs: Vec<(String, Vec<(ClientId, Event)>)> = Vec::new();
        for (sender, chat) in batch {
            let room_key = key(&chat.room);
            let ev = (*sender, Event::relay(chat.clone()));
            match runs.last_mut() {
                Some((k, run)) if *k == room_key && run.len() < RELAY_RUN => run.push(ev),
                _ => runs.push((room_key, vec![ev])),
            }
        }
        for (room_key, run) in &runs {
            self.lock().room_relay(room_key, run);
        }
    }

    /// Sends a direct message from `from` to the client called `to`.
    /// Returns false if no such client is connected.
    pub fn direct(&self, from: ClientId, to: &str, time_ms: u64, text: &str) -> bool {
        let mut st = self.lock();
        let Some((sender, account)) = st.clients.get(&from).map(|c| (c.nick.clone(), c.account))
        else {
            return false;
        };
        let Some(&target) = st.nicks.get(&key(to)) else {
            return false;
        };
        let Some(c) = st.clients.get(&target) else {
            return false;
        };
        let room = format!("@{}", c.nick);
        let chat = Chat {
            time_ms,
            history: false,
            from: sender,
            room,
            text: text.to_owned(),
            legacy: false,
            account,
        };
        st.push(target, Event::Chat(Arc::new(chat)));
        true
    }

    /// Joins `id` to a room after its history was read: queues the history,
    /// then adds the member (so history comes before any live message) and
    /// tells the other members. Returns false if it was a member already.
    pub fn join(&self, id: ClientId, room: &str, history: Vec<Chat>) -> bool {
        let mut st = self.lock();
        let room_key = key(room);
        let Some(client) = st.clients.get(&id) else {
            return false;
        };
        if client.rooms.contains(&room_key) {
            return false;
        }
        let nick = client.nick.clone();
        let room_entry = st
            .rooms
            .entry(room_key.clone())
            .or_insert_with(|| Room::new(room));
        room_entry.members.insert(id);
        let name = room_entry.name.clone();
        let size = room_entry.size();
        if let Some(c) = st.clients.get_mut(&id) {
            c.rooms.insert(room_key.clone());
        }
        for mut chat in history {
            chat.room.clone_from(&name);
            st.push(id, Event::Chat(Arc::new(chat)));
        }
        if self.announces(size) {
            notice_room(&mut st, &room_key, id, &format!("{nick} joined {name}"));
        }
        true
    }

    /// Takes `id` out of a room, telling it, and the other members if the
    /// room is within the notice limit. Returns false if it was not a
    /// member.
    pub fn part(&self, id: ClientId, room: &str) -> bool {
        let mut st = self.lock();
        let room_key = key(room);
        let Some(c) = st.clients.get_mut(&id) else {
            return false;
        };
        if !c.rooms.remove(&room_key) {
            return false;
        }
        let nick = c.nick.clone();
        let (empty, name, size) = match st.rooms.get_mut(&room_key) {
            Some(r) => {
                let size = r.size();
                r.members.remove(&id);
                (r.members.is_empty(), r.name.clone(), size)
            }
            None => (false, room.to_owned(), 0),
        };
        if empty && room_key != LOBBY {
            st.rooms.remove(&room_key);
        }
        st.push(id, Event::notice(&format!("you left {name}")));
        if self.announces(size) {
            notice_room(&mut st, &room_key, id, &format!("{nick} left {name}"));
        }
        true
    }

    /// Changes the nick of `id` to `new` (a valid nick), telling it and,
    /// once each, the members of its rooms that are within the notice limit.
    pub fn rename(&self, id: ClientId, new: &str) -> Rename {
        let mut st = self.lock();
        let new_key = key(new);
        if st.nicks.get(&new_key).is_some_and(|owner| *owner != id) {
            return Rename::Taken;
        }
        let Some(c) = st.clients.get_mut(&id) else {
            return Rename::Taken;
        };
        let old = std::mem::replace(&mut c.nick, new.to_owned());
        let rooms: Vec<String> = c.rooms.iter().cloned().collect();
        st.push(id, Event::notice(&format!("you are now known as {new}")));
        st.nicks.remove(&key(&old));
        st.nicks.insert(new_key, id);
        let text = format!("{old} is now known as {new}");
        self.notice_members_of(&mut st, &rooms, id, &text);
        Rename::Changed(old)
    }

    /// Tells every member of the rooms `room_keys` that are within the
    /// notice limit, but `except`, `text` once (however many of those rooms
    /// it is in).
    fn notice_members_of(
        &self,
        st: &mut State,
        room_keys: &[String],
        except: ClientId,
        text: &str,
    ) {
        let mut told = BTreeSet::new();
        for room_key in room_keys {
            let members: Vec<ClientId> = match st.rooms.get(room_key) {
                Some(r) if self.announces(r.size()) => r.members.iter().copied().collect(),
                _ => continue,
            };
            for m in members {
                if m != except && told.insert(m) {
                    st.push(m, Event::notice(text));
                }
            }
        }
    }

    /// The rooms `id` is in: each one's spelling and its members here.
    pub fn room_sizes_of(&self, id: ClientId) -> Vec<(String, usize)> {
        let st = self.lock();
        let Some(c) = st.clients.get(&id) else {
            return Vec::new();
        };
        c.rooms
            .iter()
            .filter_map(|k| st.rooms.get(k).map(|r| (r.name.clone(), r.size())))
            .collect()
    }

    /// Members of the room `room_key` on this node (0 if none).
    pub fn local_members(&self, room_key: &str) -> usize {
        local_members(&self.lock(), room_key)
    }

    /// Cluster mode: `nick`, a member on another node that has `remote`
    /// members of the room `room_key` now, joined or left (`moved`) the
    /// room. If the room has members here and is within the notice limit
    /// (counting its members here, `remote` and, when it left, the one who
    /// left), tells them all "`nick` joined ROOM", "`nick` left ROOM", or,
    /// with a `reason` (it disconnected), "`nick` left (REASON)".
    pub fn notice_from_node(
        &self,
        room_key: &str,
        remote: usize,
        moved: Move,
        nick: &str,
        reason: Option<&str>,
    ) {
        let mut st = self.lock();
        let Some(r) = st.rooms.get(room_key) else {
            return;
        };
        if r.members.is_empty() {
            return;
        }
        let size = r.size().saturating_add(remote);
        let size = match moved {
            Move::Joined => size,
            Move::Left => size.saturating_add(1),
        };
        if !self.announces(size) {
            return;
        }
        let text = match (moved, reason) {
            (Move::Joined, _) => format!("{nick} joined {}", r.name),
            (Move::Left, None) => format!("{nick} left {}", r.name),
            (Move::Left, Some(reason)) => format!("{nick} left ({reason})"),
        };
        notice_room(&mut st, room_key, 0, &text);
    }

    /// Cluster mode: a member on another node was renamed from `old` to
    /// `new`. `rooms` are its rooms, each with the members that node has of
    /// it; tells the members here of those rooms that are within the notice
    /// limit (counting both nodes' members), each once.
    pub fn rename_from_node(&self, rooms: &[(String, usize)], old: &str, new: &str) {
        let mut st = self.lock();
        let text = format!("{old} is now known as {new}");
        let mut told = BTreeSet::new();
        for (room_key, remote) in rooms {
            let members: Vec<ClientId> = match st.rooms.get(room_key) {
                Some(r) if self.announces(r.size().saturating_add(*remote)) => {
                    r.members.iter().copied().collect()
                }
                _ => continue,
            };
            for m in members {
                if told.insert(m) {
                    st.push(m, Event::notice(&text));
                }
            }
        }
    }

    /// A room's spelling and its members' nicks, if it exists.
    pub fn roster(&self, room: &str) -> Option<(String, Vec<String>)> {
        let st = self.lock();
        let r = st.rooms.get(&key(room))?;
        let nicks = r
            .members
            .iter()
            .filter_map(|m| st.clients.get(m).map(|c| c.nick.clone()))
            .collect();
        Some((r.name.clone(), nicks))
    }

    /// Queues ERROR `code` with `text`, then CLOSE, for every client (the
    /// hub stays open: the cluster bus uses it when it loses NATS).
    pub fn refuse_all(&self, code: u16, text: &str) {
        let mut st = self.lock();
        let clients = st.clients.len();
        for c in st.clients.values_mut() {
            push_counted(c, clients, Event::error(code, text));
            push_counted(c, clients, Event::close(text));
        }
    }

    /// Refuses new clients from now on and queues CLOSE for every client.
    pub fn close_all(&self, reason: &str) {
        let mut st = self.lock();
        st.closing = true;
        let clients = st.clients.len();
        for c in st.clients.values_mut() {
            push_counted(c, clients, Event::close(reason));
        }
    }
}

impl Fanout for Hub {
    fn to_room(&self, room_key: &str, sender: ClientId, chat: Arc<Chat>) {
        self.deliver_room(room_key, sender, chat);
    }

    fn to_rooms(&self, batch: &[(ClientId, Arc<Chat>)]) {
        self.deliver_rooms(batch);
    }

    fn to_member(&self, member: ClientId, event: Event) {
        self.send_to(member, event);
    }

    fn is_member(&self, member: ClientId, room_key: &str) -> bool {
        Hub::is_member(self, member, room_key)
    }

    fn join(&self, member: ClientId, room: &str, history: Vec<Chat>) -> bool {
        Hub::join(self, member, room, history)
    }
}

/// `wanted` if free, else the first free of `wanted2`, `wanted3`, ...
/// (shortened to stay within 32 bytes). A nick is free when no client has it
/// and it is not in `reserved`.
fn free_variant(st: &State, wanted: &str, reserved: &HashSet<String>) -> String {
    let free = |nick: &str| {
        let k = key(nick);
        !st.nicks.contains_key(&k) && !reserved.contains(&k)
    };
    if free(wanted) {
        return wanted.to_owned();
    }
    // At most `clients + reserved` nicks are unavailable, so one of the next
    // `clients + reserved + 1` distinct candidates is free.
    for n in 2..(st.clients.len() + reserved.len()) as u64 + 3 {
        let suffix = n.to_string();
        let keep = MAX_NICK.saturating_sub(suffix.len()).min(wanted.len());
        let candidate = format!("{}{suffix}", wanted.get(..keep).unwrap_or(wanted));
        if free(&candidate) {
            return candidate;
        }
    }
    // Unreachable by the counting argument above; still a valid nick.
    format!("user{}", st.next_id + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome(nick: &str) -> Event {
        Event::notice(nick)
    }

    #[test]
    fn taken_nicks_get_free_variants_case_insensitively() {
        let hub = Hub::new(Settings {
            max_clients: 10,
            queue: 16,
            queue_bytes: 1 << 20,
            max_queued_bytes: 1 << 20,
            stall: Duration::from_secs(5),
            room_notice_limit: DEFAULT_ROOM_NOTICE_LIMIT,
        });
        let a = hub.register("Alice", &HashSet::new(), welcome).expect("a");
        let b = hub.register("alice", &HashSet::new(), welcome).expect("b");
        let c = hub.register("ALICE", &HashSet::new(), welcome).expect("c");
        assert_eq!(a.nick, "Alice");
        assert_eq!(b.nick, "alice2");
        assert_eq!(c.nick, "ALICE3");
        let long = "x".repeat(32);
        hub.register(&long, &HashSet::new(), welcome).expect("long");
        let v = hub
            .register(&long, &HashSet::new(), welcome)
            .expect("long2");
        assert_eq!(v.nick.len(), 32);
        assert!(v.nick.ends_with('2'));
    }

    #[test]
    fn client_cap_is_busy() {
        let hub = Hub::new(Settings {
            max_clients: 1,
            queue: 16,
            queue_bytes: 1 << 20,
            max_queued_bytes: 1 << 20,
            stall: Duration::from_secs(5),
            room_notice_limit: DEFAULT_ROOM_NOTICE_LIMIT,
        });
        let _a = hub.register("a", &HashSet::new(), welcome).expect("a");
        assert!(matches!(
            hub.register("b", &HashSet::new(), welcome),
            Err(RegisterError::Busy)
        ));
    }

    #[test]
    fn rename_to_taken_nick_is_refused_but_own_case_change_is_fine() {
        let hub = Hub::new(Settings {
            max_clients: 10,
            queue: 16,
            queue_bytes: 1 << 20,
            max_queued_bytes: 1 << 20,
            stall: Duration::from_secs(5),
            room_notice_limit: DEFAULT_ROOM_NOTICE_LIMIT,
        });
        let a = hub.register("alice", &HashSet::new(), welcome).expect("a");
        let _b = hub.register("bob", &HashSet::new(), welcome).expect("b");
        assert_eq!(hub.rename(a.id, "BOB"), Rename::Taken);
        assert_eq!(hub.rename(a.id, "Alice"), Rename::Changed("alice".into()));
        assert_eq!(hub.nick_of(a.id).as_deref(), Some("Alice"));
    }

    fn big_hub() -> Arc<Hub> {
        Hub::new(Settings {
            max_clients: 4 * DEFAULT_ROOM_NOTICE_LIMIT,
            queue: 4 * DEFAULT_ROOM_NOTICE_LIMIT,
            queue_bytes: 1 << 24,
            max_queued_bytes: 1 << 30,
            stall: Duration::from_secs(5),
            room_notice_limit: DEFAULT_ROOM_NOTICE_LIMIT,
        })
    }

    /// The texts of the NOTICEs queued for `reg` so far.
    fn notices(reg: &mut Registered) -> Vec<String> {
        let mut texts: Vec<String> = Vec::new();
        while let Ok(ev) = reg.rx.try_recv() {
            reg.bytes.release(ev.queued_bytes());
            ev.with_message(|m| {
                if let dhchat_core::message::Message::Notice { text } = m {
                    texts.push((*text).to_owned());
                }
            });
        }
        texts
    }

    fn member(hub: &Hub, nick: &str) -> Registered {
        let mut r = hub.register(nick, &HashSet::new(), welcome).expect(nick);
        notices(&mut r);
        r
    }

    #[test]
    fn a_room_within_the_limit_announces_joins_parts_renames_and_disconnects() {
        let hub = big_hub();
        let mut alice = member(&hub, "alice");
        let mut bob = member(&hub, "bob");
        assert!(hub.join(alice.id, "#x", Vec::new()));
        assert!(hub.join(bob.id, "#x", Vec::new()));
        assert!(hub.join(alice.id, "#y", Vec::new()));
        assert!(hub.join(bob.id, "#y", Vec::new()));
        assert_eq!(notices(&mut alice), ["bob joined #x", "bob joined #y"]);
        assert!(hub.part(bob.id, "#y"));
        assert_eq!(notices(&mut alice), ["bob left #y"]);
        assert_eq!(notices(&mut bob), ["you left #y"]);
        assert!(hub.join(bob.id, "#y", Vec::new()));
        notices(&mut alice);
        // Two rooms shared: one rename notice.
        assert_eq!(hub.rename(bob.id, "robert"), Rename::Changed("bob".into()));
        assert_eq!(notices(&mut alice), ["bob is now known as robert"]);
        let gone = hub
            .leave(bob.id, "connection lost")
            .expect("bob was connected");
        assert_eq!(gone.nick, "robert");
        assert_eq!(
            gone.rooms,
            [
                ("#x".to_owned(), "#x".to_owned(), 1),
                ("#y".to_owned(), "#y".to_owned(), 1)
            ]
        );
        assert_eq!(
            notices(&mut alice),
            [
                "robert left (connection lost)",
                "robert left (connection lost)"
            ]
        );
    }

    #[test]
    fn past_the_default_limit_only_the_mover_is_told_and_a_long_standing_member_stops_hearing() {
        let hub = big_hub();
        let extra = 25;
        let mut members: Vec<Registered> = (0..DEFAULT_ROOM_NOTICE_LIMIT + extra)
            .map(|i| member(&hub, &format!("m{i}")))
            .collect();
        for m in &members {
            assert!(hub.join(m.id, "#big", Vec::new()));
        }
        let first = notices(&mut members[0]);
        assert_eq!(
            first.len(),
            DEFAULT_ROOM_NOTICE_LIMIT - 1,
            "joins announced while the room had at most the limit"
        );
        assert_eq!(first.last().map(String::as_str), Some("m199 joined #big"));
        // Everyone's notices together: each join told the members before
        // it only while the room was within the limit.
        let total: usize =
            members.iter_mut().map(|m| notices(m).len()).sum::<usize>() + first.len();
        let l = DEFAULT_ROOM_NOTICE_LIMIT;
        assert_eq!(total, l * (l - 1) / 2);
        // A part in the big room: the parter is told, nobody else.
        let parter = members.pop().expect("parter");
        assert!(hub.part(parter.id, "#big"));
        assert!(members.iter_mut().all(|m| notices(m).is_empty()));
        // A rename caused by the big room alone tells nobody else.
        let renamed = members[10].id;
        assert!(matches!(hub.rename(renamed, "renamed"), Rename::Changed(_)));
        assert!(members.iter_mut().enumerate().all(|(i, m)| {
            let n = notices(m);
            if i == 10 {
                n == ["you are now known as renamed"]
            } else {
                n.is_empty()
            }
        }));
        // ...but one in a small room it shares tells that room's members.
        assert!(hub.join(members[10].id, "#small", Vec::new()));
        assert!(hub.join(members[11].id, "#small", Vec::new()));
        notices(&mut members[10]);
        assert!(matches!(hub.rename(renamed, "again"), Rename::Changed(_)));
        assert_eq!(notices(&mut members[11]), ["renamed is now known as again"]);
        assert!(notices(&mut members[12]).is_empty());
        // WHO still lists everyone.
        let (_, nicks) = hub.roster("#big").expect("room");
        assert_eq!(nicks.len(), DEFAULT_ROOM_NOTICE_LIMIT + extra - 1);
    }

    /// The (from, room, text) of the MESSAGEs queued for `reg` so far.
    fn chats(reg: &mut Registered) -> Vec<(String, String, String)> {
        let mut got = Vec::new();
        while let Ok(ev) = reg.rx.try_recv() {
            reg.bytes.release(ev.queued_bytes());
            ev.with_message(|m| {
                if let dhchat_core::message::Message::Message(c) = m {
                    got.push((c.from.to_owned(), c.room.to_owned(), c.text.to_owned()));
                }
            });
        }
        got
    }

    fn said(from: &str, room: &str, text: &str) -> Arc<Chat> {
        Arc::new(Chat {
            time_ms: 1,
            history: false,
            from: from.into(),
            room: room.into(),
            text: text.into(),
            legacy: false,
            account: false,
        })
    }

    #[test]
    fn a_batch_reaches_every_member_of_each_room_but_its_sender_in_the_order_given() {
        let hub = big_hub();
        let mut alice = member(&hub, "alice");
        let mut bob = member(&hub, "bob");
        let mut carol = member(&hub, "carol");
        for (m, room) in [(&alice, "#a"), (&bob, "#a"), (&bob, "#b"), (&carol, "#b")] {
            assert!(hub.join(m.id, room, Vec::new()));
        }
        notices(&mut alice);
        notices(&mut bob);
        notices(&mut carol);
        // Longer than one run, the rooms interleaved, both senders in #a.
        let mut batch = Vec::new();
        for i in 0..2 * RELAY_RUN + 3 {
            batch.push((alice.id, said("alice", "#a", &format!("a{i}"))));
            if i % 5 == 0 {
                batch.push((bob.id, said("bob", "#A", &format!("b{i}"))));
                batch.push((carol.id, said("carol", "#b", &format!("c{i}"))));
            }
        }
        hub.deliver_rooms(&batch);
        let expect = |who: ClientId, rooms: &[&str]| -> Vec<(String, String, String)> {
            batch
                .iter()
                .filter(|(s, c)| *s != who && rooms.contains(&key(&c.room).as_str()))
                .map(|(_, c)| (c.from.clone(), c.room.clone(), c.text.clone()))
                .collect()
        };
        assert_eq!(chats(&mut alice), expect(alice.id, &["#a"]));
        assert_eq!(chats(&mut bob), expect(bob.id, &["#a", "#b"]));
        assert_eq!(chats(&mut carol), expect(carol.id, &["#b"]));
        assert_eq!(hub.queued_bytes(), 0, "every byte counted was given back");
    }

    #[test]
    fn a_sender_waits_while_another_member_is_over_half_full_and_not_once_it_reads() {
        // Queues of 16 events: a member past 4 is loaded, past 8 holds back.
        let hub = Hub::new(Settings {
            max_clients: 8,
            queue: 16,
            queue_bytes: 1 << 20,
            max_queued_bytes: 1 << 30,
            stall: Duration::from_secs(5),
            room_notice_limit: DEFAULT_ROOM_NOTICE_LIMIT,
        });
        let mut alice = member(&hub, "alice");
        let mut bob = member(&hub, "bob");
        for m in [&alice, &bob] {
            assert!(hub.join(m.id, "#r", Vec::new()));
        }
        notices(&mut alice);
        notices(&mut bob);
        let none = Ahead::default();
        assert!(!hub.room_congested("#r", alice.id, none), "nothing queued");
        let say = |n: usize| {
            for i in 0..n {
                hub.deliver_room("#r", alice.id, said("alice", "#r", &format!("m{i}")));
            }
        };
        say(6);
        assert!(
            !hub.room_congested("#r", alice.id, none),
            "6 of 16: looked at, and not over half"
        );
        say(3);
        assert!(hub.room_congested("#r", alice.id, none), "9 of 16");
        assert!(
            !hub.room_congested("#r", bob.id, none),
            "a sender does not wait for its own queue"
        );
        let lots = Ahead {
            records: 9,
            bytes: 0,
        };
        assert_eq!(chats(&mut bob).len(), 9);
        assert!(!hub.room_congested("#r", alice.id, none), "bob read them");
        assert!(
            hub.room_congested("#r", alice.id, lots),
            "9 in flight towards every member"
        );
    }

    #[test]
    fn notices_from_another_node_count_its_members_toward_the_limit() {
        let hub = big_hub();
        let mut alice = member(&hub, "alice");
        assert!(hub.join(alice.id, "#x", Vec::new()));
        hub.notice_from_node("#x", 1, Move::Joined, "zed", None);
        hub.notice_from_node("#x", 0, Move::Left, "zed", None);
        hub.notice_from_node("#x", 0, Move::Left, "zed", Some("connection lost"));
        assert_eq!(
            notices(&mut alice),
            ["zed joined #x", "zed left #x", "zed left (connection lost)"]
        );
        // The other node has the rest of a room past the limit.
        let l = DEFAULT_ROOM_NOTICE_LIMIT;
        hub.notice_from_node("#x", l - 1, Move::Joined, "yan", None);
        assert_eq!(
            notices(&mut alice),
            ["yan joined #x"],
            "exactly at the limit"
        );
        hub.notice_from_node("#x", l, Move::Joined, "yan2", None);
        hub.notice_from_node("#x", l - 1, Move::Left, "yan2", None);
        assert!(notices(&mut alice).is_empty());
        // Rooms without members here are not this node's business.
        hub.notice_from_node("#nobody", 1, Move::Joined, "zed", None);
        // Renames: once per member, rooms past the limit left out.
        assert!(hub.join(alice.id, "#y", Vec::new()));
        hub.rename_from_node(&[("#x".into(), 1), ("#y".into(), 1)], "zed", "z");
        assert_eq!(notices(&mut alice), ["zed is now known as z"]);
        hub.rename_from_node(&[("#x".into(), l), ("#y".into(), l)], "z", "zz");
        assert!(notices(&mut alice).is_empty());
    }
}
