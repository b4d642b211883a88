//! A virtual service's load history, bounded: the peak of every bucket (15 minutes by default)
//! for the last five weeks, which is what the profile reads, and the peak of every hour for a
//! year behind that, so a year costs about 12,000 numbers (under 100 KB of JSON) per service
//! whatever the report rate.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Buckets of the fine tier: five weeks, one more than the profile looks back, so the oldest
/// week it reads is complete.
pub const FINE_DAYS: i64 = 35;
/// Hours of the coarse tier.
pub const COARSE_HOURS: usize = 366 * 24;

/// Peaks per bucket, in two tiers. Missing data (no report, a gap in a trace) stays missing
/// (`None`), never zero: an outage must not teach the profile that the load vanishes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Seconds per fine bucket.
    pub bucket_secs: i64,
    /// Absolute index (unix seconds / `bucket_secs`) of `fine[0]`.
    pub fine_start: i64,
    /// Peak load of each fine bucket.
    pub fine: VecDeque<Option<f32>>,
    /// Absolute hour (unix seconds / 3600) of `coarse[0]`.
    pub coarse_start: i64,
    /// Peak load of each hour older than the fine tier.
    pub coarse: VecDeque<Option<f32>>,
}

impl History {
    /// An empty history of `bucket_secs` buckets (at least a minute, at most an hour).
    pub fn new(bucket_secs: i64) -> Self {
        Self {
            bucket_secs: bucket_secs.clamp(60, 3600),
            fine_start: 0,
            fine: VecDeque::new(),
            coarse_start: 0,
            coarse: VecDeque::new(),
        }
    }

    fn fine_len(&self) -> usize {
        (FINE_DAYS * 86_400 / self.bucket_secs) as usize
    }

    /// The bucket holding unix time `t`.
    pub fn bucket(&self, t: i64) -> i64 {
        t.div_euclid(self.bucket_secs)
    }

    /// The newest bucket seen, if any.
    pub fn last_bucket(&self) -> Option<i64> {
        (!self.fine.is_empty()).then(|| self.fine_start + self.fine.len() as i64 - 1)
    }

    /// Records a load measured at unix time `t`. A point older than the fine tier is dropped
    /// (the past is not rewritten).
    pub fn observe(&mut self, t: i64, value: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        let b = self.bucket(t);
        let Some(last) = self.last_bucket() else {
            self.fine_start = b;
            self.fine.push_back(Some(value as f32));
            return;
        };
        if b < self.fine_start {
            return;
        }
        if b > last {
            // A gap longer than the fine tier: what is kept moves to the coarse tier whole.
            let gap = (b - last) as usize;
            if gap > self.fine_len() {
                while !self.fine.is_empty() {
                    self.fold_oldest();
                }
                self.fine_start = b;
            } else {
                self.fine.extend(std::iter::repeat_n(None, gap - 1));
            }
            self.fine.push_back(None);
        }
        let i = (b - self.fine_start) as usize;
        let slot = &mut self.fine[i];
        *slot = Some(slot.map_or(value as f32, |p| p.max(value as f32)));
        while self.fine.len() > self.fine_len() {
            self.fold_oldest();
        }
    }

    /// Moves the oldest fine bucket into its hour of the coarse tier.
    fn fold_oldest(&mut self) {
        let Some(v) = self.fine.pop_front() else {
            return;
        };
        let hour = (self.fine_start * self.bucket_secs).div_euclid(3600);
        self.fine_start += 1;
        if self.coarse.is_empty() {
            self.coarse_start = hour;
        }
        let last = self.coarse_start + self.coarse.len() as i64 - 1;
        if hour > last {
            let gap = ((hour - last) as usize).min(COARSE_HOURS);
            self.coarse.extend(std::iter::repeat_n(None, gap));
            self.coarse_start = hour + 1 - self.coarse.len() as i64;
        }
        if let Some(i) = usize::try_from(hour - self.coarse_start)
            .ok()
            .filter(|i| *i < self.coarse.len())
            && let Some(v) = v
        {
            let slot = &mut self.coarse[i];
            *slot = Some(slot.map_or(v, |p| p.max(v)));
        }
        while self.coarse.len() > COARSE_HOURS {
            self.coarse.pop_front();
            self.coarse_start += 1;
        }
    }

    /// The peak of bucket `b`: from the fine tier, or, older, the peak of its hour.
    pub fn peak(&self, b: i64) -> Option<f64> {
        if b >= self.fine_start {
            return self
                .fine
                .get(usize::try_from(b - self.fine_start).ok()?)
                .copied()
                .flatten()
                .map(f64::from);
        }
        let hour = (b * self.bucket_secs).div_euclid(3600);
        self.coarse
            .get(usize::try_from(hour - self.coarse_start).ok()?)
            .copied()
            .flatten()
            .map(f64::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_peaks_gaps_and_a_bounded_year() {
        let mut h = History::new(900);
        h.observe(0, 5.0);
        h.observe(60, 9.0);
        h.observe(120, 7.0);
        h.observe(3 * 900, 4.0);
        assert_eq!(h.peak(0), Some(9.0), "a bucket keeps its peak");
        assert_eq!(h.peak(1), None, "a gap stays missing, not zero");
        assert_eq!(h.peak(3), Some(4.0));
        // Two years of minutes: the history stays bounded and the old weeks are hourly.
        for m in 0..(2 * 365 * 24 * 60) {
            h.observe(m * 60, (m % 1440) as f64);
        }
        assert!(h.fine.len() <= 35 * 96);
        assert!(h.coarse.len() <= COARSE_HOURS);
        let bytes = serde_json::to_vec(&h).unwrap().len();
        assert!(bytes < 300_000, "{bytes} bytes for a year");
        let old = h.fine_start - 96 * 10;
        assert!(
            h.peak(old).is_some(),
            "ten days before the fine tier is hourly"
        );
    }
}
