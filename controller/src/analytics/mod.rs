//! Analytics: a bounded, downsampled history of every virtual service, SE and SE group
//! ([`rings`]), and a bounded log of what the controller did ([`events`]), both kept in the
//! state store and served by the API (`/api/v1/analytics/...`, `/api/v1/events`).
//!
//! The runner samples the controller's status every [`SAMPLE_EVERY`] of its clock (virtual
//! time in a replay), and finds the events by comparing each sample with the one before: a
//! group's or a service's wanted SEs going up or down (with the autoscaler's reason), a VIP
//! changing SE (a failover when the SE it left is failing), an upgrade's progress, and new
//! errors. Reading the status rather than hooking every phase keeps the reconciles untouched;
//! the price is that two changes within one sample interval read as one.

pub mod api;
pub mod events;
pub mod openapi;
pub mod rings;
mod sample;

use crate::controller::Controller;
use crate::error::Result;
use crate::store::{Precondition, StateStore};
use events::{Event, EventLog};
use rings::{Points, Series};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How often the runner samples (the finest ring's resolution).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// How often (controller clock, seconds) the history is written to the store: a restart
/// loses at most this much of it. Not every sample: a series is a few tens of kilobytes.
pub const PERSIST_EVERY: i64 = 300;

/// Store key prefix of the series (`analytics/series/virtual_service/web`).
pub const SERIES_KEY: &str = "analytics/series/";
/// Store key of the event log.
pub const EVENTS_KEY: &str = "analytics/events";

/// The fields of each kind of series.
pub const VS_FIELDS: [&str; 5] = ["rps", "connections", "ses", "capacity_rps", "desired_ses"];
/// The fields of an SE's series (`healthy` is 1 or 0, `active` 1 in the active phase).
pub const SE_FIELDS: [&str; 4] = ["rps", "healthy", "active", "virtual_services"];
/// The fields of an SE group's series.
pub const GROUP_FIELDS: [&str; 3] = ["desired", "current", "healthy"];

/// The analytics of one controller (inside it; see [`Controller::history`]).
#[derive(Debug, Default)]
pub struct Analytics {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    loaded: bool,
    /// `kind/name` -> series.
    series: BTreeMap<String, Series>,
    events: EventLog,
    /// What the last sample saw, to find the events.
    last: Option<sample::Snapshot>,
    last_sample: Option<Instant>,
    last_persist: Option<i64>,
}

impl Analytics {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("analytics lock")
    }
}

impl Controller {
    /// Samples the status into the history and the event log when [`SAMPLE_EVERY`] has
    /// passed since the last sample, and writes them to the store every [`PERSIST_EVERY`].
    /// The runner calls it after each pass; the first call loads what the store holds.
    pub async fn sample_analytics(&self) {
        let now = Instant::now();
        let a = &self.inner.analytics;
        let loaded = {
            let s = a.lock();
            if s.last_sample
                .is_some_and(|t| now.duration_since(t) < SAMPLE_EVERY)
            {
                return;
            }
            s.loaded
        };
        if !loaded && let Err(e) = self.load_analytics().await {
            tracing::warn!(error = %e, "analytics: the stored history could not be read");
        }
        let t = self.unix_at(now);
        let status = self.status();
        let desired = self.desired();
        let persist = {
            let mut s = a.lock();
            s.last_sample = Some(now);
            let snap = sample::Snapshot::of(&status, &desired.se_groups);
            let State {
                series,
                events,
                last,
                ..
            } = &mut *s;
            sample::record(series, t, &snap);
            if let Some(prev) = last.as_ref() {
                for e in sample::diff(prev, &snap, t) {
                    events.push(e);
                }
            }
            *last = Some(snap);
            if s.last_persist.is_none_or(|p| t - p >= PERSIST_EVERY) {
                s.last_persist = Some(t);
                Some((s.series.clone(), s.events.clone()))
            } else {
                None
            }
        };
        if let Some((series, events)) = persist {
            self.persist_analytics(&series, &events).await;
        }
    }

    async fn load_analytics(&self) -> Result<()> {
        let store = &self.inner.store;
        let mut series = BTreeMap::new();
        for v in store.list(SERIES_KEY).await? {
            match serde_json::from_slice::<Series>(&v.value) {
                Ok(s) => {
                    series.insert(v.key[SERIES_KEY.len()..].to_owned(), s);
                }
                // History is not worth refusing to start over: start this series again.
                Err(e) => tracing::warn!(key = %v.key, error = %e, "analytics: series dropped"),
            }
        }
        let events = match store.get(EVENTS_KEY).await? {
            Some(v) => serde_json::from_slice(&v.value).unwrap_or_default(),
            None => EventLog::default(),
        };
        let mut s = self.inner.analytics.lock();
        s.loaded = true;
        for (k, v) in series {
            s.series.entry(k).or_insert(v);
        }
        if s.events.is_empty() {
            s.events = events;
        }
        Ok(())
    }

    async fn persist_analytics(&self, series: &BTreeMap<String, Series>, events: &EventLog) {
        let store: &dyn StateStore = &*self.inner.store;
        let mut writes: Vec<(String, Vec<u8>)> = series
            .iter()
            .filter_map(|(k, s)| Some((format!("{SERIES_KEY}{k}"), serde_json::to_vec(s).ok()?)))
            .collect();
        if let Ok(e) = serde_json::to_vec(events) {
            writes.push((EVENTS_KEY.to_owned(), e));
        }
        for (k, v) in writes {
            if let Err(e) = store.put(&k, v, Precondition::Any).await {
                tracing::warn!(key = %k, error = %e, "analytics: not written");
            }
        }
        // Series of objects gone for longer than the coarsest ring holds.
        if let Ok(stored) = store.list(SERIES_KEY).await {
            for v in stored {
                if !series.contains_key(&v.key[SERIES_KEY.len()..]) {
                    let _ = store.delete(&v.key, Precondition::Any).await;
                }
            }
        }
    }

    /// The history of `object` (`virtual_service/NAME`, `se_group/NAME`, `se/NAME`) from
    /// `from` to `to` (unix seconds) in steps of `step` seconds, or None when it has none.
    pub fn history(&self, object: &str, from: i64, to: i64, step: i64) -> Option<Points> {
        let s = self.inner.analytics.lock();
        s.series.get(object).map(|ser| ser.query(from, to, step))
    }

    /// The newest `limit` events, newest first, about `object` (or a prefix ending in `/`),
    /// at or after `since`.
    pub fn events(&self, object: Option<&str>, since: Option<i64>, limit: usize) -> Vec<Event> {
        self.inner
            .analytics
            .lock()
            .events
            .list(object, since, limit)
    }

    /// Unix seconds now on the controller's clock (a replay's virtual time in the demo).
    pub fn unix_now(&self) -> i64 {
        self.unix_at(Instant::now())
    }
}
