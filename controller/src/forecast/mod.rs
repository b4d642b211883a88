//! Predictive autoscaling: a forecaster per virtual service, learned online from its own load,
//! so that capacity for a recurring peak is booted before the peak rather than after it.
//!
//! [`Forecaster::observe`] takes each measured load; [`Forecaster::predict`] gives the load a
//! time is expected to peak at: the seasonal profile ([`profile`]: an upper quantile of the
//! same time on past days of the same kind and past weeks) times a margin, scaled by the level
//! of the last hour against what the profile expected of it (so a holiday or a growing service
//! shifts the whole day). It sees only what it was given: at any moment only the past.
//! [`policy`] combines it with the reactive path; [`history`] is what is stored.

pub mod history;
pub mod policy;
pub mod profile;

pub use history::History;
use serde::{Deserialize, Serialize};

/// How a forecaster predicts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForecastConfig {
    /// Seconds per profile bucket: the forecast is the expected peak of a bucket.
    pub bucket_secs: i64,
    /// Past days of the same kind (weekday, weekend) the profile reads.
    pub days: i64,
    /// Past weeks (the same time of week) the profile reads.
    pub weeks: i64,
    /// Upper quantile of those samples.
    pub quantile: f64,
    /// Added on top, as a fraction of the forecast.
    pub margin: f64,
    /// Samples needed before it forecasts at all (until then only the reactive path scales).
    pub min_samples: usize,
    /// The level correction is clamped to `[1/level_limit, level_limit]`.
    pub level_limit: f64,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            bucket_secs: 900,
            days: 14,
            weeks: 4,
            quantile: 0.8,
            margin: 0.2,
            min_samples: 2,
            level_limit: 1.5,
        }
    }
}

/// The forecaster of one virtual service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forecaster {
    /// How it predicts.
    pub config: ForecastConfig,
    /// What it learned.
    pub history: History,
}

/// Buckets of the level correction: the last hour.
const LEVEL_SPAN_SECS: i64 = 3600;

impl Forecaster {
    /// A forecaster that has seen nothing.
    pub fn new(config: ForecastConfig) -> Self {
        let history = History::new(config.bucket_secs);
        Self { config, history }
    }

    /// Learns the load measured at unix time `t` (seconds).
    pub fn observe(&mut self, t: i64, value: f64) {
        self.history.observe(t, value);
    }

    /// The profile alone for bucket `b`, before margin and level.
    fn profile(&self, b: i64) -> Option<f64> {
        let c = &self.config;
        let mut s = profile::samples(&self.history, b, c.days, c.weeks, true);
        if s.len() < c.min_samples {
            // Too few days of this kind yet (a first weekend): any day is better than none.
            s = profile::samples(&self.history, b, c.days, c.weeks, false);
        }
        if s.len() < c.min_samples {
            return None;
        }
        profile::quantile(&mut s, c.quantile)
    }

    /// How the last complete hour compared with what the profile expected of it: the median
    /// ratio, clamped. 1 when it cannot tell.
    pub fn level(&self) -> f64 {
        let Some(last) = self.history.last_bucket() else {
            return 1.0;
        };
        let n = (LEVEL_SPAN_SECS / self.history.bucket_secs).max(1);
        // The newest bucket is still filling: its peak so far says little.
        let mut ratios: Vec<f64> = (last - n..last)
            .filter_map(|b| {
                let seen = self.history.peak(b)?;
                let expected = self.profile(b).filter(|e| *e > 0.0)?;
                Some(seen / expected)
            })
            .collect();
        if ratios.len() * 2 < n as usize {
            return 1.0;
        }
        let l = self.config.level_limit.max(1.0);
        profile::quantile(&mut ratios, 0.5).map_or(1.0, |r| r.clamp(1.0 / l, l))
    }

    /// The load unix time `t` is expected to peak at (None until it has learned enough).
    pub fn predict(&self, t: i64) -> Option<f64> {
        self.predict_window(t, t)
    }

    /// The highest expected peak over `[from, to]`: the capacity that must be serving by `to`
    /// and must not be released before it.
    pub fn predict_window(&self, from: i64, to: i64) -> Option<f64> {
        let level = self.level();
        let (a, b) = (self.history.bucket(from), self.history.bucket(to.max(from)));
        (a..=b)
            .filter_map(|k| self.profile(k))
            .reduce(f64::max)
            .map(|p| p * level * (1.0 + self.config.margin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use profile::DAY;

    /// A weekday shape: 10 at night, 100 from 08:00 to 18:00; weekends a third.
    fn load(t: i64) -> f64 {
        let h = t.rem_euclid(DAY) / 3600;
        let base = if (8..18).contains(&h) { 100.0 } else { 10.0 };
        if profile::weekday(t) >= 5 {
            base / 3.0
        } else {
            base
        }
    }

    const MONDAY: i64 = 4 * DAY;

    fn trained(days: i64, skip: impl Fn(i64) -> bool) -> Forecaster {
        let mut f = Forecaster::new(ForecastConfig::default());
        for m in 0..(days * 1440) {
            let t = MONDAY + m * 60;
            if !skip(t) {
                f.observe(t, load(t));
            }
        }
        f
    }

    #[test]
    fn learns_the_morning_ramp_from_the_past_only() {
        let f = trained(15, |_| false);
        // Tuesday of week three, 07:50: the ramp at 08:00 is ahead; the forecast sees it.
        let morning = MONDAY + 15 * DAY + 8 * 3600;
        let p = f.predict_window(morning - 600, morning).unwrap();
        assert!((100.0..=125.0).contains(&p), "{p}");
        let night = MONDAY + 15 * DAY + 3 * 3600;
        assert!(f.predict(night).unwrap() < 15.0);
        // Saturday is a third of a weekday.
        let sat = MONDAY + 12 * DAY + 10 * 3600;
        assert!(f.predict(sat).unwrap() < 45.0);
        assert!(
            Forecaster::new(ForecastConfig::default())
                .predict(0)
                .is_none()
        );
    }

    #[test]
    fn holidays_outages_and_a_flash_crowd_barely_move_it() {
        // Day 8 (a Tuesday) is a holiday at night level; day 9 has no data at all.
        let mut f = Forecaster::new(ForecastConfig::default());
        for m in 0..(15 * 1440) {
            let t = MONDAY + m * 60;
            let day = m / 1440;
            let v = match day {
                8 => 10.0,
                9 => continue,
                // A flash crowd on day 10 at noon.
                10 if (12 * 60..13 * 60).contains(&(m % 1440)) => 400.0,
                _ => load(t),
            };
            f.observe(t, v);
        }
        let noon = MONDAY + 15 * DAY + 12 * 3600;
        let p = f.predict(noon).unwrap();
        assert!((95.0..=130.0).contains(&p), "{p}");
    }

    #[test]
    fn the_level_follows_a_day_that_runs_high() {
        let mut f = trained(14, |_| false);
        // Day 14 runs at 1.3x since midnight.
        for m in 0..(9 * 60) {
            let t = MONDAY + 14 * DAY + m * 60;
            f.observe(t, load(t) * 1.3);
        }
        let l = f.level();
        assert!((1.1..=1.5).contains(&l), "{l}");
    }
}
