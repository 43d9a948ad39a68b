//! Join, part, disconnect and rename notices across the nodes of a cluster.
//!
//! The node of the member who moves tells its own members through the hub,
//! as a single server does, and publishes the move on core NATS (one
//! ordered publisher task per node, so the moves of one member leave in
//! the order they happened):
//!
//! - a join, part or disconnect on the room's notice subject
//!   ([`Names::notice`]), which each node with members of the room follows
//!   (the room's feed subscribes to it before it admits anyone, see
//!   [`feeds`](super::feeds));
//! - a rename, once, on the cluster's rename subject ([`Names::renames`]),
//!   with the member's rooms, which every node follows: each node tells its
//!   members of those rooms once, however many of them they share.
//!
//! A node skips what it published itself (its members were told locally),
//! so every member gets one notice per move. Each published move carries
//! the count of the room's members on its node; the receiving node adds it
//! to its own count when it applies the room notice limit. A node therefore
//! judges a room's size from its own members plus the origin's: exact for
//! two nodes, a lower bound for more (per node, a notice reaches at most
//! `--room-notice-limit` members, so the notices of N joins stay linear in
//! N). Nothing is kept between notices, so no count can go stale.
//!
//! Notices are best effort, like the rest of core NATS: a node that cannot
//! publish (queue full, NATS away) logs it; chat messages are unaffected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dhchat_core::names::{is_valid_nick, is_valid_room, text_check};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::names::Names;
use crate::server::bus::key;
use crate::server::rooms::{Departure, Hub, Move, MAX_ROOMS_PER_CLIENT};

/// Notices waiting for the publisher task; past it they are dropped (and
/// counted in the log).
const QUEUE: usize = 8192;

/// Longest disconnect reason carried (the server's own short reasons).
pub const MAX_REASON: usize = 200;

/// Longest node id accepted (this version's ids are 16 hex digits).
const MAX_NODE: usize = 64;

/// A move of a member, as nodes send it to each other (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeNotice {
    /// The node the member is connected to.
    pub node: String,
    /// What it did.
    #[serde(flatten)]
    pub what: What,
}

/// What a member did (`members`: the room's members on its node after it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// Joined `room`.
    Joined {
        /// Its nick.
        nick: String,
        /// The room, as spelled on its node.
        room: String,
        /// The room's members on its node, the joiner included.
        members: u32,
    },
    /// Left `room` (PART).
    Parted {
        /// Its nick.
        nick: String,
        /// The room, as spelled on its node.
        room: String,
        /// The room's members left on its node.
        members: u32,
    },
    /// Disconnected while in `room` (one notice per room it was in).
    Quit {
        /// Its nick.
        nick: String,
        /// The room, as spelled on its node.
        room: String,
        /// The room's members left on its node.
        members: u32,
        /// Why (the server's short reason).
        reason: String,
    },
    /// Changed its nick from `old` to `new`.
    Renamed {
        /// The old nick.
        old: String,
        /// The new nick.
        new: String,
        /// Its rooms, each with the room's members on its node.
        rooms: Vec<(String, u32)>,
    },
}

impl NodeNotice {
    /// Decodes and checks a notice from another node.
    ///
    /// # Errors
    /// A short description of what is wrong (for the log).
    pub fn decode(bytes: &[u8]) -> Result<NodeNotice, &'static str> {
        let n: NodeNotice = serde_json::from_slice(bytes).map_err(|_| "not a notice")?;
        if n.node.is_empty() || n.node.len() > MAX_NODE {
            return Err("bad node id");
        }
        match &n.what {
            What::Joined { nick, room, .. } | What::Parted { nick, room, .. } => {
                check_nick(nick)?;
                check_room(room)?;
            }
            What::Quit {
                nick, room, reason, ..
            } => {
                check_nick(nick)?;
                check_room(room)?;
                if reason.len() > MAX_REASON {
                    return Err("reason too long");
                }
                text_check(reason).map_err(|_| "bad reason")?;
            }
            What::Renamed { old, new, rooms } => {
                check_nick(old)?;
                check_nick(new)?;
                if rooms.len() > MAX_ROOMS_PER_CLIENT {
                    return Err("too many rooms");
                }
                for (room, _) in rooms {
                    check_room(room)?;
                }
            }
        }
        Ok(n)
    }
}

