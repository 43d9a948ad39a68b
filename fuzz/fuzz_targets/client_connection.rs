//! The sans-io `ClientConnection` fed arbitrary server bytes in arbitrary
//! chunkings: MAGIC, the DH message, SERVER_AUTH, WELCOME and records, in
//! pieces of 1 byte up to whole units, as a host's reads deliver them. The
//! client draws the vector's exponent, so the vector's server bytes (the
//! seeds) complete a handshake and mutations reach every step.
//!
//! Besides "no panic": every event is checked as in `record_open`, a failed
//! connection stays failed, and the same bytes fed in whole units give the
//! same events and the same bytes to send (framing does not depend on how
//! the bytes arrive).
//!
//! Input: a pick byte (bit 0: ffdhe2048 or ffdhe3072 vector; bit 1: the
//! client presents its identity key), a chunking byte (`Chunks::new`), then
//! the server's bytes.
#![no_main]

use dhchat_fuzz::connection::{run_client, ClientSetup};
use dhchat_fuzz::Chunks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, chunking, stream @ ..] = data else {
        return;
    };
    let setup = ClientSetup {
        vector: usize::from(pick & 1),
        identity: pick & 2 != 0,
    };
    let chunked = run_client(setup, stream, Chunks::new(*chunking));
    if Chunks::new(*chunking).next_size() != usize::MAX {
        let whole = run_client(setup, stream, Chunks::whole());
        assert_eq!(chunked, whole, "the chunking changed what the client did");
    }
});
