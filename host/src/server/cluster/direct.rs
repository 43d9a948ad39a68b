//! Direct messages across the cluster: the node of each member subscribes
//! to the member's nick subject; a direct message is a NATS request to it,
//! answered once the message is on the member's queue. No responder means no
//! such nick anywhere in the cluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::task::JoinHandle;

use super::names::Names;
use super::wire::DirectMessage;
use crate::server::bus::{ClientId, NoSuchNick};
use crate::server::event::{Chat, Event};
use crate::server::rooms::Hub;

/// How long a direct message waits for the holder's node to take it.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// This node's nick subscriptions.
pub struct Direct {
    client: async_nats::Client,
    names: Names,
    hub: Arc<Hub>,
    inboxes: Mutex<HashMap<ClientId, JoinHandle<()>>>,
}

impl Direct {
    /// No subscriptions yet.
    pub fn new(client: async_nats::Client, names: Names, hub: Arc<Hub>) -> Direct {
        Direct {
            client,
            names,
            hub,
            inboxes: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, JoinHandle<()>>> {
        match self.inboxes.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Takes direct messages to `nick` for `member` from now on (replacing
    /// its previous nick's subscription).
    ///
    /// # Errors
    /// The subscription failed (NATS is unreachable).
    pub async fn listen(&self, member: ClientId, nick: &str) -> Result<(), String> {
        let mut sub = self
            .client
            .subscribe(self.names.direct(nick))
            .await
            .map_err(|e| e.to_string())?;
        // The server has the subscription before the member is told its nick.
        self.client.flush().await.map_err(|e| e.to_string())?;
        let client = self.client.clone();
        let hub = self.hub.clone();
        let task = tokio::spawn(async move {
            while let Some(request) = sub.next().await {
                let Some(reply) = request.reply.clone() else {
                    continue;
                };
                let dm = match DirectMessage::decode(&request.payload) {
                    Ok(dm) => dm,
                    Err(why) => {
                        tracing::warn!(why, "cluster: dropped a direct message that is not valid");
                        continue;
                    }
                };
                let Some(me) = hub.nick_of(member) else {
                    break;
                };
                let chat = Chat {
                    time_ms: dm.time_ms,
                    history: false,
                    from: dm.from,
                    room: format!("@{me}"),
                    text: dm.text,
                    legacy: false,
                    account: dm.account,
                };
                hub.send_to(member, Event::Chat(Arc::new(chat)));
                let _ = client.publish(reply, Bytes::new()).await;
            }
        });
        if let Some(old) = self.lock().insert(member, task) {
            old.abort();
        }
        Ok(())
    }

    /// Stops taking direct messages for `member`.
    pub fn stop(&self, member: ClientId) {
        if let Some(task) = self.lock().remove(&member) {
            task.abort();
        }
    }

    /// Sends a direct message from the nick `from` (the proven owner of
    /// that account if `account`) to the holder of `to`.
    ///
    /// # Errors
    /// [`NoSuchNick`] if nobody in the cluster holds `to`, or its node did
    /// not take the message in time (logged).
    pub async fn send(
        &self,
        from: &str,
        account: bool,
        to: &str,
        time_ms: u64,
        text: &str,
    ) -> Result<(), NoSuchNick> {
        let dm = DirectMessage {
            from: from.to_owned(),
            time_ms,
            text: text.to_owned(),
            account,
        };
        let payload = Bytes::from(serde_json::to_vec(&dm).map_err(|_| NoSuchNick)?);
        let request = self.client.request(self.names.direct(to), payload);
        match tokio::time::timeout(DELIVERY_TIMEOUT, request).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                if !matches!(e.kind(), async_nats::RequestErrorKind::NoResponders) {
                    tracing::warn!(error = %e, "cluster: a direct message was not delivered");
                }
                Err(NoSuchNick)
            }
            Err(_) => {
                tracing::warn!("cluster: a direct message was not taken in time");
                Err(NoSuchNick)
            }
        }
    }
}
