//! Tokio glue for the core's async driver: stream adapters and the
//! [`Offload`](dhchat_core::driver::asynch::Offload) that runs DH work on
//! tokio's blocking pool, off the reactor.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use dhchat_core::driver::asynch::Offload;
use tokio::sync::oneshot;

pub use embedded_io_adapters::tokio_1::FromTokio;

/// Runs handshake steps off the reactor on at most a fixed number of
/// blocking-pool threads at once (about one per core: the CPU permits), so
/// modular exponentiations never stall established sessions: a handshake
/// waiting on the network holds none, and at most that many
/// exponentiations run at once, however many handshakes are pending.
///
/// Steps wait in a queue; a runner (one per permit in use, started with
/// `tokio::task::spawn_blocking` when a step finds a permit free) runs
/// them one after another until the queue is empty, then gives its permit
/// back. Under a burst of handshakes a runner stays on its thread, so a
/// step costs a queue push and the wake-up of the task that waits for its
/// result, not a thread hand-off per step. A step whose handshake gave up
/// (its future dropped, e.g. at the deadline) before it started is skipped.
///
/// Steps after a handshake's first are run first: a handshake that has
/// started finishes before new ones start. Under a burst of connects
/// (thousands at once), first-come-first-served would put every
/// handshake's second exponentiation behind every other's first, so all
/// would finish late together and miss their deadline; this way the server
/// keeps completing handshakes at the rate its cores allow, and only those
/// that never got started run out of time.
#[derive(Debug, Clone)]
pub struct BlockingPool {
    queue: Arc<Queue>,
    /// Steps this handle has run (a handshake's first is started at the
    /// lower priority).
    steps: u32,
}

impl BlockingPool {
    /// A pool whose steps share `permits` CPU permits (at least one).
    pub fn new(permits: usize) -> Self {
        BlockingPool {
            queue: Arc::new(Queue::new(permits.max(1))),
            steps: 0,
        }
    }

    /// A handle on the same permits for one new handshake (its first step
    /// at the lower priority, the next ones at the higher).
    pub fn for_handshake(&self) -> Self {
        BlockingPool {
            queue: self.queue.clone(),
            steps: 0,
        }
    }

    /// CPU permits free now (not held by a runner).
    pub fn available(&self) -> usize {
        self.queue.free()
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
        let (tx, rx) = oneshot::channel::<std::thread::Result<O>>();
        let job: Job = Box::new(move || {
            // The handshake gave up while this step waited: skip it.
            if tx.is_closed() {
                return None;
            }
            let out = panic::catch_unwind(AssertUnwindSafe(f));
            Some(Box::new(move || {
                // A handshake that gave up meanwhile drops the result
                // (secrets in it are zeroized on drop).
                let _ = tx.send(out);
            }) as Deliver)
        });
        if let Some(first) = self.queue.push(priority, job) {
            let queue = self.queue.clone();
            tokio::task::spawn_blocking(move || queue.run(first));
        }
        match rx.await {
            Ok(Ok(out)) => out,
            // A panic in a handshake step is a bug; surface it here.
            Ok(Err(panic)) => panic::resume_unwind(panic),
            // The step was dropped unrun: only when the runtime shuts down
            // (its blocking tasks are not started), which drops this task
            // too.
            Err(_) => std::future::pending().await,
        }
    }
}

/// A queued step: runs it (`None` if its handshake gave up first) and
/// returns what hands the result over.
type Job = Box<dyn FnOnce() -> Option<Deliver> + Send>;
/// Hands a step's result to the task that waits for it.
type Deliver = Box<dyn FnOnce() + Send>;

/// Which queue a step waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    /// A handshake's first step.
    Start,
    /// A later step of a handshake already started.
    Finish,
}

/// The steps waiting for a permit, in two FIFO queues: a runner takes the
/// oldest [`Priority::Finish`] step, else the oldest [`Priority::Start`]
/// one.
struct Queue {
    permits: usize,
    state: Mutex<QueueState>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Queue")
            .field("permits", &self.permits)
            .field("running", &st.running)
            .field("finish", &st.finish.len())
            .field("start", &st.start.len())
            .finish()
    }
}

