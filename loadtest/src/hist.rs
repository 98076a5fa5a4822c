//! Latency histograms in microseconds, mergeable across worker processes.
//!
//! Workers record into an [`hdrhistogram::Histogram`] and ship it to the
//! coordinator as its list of recorded `(value, count)` pairs ([`Hist::to_pairs`]),
//! which is exact up to the histogram's 3 significant digits and small (a few
//! hundred pairs whatever the sample count). The exact maximum travels beside
//! it so "time until the last wake-up" is not rounded.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency tracked: 10 minutes in µs; larger samples are clamped.
const MAX_TRACKABLE_US: u64 = 600_000_000;
/// Significant decimal digits kept by the histogram.
const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in microseconds, plus the exact maximum.
#[derive(Clone)]
pub struct Hist {
    h: Histogram<u64>,
    max_us: u64,
}

/// The wire form of a [`Hist`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistPairs {
    pub pairs: Vec<(u64, u64)>,
    pub max_us: u64,
}

/// What a report shows of a histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    pub fn new() -> Hist {
        // These bounds are constants that hdrhistogram accepts.
        let h = Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SIGNIFICANT_DIGITS)
            .unwrap_or_else(|e| panic!("histogram bounds are constants: {e}"));
        Hist { h, max_us: 0 }
    }

    pub fn record_us(&mut self, us: u64) {
        self.max_us = self.max_us.max(us);
        self.h.saturating_record(us.max(1));
    }

    /// Records `to_ns - from_ns`, clamping clock-order surprises to zero.
    pub fn record_between_ns(&mut self, from_ns: u64, to_ns: u64) {
        self.record_us(to_ns.saturating_sub(from_ns) / 1000);
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    pub fn merge(&mut self, other: &Hist) {
        self.max_us = self.max_us.max(other.max_us);
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.h.add(&other.h);
    }

    pub fn to_pairs(&self) -> HistPairs {
        let pairs = self
            .h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        HistPairs {
            pairs,
            max_us: self.max_us,
        }
    }

    pub fn from_pairs(p: &HistPairs) -> Hist {
        let mut hist = Hist::new();
        for &(v, n) in &p.pairs {
            let _ = hist.h.record_n(v.clamp(1, MAX_TRACKABLE_US), n);
        }
        hist.max_us = p.max_us;
        hist
    }

    pub fn summary(&self) -> Summary {
        if self.h.is_empty() {
            return Summary::default();
        }
        // Bucket rounding can put a quantile above the exact maximum; clamp it.
        let ms = |us: u64| us.min(self.max_us) as f64 / 1000.0;
        Summary {
            count: self.h.len(),
            p50_ms: ms(self.h.value_at_quantile(0.50)),
            p90_ms: ms(self.h.value_at_quantile(0.90)),
            p99_ms: ms(self.h.value_at_quantile(0.99)),
            p999_ms: ms(self.h.value_at_quantile(0.999)),
            max_ms: ms(self.max_us),
            mean_ms: self.h.mean() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_survive_the_wire_and_merge() {
        let mut a = Hist::new();
        let mut b = Hist::new();
        for us in 1..=1000 {
            a.record_us(us * 1000);
        }
        b.record_us(5_000_123);
        let mut merged = Hist::from_pairs(&a.to_pairs());
        merged.merge(&Hist::from_pairs(&b.to_pairs()));
        let s = merged.summary();
        assert_eq!(s.count, 1001);
        assert!((s.p50_ms - 500.0).abs() < 2.0, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() < 2.0, "{s:?}");
        assert_eq!(s.max_ms, 5000.123);
        assert_eq!(Hist::new().summary(), Summary::default());
    }

    #[test]
    fn clock_order_surprises_are_clamped() {
        let mut h = Hist::new();
        h.record_between_ns(2_000, 1_000);
        h.record_between_ns(0, 3_000_000);
        assert_eq!(h.count(), 2);
        assert_eq!(h.summary().max_ms, 3.0);
    }
}
