//! What the predictive path needs from the controller: a clock in unix time (the forecasters
//! learn times of day and days of the week), the SE boot time measured per cloud (the lead
//! time), and the forecasters' histories kept in the store, so a restart forgets nothing it
//! learned.

use super::{Controller, State, keys};
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

impl Controller {
    /// Sets the forecasters' clock: `unix` seconds now. A replay in virtual time sets the
    /// trace's own time; otherwise the system clock at start holds.
    pub fn set_unix_time(&self, unix: i64) {
        *self.inner.clock.lock().expect("clock lock") = (Instant::now(), unix);
    }

    /// Unix seconds at `now`.
    pub(super) fn unix_at(&self, now: Instant) -> i64 {
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
