//! [`NatsBus`]: the [`Bus`] of a cluster node.
//!
//! | operation | where it goes |
//! |---|---|
//! | register, rename | the nick bucket (create if absent), then the local hub; a rename is announced on the rename subject |
//! | publish | the room's subject of the stream, with an acknowledgement; members (here too) get it from the room's feed |
//! | join | the room's feed on this node (history, then live), then announced on the room's notice subject |
//! | part, unregister | the local hub, then announced on the room's (each room's) notice subject |
//! | direct | a request to the nick's subject |
//! | who | a request every node answers |

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use dhchat_core::message::error_code as code;
use dhchat_core::names::MAX_NICK;

use super::direct::Direct;
use super::feeds::Feeds;
use super::names::Names;
use super::nicks::{ClaimError, Nicks};
use super::notices::Notices;
use super::who::{self, Nodes};
use super::wire::RoomMessage;
use crate::server::bus::{
    key, Bus, BusFuture, ClientId, Closed, NoSuchNick, RegisterError, Registered, Rename, Roster,
};
use crate::server::event::{Chat, Event};
use crate::server::rooms::Hub;

/// How long a SAY keeps trying to get its message stored (the same message
/// id each time, so JetStream stores it once) before the sender is told it
/// was not sent.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(10);

/// Variants of a taken nick tried before giving up.
const NICK_VARIANTS: u64 = 50;

/// The parts of a cluster node the bus uses.
pub struct NatsBus {
    pub(super) node: String,
    pub(super) names: Names,
    pub(super) client: async_nats::Client,
    pub(super) js: async_nats::jetstream::Context,
    pub(super) hub: Arc<Hub>,
    pub(super) nicks: Arc<Nicks>,
    pub(super) direct: Arc<Direct>,
    pub(super) feeds: Feeds,
    pub(super) nodes: Arc<Nodes>,
    pub(super) next_message: AtomicU64,
    pub(super) notices: Arc<Notices>,
}

/// `wanted`, then `wanted2`, `wanted3`, ... (shortened to stay a valid nick).
fn variants(wanted: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(wanted.to_owned()).chain((2..NICK_VARIANTS + 2).map(move |n| {
        let suffix = n.to_string();
        let keep = MAX_NICK.saturating_sub(suffix.len()).min(wanted.len());
        format!("{}{suffix}", wanted.get(..keep).unwrap_or(wanted))
    }))
}

