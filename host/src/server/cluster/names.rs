//! The NATS names one cluster uses, all derived from `--cluster-name`.
//!
//! Room and nick keys (lowercase) are hex-encoded into one subject token, so
//! no character a name may hold can act as a NATS wildcard or separator.

use crate::server::bus::key;

/// The subjects, stream and buckets of one cluster.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// The names of the cluster called `cluster` (a validated name).
    pub fn new(cluster: &str) -> Names {
        Names {
            prefix: cluster.to_owned(),
        }
    }

    /// The JetStream stream that holds every room (one subject per room).
    pub fn stream(&self) -> String {
        format!("{}-rooms", self.prefix)
    }

    /// The subjects of [`Names::stream`].
    pub fn room_wildcard(&self) -> String {
        format!("{}.room.*", self.prefix)
    }

    /// The stream subject of a room.
    pub fn room(&self, room: &str) -> String {
        format!("{}.room.{}", self.prefix, hex::encode(key(room)))
    }

    /// The core-NATS subject on which the holder of a nick takes direct
    /// messages.
    pub fn direct(&self, nick: &str) -> String {
        format!("{}.dm.{}", self.prefix, hex::encode(key(nick)))
    }

    /// The core-NATS subject every node answers WHO requests on.
    pub fn who(&self) -> String {
        format!("{}.who", self.prefix)
    }

    /// The key-value bucket of nick reservations.
    pub fn nick_bucket(&self) -> String {
        format!("{}-nicks", self.prefix)
    }

    /// The key-value bucket of live nodes.
    pub fn node_bucket(&self) -> String {
        format!("{}-nodes", self.prefix)
    }

    /// The key of a nick in [`Names::nick_bucket`] (and of an account in
    /// [`Names::account_bucket`]).
    pub fn nick_key(nick: &str) -> String {
        hex::encode(key(nick))
    }

    /// The core-NATS subject of a room's join and part notices (the nodes
    /// with members of the room listen).
    pub fn notice(&self, room: &str) -> String {
        format!("{}.notice.{}", self.prefix, hex::encode(key(room)))
    }

    /// The core-NATS subject of rename notices (every node listens).
    pub fn renames(&self) -> String {
        format!("{}.renames", self.prefix)
    }

    /// The key-value bucket of accounts (nick bound to an identity key).
    pub fn account_bucket(&self) -> String {
        format!("{}-accounts", self.prefix)
    }

    /// The JetStream stream behind [`Names::account_bucket`] (JetStream's
    /// own naming of a bucket's stream), read at its leader.
    pub fn account_bucket_stream(&self) -> String {
        format!("KV_{}", self.account_bucket())
    }

    /// The subject of an account's entry in [`Names::account_bucket_stream`].
    pub fn account_subject(&self, nick: &str) -> String {
        format!("$KV.{}.{}", self.account_bucket(), Names::nick_key(nick))
    }

    /// The JetStream stream of direct messages waiting for offline
    /// accounts (one subject per account).
    pub fn offline_stream(&self) -> String {
        format!("{}-offline", self.prefix)
    }

    /// The subjects of [`Names::offline_stream`].
    pub fn offline_wildcard(&self) -> String {
        format!("{}.offline.*", self.prefix)
    }

    /// The subject of the messages waiting for the account `nick`.
    pub fn offline(&self, nick: &str) -> String {
        format!("{}.offline.{}", self.prefix, Names::nick_key(nick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_and_nicks_map_case_insensitively_to_one_wildcard_free_token() {
        let n = Names::new("c1");
        assert_eq!(n.room("#Lobby"), n.room("#lobby"));
        assert_eq!(n.room("#lobby"), "c1.room.236c6f626279");
        assert_eq!(n.direct("Bob"), n.direct("bob"));
        let odd = n.room("#a.b*>");
        let token = odd.strip_prefix("c1.room.").expect("prefix");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{odd}");
        assert_eq!(Names::nick_key("ALICE"), Names::nick_key("alice"));
    }

    #[test]
    fn a_rooms_notice_subject_is_one_hex_token_outside_the_streams_subjects() {
        let n = Names::new("c1");
        assert_eq!(n.notice("#Lobby"), "c1.notice.236c6f626279");
        assert_eq!(n.notice("#lobby"), n.notice("#LOBBY"));
        let odd = n.notice("#a.b*>");
        let token = odd.strip_prefix("c1.notice.").expect("prefix");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{odd}");
        // Notices are core NATS: the rooms stream (c1.room.*) never stores them.
        assert!(!n.notice("#x").starts_with("c1.room."));
        assert!(!n.renames().starts_with("c1.room."));
    }

    #[test]
    fn accounts_and_their_waiting_messages_are_named_by_the_hex_of_the_lowercase_nick() {
        let n = Names::new("c1");
        assert_eq!(n.account_bucket(), "c1-accounts");
        assert_eq!(n.account_bucket_stream(), "KV_c1-accounts");
        assert_eq!(n.account_subject("Al"), "$KV.c1-accounts.616c");
        assert_eq!(n.offline_stream(), "c1-offline");
        assert_eq!(n.offline_wildcard(), "c1.offline.*");
        assert_eq!(n.offline("AL"), "c1.offline.616c");
        assert_eq!(n.offline("al"), n.offline("Al"));
    }
}
