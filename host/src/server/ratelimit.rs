//! A token bucket: `rate` tokens per second, at most `burst` stored.

use std::time::Instant;

/// Per-client message rate limit.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token at `now`; false if none is left (the message is over
    /// the limit).
    pub fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token now.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5);
        b.last = t0;
        for _ in 0..5 {
            assert!(b.take_at(t0));
        }
        assert!(!b.take_at(t0));
        assert!(b.take_at(t0 + Duration::from_millis(100)));
        assert!(!b.take_at(t0 + Duration::from_millis(100)));
        // Refill is capped at the burst.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..5 {
            assert!(b.take_at(later));
        }
        assert!(!b.take_at(later));
    }
}
