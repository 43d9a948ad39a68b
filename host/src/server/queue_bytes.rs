//! The byte budget of the clients' send queues: each client may have at
//! most `per_client` bytes of events queued, and all clients together at
//! most `total_max`; past the total, a client holding more than its share
//! (`total_max` divided by the clients connected) gets no more. A client
//! refused this way cannot keep up, and the hub disconnects it.
//!
//! An event is counted at [`Event::queued_bytes`](super::event::Event::queued_bytes)
//! for every client it is queued for, when it is queued, and given back
//! when the client's writer takes it off the queue (or when the client is
//! gone).
//!
//! The budget also knows how many clients are *loaded*: more than a quarter
//! of their queue (events or bytes) in use. While none is, no member of any
//! room can hold senders back ([`pressure`](super::pressure)), and a sender
//! need not look at every member of its room.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::pressure::{Ahead, Drained, Progress};

/// The low bits of a client's packed count ([`ClientBytes`]) hold its bytes
/// queued, the bits above them its events queued.
const BYTE_BITS: u32 = 40;
const BYTE_MASK: u64 = (1 << BYTE_BITS) - 1;
/// One event in a packed count.
const ONE_EVENT: u64 = 1 << BYTE_BITS;

/// The limits, and the bytes queued for all clients now.
#[derive(Debug)]
pub struct Budget {
    per_client: usize,
    total_max: usize,
    total: AtomicUsize,
    /// A client with more events than this queued is loaded...
    loaded_events: u64,
    /// ...and so is one with more bytes than this.
    loaded_bytes: u64,
    /// Clients loaded now (for a moment more or fewer while a count moves,
    /// and wrapped below zero then: any value but 0 means "look").
    loaded: AtomicUsize,
    /// Where senders held back by a full queue wait for writers.
    drained: Drained,
}

/// One client's bytes queued, counted in its [`Budget`]; whatever it still
/// counts when the last handle drops is given back to the total.
#[derive(Debug)]
pub struct ClientBytes {
    budget: Arc<Budget>,
    /// Events queued (above [`BYTE_BITS`]) and their bytes (below), in one
    /// word so that a change moves both at once.
    queued: AtomicU64,
    /// When the client's writer last took events or finished a write.
    progress: Progress,
}

impl Budget {
    /// A budget of `per_client` bytes per client (at most 2^40) and
    /// `total_max` in all, for queues of `per_client_events` events.
    pub fn new(per_client: usize, total_max: usize, per_client_events: usize) -> Arc<Budget> {
        let per_client = per_client.min(BYTE_MASK as usize);
        Arc::new(Budget {
            per_client,
            total_max,
            total: AtomicUsize::new(0),
            loaded_events: (per_client_events / 4) as u64,
            loaded_bytes: (per_client / 4) as u64,
            loaded: AtomicUsize::new(0),
            drained: Drained::default(),
        })
    }

    /// A new client's count, at zero.
    pub fn client(self: &Arc<Self>) -> Arc<ClientBytes> {
        Arc::new(ClientBytes {
            budget: self.clone(),
            queued: AtomicU64::new(0),
            progress: Progress::default(),
        })
    }

    /// Whether no member of any room can hold senders back with `ahead` in
    /// flight towards every member: no client is loaded, and `ahead` is at
    /// most a quarter of a queue. A member holds back when its queue plus
    /// `ahead` is more than half full, and a quarter plus a quarter is not.
    pub fn none_can_hold_back(&self, ahead: Ahead) -> bool {
        self.loaded.load(Ordering::Acquire) == 0
            && ahead.records as u64 <= self.loaded_events
            && ahead.bytes as u64 <= self.loaded_bytes
    }

    /// Whether a client's packed count is loaded.
    fn is_loaded(&self, packed: u64) -> bool {
        packed >> BYTE_BITS > self.loaded_events || packed & BYTE_MASK > self.loaded_bytes
    }

