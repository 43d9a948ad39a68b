//! Cutting a fuzz input into the units a peer sends: fixed-size messages,
//! records (by their length field), legacy reads (by a length the input
//! gives), and chunk sizes for feeding a stream in arbitrary pieces.

use dhchat_core::record::HEADER_LEN;

/// Splits `n` bytes off the front of `stream` (fewer if it is shorter).
pub fn take(stream: &[u8], n: usize) -> (&[u8], &[u8]) {
    stream.split_at(n.min(stream.len()))
}

/// Splits the next record off `stream` by its length field, the way a reader
/// frames it; a record cut short by the end of the stream is returned short.
pub fn next_record(stream: &[u8]) -> (Vec<u8>, &[u8]) {
    let len = match stream {
        [a, b, ..] => HEADER_LEN + usize::from(u16::from_be_bytes([*a, *b])),
        _ => stream.len(),
    };
    let (record, rest) = take(stream, len);
    (record.to_vec(), rest)
}

/// Splits the next legacy read off `stream`: a 2-byte big-endian length,
/// then that many bytes (fewer at the end of the stream). The legacy protocol
/// has no framing (one read is one message), so the fuzz input says where
/// each read ends. `None` when the stream is empty.
pub fn next_read(stream: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let (len, rest) = match stream {
        [] => return None,
        [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
        [_] => return None,
    };
    let (read, rest) = take(rest, len);
    Some((read.to_vec(), rest))
}

/// Chunk sizes for feeding a stream in arbitrary pieces, from one input
/// byte: its low 3 bits pick the largest piece (1, 2, 3, 7, 16, 300, 2100
/// bytes, or whole units), its high 5 bits seed the sizes below it.
#[derive(Debug, Clone)]
pub struct Chunks {
    state: u32,
    limit: usize,
}

impl Chunks {
    /// The largest pieces [`Chunks::new`] can pick.
    const LIMITS: [usize; 8] = [1, 2, 3, 7, 16, 300, 2100, usize::MAX];

    /// The chunking `byte` says.
    pub fn new(byte: u8) -> Self {
        Self {
            state: 0x9e37_79b9 ^ (u32::from(byte >> 3) << 8),
            limit: Self::LIMITS[usize::from(byte & 7)],
        }
    }

    /// Whole units: as many bytes as the connection asks for each time.
    pub fn whole() -> Self {
        Self::new(7)
    }

    /// The size of the next piece (at least 1).
    pub fn next_size(&mut self) -> usize {
        if self.limit == usize::MAX {
            return usize::MAX;
        }
        // xorshift32: cheap, deterministic, never zero.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + (self.state as usize) % self.limit
    }
}
