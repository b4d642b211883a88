//! What the demo prints: the last day hour by hour, predictive and reactive side by side, and
//! each run's scores.

use super::DemoSummary;
use crate::eval::Tick;
use std::fmt::Write as _;

/// The last day, hour by hour, and the comparison.
pub(super) fn render(s: &DemoSummary, p: &[Tick], r: &[Tick]) -> String {
    let mut out = format!(
        "demo: last day (1995-07-12, after {} days learned), serving SEs by hour:\n  hour   load rps   predictive  reactive\n",
        s.days - 1
    );
    for h in 0..24 {
        let i = h * 60;
        if i < p.len() {
            let _ = writeln!(
                out,
                "  {h:02}:00 {:>9.0} {:>11} {:>9}",
                p[i].load.unwrap_or(0.0),
                p[i].ready,
                r[i].ready
            );
        }
    }
    for run in [&s.predictive, &s.reactive] {
        let _ = writeln!(
            out,
            "demo: {:<10}: morning ramp at {}: {} SEs serving of {} needed (ready {:+.0} min before it); {:.0} under-provisioned minutes, {:.1} SE-hours, {} scale-outs, {} scale-ins, {} leaked VMs",
            run.policy,
            s.ramp_at.as_deref().unwrap_or("-"),
            run.ramp_ready.0,
            run.ramp_ready.1,
            run.ramp_lead_min,
            run.under_minutes,
            run.se_hours,
            run.scale_outs,
            run.scale_ins,
            run.leaked_vms
        );
    }
    let _ = writeln!(
        out,
        "demo: {} days replayed twice in {:.1}s; wrote {}, {}, {}",
        s.days,
        s.wall_secs,
        s.csv.display(),
        s.svg.display(),
        s.summary.display()
    );
    out
}
