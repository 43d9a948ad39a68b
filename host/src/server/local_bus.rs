//! The first [`Bus`]: the SQLite history thread (which stores each room
//! message, then hands it to the hub, in one order per server and so per
//! room) in front of the in-process [`Hub`] (nicks, members, queues).

use std::collections::HashSet;
use std::sync::Arc;

use super::bus::{
    Bus, BusFuture, ClientId, Closed, NoSuchNick, RegisterError, Registered, Rename, Roster,
};
use super::event::{Chat, Event};
use super::history::History;
use super::rooms::Hub;

/// The history thread and the hub, as one [`Bus`].
#[derive(Clone)]
pub struct LocalBus {
    hub: Arc<Hub>,
    history: History,
}

impl LocalBus {
    /// The bus over a started history thread that hands out to `hub`.
    pub fn new(hub: Arc<Hub>, history: History) -> LocalBus {
        LocalBus { hub, history }
    }
}

impl Bus for LocalBus {
    fn register<'a>(
        &'a self,
        wanted: &'a str,
        reserved: &'a HashSet<String>,
        welcome: &'a (dyn Fn(&str) -> Event + Sync),
    ) -> BusFuture<'a, Result<Registered, RegisterError>> {
        Box::pin(async move { self.hub.register(wanted, reserved, welcome) })
    }

    fn unregister(&self, member: ClientId, reason: &str) {
        self.hub.unregister(member, reason);
    }

    fn publish(&self, sender: ClientId, chat: Arc<Chat>) -> BusFuture<'_, Result<(), Closed>> {
        Box::pin(async move {
            if self.history.say(sender, chat).await {
                Ok(())
            } else {
                Err(Closed)
            }
        })
    }

    fn ahead(&self) -> super::pressure::Ahead {
        self.history.ahead()
    }

    fn direct<'a>(
        &'a self,
        from: ClientId,
        to: &'a str,
        time_ms: u64,
        text: &'a str,
    ) -> BusFuture<'a, Result<(), NoSuchNick>> {
        Box::pin(async move {
            if self.hub.direct(from, to, time_ms, text) {
                Ok(())
            } else {
                Err(NoSuchNick)
            }
        })
    }

    fn rename<'a>(&'a self, member: ClientId, new: &'a str) -> BusFuture<'a, Rename> {
        Box::pin(async move { self.hub.rename(member, new) })
    }

    fn join<'a>(&'a self, member: ClientId, room: &'a str) -> BusFuture<'a, Result<bool, Closed>> {
        Box::pin(async move { self.history.join(member, room).await.ok_or(Closed) })
    }

    fn part(&self, member: ClientId, room: &str) -> bool {
        self.hub.part(member, room)
    }

    fn who<'a>(&'a self, room: &'a str) -> BusFuture<'a, Option<Roster>> {
        Box::pin(async move { self.hub.roster(room) })
    }
}
