//! One sample of the status: the numbers the series record, and what the events are found
//! from (by comparing a sample with the one before).

use super::events::{Event, EventKind};
use super::rings::{Series, TIERS};
use super::{GROUP_FIELDS, SE_FIELDS, VS_FIELDS};
use crate::controller::{ControllerStatus, SeHealth, SePhase};
use crate::model::SeGroup;
use std::collections::BTreeMap;

/// What a sample keeps of one object to compare with the next.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Seen {
    values: Vec<Option<f64>>,
    desired: Option<u32>,
    bound_to: Option<String>,
    address: Option<String>,
    upgrade: Option<String>,
    error: Option<String>,
    reason: Option<String>,
    failing: bool,
}

/// One sample: `kind/name` -> what was seen.
#[derive(Clone, Debug, Default)]
pub(super) struct Snapshot {
    objects: BTreeMap<String, Seen>,
}

fn n(v: impl Into<f64>) -> Option<f64> {
    Some(v.into())
}

impl Snapshot {
    pub(super) fn of(status: &ControllerStatus, groups: &[SeGroup]) -> Self {
        let mut objects = BTreeMap::new();
        let capacity: BTreeMap<&str, f64> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.capacity.rps))
            .collect();
        for g in &status.groups {
            objects.insert(
                format!("se_group/{}", g.name),
                Seen {
                    values: vec![
                        g.desired.map(f64::from),
                        n(g.current as u32),
                        n(g.healthy as u32),
                    ],
                    desired: g.desired,
                    upgrade: g.upgrade.clone(),
                    error: g.last_error.clone(),
                    reason: g
                        .held
                        .clone()
                        .or_else(|| g.recommendation.as_ref().map(|r| r.reason.clone())),
                    ..Seen::default()
                },
            );
            for se in &g.ses {
                let healthy = se.health == SeHealth::Healthy;
                objects.insert(
                    format!("se/{}", se.name),
                    Seen {
                        values: vec![
                            se.rps,
                            n(u8::from(healthy)),
                            n(u8::from(se.phase == SePhase::Active)),
                            n(se.virtual_services as u32),
                        ],
                        failing: se.health.failing(),
                        reason: se.reason.clone(),
                        ..Seen::default()
                    },
                );
            }
        }
        for v in &status.virtual_services {
            let ses = v.placement.len() as u32;
            let cap = capacity
                .get(v.se_group.as_str())
                .map(|c| c * f64::from(ses));
            objects.insert(
                format!("virtual_service/{}", v.name),
                Seen {
                    values: vec![
                        v.load.as_ref().map(|l| l.rps),
                        v.load.as_ref().map(|l| l.connections as f64),
                        n(ses),
                        cap,
                        v.desired_ses.map(f64::from),
                    ],
                    desired: v.desired_ses,
                    bound_to: v.bound_to.clone(),
                    address: v.address.map(|a| a.to_string()),
                    error: v.last_error.clone().or_else(|| v.vip_error.clone()),
                    reason: v.scaling.clone(),
                    ..Seen::default()
                },
            );
        }
        Self { objects }
    }
}

fn fields_of(object: &str) -> &'static [&'static str] {
    match object.split_once('/').map(|(k, _)| k) {
        Some("virtual_service") => &VS_FIELDS,
        Some("se") => &SE_FIELDS,
        _ => &GROUP_FIELDS,
    }
}

/// Adds the sample at `t` to every object's series, and forgets the series of objects gone
/// for longer than the coarsest ring holds.
pub(super) fn record(series: &mut BTreeMap<String, Series>, t: i64, snap: &Snapshot) {
    for (obj, seen) in &snap.objects {
        series
            .entry(obj.clone())
            .or_insert_with(|| Series::new(fields_of(obj)))
            .record(t, &seen.values);
    }
    let (step, cap) = TIERS[TIERS.len() - 1];
    let horizon = step * cap as i64;
    series.retain(|k, s| {
        snap.objects.contains_key(k) || s.last_time().is_some_and(|l| t - l < horizon)
    });
}

