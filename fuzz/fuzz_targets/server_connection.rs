//! The sans-io `ServerConnection` fed arbitrary client bytes in arbitrary
//! chunkings: MAGIC, the public value, CLIENT_HELLO, then (after WELCOME)
//! records, in pieces of 1 byte up to whole units. The server draws the
//! vector's exponent and signs with its identity key, so the vector's client
//! bytes (the seeds) complete a handshake and mutations reach every step.
//!
//! Besides "no panic": every event is checked as in `record_open`, a failed
//! connection stays failed, no client gets past a list that admits no one,
//! and the same bytes fed in whole units give the same events and the same
//! bytes to send.
//!
//! Input: a pick byte (bit 0: ffdhe2048 or ffdhe3072 vector; bit 1: an
//! authorized-keys list that admits no one; bit 2: refuse the admitted
//! client as busy), a chunking byte (`Chunks::new`), then the client's bytes.
#![no_main]

use dhchat_fuzz::connection::{run_server, ServerSetup};
use dhchat_fuzz::Chunks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, chunking, stream @ ..] = data else {
        return;
    };
    let setup = ServerSetup {
        vector: usize::from(pick & 1),
        admit_none: pick & 2 != 0,
        busy: pick & 4 != 0,
    };
    let chunked = run_server(setup, stream, Chunks::new(*chunking));
    if Chunks::new(*chunking).next_size() != usize::MAX {
        let whole = run_server(setup, stream, Chunks::whole());
        assert_eq!(chunked, whole, "the chunking changed what the server did");
    }
});
