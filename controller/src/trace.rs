//! Load traces: `timestamp,value` CSV with one row per interval, where missing rows are gaps
//! (missing data), never zeros.

use crate::error::{ControllerError, Result};
use chrono::NaiveDateTime;

/// The trace bundled for the demo: NASA-HTTP requests per minute, 1995-07-13 04:00..16:00
/// (see `data/README.md` for source and licence).
pub const NASA_1995_07_13: &str = include_str!("../data/nasa_http_1995-07-13.csv");

/// The demo's trace: NASA-HTTP requests per minute, 1995-07-05 00:00 to 07-12 23:55 (Wednesday
/// to Wednesday), averaged over 5 minutes (see `data/README.md`).
pub const NASA_1995_07_05_12: &str = include_str!("../data/nasa_http_1995-07-05_12_5min.csv");

/// A parsed trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Unix time (seconds) of the first row, its timestamp read as UTC (the profile's days and
    /// weekdays are the trace's own local ones).
    pub start_unix: i64,
    /// Interval of the trace in seconds (the smallest step between rows).
    pub step_secs: i64,
    /// `(seconds since the first row, value)`, in time order.
    pub points: Vec<(i64, f64)>,
}

impl Trace {
    /// Parses CSV text with a `timestamp,value` header.
    pub fn parse(text: &str) -> Result<Self> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h.trim() == "timestamp,value" => {}
            other => {
                return Err(ControllerError::invalid(
                    "trace",
                    format!(
                        "expected the header `timestamp,value`, found {:?}",
                        other.map(|(_, l)| l)
                    ),
                ));
            }
        }
        let mut first = None;
        let mut points: Vec<(i64, f64)> = Vec::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |why: &str| {
                ControllerError::invalid("trace", format!("line {}: {why}: {line:?}", i + 1))
            };
            let (ts, v) = line.split_once(',').ok_or_else(|| bad("no comma"))?;
            let t = NaiveDateTime::parse_from_str(ts.trim(), "%Y-%m-%d %H:%M:%S")
                .map_err(|_| bad("bad timestamp"))?;
            let v: f64 = v.trim().parse().map_err(|_| bad("bad value"))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad("value must be a non-negative number"));
            }
            let t0 = *first.get_or_insert(t);
            let off = (t - t0).num_seconds();
            if points.last().is_some_and(|(p, _)| *p >= off) {
                return Err(bad("timestamps must increase"));
            }
            points.push((off, v));
        }
        if points.is_empty() {
            return Err(ControllerError::invalid("trace", "the trace has no rows"));
        }
        let step_secs = points
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .min()
            .unwrap_or(60)
            .max(1);
        let start_unix = first.map_or(0, |t| t.and_utc().timestamp());
        Ok(Self {
            start_unix,
            step_secs,
            points,
        })
    }

    /// The value of the interval starting at `offset` seconds, `None` in a gap.
    pub fn at(&self, offset: i64) -> Option<f64> {
        self.points
            .binary_search_by_key(&offset, |(t, _)| *t)
            .ok()
            .map(|i| self.points[i].1)
    }

    /// Length in seconds (through the end of the last interval).
    pub fn span_secs(&self) -> i64 {
        self.points.last().map_or(0, |(t, _)| t + self.step_secs)
    }

    /// The largest value.
    pub fn peak(&self) -> f64 {
        self.points.iter().map(|(_, v)| *v).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_trace_parses_with_its_flash_crowd() {
        let t = Trace::parse(NASA_1995_07_13).unwrap();
        assert_eq!(t.step_secs, 60);
        assert_eq!(t.points.len(), 720);
        assert!(t.peak() > 300.0);
        // 09:00 is 5 hours in.
        assert!(t.at(5 * 3600).unwrap() > 3.0 * t.at(0).unwrap());
    }

    #[test]
    fn gaps_are_missing_not_zero() {
        let t = Trace::parse("timestamp,value\n2000-01-01 00:00:00,5\n2000-01-01 00:01:00,6\n2000-01-01 00:05:00,7\n").unwrap();
        assert_eq!(t.at(60), Some(6.0));
        assert_eq!(t.at(120), None);
        assert_eq!(t.at(300), Some(7.0));
        assert!(
            Trace::parse("timestamp,value\n2000-01-01 00:00:00,x\n")
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
    }
}
