//! Where the CSPRNG's seed comes from: on this simulated board, 32 bytes of
//! the host's `/dev/urandom` read over semihosting (the LM3S6965 has no
//! hardware RNG). A real board replaces this module's one function with a
//! read of its TRNG (conditioned as its reference manual says). No fixed
//! seed exists outside tests.

use crate::semi::HostFile;

/// 32 seed bytes, or `None` if the host gave none.
pub fn seed() -> Option<[u8; 32]> {
    let mut seed = [0u8; 32];
    let mut f = HostFile::open("/dev/urandom")?;
    if f.read(&mut seed)? != seed.len() || seed.iter().all(|&b| b == 0) {
        return None;
    }
    Some(seed)
}

/// The firmware's CSPRNG: ChaCha20 seeded by [`seed`].
pub fn rng() -> Option<chacha20::ChaCha20Rng> {
    use rand_core::SeedableRng;
    Some(chacha20::ChaCha20Rng::from_seed(seed()?))
}
