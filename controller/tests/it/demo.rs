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

/// What `controller demo --serve` serves: the kept controller's API has the replayed day's
/// history and its scaling events (the console's charts read exactly these).
#[tokio::test]
async fn the_kept_demo_controller_serves_the_replayed_day() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let (_, ctl) = strato_controller::demo::demo_kept(DemoOptions {
        out: dir.path().to_path_buf(),
        days: 1,
        report_interval: std::time::Duration::from_secs(60),
        quiet: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let app = strato_controller::api::router(
        ctl.clone(),
        strato_controller::api::ApiOptions::with_token("t"),
    );
    let get = |path: String| {
        let app = app.clone();
        async move {
            let req = Request::get(path)
                .header("authorization", "Bearer t")
                .body(Body::empty())
                .unwrap();
            let r = app.oneshot(req).await.unwrap();
            assert_eq!(r.status(), 200);
            let b = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
            serde_json::from_slice::<serde_json::Value>(&b).unwrap()
        }
    };
    let to = ctl.unix_now();
    let s = get(format!(
        "/api/v1/analytics/virtual-services/shuttle?from={}&to={to}&step=600",
        to - 86_400
    ))
    .await;
    assert_eq!(s["step"], 600);
    let pts = s["points"].as_array().unwrap();
    assert!(pts.len() >= 140, "a day in 10-minute steps: {}", pts.len());
    let peak = pts
        .iter()
        .filter_map(|p| p["rps"].as_f64())
        .fold(0.0, f64::max);
    let ses = pts
        .iter()
        .filter_map(|p| p["ses"].as_f64())
        .fold(0.0, f64::max);
    assert!(
        peak > 50.0 && ses >= 2.0,
        "peak {peak} rps on up to {ses} SEs"
    );
    let e = get("/api/v1/events?object=se_group/edge&limit=500".into()).await;
    let kinds: Vec<&str> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"scale_out") && kinds.contains(&"scale_in"),
        "{kinds:?}"
    );
}
