//! Tokio glue for the core's async driver: stream adapters and the
//! [`Offload`](dhchat_core::driver::asynch::Offload) that runs DH work on
//! tokio's blocking pool, off the reactor.

use dhchat_core::driver::asynch::Offload;

pub use embedded_io_adapters::tokio_1::FromTokio;

/// Runs handshake steps with `tokio::task::spawn_blocking`, so modular
/// exponentiations never stall established sessions and use every core.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockingPool;

impl Offload for BlockingPool {
    async fn run<F, O>(&mut self, f: F) -> O
    where
        F: FnOnce() -> O + Send + 'static,
        O: Send + 'static,
    {
        match tokio::task::spawn_blocking(f).await {
            Ok(out) => out,
            // A panic in a handshake step is a bug; surface it here.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
