//! Gives the heap that a burst freed back to the system.
//!
//! A burst of handshakes (each holds its buffers and the core's machine, some
//! 20 KiB, until it ends) leaves freed memory scattered between the sessions
//! it created. glibc keeps such memory mapped, so a process that served one
//! burst of 1,000 connects keeps about 10 MB more resident than its sessions
//! use. Every [`INTERVAL`], when the allocator holds at least [`WORTH_IT`]
//! free bytes, this asks it to return the whole free pages among them
//! (`malloc_trim`, which walks the heap under its locks: 0.1-6 ms after a
//! burst of 1,000), and again only once the free bytes have changed by
//! [`CHANGED`] or after [`RETRIM`]. Elsewhere than Linux with glibc it does
//! nothing.

use std::time::Duration;

/// How often the free heap is looked at.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Free heap bytes below which trimming is not worth a walk of the heap.
pub const WORTH_IT: usize = 4 << 20;

/// How much the free bytes must have changed since the last trim (a burst
/// went on, or ended) before the next trim comes sooner than [`RETRIM`].
pub const CHANGED: usize = 1 << 20;

/// How long after a trim the heap is trimmed again when its free bytes did
/// not change by [`CHANGED`] (what was freed since may have been reused and
/// freed again, resident once more).
pub const RETRIM: Duration = Duration::from_secs(60);

/// Runs until the task is dropped: every [`INTERVAL`], looks at the free heap
/// on a blocking thread and trims it when [`worth_trimming`] says so.
pub async fn run() {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last: Option<(usize, std::time::Instant)> = None;
    loop {
        tick.tick().await;
        let Ok(trimmed) = tokio::task::spawn_blocking(move || {
            let free = free_bytes();
            let now = std::time::Instant::now();
            let since = last.map(|(free, at)| (free, now.duration_since(at)));
            worth_trimming(free, since).then(|| {
                trim(free);
                (free, now)
            })
        })
        .await
        else {
            return;
        };
        if trimmed.is_some() {
            last = trimmed;
        }
    }
}

/// Whether to trim a heap holding `free` bytes, given the free bytes and the
/// time since the last trim, if any: at least [`WORTH_IT`] free, and either
/// no trim yet, free bytes changed by [`CHANGED`] since, or [`RETRIM`] gone
/// by.
pub fn worth_trimming(free: usize, last: Option<(usize, Duration)>) -> bool {
    free >= WORTH_IT
        && match last {
            None => true,
            Some((then, since)) => free.abs_diff(then) >= CHANGED || since >= RETRIM,
        }
}

/// The bytes the allocator holds free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn free_bytes() -> usize {
    // SAFETY: a plain glibc call without arguments; it takes the
    // allocator's own locks.
    unsafe { libc::mallinfo2() }.fordblks
}

/// Asks the allocator to return its whole free pages.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim(free: usize) {
    let started = std::time::Instant::now();
    // SAFETY: as in `free_bytes`.
    let released = unsafe { libc::malloc_trim(0) } == 1;
    tracing::debug!(
        free_bytes = free,
        released,
        took_us = started.elapsed().as_micros() as u64,
        "heap trimmed"
    );
}

/// Elsewhere the allocator is left alone.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn free_bytes() -> usize {
    0
}

/// Elsewhere the allocator is left alone.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim(_free: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heap_is_trimmed_when_enough_is_free_then_again_when_that_changed_or_a_minute_passed() {
        let mib = 1 << 20;
        assert!(!worth_trimming(WORTH_IT - 1, None));
        assert!(worth_trimming(WORTH_IT, None));
        let after = Some((10 * mib, INTERVAL));
        assert!(!worth_trimming(10 * mib, after), "nothing changed");
        assert!(!worth_trimming(10 * mib + CHANGED - 1, after));
        assert!(
            worth_trimming(10 * mib + CHANGED, after),
            "a burst freed more"
        );
        assert!(worth_trimming(10 * mib - CHANGED, after), "a burst went on");
        assert!(
            worth_trimming(10 * mib, Some((10 * mib, RETRIM))),
            "a minute on"
        );
        assert!(
            !worth_trimming(WORTH_IT - 1, Some((0, RETRIM))),
            "too little free"
        );
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_heap_is_seen_and_trimming_it_keeps_what_is_in_use_intact() {
        // Many small blocks, then every other one freed: free memory that
        // stays inside the heap (not unmapped by free itself).
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 4000]).collect();
        let kept: Vec<Vec<u8>> = blocks.drain(..).step_by(2).collect();
        let free = free_bytes();
        assert!(free >= WORTH_IT / 2, "only {free} free bytes seen");
        trim(free);
        for (i, b) in kept.iter().enumerate() {
            assert!(b.iter().all(|&x| x == (2 * i) as u8));
        }
    }
}
