//! Back-pressure on senders: a member that reads is never dropped because
//! others used their sending allowance.
//!
//! Each member's queue is bounded (records and bytes; [`queue_bytes`]). A
//! burst within the rate limits (many senders each spending their whole
//! `--burst` into one room) can still queue more for a member than its
//! bound before its writer gets the CPU. So before a room message is
//! published, its sender waits while the room is congested: while some
//! other member of the room that still reads has its queue, counting what
//! is in flight towards it (published, not yet fanned out), more than half
//! full. The sender's reader waits with it, so TCP slows the sender down.
//!
//! A member *still reads* unless it has events queued and its writer has
//! taken nothing off its queue (and finished no write) for `--stall-timeout`.
//! Senders stop waiting for such a member: its queue fills and it is
//! disconnected as one that cannot keep up, as before. So a member that
//! does not read holds a busy room back for at most the stall timeout.
//!
//! The check is per node: in cluster mode a sender waits for the members on
//! its own node; members on other nodes are fed by their node's room feed.
//!
//! [`queue_bytes`]: super::queue_bytes

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long a waiting sender sleeps before it looks again even without a
/// writer's signal (what is in flight, and stalls, change without one).
const RECHECK: Duration = Duration::from_millis(20);

/// Milliseconds since the first call in this process (a monotonic clock
/// that fits an atomic).
pub fn mono_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Room messages published and not yet fanned out to the members' queues
/// (the local history thread's backlog).
#[derive(Debug, Default)]
pub struct InFlight {
    records: AtomicUsize,
    bytes: AtomicUsize,
}

/// A snapshot of [`InFlight`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ahead {
    /// Messages.
    pub records: usize,
    /// Their [`Event::queued_bytes`](super::event::Event::queued_bytes).
    pub bytes: usize,
}

impl InFlight {
    /// A message of `bytes` queued bytes was published.
    pub fn add(&self, bytes: usize) {
        self.records.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// A message of `bytes` queued bytes was fanned out (or dropped).
    pub fn done(&self, bytes: usize) {
        let _ = self
            .records
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(bytes))
            });
    }

    /// What is in flight now.
    pub fn now(&self) -> Ahead {
        Ahead {
            records: self.records.load(Ordering::Acquire),
            bytes: self.bytes.load(Ordering::Acquire),
        }
    }
}

/// Where waiting senders sleep and writers wake them.
#[derive(Debug, Default)]
pub struct Drained {
    notify: Notify,
    waiting: AtomicUsize,
}

impl Drained {
    /// A writer's queue went from more than half full to at most half:
    /// wakes the waiting senders (only if there are any).
    pub fn signal(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Waits until `congested()` is false, sleeping between checks until a
    /// writer signals or [`RECHECK`] passes. Returns how long it waited.
    pub async fn wait_while(&self, mut congested: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !congested() {
                return start.elapsed();
            }
            self.waiting.fetch_add(1, Ordering::AcqRel);
            let _ = tokio::time::timeout(RECHECK, notified).await;
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One member's writer progress: when it last took events off its queue or
/// finished a write.
#[derive(Debug)]
pub struct Progress {
    last_ms: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            last_ms: AtomicU64::new(mono_ms()),
        }
    }
}

impl Progress {
    /// The writer took events or finished a write now.
    pub fn mark(&self) {
        self.last_ms.store(mono_ms(), Ordering::Release);
    }

    /// Time since the last [`Progress::mark`] (or creation).
    pub fn idle_for(&self) -> Duration {
        self.idle_at(mono_ms())
    }

    /// Time from the last [`Progress::mark`] (or creation) to `now_ms`, a
    /// [`mono_ms`] reading (one clock read for a whole room's members).
    pub fn idle_at(&self, now_ms: u64) -> Duration {
        let last = self.last_ms.load(Ordering::Acquire);
        Duration::from_millis(now_ms.saturating_sub(last))
    }
}

/// Whether one member holds senders back: its queue (`records` of
/// `max_records`, `bytes` of `max_bytes`) plus what is `ahead` of it is
/// more than half full, and it still reads (nothing queued, or progress
/// within `stall`).
pub fn holds_back(
    records: usize,
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
    ahead: Ahead,
    idle_for: Duration,
    stall: Duration,
) -> bool {
    let over = records.saturating_add(ahead.records) > max_records / 2
        || bytes.saturating_add(ahead.bytes) > max_bytes / 2;
    let stalled = records > 0 && idle_for >= stall;
    over && !stalled
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(5);

    #[test]
    fn a_reading_member_over_half_its_queue_holds_senders_back() {
        let none = Ahead::default();
        assert!(holds_back(
            513,
            0,
            1024,
            1 << 20,
            none,
            Duration::ZERO,
            STALL
        ));
        assert!(holds_back(
            1,
            600_000,
            1024,
            1 << 20,
            none,
            Duration::ZERO,
            STALL
        ));
        assert!(!holds_back(
            512,
            0,
            1024,
            1 << 20,
            none,
            Duration::ZERO,
            STALL
        ));
    }

    #[test]
    fn what_is_in_flight_counts_towards_every_member_s_queue() {
        let ahead = Ahead {
            records: 400,
            bytes: 0,
        };
        assert!(holds_back(
            200,
            0,
            1024,
            1 << 20,
            ahead,
            Duration::ZERO,
            STALL
        ));
        let big = Ahead {
            records: 1,
            bytes: 600_000,
        };
        assert!(holds_back(0, 0, 1024, 1 << 20, big, Duration::ZERO, STALL));
    }

    #[test]
    fn a_member_that_has_not_read_for_the_stall_time_holds_nobody_back() {
        let none = Ahead::default();
        assert!(!holds_back(900, 0, 1024, 1 << 20, none, STALL, STALL));
        assert!(holds_back(900, 0, 1024, 1 << 20, none, STALL / 2, STALL));
    }

    #[test]
    fn in_flight_counts_never_go_below_zero() {
        let f = InFlight::default();
        f.add(100);
        f.done(100);
        f.done(100);
        assert_eq!(f.now(), Ahead::default());
    }

    #[tokio::test]
    async fn a_waiting_sender_wakes_when_a_writer_signals() {
        let d = std::sync::Arc::new(Drained::default());
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let waiter = {
            let (d, flag) = (d.clone(), flag.clone());
            tokio::spawn(async move { d.wait_while(|| flag.load(Ordering::Acquire)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "waits while congested");
        flag.store(false, Ordering::Release);
        d.signal();
        let waited = waiter.await.expect("waiter");
        assert!(waited >= Duration::from_millis(50));
    }
}
