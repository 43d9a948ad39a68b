//! The shared chat state: connected clients, the nick registry, rooms and
//! their members, and fan-out to each member's bounded queue.
//!
//! One `std::sync::Mutex` guards it all; no critical section awaits or does
//! I/O (queue pushes are `try_send`). Queues are bounded in records and in
//! bytes ([`queue_bytes`](super::queue_bytes)). A client whose queue is full
//! cannot keep up: it is marked and its connection task is told to end it.

use std::collections::{BTreeSet, HashMap, HashSet};
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

#[derive(Default)]
struct State {
    next_id: ClientId,
    clients: HashMap<ClientId, Client>,
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
}

/// The shared state.
pub struct Hub {
    state: Mutex<State>,
    max_clients: usize,
    queue: usize,
    budget: Arc<Budget>,
    stall: Duration,
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
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            max_clients: settings.max_clients,
            queue: settings.queue.max(16),
            budget: Budget::new(settings.queue_bytes, settings.max_queued_bytes),
            stall: settings.stall,
        })
    }

    /// Whether a room message from `sender` to `room_key` should wait
    /// ([`pressure`]): some other member of the room that still reads has
    /// its queue, with `ahead` in flight towards it, more than half full.
    pub fn room_congested(&self, room_key: &str, sender: ClientId, ahead: Ahead) -> bool {
        let st = self.lock();
        let Some(room) = st.rooms.get(room_key) else {
            return false;
        };
        let max_bytes = self.budget.per_client();
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
                        c.bytes.progress().idle_for(),
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
        let mut st = self.lock();
        let Some(client) = st.clients.remove(&id) else {
            return;
        };
        st.nicks.remove(&key(&client.nick));
        let text = format!("{} left ({reason})", client.nick);
        for room_key in &client.rooms {
            let empty = match st.rooms.get_mut(room_key) {
                Some(r) => {
                    r.members.remove(&id);
                    r.members.is_empty()
                }
                None => false,
            };
            if empty {
                if room_key != LOBBY {
                    st.rooms.remove(room_key);
                }
            } else {
                notice_room(&mut st, room_key, id, &text);
            }
        }
    }

    /// Queues `ev` for client `id` (which is disconnected if its queue is
    /// full).
    pub fn send_to(&self, id: ClientId, ev: Event) {
        self.lock().push(id, ev);
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

    /// Relays a stored room message to every member but its sender.
    pub fn deliver_room(&self, room_key: &str, sender: ClientId, chat: Arc<Chat>) {
        self.lock()
            .room_broadcast(room_key, sender, || Event::Chat(chat.clone()));
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
        let room_entry = st.rooms.entry(room_key.clone()).or_insert_with(|| Room {
            name: room.to_owned(),
            members: BTreeSet::new(),
        });
        room_entry.members.insert(id);
        let name = room_entry.name.clone();
        if let Some(c) = st.clients.get_mut(&id) {
            c.rooms.insert(room_key.clone());
        }
        for mut chat in history {
            chat.room.clone_from(&name);
            st.push(id, Event::Chat(Arc::new(chat)));
        }
        notice_room(&mut st, &room_key, id, &format!("{nick} joined {name}"));
        true
    }

    /// Takes `id` out of a room. Returns false if it was not a member.
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
        let (empty, name) = match st.rooms.get_mut(&room_key) {
            Some(r) => {
                r.members.remove(&id);
                (r.members.is_empty(), r.name.clone())
            }
            None => (false, room.to_owned()),
        };
        if empty && room_key != LOBBY {
            st.rooms.remove(&room_key);
        }
        st.push(id, Event::notice(&format!("you left {name}")));
        notice_room(&mut st, &room_key, id, &format!("{nick} left {name}"));
        true
    }

    /// Changes the nick of `id` to `new` (a valid nick), telling it and the
    /// members of its rooms.
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
        let mut told = BTreeSet::new();
        for room_key in rooms {
            let members: Vec<ClientId> = st
                .rooms
                .get(&room_key)
                .map(|r| r.members.iter().copied().collect())
                .unwrap_or_default();
            for m in members {
                if m != id && told.insert(m) {
                    st.push(m, Event::notice(&text));
                }
            }
        }
        Rename::Changed(old)
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
        });
        let a = hub.register("alice", &HashSet::new(), welcome).expect("a");
        let _b = hub.register("bob", &HashSet::new(), welcome).expect("b");
        assert_eq!(hub.rename(a.id, "BOB"), Rename::Taken);
        assert_eq!(hub.rename(a.id, "Alice"), Rename::Changed("alice".into()));
        assert_eq!(hub.nick_of(a.id).as_deref(), Some("Alice"));
    }
}
