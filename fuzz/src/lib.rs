//! What the fuzz targets share: the vectors of `core/tests/vectors/` and an
//! RNG that replays their random draws ([`vectors`]), the cutting of an input
//! into units ([`stream`]), drivers of the sans-io connections
//! ([`connection`]), and the checks on what was opened ([`checks`]).

pub mod checks;
pub mod connection;
pub mod stream;
pub mod vectors;

pub use checks::{check_received, legacy_open_all, open_all};
pub use stream::{next_read, next_record, take, Chunks};
pub use vectors::{legacy_vectors, vectors, LegacyVector, ReplayRng, Vector};