impl NatsBus {
    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn register_inner(
        &self,
        wanted: &str,
        reserved: &HashSet<String>,
        welcome: &(dyn Fn(&str) -> Event + Sync),
    ) -> Result<Registered, RegisterError> {
        if !self.connected() {
            tracing::warn!("cluster: refusing a client while NATS is unreachable");
            return Err(RegisterError::Busy);
        }
        for nick in variants(wanted) {
            if reserved.contains(&key(&nick)) {
                continue;
            }
            let revision = match self.nicks.claim(&nick).await {
                Ok(revision) => revision,
                Err(ClaimError::Taken) => continue,
                Err(ClaimError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "cluster: cannot reserve a nick; refusing the client");
                    return Err(RegisterError::Busy);
                }
            };
            let reg = match self.hub.register(&nick, reserved, welcome) {
                Ok(reg) => reg,
                Err(e) => {
                    self.nicks.give_back(&nick, revision).await;
                    return Err(e);
                }
            };
            if reg.nick != nick {
                // Held here by a member whose reservation expired while NATS
                // was away: not free after all.
                self.hub.unregister(reg.id, "nick taken");
                self.nicks.give_back(&nick, revision).await;
                continue;
            }
            self.nicks.hold(reg.id, &nick, revision).await;
            if let Err(e) = self.direct.listen(reg.id, &nick).await {
                tracing::warn!(error = %e, "cluster: cannot take direct messages; refusing the client");
                self.hub.unregister(reg.id, "connection lost");
                self.nicks.release(reg.id).await;
                return Err(RegisterError::Busy);
            }
            return Ok(reg);
        }
        tracing::warn!(nick = %wanted, "cluster: every variant of the nick is taken");
        Err(RegisterError::Busy)
    }

    async fn publish_inner(&self, sender: ClientId, chat: Arc<Chat>) {
        let message = RoomMessage::new(&self.node, sender, &chat);
        let Ok(payload) = serde_json::to_vec(&message) else {
            return;
        };
        let payload = Bytes::from(payload);
        let id = format!(
            "{}-{}",
            self.node,
            self.next_message.fetch_add(1, Ordering::Relaxed)
        );
        let subject = self.names.room(&chat.room);
        let start = tokio::time::Instant::now();
        loop {
            let attempt = self
                .js
                .send_publish(
                    subject.clone(),
                    PublishMessage::build()
                        .payload(payload.clone())
                        .message_id(&id),
                )
                .await;
            let error = match attempt {
                Ok(ack) => match ack.await {
                    Ok(_) => return,
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= PUBLISH_DEADLINE {
                tracing::error!(error = %error, "cluster: a message could not be stored; the sender is told");
                self.hub.send_to(
                    sender,
                    Event::error(
                        code::INTERNAL,
                        "internal error: the message could not be stored",
                    ),
                );
                return;
            }
            tracing::warn!(error = %error, "cluster: storing a message failed; retrying");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn rename_inner(&self, member: ClientId, new: &str) -> Rename {
        let Some(old) = self.hub.nick_of(member) else {
            return Rename::Taken;
        };
        if key(&old) == key(new) {
            let renamed = self.hub.rename(member, new);
            if let Rename::Changed(old) = &renamed {
                self.notices
                    .renamed(old, new, &self.hub.room_sizes_of(member));
            }
            return renamed;
        }
        let revision = match self.nicks.claim(new).await {
            Ok(revision) => revision,
            Err(ClaimError::Taken) => return Rename::Taken,
            Err(ClaimError::Unavailable(e)) => {
                tracing::warn!(error = %e, "cluster: cannot reserve a nick; the rename is refused");
                return Rename::Taken;
            }
        };
        match self.hub.rename(member, new) {
            Rename::Changed(old) => {
                self.notices
                    .renamed(&old, new, &self.hub.room_sizes_of(member));
                self.nicks.hold(member, new, revision).await;
                if let Err(e) = self.direct.listen(member, new).await {
                    tracing::warn!(error = %e, "cluster: cannot take direct messages for a new nick");
                }
                Rename::Changed(old)
            }
            Rename::Taken => {
                self.nicks.give_back(new, revision).await;
                Rename::Taken
            }
        }
    }

    /// Gives back this node's nicks and liveness entry and flushes NATS
    /// (shutdown, after every session ended).
    pub async fn shutdown(&self) {
        self.nicks.release_all().await;
        let _ = self.client.flush().await;
    }
}

impl Bus for NatsBus {
    fn register<'a>(
        &'a self,
        wanted: &'a str,
        reserved: &'a HashSet<String>,
        welcome: &'a (dyn Fn(&str) -> Event + Sync),
    ) -> BusFuture<'a, Result<Registered, RegisterError>> {
        Box::pin(self.register_inner(wanted, reserved, welcome))
    }

    fn unregister(&self, member: ClientId, reason: &str) {
        if let Some(departure) = self.hub.leave(member, reason) {
            self.notices.departed(&departure, reason);
        }
        self.direct.stop(member);
        let nicks = self.nicks.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { nicks.release(member).await });
        }
    }

    fn publish(&self, sender: ClientId, chat: Arc<Chat>) -> BusFuture<'_, Result<(), Closed>> {
        Box::pin(async move {
            self.publish_inner(sender, chat).await;
            Ok(())
        })
    }

    fn direct<'a>(
        &'a self,
        from: ClientId,
        to: &'a str,
        time_ms: u64,
        text: &'a str,
    ) -> BusFuture<'a, Result<(), NoSuchNick>> {
        Box::pin(async move {
            let sender = self.hub.nick_of(from).ok_or(NoSuchNick)?;
            let account = self.hub.is_account(from);
            self.direct.send(&sender, account, to, time_ms, text).await
        })
    }

    fn rename<'a>(&'a self, member: ClientId, new: &'a str) -> BusFuture<'a, Rename> {
        Box::pin(self.rename_inner(member, new))
    }

    fn join<'a>(&'a self, member: ClientId, room: &'a str) -> BusFuture<'a, Result<bool, Closed>> {
        Box::pin(async move {
            let joined = self.feeds.join(member, room).await?;
            if joined {
                let room_key = key(room);
                if let Some(nick) = self.hub.nick_of(member) {
                    self.notices.joined(
                        &nick,
                        &self.hub.room_name(&room_key, room),
                        self.hub.local_members(&room_key),
                    );
                }
            }
            Ok(joined)
        })
    }

    fn part(&self, member: ClientId, room: &str) -> bool {
        let nick = self.hub.nick_of(member);
        let room_key = key(room);
        let name = self.hub.room_name(&room_key, room);
        if !self.hub.part(member, room) {
            return false;
        }
        if let Some(nick) = nick {
            self.notices
                .parted(&nick, &name, self.hub.local_members(&room_key));
        }
        true
    }

    fn who<'a>(&'a self, room: &'a str) -> BusFuture<'a, Option<Roster>> {
        Box::pin(who::gather(
            &self.client,
            &self.names,
            &self.nodes,
            &self.node,
            &self.hub,
            room,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_variants_follow_the_local_rule_and_stay_valid_nicks() {
        let v: Vec<String> = variants("alice").take(3).collect();
        assert_eq!(v, ["alice", "alice2", "alice3"]);
        let long = "x".repeat(32);
        for n in variants(&long) {
            assert!(dhchat_core::names::is_valid_nick(&n), "{n}");
        }
        assert_eq!(variants("a").count() as u64, NICK_VARIANTS + 1);
    }
}
