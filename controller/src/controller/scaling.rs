//! Reactive autoscaling inside a group reconcile, in two levels.
//!
//! Each virtual service has a span: how many SEs carry it. Its span follows its own load
//! (the per-service breakdown of the agents' reports) with the HPA rules of
//! [`crate::autoscale`], between the service's `min_ses` and `max_ses`. The group's size
//! then follows its total load, and is never smaller than its widest span (nor than what the
//! spans need at `max_vs_per_se`). A load that could not be measured holds both levels.

use super::pass::Se;
use super::predict::{DEFAULT_BOOT, Moment, predictive_span};
use super::{Controller, State};
use crate::autoscale::{Autoscaler, Decision, Observation};
use crate::forecast::Forecaster;
use crate::forecast::policy::{Choice, Stabiliser};
use crate::model::{AutoscalePolicy, HaMode, SeGroup, VirtualService};
use crate::se_protocol::SeReport;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// What the spans of a group's services need from the group.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SpanNeeds {
    /// The widest span: SEs the busiest service must be spread over.
    pub widest: u32,
    /// SEs needed to hold every span at the group's `max_vs_per_se` (0: no limit).
    pub packing: u32,
    /// Some service has a forecast: the group's reactive path runs at the predictive target.
    pub forecasting: bool,
}

/// One virtual service's scaling state (in memory; after a restart a span holds at its
/// placement until fresh reports arrive).
#[derive(Clone, Debug, Default)]
pub(crate) struct VsScale {
    pub autoscaler: Autoscaler,
    /// SEs it should span.
    pub desired: u32,
    /// Its measured load, when every SE carrying it reported.
    pub load: Option<ServiceLoad>,
    /// What was observed last and the span it gave (explained only when asked).
    pub last: Option<(Observation, Decision)>,
    /// Its forecaster, when the group scales predictively (loaded from the store at start).
    pub forecast: Option<Forecaster>,
    /// Holds a scale-in until reactive and forecast agree over the window.
    pub stabiliser: Stabiliser,
    /// The last predictive choice and the lead time it looked ahead.
    pub choice: Option<(Choice, Duration)>,
}

/// A virtual service's load summed over the SEs carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ServiceLoad {
    /// Requests per second.
    pub rps: f64,
    /// Open connections.
    pub connections: u64,
}

/// One service's measurement in a pass.
struct Measured<'a> {
    name: &'a str,
    obs: Observation,
    load: Option<ServiceLoad>,
    /// Serving SEs carrying it now.
    existing: u32,
    bounds: (u32, u32),
}

