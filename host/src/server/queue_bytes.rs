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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::pressure::{Drained, Progress};

/// The limits, and the bytes queued for all clients now.
#[derive(Debug)]
pub struct Budget {
    per_client: usize,
    total_max: usize,
    total: AtomicUsize,
    /// Where senders held back by a full queue wait for writers.
    drained: Drained,
}

/// One client's bytes queued, counted in its [`Budget`]; whatever it still
/// counts when the last handle drops is given back to the total.
#[derive(Debug)]
pub struct ClientBytes {
    budget: Arc<Budget>,
    queued: AtomicUsize,
    /// When the client's writer last took events or finished a write.
    progress: Progress,
}

impl Budget {
    /// A budget of `per_client` bytes per client and `total_max` in all.
    pub fn new(per_client: usize, total_max: usize) -> Arc<Budget> {
        Arc::new(Budget {
            per_client,
            total_max,
            total: AtomicUsize::new(0),
            drained: Drained::default(),
        })
    }

    /// A new client's count, at zero.
    pub fn client(self: &Arc<Self>) -> Arc<ClientBytes> {
        Arc::new(ClientBytes {
            budget: self.clone(),
            queued: AtomicUsize::new(0),
            progress: Progress::default(),
        })
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
    /// Counts `n` more bytes for this client, one of `clients` connected,
    /// if the budget allows; false (nothing counted) if it does not.
    pub fn try_reserve(&self, n: usize, clients: usize) -> bool {
        let b = &self.budget;
        let mine = self.queued.load(Ordering::Acquire).saturating_add(n);
        if mine > b.per_client {
            return false;
        }
        let total = b.total.load(Ordering::Acquire).saturating_add(n);
        if total > b.total_max && mine > b.total_max / clients.max(1) {
            return false;
        }
        self.queued.fetch_add(n, Ordering::AcqRel);
        b.total.fetch_add(n, Ordering::AcqRel);
        true
    }

    /// Gives back `n` bytes (an event left the queue).
    pub fn release(&self, n: usize) {
        let mut cur = self.queued.load(Ordering::Acquire);
        loop {
            let take = n.min(cur);
            match self
                .queued
                .compare_exchange(cur, cur - take, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.budget.total.fetch_sub(take, Ordering::AcqRel);
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Bytes queued for this client now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
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
        self.budget.total.fetch_sub(left, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_no_more_than_its_own_bound() {
        let budget = Budget::new(1000, 1_000_000);
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
        let budget = Budget::new(2000, 1500);
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
        let budget = Budget::new(1000, 10_000);
        let a = budget.client();
        assert!(a.try_reserve(700, 1));
        a.release(200);
        a.release(10_000);
        assert_eq!(a.queued(), 0, "never below zero");
        assert!(a.try_reserve(300, 1));
        drop(a);
        assert_eq!(budget.total(), 0);
    }
}
