//! The nick list of a ROSTER (PROTOCOL.md section 5): the wire view a decoder
//! yields and the list a sender builds.

use core::iter::FusedIterator;

use super::fields::Reader;

/// The nicks of a ROSTER.
///
/// [`Message::decode`](super::Message::decode) produces `Encoded`, a view of the validated wire bytes; a sender
/// builds `List`. Both iterate as `&str`, and equality compares the sequences of nicks,
/// so a `List` equals the `Encoded` it encodes to.
#[derive(Debug, Clone, Copy)]
pub enum Nicks<'a> {
    /// The nicks as on the wire: `count` nicks, each a `str8`, filling `bytes` exactly.
    ///
    /// Decoding yields only valid values. One built by hand is checked again by
    /// [`Message::encode`](super::Message::encode); iterating a malformed one stops at the first entry that
    /// overruns `bytes` or is not UTF-8.
    Encoded {
        /// Number of nicks.
        count: u16,
        /// The `count x nick:str8` region of the body.
        bytes: &'a [u8],
    },
    /// The nicks as a list, for sending.
    List(&'a [&'a str]),
}

impl<'a> Nicks<'a> {
    /// The nicks in order.
    pub fn iter(&self) -> NickIter<'a> {
        NickIter {
            inner: match *self {
                Nicks::Encoded { count, bytes } => NickIterInner::Encoded {
                    remaining: count,
                    bytes,
                },
                Nicks::List(list) => NickIterInner::List(list.iter()),
            },
        }
    }

    /// Number of nicks (`count` for `Encoded`).
    pub fn len(&self) -> usize {
        match *self {
            Nicks::Encoded { count, .. } => usize::from(count),
            Nicks::List(list) => list.len(),
        }
    }

    /// Whether there are no nicks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the `count x nick:str8` region.
    pub(super) fn wire_len(&self) -> usize {
        match *self {
            Nicks::Encoded { bytes, .. } => bytes.len(),
            Nicks::List(list) => list
                .iter()
                .fold(0usize, |n, s| n.saturating_add(1).saturating_add(s.len())),
        }
    }
}

impl PartialEq for Nicks<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Nicks<'_> {}

impl<'a> IntoIterator for Nicks<'a> {
    type Item = &'a str;
    type IntoIter = NickIter<'a>;
    fn into_iter(self) -> NickIter<'a> {
        self.iter()
    }
}

/// Iterator over the nicks of a [`Nicks`], from [`Nicks::iter`].
#[derive(Debug, Clone)]
pub struct NickIter<'a> {
    inner: NickIterInner<'a>,
}

#[derive(Debug, Clone)]
enum NickIterInner<'a> {
    Encoded { remaining: u16, bytes: &'a [u8] },
    List(core::slice::Iter<'a, &'a str>),
}

impl<'a> Iterator for NickIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.inner {
            NickIterInner::List(it) => it.next().copied(),
            NickIterInner::Encoded { remaining, bytes } => {
                if *remaining == 0 {
                    return None;
                }
                let mut r = Reader { rest: bytes };
                let nick = r.str8().ok().and_then(|b| core::str::from_utf8(b).ok());
                match nick {
                    Some(_) => {
                        *remaining = remaining.saturating_sub(1);
                        *bytes = r.rest;
                    }
                    // Only for a malformed hand-built `Encoded`: stop for good.
                    None => *remaining = 0,
                }
                nick
            }
        }
    }
}

impl FusedIterator for NickIter<'_> {}