impl Controller {
    /// The report of `se` when it is recent and describes the configuration it has now
    /// (a report about an older configuration does not describe the current load).
    pub(super) fn fresh_report<'a>(
        &self,
        st: &'a State,
        se: &str,
        now: Instant,
    ) -> Option<&'a SeReport> {
        let (t, r) = st.se_runtime.get(se)?.last_report.as_ref()?;
        let fresh = now.duration_since(*t) <= self.inner.opts.report_interval * 2;
        (fresh && self.inner.hub.current_version(se) == Some(r.config_version)).then_some(r)
    }

    /// Scales every virtual service's span; returns what the spans need from the group.
    pub(super) fn scale_services(&self, g: &SeGroup, ses: &[Se], now: Instant) -> SpanNeeds {
        let buffer = buffer(g);
        let mut guard = self.state();
        let st = &mut *guard;
        // The serving SEs and their usable reports, looked up once per group rather than
        // once per service.
        let serving: HashMap<&str, Option<&SeReport>> = ses
            .iter()
            .filter(|s| s.serving())
            .map(|s| {
                let name = s.rec.name.as_str();
                (name, self.fresh_report(st, name, now))
            })
            .collect();
        let mut needs = SpanNeeds::default();
        let mut total_span = 0u64;
        let mut changed = false;
        // Measured with shared borrows of the state first, decided with a mutable one after.
        let mut measured: Vec<Measured> = Vec::new();
        for name in st.vs_index.get(&g.name).into_iter().flatten() {
            let Some(vs) = st.vss.get(name) else { continue };
            let placement = st.vsrt.get(name).map_or(&[][..], |rt| &rt.placement[..]);
            let (obs, load) = service_observation(g, vs, placement, &serving);
            let existing = match &obs {
                Observation::Known { current, .. } | Observation::Unknown { current, .. } => {
                    *current
                }
            };
            measured.push(Measured {
                name,
                obs,
                load,
                existing,
                bounds: span_bounds(g, vs, buffer),
            });
        }
        let mut updates: Vec<(String, VsScale)> = Vec::new();
        let mut learnt: Vec<String> = Vec::new();
        let unix = self.unix_at(now);
        let lead = g.autoscale.predictive.as_ref().map_or(Duration::ZERO, |p| {
            Self::boot_time(st, &g.cloud, DEFAULT_BOOT) + p.lead_margin
        });
        for Measured {
            name,
            obs,
            load,
            existing,
            bounds: (lo, hi),
        } in measured
        {
            let mut fresh = None;
            let scale = match st.vs_scale.get_mut(name) {
                Some(s) => s,
                None => fresh.insert(VsScale::default()),
            };
            let (span, raw) = match g.ha {
                // One active and one standby: the pair is the span.
                HaMode::ActiveStandby => (2, None),
                HaMode::Elastic { .. } if g.autoscale.predictive.is_some() => {
                    let at = Moment { now, unix, lead };
                    let (span, raw, learned) =
                        predictive_span(g, scale, &obs, load, at, existing, (lo, hi));
                    if learned {
                        learnt.push(name.to_owned());
                    }
                    needs.forecasting |= scale
                        .choice
                        .as_ref()
                        .is_some_and(|(c, _)| c.forecast.is_some());
                    (span, raw)
                }
                HaMode::Elastic { .. } => {
                    let d = scale
                        .autoscaler
                        .decide(now, &obs, &g.autoscale, lo, hi, existing);
                    match obs {
                        Observation::Known { .. } => (d.desired, d.raw),
                        // Unknown: keep what was wanted (or what carries it), never less.
                        Observation::Unknown { .. } => {
                            (scale.desired.max(existing).clamp(lo, hi), None)
                        }
                    }
                }
            };
            if scale.desired != span {
                changed = true;
            }
            scale.desired = span;
            scale.load = load;
            scale.last = Some((obs, Decision { desired: span, raw }));
            if let Some(s) = fresh {
                updates.push((name.to_owned(), s));
            }
            needs.widest = needs.widest.max(span);
            total_span += u64::from(span);
        }
        st.vs_scale.extend(updates);
        st.forecast_dirty.extend(learnt);
        let cap = g.placement.max_vs_per_se;
        if cap > 0 {
            needs.packing = u32::try_from(total_span.div_ceil(u64::from(cap))).unwrap_or(u32::MAX);
        }
        if changed {
            // Placement is recomputed only when something changed: a span did.
            st.dirty.insert(g.name.clone());
        }
        needs
    }

    /// The group's size from its total load, at least what the spans need; and the group's
    /// minimum ([`group_min`]).
    pub(super) fn autoscale(
        &self,
        g: &SeGroup,
        ses: &[Se],
        now: Instant,
        needs: SpanNeeds,
    ) -> (u32, u32) {
        let mut st = self.state();
        let st = &mut *st;
        let buffer = buffer(g);
        let min_total = group_min(st, g);
        let serving: Vec<&Se> = ses.iter().filter(|s| s.serving()).collect();
        let live = ses.iter().filter(|s| s.live()).count() as u32;
        let upgrading = ses.iter().any(|s| !s.current && s.live());
        let mut rps = 0.0;
        let mut conns = 0u64;
        let mut stale = None;
        for s in &serving {
            match self.fresh_report(st, &s.rec.name, now) {
                Some(r) => {
                    rps += r.rps;
                    conns += r.connections;
                }
                None => stale = Some(s.rec.name.clone()),
            }
        }
        let n = serving.len() as u32;
        let active = n.saturating_sub(buffer).max(1);
        let obs = if n == 0 {
            Observation::Unknown {
                current: 0,
                why: "no SE is serving yet".into(),
            }
        } else if let Some(se) = stale {
            Observation::Unknown {
                current: active,
                why: format!("SE {se} has no fresh report"),
            }
        } else {
            Observation::Known {
                current: active,
                utilisation: utilisation(g, active, rps, conns),
            }
        };
        let policy = match &g.autoscale.predictive {
            Some(p) if needs.forecasting => std::borrow::Cow::Owned(AutoscalePolicy {
                target_utilisation: p.reactive_target,
                ..g.autoscale.clone()
            }),
            _ => std::borrow::Cow::Borrowed(&g.autoscale),
        };
        let rec = st.autoscalers.entry(g.name.clone()).or_default().recommend(
            now,
            &obs,
            &policy,
            min_total.saturating_sub(buffer).max(1),
            g.max_ses.saturating_sub(buffer).max(1),
            // The surge SE of a rolling upgrade is not capacity anyone asked for.
            live.saturating_sub(buffer)
                .saturating_sub(u32::from(upgrading)),
        );
        let spans = needs.widest.max(needs.packing);
        let gs = st.group_status.entry(g.name.clone()).or_default();
        let desired = match obs {
            Observation::Known { .. } => {
                (rec.desired.max(spans) + buffer).clamp(min_total, g.max_ses)
            }
            // Unknown load never lowers the size: keep what was wanted and what exists.
            // After a restart (nothing wanted yet) hold what exists, less a surge SE of an
            // upgrade in progress, so that holding never ratchets the size up.
            Observation::Unknown { .. } => {
                let hold = gs
                    .desired
                    .unwrap_or(live.saturating_sub(u32::from(upgrading)));
                hold.max(spans + buffer).max(min_total).min(g.max_ses)
            }
        };
        if gs.desired != Some(desired) {
            tracing::info!(group = %g.name, desired, reason = %rec.reason, "desired SEs");
        }
        gs.recommendation = Some(rec);
        (desired, min_total)
    }
}

