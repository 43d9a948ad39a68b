//! The first [`Bus`]: the SQLite history thread (which stores each room
//! message, then hands it to the hub, in one order per server and so per
//! room) in front of the in-process [`Hub`] (nicks, members, queues).

use std::collections::HashSet;
use std::sync::Arc;

use super::bus::{Bus, BusFuture, ClientId, Closed, NoSuchNick, RegisterError, Registered, Rename};
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
    fn register(
        &self,
        wanted: &str,
        reserved: &HashSet<String>,
        welcome: &dyn Fn(&str) -> Event,
    ) -> Result<Registered, RegisterError> {
        self.hub.register(wanted, reserved, welcome)
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

    fn direct(&self, from: ClientId, to: &str, time_ms: u64, text: &str) -> Result<(), NoSuchNick> {
        if self.hub.direct(from, to, time_ms, text) {
            Ok(())
        } else {
            Err(NoSuchNick)
        }
    }

    fn rename(&self, member: ClientId, new: &str) -> Rename {
        self.hub.rename(member, new)
    }

    fn join<'a>(&'a self, member: ClientId, room: &'a str) -> BusFuture<'a, Result<bool, Closed>> {
        Box::pin(async move { self.history.join(member, room).await.ok_or(Closed) })
    }
}
