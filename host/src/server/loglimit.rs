//! A limit on how many lines of one kind go to the log per second, so that
//! a flood of failing connections cannot flood the log: past the limit,
//! lines are counted instead of written, and the next line written carries
//! the count of those left out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one kind: at most `per_second` written in any one-second window.
#[derive(Debug)]
pub struct LogLimit {
    per_second: u32,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Option<Instant>,
    written: u32,
    skipped: u64,
}

impl LogLimit {
    /// A limit of `per_second` lines a second (at least one).
    pub const fn new(per_second: u32) -> Self {
        LogLimit {
            per_second: if per_second == 0 { 1 } else { per_second },
            state: Mutex::new(Window {
                start: None,
                written: 0,
                skipped: 0,
            }),
        }
    }

    /// Whether a line may be written at `now`: `Some(n)` with the number of
    /// lines left out since the last one written, or `None` (this line is
    /// counted and left out).
    pub fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut w = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let expired = w
            .start
            .is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1));
        if expired {
            w.start = Some(now);
            w.written = 0;
        }
        if w.written < self.per_second {
            w.written += 1;
            Some(std::mem::take(&mut w.skipped))
        } else {
            w.skipped += 1;
            None
        }
    }

    /// [`LogLimit::allow_at`] now.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_limit_lines_are_counted_and_the_next_line_written_carries_the_count() {
        let limit = LogLimit::new(2);
        let t0 = Instant::now();
        assert_eq!(limit.allow_at(t0), Some(0));
        assert_eq!(limit.allow_at(t0), Some(0));
        for _ in 0..1000 {
            assert_eq!(limit.allow_at(t0 + Duration::from_millis(500)), None);
        }
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(1)), Some(1000));
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(1)), Some(0));
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(1)), None);
    }
}
