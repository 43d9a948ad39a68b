//! The record opener: a stream of records as a client would send them, opened
//! by a server session keyed by the handshake vector (next seq 1). The seeds
//! are the vector's valid records, so mutations start past the tag check.
#![no_main]

use dhchat_fuzz::{open_all, vectors};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let mut session = vectors()[usize::from(pick & 1)].server_session();
    open_all(&mut session, stream);
});