struct QueueState {
    /// Runners at work (permits in use).
    running: usize,
    finish: VecDeque<Job>,
    start: VecDeque<Job>,
}

impl Queue {
    fn new(permits: usize) -> Self {
        Queue {
            permits,
            state: Mutex::new(QueueState {
                running: 0,
                finish: VecDeque::new(),
                start: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn free(&self) -> usize {
        self.permits.saturating_sub(self.lock().running)
    }

    /// Queues `job`, or hands it back with a permit taken when one is free
    /// (the caller then starts a runner with it). A free permit means an
    /// empty queue: runners stop only when there is nothing left.
    fn push(&self, priority: Priority, job: Job) -> Option<Job> {
        let mut st = self.lock();
        if st.running < self.permits {
            st.running += 1;
            return Some(job);
        }
        match priority {
            Priority::Finish => st.finish.push_back(job),
            Priority::Start => st.start.push_back(job),
        }
        None
    }

    /// A runner: runs `job`, then the queued steps one after another; gives
    /// its permit back when the queue is empty. The permit is given back
    /// before the last result is handed over, so a caller that has its
    /// result sees the permit free.
    fn run(&self, mut job: Job) {
        loop {
            let deliver = job();
            let next = {
                let mut st = self.lock();
                let next = st.finish.pop_front().or_else(|| st.start.pop_front());
                if next.is_none() {
                    st.running -= 1;
                }
                next
            };
            if let Some(deliver) = deliver {
                deliver();
            }
            match next {
                Some(next) => job = next,
                None => return,
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

    /// Runs a step that holds the pool's one permit until the returned
    /// sender is used; returns when the permit is taken.
    async fn hold_the_only_permit(
        pool: &BlockingPool,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Option<()>>,
    ) {
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let mut p = pool.for_handshake();
            async move { p.run(move || hold_rx.recv().ok()).await }
        });
        while pool.available() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (hold_tx, holder)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_that_gives_up_does_not_keep_the_permit() {
        let pool = BlockingPool::new(1);
        let (hold_tx, holder) = hold_the_only_permit(&pool).await;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_step_whose_handshake_gave_up_while_it_waited_is_never_run() {
        let pool = BlockingPool::new(1);
        let (hold_tx, holder) = hold_the_only_permit(&pool).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let mut quitter = pool.for_handshake();
        let gave_up = tokio::time::timeout(Duration::from_millis(20), {
            let ran = ran.clone();
            quitter.run(move || ran.fetch_add(1, Ordering::SeqCst))
        })
        .await;
        assert!(gave_up.is_err(), "it had to wait");
        hold_tx.send(()).expect("release");
        holder.await.expect("holder");
        // A later step runs only after the queue ahead of it, the
        // quitter's step included, was gone through.
        let mut next = pool.for_handshake();
        tokio::time::timeout(Duration::from_secs(5), next.run(|| ()))
            .await
            .expect("the next step ran");
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the abandoned step ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steps_queued_in_a_burst_run_one_after_another_on_the_same_runner_thread() {
        let pool = BlockingPool::new(1);
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let mut p = pool.for_handshake();
            async move {
                p.run(move || {
                    hold_rx.recv().ok();
                    std::thread::current().id()
                })
                .await
            }
        });
        while pool.available() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut burst = Vec::new();
        for _ in 0..10 {
            let mut h = pool.for_handshake();
            burst.push(tokio::spawn(async move {
                h.run(|| std::thread::current().id()).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        hold_tx.send(()).expect("release");
        let first = holder.await.expect("holder");
        for t in burst {
            assert_eq!(t.await.expect("step"), first, "a step changed threads");
        }
        assert_eq!(pool.available(), 1, "the runner gave its permit back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_step_surfaces_in_its_caller_and_the_permit_comes_back() {
        let pool = BlockingPool::new(1);
        let caught = tokio::spawn({
            let mut p = pool.for_handshake();
            async move { p.run(|| panic!("step bug")).await }
        })
        .await;
        assert!(
            caught.is_err_and(|e| e.is_panic()),
            "the caller saw the panic"
        );
        let mut next = pool.for_handshake();
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), next.run(|| 7))
                .await
                .expect("the next step ran"),
            7
        );
        assert_eq!(pool.available(), 1);
    }
}