/// The load of one virtual service over the serving SEs of its placement (the load is `None`
/// exactly when the observation is unknown).
fn service_observation(
    g: &SeGroup,
    vs: &VirtualService,
    placement: &[String],
    serving: &HashMap<&str, Option<&SeReport>>,
) -> (Observation, Option<ServiceLoad>) {
    let mut current = 0u32;
    let mut load = ServiceLoad {
        rps: 0.0,
        connections: 0,
    };
    let mut missing = None;
    for se in placement {
        let Some(report) = serving.get(se.as_str()) else {
            continue;
        };
        current += 1;
        match report.and_then(|r| r.virtual_services.get(&vs.name)) {
            Some(part) => {
                load.rps += part.rps;
                load.connections += part.connections;
            }
            None => missing = Some(se),
        }
    }
    if current == 0 {
        let why = "no serving SE carries it yet".to_owned();
        return (Observation::Unknown { current, why }, None);
    }
    if let Some(se) = missing {
        let why = format!("SE {se} has no fresh report of its load");
        return (Observation::Unknown { current, why }, None);
    }
    let utilisation = utilisation(g, current, load.rps, load.connections);
    (
        Observation::Known {
            current,
            utilisation,
        },
        Some(load),
    )
}

fn buffer(g: &SeGroup) -> u32 {
    match g.ha {
        HaMode::Elastic { buffer } => buffer,
        HaMode::ActiveStandby => 0,
    }
}

/// Load over the capacity of `ses` SEs, the busier of requests and connections.
pub(super) fn utilisation(g: &SeGroup, ses: u32, rps: f64, connections: u64) -> f64 {
    let n = f64::from(ses.max(1));
    (rps / (n * g.capacity.rps)).max(connections as f64 / (n * g.capacity.connections as f64))
}

/// The smallest and largest span of a service: its own bounds inside the group's (less the
/// spare SEs of N+M, which carry nothing until a failure).
pub(super) fn span_bounds(g: &SeGroup, vs: &VirtualService, buffer: u32) -> (u32, u32) {
    let hi = vs.max_ses.min(g.max_ses.saturating_sub(buffer)).max(1);
    (vs.min_ses.clamp(1, hi), hi)
}

/// The fewest SEs the group keeps: its own minimum, what its services ask for, and a pair for
/// active/standby. Also the healthy minimum a rolling upgrade never goes below.
pub(super) fn group_min(st: &State, g: &SeGroup) -> u32 {
    let vs_min = st
        .vss_of_group(&g.name)
        .map(|v| v.min_ses)
        .max()
        .unwrap_or(0);
    let ha_min = if g.ha == HaMode::ActiveStandby { 2 } else { 0 };
    g.min_ses.max(vs_min).max(ha_min).min(g.max_ses)
}