/// The events between two samples, at `t`.
pub(super) fn diff(prev: &Snapshot, now: &Snapshot, t: i64) -> Vec<Event> {
    let mut out = Vec::new();
    let mut ev = |kind, object: &str, reason: String| {
        out.push(Event {
            time: t,
            kind,
            object: object.to_owned(),
            reason,
        })
    };
    for (obj, s) in &now.objects {
        let Some(p) = prev.objects.get(obj) else {
            continue;
        };
        if let (Some(a), Some(b)) = (p.desired, s.desired)
            && a != b
        {
            let kind = if b > a {
                EventKind::ScaleOut
            } else {
                EventKind::ScaleIn
            };
            let why = s.reason.as_deref().unwrap_or("no reason given");
            ev(kind, obj, format!("{a} -> {b} SEs: {why}"));
        }
        if let Some(b) = &s.bound_to
            && p.bound_to.as_ref().is_some_and(|a| a != b)
        {
            let a = p.bound_to.as_deref().unwrap_or_default();
            let vip = s.address.as_deref().unwrap_or("the VIP");
            let left = now.objects.get(&format!("se/{a}"));
            if left.is_none_or(|l| l.failing) {
                let why = left
                    .and_then(|l| l.reason.clone())
                    .unwrap_or_else(|| "it is gone".into());
                ev(
                    EventKind::Failover,
                    obj,
                    format!("{vip} moved from {a} to {b}: {a} failed ({why})"),
                );
            } else {
                ev(
                    EventKind::VipMove,
                    obj,
                    format!("{vip} moved from {a} to {b}"),
                );
            }
        }
        if s.upgrade.is_some() && s.upgrade != p.upgrade {
            ev(
                EventKind::UpgradeStep,
                obj,
                s.upgrade.clone().unwrap_or_default(),
            );
        }
        if let Some(e) = &s.error
            && p.error.as_ref() != Some(e)
        {
            ev(EventKind::Error, obj, e.clone());
        }
        if s.failing && !p.failing {
            let why = s.reason.as_deref().unwrap_or("failing");
            ev(EventKind::Error, obj, format!("SE failing: {why}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(items: &[(&str, Seen)]) -> Snapshot {
        Snapshot {
            objects: items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    fn vs(bound: &str, desired: u32, error: Option<&str>) -> Seen {
        Seen {
            desired: Some(desired),
            bound_to: Some(bound.into()),
            address: Some("10.0.0.10".into()),
            error: error.map(Into::into),
            reason: Some("load 300 rps over 3 SEs".into()),
            ..Seen::default()
        }
    }

    fn se(failing: bool) -> Seen {
        Seen {
            failing,
            reason: failing.then(|| "missed 6 reports".into()),
            ..Seen::default()
        }
    }

    #[test]
    fn events_are_found_between_samples() {
        let before = snap(&[
            ("virtual_service/shop", vs("a", 2, None)),
            ("se/a", se(false)),
            ("se/b", se(false)),
        ]);
        // a failed, the VIP moved to b, the span grew, and the binding reported an error.
        let after = snap(&[
            ("virtual_service/shop", vs("b", 3, Some("bind refused"))),
            ("se/a", se(true)),
            ("se/b", se(false)),
        ]);
        let ev = diff(&before, &after, 100);
        let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Error,
                EventKind::ScaleOut,
                EventKind::Failover,
                EventKind::Error
            ],
            "{ev:?}"
        );
        assert_eq!(ev[0].object, "se/a");
        assert!(ev[1].reason.contains("2 -> 3 SEs: load 300 rps"), "{ev:?}");
        assert!(
            ev[2]
                .reason
                .contains("10.0.0.10 moved from a to b: a failed (missed 6 reports)"),
            "{ev:?}"
        );
        // b healthy, the VIP back on a healthy a: a move, not a failover; fewer SEs wanted.
        let calm = snap(&[
            ("virtual_service/shop", vs("a", 2, Some("bind refused"))),
            ("se/a", se(false)),
            ("se/b", se(false)),
        ]);
        let ev = diff(&after, &calm, 200);
        let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::ScaleIn, EventKind::VipMove], "{ev:?}");
        assert!(diff(&calm, &calm, 300).is_empty());
    }
}
