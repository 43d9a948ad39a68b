//! Splitting a long WHO answer over ROSTER messages that fit (PROTOCOL.md section 5).

use core::iter::FusedIterator;

use super::fields::str8_wire;
use super::{Message, Nicks, MAX_BODY};

/// Splits a room's members over ROSTER messages whose bodies fit in [`MAX_BODY`]
/// (section 5: all but the last with `more` set). Made by [`roster_chunks`].
///
/// Each message takes as many nicks, in order, as fit; an empty list gives one ROSTER
/// with no nicks. The iterator does not check names: a message holding an invalid room
/// or nick is refused by [`Message::encode`]. A nick too long to fit at all still gets
/// a message of its own (which `encode` refuses), so the iterator always ends.
#[derive(Debug, Clone)]
pub struct RosterChunks<'a> {
    room: &'a str,
    rest: &'a [&'a str],
    done: bool,
}

/// The ROSTER messages that answer a WHO for `room` with members `nicks`; see
/// [`RosterChunks`].
pub fn roster_chunks<'a>(room: &'a str, nicks: &'a [&'a str]) -> RosterChunks<'a> {
    RosterChunks {
        room,
        rest: nicks,
        done: false,
    }
}

impl<'a> Iterator for RosterChunks<'a> {
    type Item = Message<'a>;

    fn next(&mut self) -> Option<Message<'a>> {
        if self.done {
            return None;
        }
        // room:str8 || flags:u8 || count:u16
        let mut body = str8_wire(self.room).saturating_add(1 + 2);
        let mut take = 0usize;
        for n in self.rest {
            let next = body.saturating_add(str8_wire(n));
            if next > MAX_BODY || take == usize::from(u16::MAX) {
                break;
            }
            body = next;
            take += 1;
        }
        if take == 0 && !self.rest.is_empty() {
            take = 1;
        }
        let (chunk, rest) = self.rest.split_at_checked(take).unwrap_or((self.rest, &[]));
        self.rest = rest;
        let more = !rest.is_empty();
        self.done = !more;
        Some(Message::Roster {
            room: self.room,
            more,
            nicks: Nicks::List(chunk),
        })
    }
}

impl FusedIterator for RosterChunks<'_> {}