fn check_nick(nick: &str) -> Result<(), &'static str> {
    if is_valid_nick(nick) {
        Ok(())
    } else {
        Err("bad nick")
    }
}

fn check_room(room: &str) -> Result<(), &'static str> {
    if is_valid_room(room) {
        Ok(())
    } else {
        Err("bad room name")
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// This node's publisher of notices.
pub struct Notices {
    node: String,
    names: Names,
    tx: mpsc::Sender<(String, Bytes)>,
    dropped: AtomicU64,
}

impl Notices {
    /// Starts the publisher task of node `node` on `client`.
    pub fn start(client: async_nats::Client, names: Names, node: String) -> Arc<Notices> {
        let (tx, mut rx) = mpsc::channel::<(String, Bytes)>(QUEUE);
        tokio::spawn(async move {
            while let Some((subject, payload)) = rx.recv().await {
                if let Err(e) = client.publish(subject, payload).await {
                    tracing::warn!(error = %e, "cluster: a notice could not be published");
                }
            }
        });
        Arc::new(Notices {
            node,
            names,
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    fn send(&self, subject: String, what: What) {
        let notice = NodeNotice {
            node: self.node.clone(),
            what,
        };
        let Ok(payload) = serde_json::to_vec(&notice) else {
            return;
        };
        if self.tx.try_send((subject, Bytes::from(payload))).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "cluster: notices dropped (the publisher is behind or stopped)"
                );
            }
        }
    }

    /// `nick` joined `room`, which has `members` members on this node now.
    pub fn joined(&self, nick: &str, room: &str, members: usize) {
        self.send(
            self.names.notice(room),
            What::Joined {
                nick: nick.to_owned(),
                room: room.to_owned(),
                members: count(members),
            },
        );
    }

    /// `nick` left `room`, which has `members` members left on this node.
    pub fn parted(&self, nick: &str, room: &str, members: usize) {
        self.send(
            self.names.notice(room),
            What::Parted {
                nick: nick.to_owned(),
                room: room.to_owned(),
                members: count(members),
            },
        );
    }

    /// A member disconnected (`reason`) from the rooms in `departure`.
    pub fn departed(&self, departure: &Departure, reason: &str) {
        let reason = cut(reason, MAX_REASON);
        for (_, room, members) in &departure.rooms {
            self.send(
                self.names.notice(room),
                What::Quit {
                    nick: departure.nick.clone(),
                    room: room.clone(),
                    members: count(*members),
                    reason: reason.to_owned(),
                },
            );
        }
    }

    /// A member in `rooms` (spelling, members on this node) was renamed from
    /// `old` to `new`.
    pub fn renamed(&self, old: &str, new: &str, rooms: &[(String, usize)]) {
        if rooms.is_empty() {
            return;
        }
        self.send(
            self.names.renames(),
            What::Renamed {
                old: old.to_owned(),
                new: new.to_owned(),
                rooms: rooms.iter().map(|(r, n)| (r.clone(), count(*n))).collect(),
            },
        );
    }
}

/// Hands a notice read on the notice subject of `room_key` to this node's
/// members of the room (the feed of the room calls it). Notices of this
/// node `node`, of another room, or that are not valid are dropped.
pub fn deliver(hub: &Hub, node: &str, room_key: &str, payload: &[u8]) {
    let notice = match NodeNotice::decode(payload) {
        Ok(n) => n,
        Err(why) => {
            tracing::warn!(room = %room_key, why, "cluster: dropped a notice that is not valid");
            return;
        }
    };
    if notice.node == node {
        return;
    }
    let (nick, room, members, moved, reason) = match &notice.what {
        What::Joined {
            nick,
            room,
            members,
        } => (nick, room, members, Move::Joined, None),
        What::Parted {
            nick,
            room,
            members,
        } => (nick, room, members, Move::Left, None),
        What::Quit {
            nick,
            room,
            members,
            reason,
        } => (nick, room, members, Move::Left, Some(reason.as_str())),
        What::Renamed { .. } => {
            tracing::warn!(room = %room_key, "cluster: dropped a rename on a room's notice subject");
            return;
        }
    };
    if key(room) != room_key {
        tracing::warn!(room = %room_key, "cluster: dropped a notice of another room");
        return;
    }
    hub.notice_from_node(room_key, *members as usize, moved, nick, reason);
}

/// Follows the cluster's rename subject: tells this node's members who
/// share a room with a member renamed on another node.
///
/// # Errors
/// The subscription could not be made.
pub async fn follow_renames(
    client: &async_nats::Client,
    names: &Names,
    node: String,
    hub: Arc<Hub>,
) -> Result<(), String> {
    let mut sub = client
        .subscribe(names.renames())
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let notice = match NodeNotice::decode(&msg.payload) {
                Ok(n) => n,
                Err(why) => {
                    tracing::warn!(why, "cluster: dropped a rename notice that is not valid");
                    continue;
                }
            };
            if notice.node == node {
                continue;
            }
            let What::Renamed { old, new, rooms } = notice.what else {
                tracing::warn!("cluster: dropped a room notice on the rename subject");
                continue;
            };
            let rooms: Vec<(String, usize)> = rooms
                .iter()
                .map(|(room, n)| (key(room), *n as usize))
                .collect();
            hub.rename_from_node(&rooms, &old, &new);
        }
        tracing::warn!("cluster: the subscription to renames ended");
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(n: &NodeNotice) -> Vec<u8> {
        serde_json::to_vec(n).expect("encode")
    }

    #[test]
    fn every_kind_of_notice_survives_the_round_trip() {
        let kinds = [
            What::Joined {
                nick: "alice".into(),
                room: "#X".into(),
                members: 3,
            },
            What::Parted {
                nick: "alice".into(),
                room: "#x".into(),
                members: 0,
            },
            What::Quit {
                nick: "alice".into(),
                room: "#lobby".into(),
                members: 7,
                reason: "connection lost".into(),
            },
            What::Renamed {
                old: "alice".into(),
                new: "al".into(),
                rooms: vec![("#lobby".into(), 2), ("#x".into(), 1)],
            },
        ];
        for what in kinds {
            let n = NodeNotice {
                node: "0123456789abcdef".into(),
                what,
            };
            assert_eq!(NodeNotice::decode(&encode(&n)), Ok(n));
        }
    }

    #[test]
    fn notices_that_break_a_name_or_text_rule_are_refused() {
        let bad = [
            What::Joined {
                nick: "a b".into(),
                room: "#x".into(),
                members: 1,
            },
            What::Parted {
                nick: "alice".into(),
                room: "nohash".into(),
                members: 1,
            },
            What::Quit {
                nick: "alice".into(),
                room: "#x".into(),
                members: 1,
                reason: "bell\u{7}".into(),
            },
            What::Quit {
                nick: "alice".into(),
                room: "#x".into(),
                members: 1,
                reason: "x".repeat(MAX_REASON + 1),
            },
            What::Renamed {
                old: "alice".into(),
                new: "".into(),
                rooms: vec![],
            },
            What::Renamed {
                old: "alice".into(),
                new: "al".into(),
                rooms: vec![("#x".into(), 1); MAX_ROOMS_PER_CLIENT + 1],
            },
        ];
        for what in bad {
            let n = NodeNotice {
                node: "n1".into(),
                what,
            };
            assert!(NodeNotice::decode(&encode(&n)).is_err(), "{n:?}");
        }
        assert!(NodeNotice::decode(b"\xff{").is_err());
        assert!(NodeNotice::decode(
            br##"{"node":"","kind":"joined","nick":"a","room":"#x","members":1}"##
        )
        .is_err());
        assert!(
            NodeNotice::decode(br##"{"node":"n","kind":"kicked","nick":"a","room":"#x"}"##)
                .is_err()
        );
        assert!(NodeNotice::decode(
            br##"{"node":"n","kind":"joined","nick":"a","room":"#x","members":-1}"##
        )
        .is_err());
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        let reason = "é".repeat(MAX_REASON);
        let cut = cut(&reason, MAX_REASON);
        assert!(cut.len() <= MAX_REASON);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
