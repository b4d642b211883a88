//! Downsampled rings: one series of numeric fields per object, kept at several resolutions
//! at once (10 s for 10 minutes, 1 minute for 3 hours, 10 minutes for 7 days), each ring
//! bounded, so a series never holds more than [`MAX_POINTS`] points however long it runs.
//!
//! Every sample goes into every ring: a ring's point is the mean of the samples in its bucket
//! (per field, over the samples that had the field), so a coarse ring is exact, not a
//! resampling of a finer one, and a query at any step reads the finest ring that still
//! reaches back to its `from`.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The rings: (bucket width in seconds, points kept).
pub const TIERS: [(i64, usize); 3] = [(10, 60), (60, 180), (600, 1008)];

/// Most points one series holds (the sum of the rings).
pub const MAX_POINTS: usize = 60 + 180 + 1008;

/// One bucket of one ring: per-field sums and counts, so buckets merge exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Unix seconds at the bucket's start.
    pub t: i64,
    /// Per-field sum of the samples.
    pub sum: Vec<f64>,
    /// Per-field number of samples that had the field.
    pub n: Vec<u32>,
}

impl Bucket {
    fn new(t: i64, width: usize) -> Self {
        Self {
            t,
            sum: vec![0.0; width],
            n: vec![0; width],
        }
    }

    fn add(&mut self, values: &[Option<f64>]) {
        for (i, v) in values.iter().enumerate().take(self.sum.len()) {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                self.sum[i] += v;
                self.n[i] += 1;
            }
        }
    }

    fn merge(&mut self, o: &Bucket) {
        for i in 0..self.sum.len().min(o.sum.len()) {
            self.sum[i] += o.sum[i];
            self.n[i] += o.n[i];
        }
    }

    /// Per-field means (None where no sample had the field).
    pub fn means(&self) -> Vec<Option<f64>> {
        self.sum
            .iter()
            .zip(&self.n)
            .map(|(s, n)| (*n > 0).then(|| s / f64::from(*n)))
            .collect()
    }
}

/// One object's history: the same fields at every resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Field names, in the order of every bucket's values.
    pub fields: Vec<String>,
    /// One ring per entry of [`TIERS`], oldest bucket first.
    pub rings: Vec<VecDeque<Bucket>>,
}

/// A query's answer: buckets of `step` seconds between `from` and `to`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Points {
    /// The step of the answer: the one asked for, or the resolution of the finest ring that
    /// reaches back to `from` when that is coarser.
    pub step: i64,
    /// Field names.
    pub fields: Vec<String>,
    /// Buckets: `t` (unix seconds at the start) and one mean per field (null: no sample).
    pub points: Vec<(i64, Vec<Option<f64>>)>,
}

impl Series {
    /// An empty series of these fields.
    pub fn new(fields: &[&str]) -> Self {
        Self {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            rings: TIERS.iter().map(|_| VecDeque::new()).collect(),
        }
    }

    /// Adds a sample taken at unix second `t` (one value per field). The controller's clock
    /// can be set back (a replay sets it to its trace's start): buckets later than `t` are
    /// then a future that did not happen, and go.
    pub fn record(&mut self, t: i64, values: &[Option<f64>]) {
        let width = self.fields.len();
        self.rings.resize_with(TIERS.len(), VecDeque::new);
        for (ring, (step, cap)) in self.rings.iter_mut().zip(TIERS) {
            let start = t - t.rem_euclid(step);
            while ring.back().is_some_and(|b| b.t > start) {
                ring.pop_back();
            }
            match ring.back_mut() {
                Some(b) if b.t == start => b.add(values),
                _ => {
                    let mut b = Bucket::new(start, width);
                    b.add(values);
                    ring.push_back(b);
                    while ring.len() > cap {
                        ring.pop_front();
                    }
                }
            }
        }
    }

