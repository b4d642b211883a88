//! The demo replays days of the bundled trace twice, predictive and reactive, through the real
//! controller, and compares the last day.

use strato_controller::demo::{DemoOptions, demo};

#[tokio::test]
async fn demo_compares_predictive_and_reactive_on_the_last_day() {
    let dir = tempfile::tempdir().unwrap();
    let s = demo(DemoOptions {
        out: dir.path().to_path_buf(),
        days: 3,
        // Fewer passes: a debug build replays three days twice in seconds.
        report_interval: std::time::Duration::from_secs(60),
        quiet: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(s.days, 3);
    assert!(s.ramp_at.is_some(), "{s:?}");
    for run in [&s.predictive, &s.reactive] {
        assert_eq!(run.leaked_vms, 0);
        assert!(run.max_ses >= 2, "{run:?}");
        assert!(run.scale_outs > 0 && run.scale_ins > 0, "{run:?}");
    }
    // Reactive keeps its headroom all day; the forecast boots capacity only ahead of the load.
    assert!(
        s.predictive.se_hours < s.reactive.se_hours,
        "{:?} vs {:?}",
        s.predictive,
        s.reactive
    );
    let csv = std::fs::read_to_string(&s.csv).unwrap();
    assert_eq!(csv.lines().count(), 3 * 1440 + 1);
    assert!(std::fs::read_to_string(&s.svg).unwrap().contains("<svg"));
    assert!(s.summary.exists());
}
