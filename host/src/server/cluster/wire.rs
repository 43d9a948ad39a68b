//! What the nodes of a cluster send each other through NATS (JSON), and the
//! checks every decoded value passes before it reaches a client.
//!
//! NATS is inside the operator's trust boundary, but a node still treats
//! what it reads there as input: a value that does not decode or breaks a
//! name or text rule is logged and dropped, never relayed, never a panic.

use dhchat_core::names::{is_valid_nick, is_valid_room, text_check};
use serde::{Deserialize, Serialize};

use crate::server::bus::ClientId;
use crate::server::event::Chat;

/// A room message as stored in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMessage {
    /// The node the sender is connected to.
    pub node: String,
    /// The sender's id on that node (it is not relayed its own message).
    pub sender: ClientId,
    /// Server clock at acceptance, ms since the Unix epoch.
    pub time_ms: u64,
    /// Sender nick.
    pub from: String,
    /// The room as spelled on the sender's node.
    pub room: String,
    /// Text.
    pub text: String,
    /// Sent by an unauthenticated legacy client (MESSAGE flags bit 1).
    #[serde(default)]
    pub legacy: bool,
    /// Sent by a session that proved the key of the account its nick is
    /// (MESSAGE flags bit 2).
    #[serde(default)]
    pub account: bool,
}

impl RoomMessage {
    /// The message `chat` from `sender` on `node`.
    pub fn new(node: &str, sender: ClientId, chat: &Chat) -> RoomMessage {
        RoomMessage {
            node: node.to_owned(),
            sender,
            time_ms: chat.time_ms,
            from: chat.from.clone(),
            room: chat.room.clone(),
            text: chat.text.clone(),
            legacy: chat.legacy,
            account: chat.account,
        }
    }

    /// Decodes and checks a stored message.
    ///
    /// # Errors
    /// A short description of what is wrong (for the log).
    pub fn decode(bytes: &[u8]) -> Result<RoomMessage, &'static str> {
        let m: RoomMessage = serde_json::from_slice(bytes).map_err(|_| "not a room message")?;
        if !is_valid_nick(&m.from) {
            return Err("bad sender nick");
        }
        if !is_valid_room(&m.room) {
            return Err("bad room name");
        }
        text_check(&m.text).map_err(|_| "bad text")?;
        Ok(m)
    }

    /// The chat line (live, or replayed from history).
    pub fn chat(&self, history: bool) -> Chat {
        Chat {
            time_ms: self.time_ms,
            history,
            from: self.from.clone(),
            room: self.room.clone(),
            text: self.text.clone(),
            legacy: self.legacy,
            account: self.account,
        }
    }
}

/// A direct message, sent as a request to the holder of the nick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessage {
    /// Sender nick.
    pub from: String,
    /// Server clock at acceptance, ms since the Unix epoch.
    pub time_ms: u64,
    /// Text.
    pub text: String,
    /// Sent by a session that proved the key of the account its nick is
    /// (MESSAGE flags bit 2).
    #[serde(default)]
    pub account: bool,
}

impl DirectMessage {
    /// Decodes and checks a direct message.
    ///
    /// # Errors
    /// A short description of what is wrong (for the log).
    pub fn decode(bytes: &[u8]) -> Result<DirectMessage, &'static str> {
        let m: DirectMessage = serde_json::from_slice(bytes).map_err(|_| "not a direct message")?;
        if !is_valid_nick(&m.from) {
            return Err("bad sender nick");
        }
        text_check(&m.text).map_err(|_| "bad text")?;
        Ok(m)
    }
}

/// One node's answer to WHO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoReply {
    /// The answering node.
    pub node: String,
    /// The room's spelling on that node, if it has members there.
    pub room: Option<String>,
    /// Its members there.
    pub nicks: Vec<String>,
}

impl WhoReply {
    /// Decodes and checks a WHO answer (invalid nicks are dropped).
    ///
    /// # Errors
    /// A short description of what is wrong (for the log).
    pub fn decode(bytes: &[u8]) -> Result<WhoReply, &'static str> {
        let mut r: WhoReply = serde_json::from_slice(bytes).map_err(|_| "not a WHO answer")?;
        if r.room.as_deref().is_some_and(|room| !is_valid_room(room)) {
            return Err("bad room name");
        }
        r.nicks.retain(|n| is_valid_nick(n));
        Ok(r)
    }
}

/// Who holds a nick (the value in the nick bucket; for the operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NickOwner {
    /// The node its holder is connected to.
    pub node: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Chat {
        Chat {
            time_ms: 7,
            history: false,
            from: "alice".into(),
            room: "#Ops".into(),
            text: "hi".into(),
            legacy: true,
            account: true,
        }
    }

    #[test]
    fn a_room_message_survives_the_round_trip_and_keeps_its_sender() {
        let m = RoomMessage::new("n1", 4, &chat());
        let bytes = serde_json::to_vec(&m).expect("encode");
        let back = RoomMessage::decode(&bytes).expect("decode");
        assert_eq!(back, m);
        assert!(back.chat(true).history);
        assert_eq!(back.chat(false), chat());
    }

    #[test]
    fn stored_values_that_break_a_name_or_text_rule_are_refused() {
        let good = RoomMessage::new("n1", 4, &chat());
        let mut cases = Vec::new();
        let mut m = good.clone();
        m.from = "a b".into();
        cases.push(m);
        let mut m = good.clone();
        m.room = "ops".into();
        cases.push(m);
        let mut m = good.clone();
        m.text = "bell\u{7}".into();
        cases.push(m);
        let mut m = good;
        m.text = "x".repeat(4001);
        cases.push(m);
        for m in cases {
            let bytes = serde_json::to_vec(&m).expect("encode");
            assert!(RoomMessage::decode(&bytes).is_err(), "{m:?}");
        }
        assert!(RoomMessage::decode(b"\xff{").is_err());
        assert!(DirectMessage::decode(br#"{"from":"","time_ms":1,"text":"x"}"#).is_err());
        assert!(WhoReply::decode(br#"{"node":"n","room":"nohash","nicks":[]}"#).is_err());
        let r = WhoReply::decode(br##"{"node":"n","room":"#a","nicks":["ok","b d"]}"##)
            .expect("decode");
        assert_eq!(r.nicks, ["ok"]);
    }
}
