//! Reactive autoscaling after the Kubernetes HPA.
//!
//! `desired = ceil(current * utilisation / target)`, no change inside the tolerance band,
//! scale-up at once, scale-down only to the highest recommendation seen over the stabilisation
//! window, clamped to min/max. A measurement that could not be taken (an SE that did not
//! report, a throttled or failed cloud read) is [`Observation::Unknown`]: it holds the current
//! size and is never read as zero load (kubernetes/autoscaler#3240 deleted 197 nodes that way).

use crate::model::AutoscalePolicy;
use serde::Serialize;
use std::collections::VecDeque;
use tokio::time::Instant;

/// What the controller measured this pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// Every active SE reported and the cloud state was read.
    Known {
        /// Active SEs the load was spread over.
        current: u32,
        /// Load divided by the capacity of `current` SEs (1.0 = full).
        utilisation: f64,
    },
    /// Something needed for the measurement is missing; says what.
    Unknown {
        /// Active SEs right now.
        current: u32,
        /// Why the load is unknown.
        why: String,
    },
}

/// The outcome of one recommendation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// SEs wanted (already clamped and stabilised).
    pub desired: u32,
    /// The raw HPA formula result before stabilisation (None when the load was unknown).
    pub raw: Option<u32>,
    /// Why this number.
    pub reason: String,
}

/// One autoscaler's state (an SE group's size or a virtual service's span): the highest
/// recommendations of the stabilisation window.
#[derive(Clone, Debug, Default)]
pub struct Autoscaler {
    /// A max-queue over the window: recommendations in time order with strictly decreasing
    /// values, so the front is the window's highest. A newer recommendation at least as high
    /// as an older one outlives it, so the older can never be the highest again and goes.
    history: VecDeque<(Instant, u32)>,
    /// First known observation: no scale-down before a whole window was observed (after a
    /// restart the history is empty, and one early sample must not shrink the group).
    since: Option<Instant>,
}

/// A decision without its explanation (a pass over 10,000 services formats none of them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Size wanted (clamped and stabilised).
    pub desired: u32,
    /// The formula's result before stabilisation (None when the load was unknown).
    pub raw: Option<u32>,
}

impl Autoscaler {
    /// A fresh autoscaler (no history: the first scale-down needs a full window).
    pub fn new() -> Self {
        Self::default()
    }

    /// The HPA formula with the tolerance band, unclamped.
    pub fn formula(current: u32, utilisation: f64, policy: &AutoscalePolicy) -> u32 {
        if current == 0 {
            return u32::from(utilisation > 0.0);
        }
        let ratio = utilisation / policy.target_utilisation;
        if (ratio - 1.0).abs() <= policy.tolerance {
            return current;
        }
        let want = (f64::from(current) * ratio).ceil();
        if want.is_finite() {
            want.clamp(0.0, f64::from(u32::MAX)) as u32
        } else {
            current
        }
    }

    /// Recommends a size. `min`/`max` bound the result; `existing` is how many SEs exist now
    /// (serving or still booting): anything below it is a scale-down.
    pub fn recommend(
        &mut self,
        now: Instant,
        obs: &Observation,
        policy: &AutoscalePolicy,
        min: u32,
        max: u32,
        existing: u32,
    ) -> Recommendation {
        let d = self.decide(now, obs, policy, min, max, existing);
        Recommendation {
            desired: d.desired,
            raw: d.raw,
            reason: explain(obs, policy, d),
        }
    }

    /// [`Self::recommend`] without the explanation.
    pub fn decide(
        &mut self,
        now: Instant,
        obs: &Observation,
        policy: &AutoscalePolicy,
        min: u32,
        max: u32,
        existing: u32,
    ) -> Decision {
        let max = max.max(min);
        match obs {
            // Hold: never lower, but still honour a raised minimum.
            Observation::Unknown { current, .. } => Decision {
                desired: (*current).clamp(min, max),
                raw: None,
            },
            Observation::Known {
                current,
                utilisation,
            } => {
                let raw = Self::formula(*current, *utilisation, policy).clamp(min, max);
                while self
                    .history
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > policy.scale_down_window)
                {
                    self.history.pop_front();
                }
                while self.history.back().is_some_and(|(_, r)| *r <= raw) {
                    self.history.pop_back();
                }
                self.history.push_back((now, raw));
                let since = *self.since.get_or_insert(now);
                let desired = if raw >= existing {
                    raw
                } else if now.duration_since(since) < policy.scale_down_window {
                    existing.clamp(min, max)
                } else {
                    let highest = self.history.front().map_or(raw, |(_, r)| *r);
                    highest.min(existing).clamp(min, max)
                };
                Decision {
                    desired,
                    raw: Some(raw),
                }
            }
        }
    }
}

