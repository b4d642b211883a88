//! What a replay scores: SE-hours against the oracle, time and load under-provisioned, the
//! capacity serving before each day's ramp, and how often the size changed.

use super::sim::Tick;
use crate::forecast::policy::ses_for;
use crate::forecast::profile::DAY;
use serde::Serialize;

/// The scores of one policy on one trace.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// SE-hours paid (serving and booting SEs).
    pub se_hours: f64,
    /// Minutes in which the load exceeded the serving capacity.
    pub under_minutes: f64,
    /// Those minutes as a share of the trace's known minutes, in %.
    pub under_pct: f64,
    /// Load above the serving capacity as a share of all load, in %.
    pub unserved_pct: f64,
    /// Days whose ramp found enough SEs serving.
    pub ramps_met: usize,
    /// Days with a ramp.
    pub ramps: usize,
    /// Median minutes the needed capacity was serving before the ramp (negative: late).
    pub ramp_lead_min: f64,
    /// Changes of the desired size per day.
    pub actions_per_day: f64,
}

/// A day's ramp: the tick index where the load first reaches halfway between the day's
/// trough and its peak, after the trough (found on the 15-minute mean, so one noisy minute
/// is not a ramp).
pub fn ramps(ticks: &[Tick], tick_secs: i64, start_unix: i64) -> Vec<usize> {
    let w = (900 / tick_secs).max(1) as usize;
    let smooth: Vec<Option<f64>> = (0..ticks.len())
        .map(|i| {
            let lo = i.saturating_sub(w - 1);
            let xs: Vec<f64> = ticks[lo..=i].iter().filter_map(|t| t.load).collect();
            (ticks[i].load.is_some() && !xs.is_empty())
                .then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        })
        .collect();
    let per_day = (DAY / tick_secs) as usize;
    let mut out = Vec::new();
    let mut i = 0;
    while i < ticks.len() {
        let day = (start_unix + ticks[i].t).div_euclid(DAY);
        let mut j = i;
        while j < ticks.len() && (start_unix + ticks[j].t).div_euclid(DAY) == day {
            j += 1;
        }
        let known = smooth[i..j].iter().filter(|s| s.is_some()).count();
        if known * 10 >= per_day * 8 {
            let val = |k: usize| smooth[k].unwrap_or(f64::NAN);
            let peak = (i..j)
                .filter(|k| smooth[*k].is_some())
                .max_by(|a, b| val(*a).total_cmp(&val(*b)));
            if let Some(peak) = peak {
                let trough = (i..=peak)
                    .filter(|k| smooth[*k].is_some())
                    .min_by(|a, b| val(*a).total_cmp(&val(*b)))
                    .unwrap_or(i);
                let mid = (val(trough) + val(peak)) / 2.0;
                if let Some(r) = (trough..=peak).find(|k| smooth[*k].is_some_and(|v| v >= mid)) {
                    // The mean crosses late by up to its window: the ramp began at the first
                    // point of that window already past halfway.
                    let lo = r.saturating_sub(w - 1).max(trough);
                    let first = (lo..=r).find(|k| ticks[*k].load.is_some_and(|v| v >= mid));
                    out.push(first.unwrap_or(r));
                }
            }
        }
        i = j;
    }
    out
}

/// Scores `ticks` (SEs of `per_se` load) at the given ramps.
pub fn score(ticks: &[Tick], tick_secs: i64, per_se: f64, ramps: &[usize]) -> Metrics {
    let h = tick_secs as f64 / 3600.0;
    let (mut se_hours, mut under, mut known, mut unserved, mut total) =
        (0.0, 0usize, 0usize, 0.0, 0.0);
    let mut actions = 0usize;
    for (i, t) in ticks.iter().enumerate() {
        if i > 0 && t.desired != ticks[i - 1].desired {
            actions += 1;
        }
        let Some(l) = t.load else { continue };
        known += 1;
        se_hours += f64::from(t.existing) * h;
        let cap = f64::from(t.ready) * per_se;
        total += l;
        if l > cap + 1e-9 {
            under += 1;
            unserved += l - cap;
        }
    }
    let need = |k: usize| ses_for(ticks[k].load.unwrap_or(0.0), per_se);
    let window = (3 * 3600 / tick_secs) as usize;
    let mut leads: Vec<f64> = Vec::new();
    let mut met = 0;
    for &r in ramps {
        let n = need(r);
        if ticks[r].ready >= n {
            met += 1;
            let mut k = r;
            while k > 0 && r - k < window && ticks[k - 1].ready >= n {
                k -= 1;
            }
            leads.push((r - k) as f64 * tick_secs as f64 / 60.0);
        } else {
            let mut k = r;
            while k + 1 < ticks.len() && k - r < window && ticks[k].ready < n {
                k += 1;
            }
            leads.push(-((k - r) as f64) * tick_secs as f64 / 60.0);
        }
    }
    let days = (known as f64 * tick_secs as f64 / DAY as f64).max(1e-9);
    Metrics {
        se_hours,
        under_minutes: under as f64 * tick_secs as f64 / 60.0,
        under_pct: 100.0 * under as f64 / known.max(1) as f64,
        unserved_pct: if total > 0.0 {
            100.0 * unserved / total
        } else {
            0.0
        },
        ramps_met: met,
        ramps: ramps.len(),
        ramp_lead_min: crate::forecast::profile::quantile(&mut leads, 0.5).unwrap_or(0.0),
        actions_per_day: actions as f64 / days,
    }
}
