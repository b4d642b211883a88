//! What the predictive path needs from the controller: a clock in unix time (the forecasters
//! learn times of day and days of the week), the SE boot time measured per cloud (the lead
//! time), and the forecasters' histories kept in the store, so a restart forgets nothing it
//! learned.

use super::scaling::{ServiceLoad, VsScale};
use super::{Controller, State, keys};
use crate::autoscale::Observation;
use crate::forecast::Forecaster;
use crate::forecast::policy::Sizes;
use crate::model::{AutoscalePolicy, SeGroup};
use crate::store::{Precondition, StateStoreExt};
use std::time::Duration;
use tokio::time::Instant;

/// Boot times kept per cloud.
const BOOTS_KEPT: usize = 20;

/// Unix time now from the system clock.
pub(super) fn system_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// On an SE's first report: how long it took from its VM being seen to serving.
pub(super) fn record_boot(st: &mut State, group: &str, se: &str, now: Instant) {
    let Some(seen) = st
        .group_status
        .get(group)
        .and_then(|gs| gs.first_seen.get(se))
        .copied()
    else {
        return;
    };
    let Some(cloud) = st.groups.get(group).map(|g| g.cloud.clone()) else {
        return;
    };
    let boots = st.boot_times.entry(cloud).or_default();
    boots.push_back(now.duration_since(seen));
    if boots.len() > BOOTS_KEPT {
        boots.pop_front();
    }
}

/// The boot time assumed of a cloud until three of its SEs were measured.
pub(super) const DEFAULT_BOOT: Duration = Duration::from_secs(180);

/// When a predictive decision is taken: the controller's instant, the same in unix seconds,
/// and how far ahead capacity must be started.
#[derive(Clone, Copy)]
pub(super) struct Moment {
    pub now: Instant,
    pub unix: i64,
    pub lead: Duration,
}

/// A service's span under the predictive policy: max(reactive, forecast over the lead time),
/// scale-in only once both agree over the stabilisation window. Returns the span, the
/// reactive recommendation, and whether the forecaster completed a bucket (to be stored).
pub(super) fn predictive_span(
    g: &SeGroup,
    scale: &mut VsScale,
    obs: &Observation,
    load: Option<ServiceLoad>,
    at: Moment,
    existing: u32,
    (lo, hi): (u32, u32),
) -> (u32, Option<u32>, bool) {
    let Some(pp) = g.autoscale.predictive.as_ref() else {
        return (scale.desired.max(existing).clamp(lo, hi), None, false);
    };
    let f = scale
        .forecast
        .get_or_insert_with(|| Forecaster::new(pp.forecast.clone()));
    if f.config != pp.forecast {
        // A changed policy: the history is kept unless its buckets changed size.
        if f.history.bucket_secs != pp.forecast.bucket_secs.clamp(60, 3600) {
            *f = Forecaster::new(pp.forecast.clone());
        } else {
            f.config = pp.forecast.clone();
        }
    }
    let before = f.history.last_bucket();
    if let Some(l) = load {
        f.observe(at.unix, l.rps);
    }
    let learned = f.history.last_bucket() != before;
    let forecast = f.predict_window(at.unix, at.unix + at.lead.as_secs() as i64);
    // The forecast boots the headroom ahead; the reactive path only catches what it missed.
    let policy = AutoscalePolicy {
        target_utilisation: if forecast.is_some() {
            pp.reactive_target
        } else {
            g.autoscale.target_utilisation
        },
        ..g.autoscale.clone()
    };
    let d = scale
        .autoscaler
        .decide(at.now, obs, &policy, lo, hi, existing);
    let reactive = match obs {
        Observation::Known { .. } => d.desired,
        // Unknown: keep what was wanted (or what carries it), never less.
        Observation::Unknown { .. } => scale.desired.max(existing).clamp(lo, hi),
    };
    let sizes = Sizes {
        reactive,
        existing,
        min: lo,
        max: hi,
    };
    let c = scale.stabiliser.choose(
        at.unix,
        g.autoscale.scale_down_window,
        sizes,
        forecast,
        g.capacity.rps,
    );
    let span = c.desired;
    scale.choice = Some((c, at.lead));
    (span, d.raw, learned)
}

impl Controller {
    /// Sets the forecasters' clock: `unix` seconds now. A replay in virtual time sets the
    /// trace's own time; otherwise the system clock at start holds.
    pub fn set_unix_time(&self, unix: i64) {
        *self.inner.clock.lock().expect("clock lock") = (Instant::now(), unix);
    }

    /// Unix seconds at `now`.
    pub(crate) fn unix_at(&self, now: Instant) -> i64 {
        let (at, unix) = *self.inner.clock.lock().expect("clock lock");
        unix + now.saturating_duration_since(at).as_secs() as i64
    }

    /// The SE boot time of `cloud`: the slowest of its recent boots (a lead time from the
    /// mean would be late half the time), or `fallback` until three were measured.
    pub(super) fn boot_time(st: &State, cloud: &str, fallback: Duration) -> Duration {
        match st.boot_times.get(cloud) {
            Some(b) if b.len() >= 3 => b.iter().copied().max().unwrap_or(fallback),
            _ => fallback,
        }
    }

    /// Writes the forecasters that learned something since the last write. A failed write
    /// stays dirty and is tried again next pass: losing one bucket is no reason to fail one.
    pub(super) async fn save_forecasts(&self) {
        let dirty: Vec<(String, crate::forecast::Forecaster)> = {
            let mut st = self.state();
            let names: Vec<String> = st.forecast_dirty.drain().collect();
            names
                .into_iter()
                .filter_map(|n| {
                    let f = st.vs_scale.get(&n)?.forecast.clone()?;
                    Some((n, f))
                })
                .collect()
        };
        for (name, f) in dirty {
            let key = format!("{}{name}", keys::FORECAST);
            if let Err(e) = self.inner.store.put_json(&key, &f, Precondition::Any).await {
                tracing::warn!(vs = %name, error = %e, "saving the forecaster's history failed");
                self.state().forecast_dirty.insert(name);
            }
        }
    }
}

impl Controller {
    /// A virtual service's forecaster, as learned so far (None: not scaled predictively, or
    /// nothing learned yet).
    pub fn forecaster(&self, vs: &str) -> Option<crate::forecast::Forecaster> {
        self.state().vs_scale.get(vs)?.forecast.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::{ForecastConfig, Forecaster};
    use crate::store::{RedbStore, StateStore};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_restart_keeps_what_the_forecaster_learned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let mut f = Forecaster::new(ForecastConfig::default());
        for m in 0..(3 * 1440) {
            f.observe(m * 60, (m % 1440) as f64);
        }
        {
            let store: Arc<dyn StateStore> = Arc::new(RedbStore::open(&path).unwrap());
            let ctl = Controller::new(store, BTreeMap::new(), Default::default())
                .await
                .unwrap();
            {
                let mut st = ctl.state();
                st.vs_scale.entry("web".into()).or_default().forecast = Some(f.clone());
                st.forecast_dirty.insert("web".into());
            }
            ctl.save_forecasts().await;
            assert!(ctl.state().forecast_dirty.is_empty());
        }
        let store: Arc<dyn StateStore> = Arc::new(RedbStore::open(&path).unwrap());
        let ctl = Controller::new(store, BTreeMap::new(), Default::default())
            .await
            .unwrap();
        let back = ctl.forecaster("web").expect("loaded from the store");
        assert_eq!(back, f);
        assert_eq!(back.predict(3 * 86_400 + 600), f.predict(3 * 86_400 + 600));
        assert!(back.predict(3 * 86_400 + 600).is_some());
    }
}
