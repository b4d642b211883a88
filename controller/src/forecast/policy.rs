//! Predictive and reactive together: the size wanted is the larger of the reactive
//! recommendation and the SEs the forecast needs over the next lead time (the cloud's measured
//! SE boot time plus a margin), so capacity for a recurring peak is serving when it starts;
//! a scale-in happens only when both agree and the stabilisation window saw nothing higher.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// Predictive autoscaling of an SE group (`autoscale.predictive`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PredictivePolicy {
    /// How each service's forecaster predicts.
    pub forecast: super::ForecastConfig,
    /// Target utilisation of the reactive path while a forecast is available. The reactive
    /// target's headroom exists to absorb a ramp while SEs boot; the forecast now boots them
    /// ahead, so the reactive path only needs to catch what the forecast missed.
    pub reactive_target: f64,
    /// Added to the measured boot time to make the lead time.
    #[serde(with = "humantime_serde")]
    pub lead_margin: Duration,
}

impl Default for PredictivePolicy {
    fn default() -> Self {
        Self {
            forecast: super::ForecastConfig::default(),
            reactive_target: 0.9,
            lead_margin: Duration::from_secs(120),
        }
    }
}

/// Which path set a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// The reactive recommendation was at least the forecast's.
    Reactive,
    /// The forecast wanted more than the reactive path.
    Forecast,
    /// Held by the stabilisation window (a scale-in not yet agreed).
    Window,
}

/// A size and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    /// SEs wanted.
    pub desired: u32,
    /// The reactive path's recommendation.
    pub reactive: u32,
    /// SEs the forecast needs over the lead time (None: not learned yet).
    pub forecast: Option<u32>,
    /// The forecast load over the lead time.
    pub forecast_load: Option<f64>,
    /// Which one set it.
    pub driver: Driver,
}

impl Choice {
    /// In words, for the status.
    pub fn reason(&self, lead: Duration) -> String {
        let f = match (self.forecast, self.forecast_load) {
            (Some(n), Some(l)) => format!(
                "forecast peak {l:.1} over the next {}s needs {n}",
                lead.as_secs()
            ),
            _ => "no forecast yet (still learning)".to_owned(),
        };
        let by = match self.driver {
            Driver::Reactive => "reactive",
            Driver::Forecast => "forecast",
            Driver::Window => "stabilisation window (scale-in not agreed yet)",
        };
        format!(
            "desired {} = max(reactive {}, {f}), set by {by}",
            self.desired, self.reactive
        )
    }
}

/// SEs a forecast load needs at `per_se` load each.
pub fn ses_for(load: f64, per_se: f64) -> u32 {
    if per_se <= 0.0 || !load.is_finite() {
        return 0;
    }
    (load / per_se).ceil().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// The sizes a choice starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// The reactive path's recommendation.
    pub reactive: u32,
    /// SEs that exist (serving or booting): below it is a scale-in.
    pub existing: u32,
    /// Fewest SEs.
    pub min: u32,
    /// Most SEs.
    pub max: u32,
}

/// The highest combined recommendation over the stabilisation window (a max-queue, as in
/// [`crate::autoscale::Autoscaler`]), so a forecast that falls after a peak releases SEs only
/// once the window has passed.
#[derive(Clone, Debug, Default)]
pub struct Stabiliser {
    history: VecDeque<(i64, u32)>,
}

impl Stabiliser {
    /// Combines at unix time `now` (seconds): the forecast load needs SEs of `per_se` each.
    pub fn choose(
        &mut self,
        now: i64,
        window: Duration,
        sizes: Sizes,
        forecast_load: Option<f64>,
        per_se: f64,
    ) -> Choice {
        let Sizes {
            reactive,
            existing,
            min,
            max,
        } = sizes;
        let forecast = forecast_load.map(|l| ses_for(l, per_se).clamp(min, max.max(min)));
        let raw = reactive.max(forecast.unwrap_or(0));
        let w = window.as_secs() as i64;
        while self.history.front().is_some_and(|(t, _)| now - *t > w) {
            self.history.pop_front();
        }
        while self.history.back().is_some_and(|(_, r)| *r <= raw) {
            self.history.pop_back();
        }
        self.history.push_back((now, raw));
        let highest = self.history.front().map_or(raw, |(_, r)| *r);
        let (desired, driver) = if raw >= existing {
            (raw, None)
        } else if highest.min(existing) > raw {
            (highest.min(existing), Some(Driver::Window))
        } else {
            (raw, None)
        };
        let driver = driver.unwrap_or(if forecast.is_some_and(|f| f > reactive) {
            Driver::Forecast
        } else {
            Driver::Reactive
        });
        Choice {
            desired,
            reactive,
            forecast,
            forecast_load,
            driver,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sz(reactive: u32, existing: u32) -> Sizes {
        Sizes {
            reactive,
            existing,
            min: 1,
            max: 20,
        }
    }

    #[test]
    fn the_larger_wins_and_scale_in_waits_for_the_window() {
        let w = Duration::from_secs(300);
        let mut s = Stabiliser::default();
        let c = s.choose(0, w, sz(2, 2), Some(550.0), 100.0);
        assert_eq!(
            (c.desired, c.forecast, c.driver),
            (6, Some(6), Driver::Forecast)
        );
        assert!(c.reason(Duration::from_secs(300)).contains("forecast"));
        let c = s.choose(60, w, sz(7, 6), Some(550.0), 100.0);
        assert_eq!((c.desired, c.driver), (7, Driver::Reactive));
        // The peak passed: both agree on 2, but the window still holds 7.
        let c = s.choose(120, w, sz(2, 7), Some(150.0), 100.0);
        assert_eq!((c.desired, c.driver), (7, Driver::Window));
        let c = s.choose(500, w, sz(2, 7), Some(150.0), 100.0);
        assert_eq!(c.desired, 2);
        // No forecast yet: the reactive path alone.
        let c = Stabiliser::default().choose(0, w, sz(3, 3), None, 100.0);
        assert_eq!((c.desired, c.forecast), (3, None));
    }
}
