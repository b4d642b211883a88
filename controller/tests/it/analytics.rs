//! Analytics in the controller: a service's load and span over time, the scale-out event with
//! the autoscaler's reason, both served by the API as a time series and a list, kept in the
//! store and found again by a new controller (paused clock; the router called in process).

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::api::{ApiOptions, router};
use tower::ServiceExt;

const TOKEN: &str = "analytics-token";

async fn get(ctl: &strato_controller::Controller, path: &str) -> (StatusCode, Value) {
    let req = Request::get(format!("/api/v1{path}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = router(ctl.clone(), ApiOptions::with_token(TOKEN))
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(start_paused = true)]
async fn history_and_events_are_served_kept_and_found_again() {
    let store = memory_store();
    let h = Harness::start(Arc::new(memory_cloud(&owner())), store.clone()).await;
    h.setup(group("web", 1, 10), Some(pool())).await;
    h.ctl
        .apply_virtual_service(strato_testkit::vs("shop", "web"))
        .await
        .unwrap();
    h.load.set("shop", 20.0);
    h.wait_for("one healthy SE", Duration::from_secs(600), || async {
        h.healthy("web") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    let quiet_until = h.ctl.unix_now();
    h.load.set("shop", 350.0);
    h.wait_for("4 healthy SEs", Duration::from_secs(1200), || async {
        h.healthy("web") >= 4
    })
    .await;
    // Past a persist of the history.
    tokio::time::sleep(Duration::from_secs(400)).await;
    let now = h.ctl.unix_now();

    // The series: 20 rps on one SE, then 350 rps on more.
    let (st, s) = get(
        &h.ctl,
        &format!(
            "/analytics/virtual-services/shop?from={}&to={now}&step=60",
            now - 1800
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert_eq!(s["step"], 60);
    let pts = s["points"].as_array().unwrap();
    assert!(pts.len() >= 8, "{s}");
    let early = pts
        .iter()
        .find(|p| p["t"].as_i64().unwrap() < quiet_until - 60 && p["ses"] == 1.0)
        .expect("points before the ramp");
    assert!(
        (early["rps"].as_f64().unwrap() - 20.0).abs() < 1.0,
        "{early}"
    );
    let last = pts.last().unwrap();
    assert!(
        (last["rps"].as_f64().unwrap() - 350.0).abs() < 5.0,
        "{last}"
    );
    assert!(last["capacity_rps"].as_f64().unwrap() >= 350.0, "{last}");
    let (st, g) = get(&h.ctl, "/analytics/se-groups/web?step=10").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        g["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["healthy"].as_f64() >= Some(4.0)),
        "{g}"
    );

    // The events: scale-outs with the autoscaler's reason.
    let (st, e) = get(&h.ctl, "/events?object=virtual_service/shop").await;
    assert_eq!(st, StatusCode::OK);
    let ev = e["events"].as_array().unwrap();
    let out = ev
        .iter()
        .find(|e| e["kind"] == "scale_out")
        .unwrap_or_else(|| panic!("{e}"));
    assert!(out["reason"].as_str().unwrap().contains("->"), "{out}");
    assert!(out["time"].as_i64().unwrap() >= quiet_until, "{out}");

    // A negative `from` counts back from `to`.
    let (_, rel) = get(
        &h.ctl,
        &format!("/analytics/virtual-services/shop?from=-1800&to={now}&step=60"),
    )
    .await;
    assert_eq!(rel["from"], now - 1800);
    assert_eq!(rel["points"], s["points"]);
    // Bad windows name their field; an unknown object is 404.
    let (st, b) = get(&h.ctl, "/analytics/virtual-services/shop?from=10&to=5").await;
    assert_eq!(
        (st, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("from"))
    );
    let (st, b) = get(&h.ctl, "/analytics/virtual-services/shop?step=x").await;
    assert_eq!(
        (st, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("step"))
    );
    let (st, b) = get(&h.ctl, "/analytics/virtual-services/shop?from=0&step=1").await;
    assert_eq!(
        (st, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("step"))
    );
    let (st, _) = get(&h.ctl, "/analytics/virtual-services/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, b) = get(&h.ctl, "/events?limit=0").await;
    assert_eq!(
        (st, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );

    // In the store, and found again by a new controller on it.
    assert!(
        store
            .get("analytics/series/virtual_service/shop")
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.get("analytics/events").await.unwrap().is_some());
    h.crash().await;
    let h2 = Harness::start(Arc::new(memory_cloud(&owner())), store).await;
    h2.ctl.set_unix_time(now);
    h2.ctl.sample_analytics().await;
    let (st, s2) = get(
        &h2.ctl,
        &format!(
            "/analytics/virtual-services/shop?from={}&to={now}&step=60",
            now - 1800
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        s2["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["t"] == early["t"] && p["rps"] == early["rps"]),
        "{s2}"
    );
    let (_, e2) = get(&h2.ctl, "/events?object=virtual_service/shop&limit=5").await;
    assert!(
        e2["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "scale_out"),
        "{e2}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_analytics() {
    let doc = strato_controller::openapi::document();
    for p in [
        "/api/v1/analytics/virtual-services/{name}",
        "/api/v1/analytics/se-groups/{name}",
        "/api/v1/analytics/ses/{name}",
        "/api/v1/events",
    ] {
        assert!(doc["paths"][p]["get"].is_object(), "{p}");
    }
    assert!(doc["components"]["schemas"]["Series"].is_object());
    assert!(doc["components"]["schemas"]["Event"].is_object());
}
