//! Tokio glue for the core's async driver: stream adapters and the
//! [`Offload`](dhchat_core::driver::asynch::Offload) that runs DH work on
//! tokio's blocking pool, off the reactor.

use std::sync::Arc;

use dhchat_core::driver::asynch::Offload;
use tokio::sync::Semaphore;

pub use embedded_io_adapters::tokio_1::FromTokio;

/// Runs handshake steps with `tokio::task::spawn_blocking`, so modular
/// exponentiations never stall established sessions, each step holding one
/// of a fixed number of CPU permits (about one per core) only while it
/// computes: a handshake waiting on the network holds none, and at most
/// that many exponentiations run at once, however many handshakes are
/// pending.
#[derive(Debug, Clone)]
pub struct BlockingPool {
    permits: Arc<Semaphore>,
}

impl BlockingPool {
    /// A pool whose steps share `permits` CPU permits (at least one).
    pub fn new(permits: usize) -> Self {
        BlockingPool {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// CPU permits free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

impl Offload for BlockingPool {
    async fn run<F, O>(&mut self, f: F) -> O
    where
        F: FnOnce() -> O + Send + 'static,
        O: Send + 'static,
    {
        // The semaphore is never closed, so acquiring only fails if it were;
        // the step then runs without a permit rather than not at all.
        let permit = self.permits.clone().acquire_owned().await.ok();
        let out = tokio::task::spawn_blocking(f).await;
        drop(permit);
        match out {
            Ok(out) => out,
            // A panic in a handshake step is a bug; surface it here.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_steps_run_at_once_than_there_are_permits() {
        let pool = BlockingPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut pool = pool.clone();
            let (running, most) = (running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await;
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?} at once");
        assert_eq!(pool.available(), 2, "every permit was given back");
    }
}
