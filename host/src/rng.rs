//! Randomness for the host programs: a ChaCha-based generator seeded from the
//! operating system, one per connection (it is `Send`, so handshake steps can
//! carry it to the blocking pool).

use rand::rngs::StdRng;
use rand::SeedableRng;

/// The generator type every host component uses.
pub type HostRng = StdRng;

/// A fresh generator seeded from the operating system's entropy.
///
/// # Panics
/// Only if the operating system cannot provide randomness at all, in which
/// case no key may be generated and stopping is the only safe reaction.
pub fn new_rng() -> HostRng {
    let mut os = rand::rngs::SysRng;
    match StdRng::try_from_rng(&mut os) {
        Ok(rng) => rng,
        Err(e) => panic!("the operating system's random number generator failed: {e}"),
    }
}
