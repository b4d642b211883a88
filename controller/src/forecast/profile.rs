//! The seasonal profile: what the load of one bucket is expected to peak at, from the same time
//! of day on past days of the same kind (weekday or weekend) and the same time of week on past
//! weeks, as an upper quantile of those peaks.
//!
//! An upper quantile rather than a mean: a holiday or an outage among the past days pulls a
//! mean down and under-provisions the next ordinary day, while it only drops one sample below
//! the quantile. A flash crowd is one high sample among about fourteen: with the 0.8
//! quantile it moves the forecast by one rank, not to its own height.

use super::history::History;

/// Seconds of a day.
pub const DAY: i64 = 86_400;

/// Monday = 0 .. Sunday = 6 of unix time `t` (1970-01-01 was a Thursday).
pub fn weekday(t: i64) -> i64 {
    (t.div_euclid(DAY) + 3).rem_euclid(7)
}

fn weekend(t: i64) -> bool {
    weekday(t) >= 5
}

/// The samples the profile of bucket `b` is made of, oldest first: the same time on each of
/// the past `days` days of the same kind and on each of the past `weeks` weeks. `kinds` false
/// takes every past day (the seasonal-naive baseline).
pub fn samples(h: &History, b: i64, days: i64, weeks: i64, kinds: bool) -> Vec<f64> {
    let per_day = DAY / h.bucket_secs;
    let t = b * h.bucket_secs;
    let mut out = Vec::with_capacity((days + weeks) as usize);
    for d in 1..=days {
        let c = b - d * per_day;
        if (!kinds || weekend(c * h.bucket_secs) == weekend(t))
            && let Some(p) = h.peak(c)
        {
            out.push(p);
        }
    }
    // Weeks further back than the days (nearer ones are among the days already).
    for w in (days / 7 + 1)..=weeks {
        if let Some(p) = h.peak(b - 7 * w * per_day) {
            out.push(p);
        }
    }
    out
}

/// The `q` quantile of `xs` (linear between ranks); None when empty.
pub fn quantile(xs: &mut [f64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_and_quantiles() {
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        assert_eq!(weekday(4 * DAY), 0, "then a Monday");
        let mut xs = vec![4.0, 1.0, 3.0, 2.0, 100.0];
        assert_eq!(quantile(&mut xs, 0.5), Some(3.0));
        assert_eq!(
            quantile(&mut xs, 0.75),
            Some(4.0),
            "one outlier moves it one rank"
        );
        assert_eq!(quantile(&mut [], 0.9), None);
    }

    #[test]
    fn samples_take_days_of_the_same_kind() {
        let mut h = History::new(3600);
        // Two weeks from Monday 1970-01-05: weekdays at 10, weekends at 1.
        let start = 4 * DAY;
        for hour in 0..(14 * 24) {
            let t = start + hour * 3600;
            h.observe(t, if weekend(t) { 1.0 } else { 10.0 });
        }
        let monday = h.bucket(start + 14 * DAY);
        let s = samples(&h, monday, 14, 4, true);
        assert!(s.iter().all(|v| *v == 10.0) && s.len() == 10, "{s:?}");
        let s = samples(&h, monday, 14, 4, false);
        assert_eq!(s.len(), 14);
    }
}
