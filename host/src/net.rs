//! Tokio glue for the core's async driver: stream adapters and the
//! [`Offload`](dhchat_core::driver::asynch::Offload) that runs DH work on
//! tokio's blocking pool, off the reactor.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use dhchat_core::driver::asynch::Offload;
use tokio::sync::oneshot;

pub use embedded_io_adapters::tokio_1::FromTokio;

/// Runs handshake steps with `tokio::task::spawn_blocking`, so modular
/// exponentiations never stall established sessions, each step holding one
/// of a fixed number of CPU permits (about one per core) only while it
/// computes: a handshake waiting on the network holds none, and at most
/// that many exponentiations run at once, however many handshakes are
/// pending.
///
/// Steps after a handshake's first get the permits first: a handshake that
/// has started finishes before new ones start. Under a burst of connects
/// (thousands at once), first-come-first-served would put every
/// handshake's second exponentiation behind every other's first, so all
/// would finish late together and miss their deadline; this way the server
/// keeps completing handshakes at the rate its cores allow, and only those
/// that never got started run out of time.
#[derive(Debug, Clone)]
pub struct BlockingPool {
    permits: Arc<Permits>,
    /// Steps this handle has run (a handshake's first is started at the
    /// lower priority).
    steps: u32,
}

impl BlockingPool {
    /// A pool whose steps share `permits` CPU permits (at least one).
    pub fn new(permits: usize) -> Self {
        BlockingPool {
            permits: Arc::new(Permits::new(permits.max(1))),
            steps: 0,
        }
    }

    /// A handle on the same permits for one new handshake (its first step
    /// at the lower priority, the next ones at the higher).
    pub fn for_handshake(&self) -> Self {
        BlockingPool {
            permits: self.permits.clone(),
            steps: 0,
        }
    }

    /// CPU permits free now.
    pub fn available(&self) -> usize {
        self.permits.free()
    }
}

impl Offload for BlockingPool {
    async fn run<F, O>(&mut self, f: F) -> O
    where
        F: FnOnce() -> O + Send + 'static,
        O: Send + 'static,
    {
        let priority = if self.steps == 0 {
            Priority::Start
        } else {
            Priority::Finish
        };
        self.steps = self.steps.saturating_add(1);
        let permit = self.permits.acquire(priority).await;
        let out = tokio::task::spawn_blocking(f).await;
        drop(permit);
        match out {
            Ok(out) => out,
            // A panic in a handshake step is a bug; surface it here.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// Which queue a step waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    /// A handshake's first step.
    Start,
    /// A later step of a handshake already started.
    Finish,
}

/// Counting permits with two FIFO queues; a freed permit goes to the
/// oldest [`Priority::Finish`] waiter, else to the oldest
/// [`Priority::Start`] one.
#[derive(Debug)]
struct Permits {
    state: Mutex<PermitState>,
}

#[derive(Debug)]
struct PermitState {
    free: usize,
    finish: VecDeque<oneshot::Sender<Permit>>,
    start: VecDeque<oneshot::Sender<Permit>>,
}

/// One CPU permit; dropping it hands it to the next waiter. A permit sent
/// to a waiter that has gone (its future dropped) is dropped with the
/// channel, and so passed on.
#[derive(Debug)]
struct Permit {
    permits: Arc<Permits>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.permits.release();
    }
}

impl Permits {
    fn new(n: usize) -> Self {
        Permits {
            state: Mutex::new(PermitState {
                free: n,
                finish: VecDeque::new(),
                start: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PermitState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn free(&self) -> usize {
        self.lock().free
    }

    async fn acquire(self: &Arc<Self>, priority: Priority) -> Permit {
        let rx = {
            let mut st = self.lock();
            let ahead = match priority {
                Priority::Finish => st.finish.len(),
                Priority::Start => st.finish.len() + st.start.len(),
            };
            if st.free > 0 && ahead == 0 {
                st.free -= 1;
                return Permit {
                    permits: self.clone(),
                };
            }
            let (tx, rx) = oneshot::channel();
            match priority {
                Priority::Finish => st.finish.push_back(tx),
                Priority::Start => st.start.push_back(tx),
            }
            rx
        };
        match rx.await {
            Ok(permit) => permit,
            // The sender is only dropped by `release` after a failed send,
            // which cannot happen while this receiver lives; run rather
            // than never.
            Err(_) => Permit {
                permits: self.clone(),
            },
        }
    }

    /// A permit came back: to the next live waiter, else to the free count.
    fn release(self: &Arc<Self>) {
        let mut st = self.lock();
        loop {
            let next = st.finish.pop_front().or_else(|| st.start.pop_front());
            let Some(tx) = next else {
                st.free += 1;
                return;
            };
            if tx.is_closed() {
                continue;
            }
            // Sending under the lock: a permit dropped because the waiter
            // went away between the check and the send re-enters `release`
            // only after this guard is gone (the value is returned to us).
            match tx.send(Permit {
                permits: self.clone(),
            }) {
                Ok(()) => return,
                Err(permit) => {
                    // The waiter went away meanwhile: try the next one
                    // without this permit running its Drop (which would
                    // lock again).
                    std::mem::forget(permit);
                }
            }
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_started_handshake_s_next_step_runs_before_new_handshakes_first_steps() {
        let pool = BlockingPool::new(1);
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        // Handshake A runs its first step and holds the only permit while
        // ten new handshakes queue their first steps.
        let mut a = pool.for_handshake();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let mut a = a.clone();
            async move { a.run(move || hold_rx.recv().ok()).await }
        });
        while pool.available() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut news = Vec::new();
        for i in 0..10 {
            let mut h = pool.for_handshake();
            let order = order.clone();
            news.push(tokio::spawn(async move {
                h.run(move || order.lock().expect("order").push(format!("new {i}")))
                    .await;
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A's second step queues behind them, then the permit comes back.
        a.steps = 1;
        let second = tokio::spawn({
            let order = order.clone();
            async move {
                a.run(move || order.lock().expect("order").push("A second".into()))
                    .await;
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        hold_tx.send(()).expect("release A's first step");
        first.await.expect("first");
        second.await.expect("second");
        for t in news {
            t.await.expect("new");
        }
        let order = order.lock().expect("order").clone();
        assert_eq!(
            order.first().map(String::as_str),
            Some("A second"),
            "{order:?}"
        );
        assert_eq!(order.len(), 11);
        assert_eq!(pool.available(), 1, "every permit was given back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_that_gives_up_does_not_keep_the_permit() {
        let pool = BlockingPool::new(1);
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let mut p = pool.for_handshake();
            async move { p.run(move || hold_rx.recv().ok()).await }
        });
        while pool.available() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // A waiter whose handshake times out while it waits.
        let mut quitter = pool.for_handshake();
        let gave_up = tokio::time::timeout(Duration::from_millis(20), quitter.run(|| ())).await;
        assert!(gave_up.is_err(), "it had to wait");
        hold_tx.send(()).expect("release");
        holder.await.expect("holder");
        let mut next = pool.for_handshake();
        tokio::time::timeout(Duration::from_secs(5), next.run(|| ()))
            .await
            .expect("the permit went on to the next step");
        assert_eq!(pool.available(), 1);
    }
}
