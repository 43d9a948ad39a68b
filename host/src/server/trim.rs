//! Gives the heap that a burst freed back to the system.
//!
//! A burst of handshakes (each holds its buffers and the core's machine, some
//! 20 KiB, until it ends) leaves freed memory scattered between the sessions
//! it created. glibc keeps such memory mapped, so a process that served one
//! burst of 1,000 connects keeps about 10 MB more resident than its sessions
//! use. Every [`INTERVAL`], when the allocator holds at least [`WORTH_IT`]
//! free bytes, this asks it to return the whole free pages among them
//! (`malloc_trim`). Elsewhere than Linux with glibc it does nothing.

use std::time::Duration;

/// How often the free heap is looked at.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Free heap bytes below which trimming is not worth a walk of the heap.
pub const WORTH_IT: usize = 4 << 20;

/// Runs until the task is dropped: every [`INTERVAL`], trims the heap on a
/// blocking thread when it holds at least [`WORTH_IT`] free bytes.
pub async fn run() {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if tokio::task::spawn_blocking(trim_if_worth_it).await.is_err() {
            return;
        }
    }
}

/// Trims when the allocator holds at least [`WORTH_IT`] free bytes; returns
/// the free bytes seen.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_if_worth_it() -> usize {
    // SAFETY: both are plain glibc calls without arguments that point
    // anywhere; they take the allocator's own locks.
    let free = unsafe { libc::mallinfo2() }.fordblks;
    if free >= WORTH_IT {
        let started = std::time::Instant::now();
        // SAFETY: as above.
        let released = unsafe { libc::malloc_trim(0) } == 1;
        tracing::debug!(
            free_bytes = free,
            released,
            took_us = started.elapsed().as_micros() as u64,
            "heap trimmed"
        );
    }
    free
}

/// Elsewhere the allocator is left alone.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_if_worth_it() -> usize {
    0
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn freed_heap_past_the_threshold_is_seen_and_trimming_it_keeps_it_usable() {
        // Many small blocks, then every other one freed: free memory that
        // stays inside the heap (not unmapped by free itself).
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 4000]).collect();
        let kept: Vec<Vec<u8>> = blocks.drain(..).step_by(2).collect();
        let free = trim_if_worth_it();
        assert!(free >= WORTH_IT / 2, "only {free} free bytes seen");
        // What was kept is intact after the trim.
        for (i, b) in kept.iter().enumerate() {
            assert!(b.iter().all(|&x| x == (2 * i) as u8));
        }
    }
}