/// Why a decision is what it is, in words.
pub fn explain(obs: &Observation, policy: &AutoscalePolicy, d: Decision) -> String {
    match obs {
        Observation::Unknown { why, .. } => {
            format!("load unknown ({why}): holding at {}", d.desired)
        }
        Observation::Known {
            current,
            utilisation,
        } => format!(
            "utilisation {:.0}% of {current} SEs vs target {:.0}%: raw {}, desired {}",
            utilisation * 100.0,
            policy.target_utilisation * 100.0,
            d.raw.unwrap_or(d.desired),
            d.desired
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> AutoscalePolicy {
        AutoscalePolicy {
            target_utilisation: 0.5,
            tolerance: 0.1,
            scale_down_window: Duration::from_secs(300),
            predictive: None,
        }
    }

    #[test]
    fn formula_follows_the_hpa() {
        let p = policy();
        assert_eq!(Autoscaler::formula(2, 1.0, &p), 4);
        assert_eq!(
            Autoscaler::formula(3, 0.52, &p),
            3,
            "inside the 10% tolerance"
        );
        assert_eq!(
            Autoscaler::formula(3, 0.56, &p),
            4,
            "just outside the tolerance"
        );
        assert_eq!(Autoscaler::formula(4, 0.1, &p), 1);
        assert_eq!(Autoscaler::formula(0, 0.3, &p), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn scale_down_waits_for_the_window_and_up_is_immediate() {
        let p = policy();
        let mut a = Autoscaler::new();
        let known = |current, utilisation| Observation::Known {
            current,
            utilisation,
        };
        assert_eq!(
            a.recommend(Instant::now(), &known(2, 1.0), &p, 1, 10, 2)
                .desired,
            4
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        // Load fell: raw says 1, but 4 was recommended within the window.
        let r = a.recommend(Instant::now(), &known(4, 0.1), &p, 1, 10, 4);
        assert_eq!((r.raw, r.desired), (Some(1), 4));
        tokio::time::advance(Duration::from_secs(241)).await;
        let r = a.recommend(Instant::now(), &known(4, 0.1), &p, 1, 10, 4);
        assert_eq!(r.desired, 1, "{r:?}");
        // Clamped to the bounds.
        assert_eq!(
            a.recommend(Instant::now(), &known(1, 100.0), &p, 1, 6, 1)
                .desired,
            6
        );
        // Booting SEs count as existing: one serving SE at zero load does not shrink 5.
        let mut b = Autoscaler::new();
        assert_eq!(
            b.recommend(Instant::now(), &known(1, 0.0), &p, 1, 10, 5)
                .desired,
            5
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_load_is_never_a_scale_down() {
        let p = AutoscalePolicy {
            scale_down_window: Duration::ZERO,
            ..policy()
        };
        let mut a = Autoscaler::new();
        // A throttled read must not look like zero load: 8 SEs stay 8.
        let r = a.recommend(
            Instant::now(),
            &Observation::Unknown {
                current: 8,
                why: "list_vms throttled".into(),
            },
            &p,
            1,
            10,
            8,
        );
        assert_eq!((r.desired, r.raw), (8, None));
        // The same pass with a genuine zero load would have scaled down to the minimum.
        let r = a.recommend(
            Instant::now(),
            &Observation::Known {
                current: 8,
                utilisation: 0.0,
            },
            &p,
            1,
            10,
            8,
        );
        assert_eq!(r.desired, 1);
        // Unknown below the minimum still rises to it.
        let r = a.recommend(
            Instant::now(),
            &Observation::Unknown {
                current: 0,
                why: "x".into(),
            },
            &p,
            2,
            10,
            0,
        );
        assert_eq!(r.desired, 2);
    }
}
