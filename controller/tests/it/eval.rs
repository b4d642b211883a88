//! The autoscaling evaluation on a synthetic trace: a weekday ramp at 08:00 that the
//! predictive policy learns and the reactive one meets late.

use std::fmt::Write as _;
use std::path::Path;
use strato_controller::eval::{Engine, EvalOptions, PolicyArg, evaluate, run};
use strato_controller::trace::Trace;

/// Three weeks at 10-minute intervals from Monday 2001-01-01: 10 at night, a step to 100 at
/// 08:00 until 18:00 on weekdays, 30 on weekends; a gap on day 9 (an outage).
fn synthetic() -> String {
    let mut s = String::from("timestamp,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2001, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for i in 0..(21 * 144) {
        let day = i / 144;
        if day == 9 && (60..90).contains(&(i % 144)) {
            continue;
        }
        let hour = (i % 144) / 6;
        let busy = (8..18).contains(&hour);
        let v = match (day % 7 >= 5, busy) {
            (_, false) => 10.0,
            (false, true) => 100.0,
            (true, true) => 30.0,
        };
        let t = start + chrono::Duration::minutes(10 * i as i64);
        let _ = writeln!(s, "{},{v}", t.format("%Y-%m-%d %H:%M:%S"));
    }
    s
}

fn opts(trace: &Path, plot: &Path) -> EvalOptions {
    EvalOptions {
        trace: trace.to_path_buf(),
        policy: PolicyArg::All,
        peak_ses: 20,
        boot: std::time::Duration::from_secs(180),
        boot_jitter: 0.2,
        margin: 0.2,
        quantile: 0.8,
        reactive_target: 0.9,
        curve: vec![0.0],
        engine: Engine::Fast,
        plot: plot.to_path_buf(),
    }
}

#[test]
fn predictive_is_ready_for_the_ramp_that_reactive_meets_late() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, svg) = (dir.path().join("t.csv"), dir.path().join("t.svg"));
    std::fs::write(&csv, synthetic()).unwrap();
    let trace = Trace::parse(&synthetic()).unwrap();
    let r = evaluate(&trace, &opts(&csv, &svg));
    let get = |p: &str| r.results.iter().find(|x| x.policy == p).unwrap();
    let (pred, reac, naive, stat, oracle) = (
        get("predictive"),
        get("reactive"),
        get("seasonal-naive"),
        get("static"),
        get("oracle"),
    );
    assert_eq!(oracle.vs_oracle, 1.0);
    assert_eq!(oracle.metrics.under_minutes, 0.0);
    assert_eq!(stat.metrics.under_minutes, 0.0);
    // Weekday ramps after the first week: predictive has them ready, reactive is late.
    assert!(
        pred.metrics.ramps_met > reac.metrics.ramps_met
            && pred.metrics.ramp_lead_min > 0.0
            && pred.metrics.under_pct < reac.metrics.under_pct / 2.0,
        "{:?} vs {:?}",
        pred.metrics,
        reac.metrics
    );
    assert!(pred.metrics.se_hours < stat.metrics.se_hours);
    assert!(naive.metrics.se_hours < stat.metrics.se_hours);
    // The curve's margin 0 is short at least as often as the default margin.
    assert_eq!(r.curve.len(), 1);
    assert!(r.curve[0].1 >= pred.metrics.under_pct);
    let (_, text) = run(&opts(&csv, &svg)).unwrap();
    assert!(text.contains("the peak needs 20 SEs") && text.contains("boot time 180s"));
    for p in [
        "predictive",
        "reactive",
        "seasonal-naive",
        "static",
        "oracle",
    ] {
        assert!(text.contains(p), "{text}");
    }
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn a_malformed_trace_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "timestamp,value\n2001-01-01 00:00:00,5\n2001-01-01 00:10:00,five\n",
    )
    .unwrap();
    let e = run(&opts(&csv, &dir.path().join("x.svg"))).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("line 3") && msg.contains("bad.csv"), "{msg}");
}