    /// Counts a client's move between loaded and not, from its packed count
    /// `before` one change to `after` it. Each change is one atomic step on
    /// the client's count, so every move is counted exactly once.
    fn moved(&self, before: u64, after: u64) {
        match (self.is_loaded(before), self.is_loaded(after)) {
            (false, true) => {
                self.loaded.fetch_add(1, Ordering::AcqRel);
            }
            (true, false) => {
                self.loaded.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }

    /// Bytes queued for all clients now.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Bytes one client may have queued.
    pub fn per_client(&self) -> usize {
        self.per_client
    }

    /// Where held-back senders wait for the writers.
    pub fn drained(&self) -> &Drained {
        &self.drained
    }
}

impl ClientBytes {
    /// Counts one more event of `n` bytes for this client, one of
    /// `clients` connected, if the budget allows; false (nothing counted)
    /// if it does not. Called for one client by one thread at a time (the
    /// hub's, under its lock), while its writer may [`release`](Self::release).
    pub fn try_reserve(&self, n: usize, clients: usize) -> bool {
        let b = &self.budget;
        let mine = self.queued().saturating_add(n);
        if mine > b.per_client {
            return false;
        }
        let total = b.total.load(Ordering::Acquire).saturating_add(n);
        if total > b.total_max && mine > b.total_max / clients.max(1) {
            return false;
        }
        // `n` fits the byte bits: `mine`, at least `n`, is within
        // `per_client`, which is at most BYTE_MASK.
        let step = ONE_EVENT | n as u64;
        let before = self.queued.fetch_add(step, Ordering::AcqRel);
        b.total.fetch_add(n, Ordering::AcqRel);
        b.moved(before, before.wrapping_add(step));
        true
    }

    /// Gives back one event of `n` bytes (it left the queue).
    pub fn release(&self, n: usize) {
        let mut cur = self.queued.load(Ordering::Acquire);
        loop {
            let bytes = cur & BYTE_MASK;
            let take = (n as u64).min(bytes);
            let events = (cur >> BYTE_BITS).saturating_sub(1);
            let next = events << BYTE_BITS | (bytes - take);
            match self
                .queued
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.budget.total.fetch_sub(take as usize, Ordering::AcqRel);
                    self.budget.moved(cur, next);
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Bytes queued for this client now.
    pub fn queued(&self) -> usize {
        (self.queued.load(Ordering::Acquire) & BYTE_MASK) as usize
    }

    /// The writer's progress on this client's queue.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The budget this client counts in.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }
}

impl Drop for ClientBytes {
    fn drop(&mut self) {
        let left = *self.queued.get_mut();
        self.budget
            .total
            .fetch_sub((left & BYTE_MASK) as usize, Ordering::AcqRel);
        self.budget.moved(left, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_no_more_than_its_own_bound() {
        let budget = Budget::new(1000, 1_000_000, 64);
        let a = budget.client();
        assert!(a.try_reserve(600, 1));
        assert!(!a.try_reserve(600, 1));
        assert_eq!(a.queued(), 600, "a refusal counts nothing");
        a.release(600);
        assert!(a.try_reserve(1000, 1));
        assert_eq!(budget.total(), 1000);
    }

    #[test]
    fn past_the_total_only_a_client_over_its_share_is_refused() {
        let budget = Budget::new(2000, 1500, 64);
        let hog = budget.client();
        let fair = budget.client();
        assert!(hog.try_reserve(1000, 2));
        assert!(fair.try_reserve(400, 2));
        // 1,400 queued in all; 200 more goes past 1,500.
        assert!(
            !hog.try_reserve(200, 2) && hog.queued() == 1000,
            "over its share of 750"
        );
        assert!(fair.try_reserve(200, 2), "600 is within its share");
        assert_eq!(budget.total(), 1600);
    }

    #[test]
    fn what_a_gone_client_still_counted_is_given_back_to_the_total() {
        let budget = Budget::new(1000, 10_000, 64);
        let a = budget.client();
        assert!(a.try_reserve(700, 1));
        a.release(200);
        a.release(10_000);
        assert_eq!(a.queued(), 0, "never below zero");
        assert!(a.try_reserve(300, 1));
        drop(a);
        assert_eq!(budget.total(), 0);
    }

    #[test]
    fn a_client_is_loaded_past_a_quarter_of_its_events_or_bytes_until_it_drains() {
        // Queues of 16 events and 1,000 bytes: loaded past 4 events or 250 bytes.
        let budget = Budget::new(1000, 1_000_000, 16);
        let few = Ahead::default();
        let a = budget.client();
        for _ in 0..4 {
            assert!(a.try_reserve(10, 1));
        }
        assert!(
            budget.none_can_hold_back(few),
            "4 events of 16 is a quarter"
        );
        assert!(a.try_reserve(10, 1));
        assert!(!budget.none_can_hold_back(few), "5 events is past it");
        a.release(10);
        assert!(budget.none_can_hold_back(few), "back to a quarter");
        let b = budget.client();
        assert!(b.try_reserve(251, 1));
        assert!(!budget.none_can_hold_back(few), "251 bytes of 1,000");
        drop(b);
        assert!(
            budget.none_can_hold_back(few),
            "a client gone is not loaded"
        );
        for _ in 0..4 {
            a.release(10);
        }
        assert_eq!((a.queued(), budget.total()), (0, 0));
        assert!(budget.none_can_hold_back(few));
    }

    #[test]
    fn what_is_in_flight_past_a_quarter_of_a_queue_may_hold_back_on_its_own() {
        let budget = Budget::new(1000, 1_000_000, 16);
        let events = |records| Ahead { records, bytes: 0 };
        assert!(budget.none_can_hold_back(events(4)));
        assert!(!budget.none_can_hold_back(events(5)));
        assert!(!budget.none_can_hold_back(Ahead {
            records: 1,
            bytes: 251
        }));
    }

    #[test]
    fn a_writer_draining_while_the_hub_queues_leaves_the_count_exact() {
        let budget = Budget::new(1 << 20, 1 << 30, 64);
        let a = budget.client();
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let writer = {
            let a = a.clone();
            std::thread::spawn(move || {
                for n in rx {
                    a.release(n);
                }
            })
        };
        for i in 0..100_000usize {
            let n = 1 + i % 1000;
            // Stay well within the client's 1 MiB bound, so that every
            // reserve succeeds while the writer catches up.
            while a.queued() > 200_000 {
                std::thread::yield_now();
            }
            assert!(a.try_reserve(n, 1));
            tx.send(n).expect("writer");
        }
        drop(tx);
        writer.join().expect("writer");
        assert_eq!((a.queued(), budget.total()), (0, 0));
        assert!(
            budget.none_can_hold_back(Ahead::default()),
            "every move into loaded was matched by one out"
        );
    }
}
