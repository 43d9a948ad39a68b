//! Percentiles over recorded durations.

/// p50, p99 and max of `samples` (microseconds), in milliseconds; zeros
/// when there is nothing to summarize.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank), ms.
    pub p99_ms: f64,
    /// Largest sample, ms.
    pub max_ms: f64,
}

impl Summary {
    /// Sorts `samples` (microseconds) and summarizes them.
    pub fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50_ms: ms(nearest_rank(samples, 50)),
            p99_ms: ms(nearest_rank(samples, 99)),
            max_ms: ms(samples.last().copied().unwrap_or(0)),
        }
    }
}

/// The nearest-rank `pct` percentile of sorted `sorted` (0 when empty).
pub fn nearest_rank(sorted: &[u64], pct: u32) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let rank = (n * pct as usize).div_ceil(100).clamp(1, n);
    sorted.get(rank - 1).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_nearest_rank_rule() {
        let mut v: Vec<u64> = (1..=100).rev().map(|i| i * 1000).collect();
        let s = Summary::of(&mut v);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert_eq!(nearest_rank(&[7], 99), 7);
        assert_eq!(Summary::of(&mut []), Summary::default());
    }
}
