//! WHO for the whole cluster, and the list of live nodes it needs.
//!
//! Every node puts its id in the node bucket every third of the time to
//! live and watches the bucket, so it knows the nodes that are alive (an
//! entry newer than the time to live). WHO is a request on the cluster's WHO
//! subject that every node answers with its local members of the room; the
//! asking node gathers answers until every live node has answered, or for at
//! most [`GATHER_TIMEOUT`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use bytes::Bytes;
use futures_util::StreamExt as _;
use time::OffsetDateTime;

use super::names::Names;
use super::wire::WhoReply;
use crate::server::rooms::Hub;

/// Longest wait for the WHO answers of all live nodes.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(1);

/// The live nodes, as this node sees them.
pub struct Nodes {
    ttl: Duration,
    seen: Mutex<HashMap<String, OffsetDateTime>>,
}

impl Nodes {
    /// Nobody seen yet.
    pub fn new(ttl: Duration) -> Arc<Nodes> {
        Arc::new(Nodes {
            ttl,
            seen: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, OffsetDateTime>> {
        match self.seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Nodes whose last renewal is younger than the time to live.
    pub fn live(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        let ttl = time::Duration::try_from(self.ttl).unwrap_or(time::Duration::MAX);
        self.lock().values().filter(|t| now - **t < ttl).count()
    }

    /// Follows the node bucket (initial values, then every renewal) until
    /// the watch ends.
    ///
    /// # Errors
    /// The watch could not be started.
    pub async fn follow(self: Arc<Self>, bucket: kv::Store) -> Result<(), String> {
        // From each key's last entry on, so a node just started knows the live
        // nodes at once, not only after their next renewal.
        let mut watch = bucket
            .watch_with_history(">")
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            while let Some(entry) = watch.next().await {
                let Ok(entry) = entry else { continue };
                let mut seen = self.lock();
                match entry.operation {
                    Operation::Put => {
                        seen.insert(entry.key, entry.created);
                    }
                    Operation::Delete | Operation::Purge => {
                        seen.remove(&entry.key);
                    }
                }
            }
            tracing::warn!("cluster: the watch of live nodes ended");
        });
        Ok(())
    }
}

/// Answers WHO requests with this node's members of the room.
///
/// # Errors
/// The subscription could not be made.
pub async fn answer(
    client: async_nats::Client,
    names: &Names,
    node: String,
    hub: Arc<Hub>,
) -> Result<(), String> {
    let mut sub = client
        .subscribe(names.who())
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Some(request) = sub.next().await {
            let Some(reply) = request.reply.clone() else {
                continue;
            };
            let Ok(room) = std::str::from_utf8(&request.payload) else {
                continue;
            };
            let (room, nicks) = match hub.roster(room) {
                Some((name, nicks)) if !nicks.is_empty() => (Some(name), nicks),
                _ => (None, Vec::new()),
            };
            let answer = WhoReply {
                node: node.clone(),
                room,
                nicks,
            };
            if let Ok(bytes) = serde_json::to_vec(&answer) {
                let _ = client.publish(reply, Bytes::from(bytes)).await;
            }
        }
    });
    Ok(())
}

/// Asks every node for its members of `room`: the room's spelling and all
/// its members (this node's first), or `None` if it has none anywhere.
pub async fn gather(
    client: &async_nats::Client,
    names: &Names,
    nodes: &Nodes,
    node: &str,
    hub: &Hub,
    room: &str,
) -> Option<(String, Vec<String>)> {
    let local = hub.roster(room).filter(|(_, nicks)| !nicks.is_empty());
    let (mut name, mut all) = match local {
        Some((name, nicks)) => (Some(name), nicks),
        None => (None, Vec::new()),
    };
    let others = nodes.live().saturating_sub(1);
    if others > 0 {
        match ask(client, names, node, room, others).await {
            Ok(replies) => {
                for r in replies {
                    if name.is_none() {
                        name.clone_from(&r.room);
                    }
                    all.extend(r.nicks);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster: WHO answered from this node only"),
        }
    }
    name.map(|n| (n, all))
}

async fn ask(
    client: &async_nats::Client,
    names: &Names,
    node: &str,
    room: &str,
    expected: usize,
) -> Result<Vec<WhoReply>, String> {
    let inbox = client.new_inbox();
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    client
        .publish_with_reply(names.who(), inbox, Bytes::from(room.to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    let mut replies = Vec::new();
    let deadline = tokio::time::Instant::now() + GATHER_TIMEOUT;
    while replies.len() < expected {
        let Ok(Some(msg)) = tokio::time::timeout_at(deadline, sub.next()).await else {
            break;
        };
        match WhoReply::decode(&msg.payload) {
            Ok(r) if r.node != node => replies.push(r),
            Ok(_) => {}
            Err(why) => tracing::warn!(why, "cluster: dropped a WHO answer that is not valid"),
        }
    }
    let _ = sub.unsubscribe().await;
    Ok(replies)
}
