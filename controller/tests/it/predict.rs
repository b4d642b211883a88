//! Predictive autoscaling in the controller: a forecaster found in the store (learned before a
//! restart) scales a service out ahead of its 08:00 ramp while the load is still low, and the
//! status and `/metrics` say the forecast set the size.

use crate::common::*;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::forecast::policy::PredictivePolicy;
use strato_controller::forecast::{ForecastConfig, Forecaster};
use strato_controller::store::{Precondition, StateStoreExt};

const DAY: i64 = 86_400;
/// Monday 2001-01-01 00:00 UTC.
const MONDAY: i64 = 978_307_200;

#[tokio::test(start_paused = true)]
async fn a_stored_forecast_scales_out_before_the_ramp() {
    // Two weeks learned: 20 rps at night, 300 rps from 08:00 to 10:00 every day.
    let mut f = Forecaster::new(ForecastConfig::default());
    for m in 0..(14 * 1440) {
        let busy = (8 * 60..10 * 60).contains(&(m % 1440));
        f.observe(MONDAY + m * 60, if busy { 300.0 } else { 20.0 });
    }
    let store = memory_store();
    store
        .put_json("forecast/shop", &f, Precondition::Any)
        .await
        .unwrap();
    let h = Harness::start(Arc::new(memory_cloud(&owner())), store).await;
    // Monday of week three, 07:30: the ramp is half an hour ahead.
    h.ctl.set_unix_time(MONDAY + 14 * DAY + 7 * 3600 + 1800);
    let start = tokio::time::Instant::now();
    let mut g = group("web", 1, 10);
    g.autoscale.predictive = Some(PredictivePolicy::default());
    h.setup(g, Some(pool())).await;
    h.ctl
        .apply_virtual_service(strato_testkit::vs("shop", "web"))
        .await
        .unwrap();
    h.load.set("shop", 20.0);
    // 20 rps alone is one SE; the forecast (300 rps, 20 % margin, 100 rps an SE) wants 4 by
    // 08:00, and the lead time (3 min boot + 2 min) starts them by 07:55.
    let limit = Duration::from_secs(35 * 60);
    h.wait_for("4 healthy SEs before 08:00", limit, || async {
        h.healthy("web") == 4
    })
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(30 * 60),
        "serving before 08:00, not after: {:?}",
        start.elapsed()
    );
    let s = h.status();
    let v = s.vs("shop").unwrap();
    let c = v.forecast.as_ref().expect("the status shows the forecast");
    assert_eq!(c.forecast, Some(4), "{c:?}");
    assert!(c.reactive < 4, "{c:?}");
    assert!(
        v.scaling.as_deref().unwrap().contains("set by forecast"),
        "{v:?}"
    );
    let metrics = strato_controller::state_metrics::render(&h.ctl);
    assert!(
        metrics.contains("strato_controller_vs_forecast_rps{vs=\"shop\""),
        "{metrics}"
    );
    assert!(metrics.contains("driver=\"forecast\""), "{metrics}");
}
