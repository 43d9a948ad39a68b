//! Two clients connected straight to the server that keep chatting in a room
//! of their own while an attack runs on someone else's session, and that
//! watch `#lobby` (where the victim talks) for anything forged.

use crate::common::{connect, TestClient, TestServer};
use dhchat_core::message::Message;

/// The bystanders' own room.
const ROOM: &str = "#side";

/// Carol and dave.
pub struct Bystanders {
    carol: TestClient,
    dave: TestClient,
    /// Every chat message dave received, as (from, room, text).
    pub dave_heard: Vec<(String, String, String)>,
}

impl Bystanders {
    /// Connects both and joins them to their room (they stay in `#lobby`).
    pub async fn join(server: &TestServer) -> Bystanders {
        let mut carol = connect(server, "carol").await;
        let mut dave = connect(server, "dave").await;
        carol.send(&Message::Join { room: ROOM }).await;
        dave.send(&Message::Join { room: ROOM }).await;
        let mut b = Bystanders {
            carol,
            dave,
            dave_heard: Vec::new(),
        };
        b.chat("joined").await;
        b
    }

    /// One exchange in their room: carol speaks, dave hears her and answers,
    /// carol hears dave.
    pub async fn chat(&mut self, round: &str) {
        let text = format!("{round}: carol here");
        self.carol.say(ROOM, &text).await;
        Self::hear(&mut self.dave, &mut self.dave_heard, "carol", ROOM, &text).await;
        let text = format!("{round}: dave here");
        self.dave.say(ROOM, &text).await;
        Self::hear(&mut self.carol, &mut Vec::new(), "dave", ROOM, &text).await;
    }

    /// Carol says `text` in `#lobby` and dave hears it: everything queued for
    /// dave before it has arrived.
    pub async fn lobby_marker(&mut self, text: &str) {
        self.carol.say("#lobby", text).await;
        Self::hear(
            &mut self.dave,
            &mut self.dave_heard,
            "carol",
            "#lobby",
            text,
        )
        .await;
    }

    /// Waits until dave hears `text` from `from` in `#lobby`.
    pub async fn dave_hears(&mut self, from: &str, text: &str) {
        Self::hear(&mut self.dave, &mut self.dave_heard, from, "#lobby", text).await;
    }

    /// How many times a message with `text` reached dave (who is in
    /// `#lobby`, as the victim is). Call after [`Bystanders::lobby_marker`].
    pub fn count(&self, text: &str) -> usize {
        self.dave_heard.iter().filter(|(_, _, t)| t == text).count()
    }

    async fn hear(
        c: &mut TestClient,
        log: &mut Vec<(String, String, String)>,
        from: &str,
        room: &str,
        text: &str,
    ) {
        loop {
            if let Message::Message(m) = c.recv().await.message() {
                let done = m.from == from && m.room == room && m.text == text;
                log.push((m.from.into(), m.room.into(), m.text.into()));
                if done {
                    return;
                }
            }
        }
    }
}