    /// Number of buckets held in all rings.
    pub fn len(&self) -> usize {
        self.rings.iter().map(VecDeque::len).sum()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest sample time.
    pub fn last_time(&self) -> Option<i64> {
        self.rings.first().and_then(|r| r.back()).map(|b| b.t)
    }

    /// Means over buckets of `step` seconds (aligned to multiples of the step) from `from` to
    /// `to` inclusive, read from the finest ring no finer than needed that reaches back to
    /// `from` (or, when none does, the one that reaches back furthest).
    pub fn query(&self, from: i64, to: i64, step: i64) -> Points {
        let step = step.max(TIERS[0].0);
        // A ring covers `from` when it reaches back to it, or has dropped nothing yet.
        let covers = |i: usize| {
            self.rings.get(i).is_some_and(|r| {
                r.front().is_some_and(|b| b.t <= from) || (!r.is_empty() && r.len() < TIERS[i].1)
            })
        };
        let pick = (0..TIERS.len())
            .find(|i| TIERS[*i].0 <= step && covers(*i))
            // Coarser than asked rather than cut short.
            .or_else(|| (0..TIERS.len()).find(|i| covers(*i)))
            .or_else(|| {
                (0..TIERS.len())
                    .rev()
                    .find(|i| self.rings.get(*i).is_some_and(|r| !r.is_empty()))
            });
        let Some(ring) = pick.and_then(|i| self.rings.get(i).map(|r| (i, r))) else {
            return Points {
                step,
                fields: self.fields.clone(),
                points: Vec::new(),
            };
        };
        let step = step.max(TIERS[ring.0].0);
        let mut out: Vec<Bucket> = Vec::new();
        for b in ring.1.iter().filter(|b| b.t >= from - step && b.t <= to) {
            let start = b.t - b.t.rem_euclid(step);
            if start + step <= from {
                continue;
            }
            match out.last_mut() {
                Some(o) if o.t == start => o.merge(b),
                _ => {
                    let mut o = Bucket::new(start, self.fields.len());
                    o.merge(b);
                    out.push(o);
                }
            }
        }
        Points {
            step,
            fields: self.fields.clone(),
            points: out.into_iter().map(|b| (b.t, b.means())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_stay_bounded_and_coarse_rings_are_exact_means() {
        let mut s = Series::new(&["rps"]);
        // Eight days of 10 s samples: a ramp, so means are easy to check.
        let day = 86_400;
        for i in 0..(8 * day / 10) {
            s.record(i * 10, &[Some(i as f64)]);
        }
        assert!(s.len() <= MAX_POINTS, "{} points", s.len());
        assert_eq!(s.rings[0].len(), 60);
        assert_eq!(s.rings[2].len(), 1008);
        // The last 10-minute bucket holds 60 samples of a ramp: its mean is their middle.
        let last = s.rings[2].back().unwrap();
        let first_i = last.t / 10;
        assert_eq!(last.means()[0], Some(first_i as f64 + 29.5));
    }

    #[test]
    fn a_query_reads_the_finest_ring_that_reaches_back() {
        let mut s = Series::new(&["rps", "connections"]);
        for i in 0..(4 * 3600 / 10) {
            s.record(i * 10, &[Some(1.0), (i % 2 == 0).then_some(4.0)]);
        }
        let end = 4 * 3600 - 10;
        // The last 5 minutes at 10 s: the full-rate ring.
        let p = s.query(end - 290, end, 10);
        assert_eq!(p.step, 10);
        assert_eq!(p.points.len(), 30);
        // The last two hours at 10 s: beyond the full-rate ring, so 1-minute buckets.
        let p = s.query(end - 7200, end, 10);
        assert_eq!(p.step, 60);
        assert_eq!(p.points.len(), 121);
        // Missing samples do not count as zeros.
        assert_eq!(p.points[5].1, vec![Some(1.0), Some(4.0)]);
        // Four hours back: only the 10-minute ring reaches; asked at 30 minutes.
        let p = s.query(0, end, 1800);
        assert_eq!(p.step, 1800);
        assert_eq!(p.points.len(), 8);
        assert_eq!(p.points[0].0, 0);
    }

    #[test]
    fn a_clock_set_back_drops_the_buckets_after_it() {
        let mut s = Series::new(&["rps"]);
        s.record(2_000_000_000, &[Some(5.0)]);
        s.record(1_000_000_000, &[Some(1.0)]);
        s.record(1_000_000_010, &[Some(3.0)]);
        let p = s.query(1_000_000_000, 1_000_000_100, 60);
        assert_eq!(
            p.points,
            vec![(1_000_000_000 - 1_000_000_000 % 60, vec![Some(2.0)])]
        );
        assert_eq!(s.last_time(), Some(1_000_000_010));
    }

    #[test]
    fn an_empty_series_answers_no_points() {
        let s = Series::new(&["rps"]);
        assert!(s.query(0, 100, 10).points.is_empty());
    }
}
