//! Rebalancing: a service moves off an SE its reports show overloaded, once, and stays.

use crate::common::*;
use crate::e2e::setup;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::ControllerStatus;

const MIN: Duration = Duration::from_secs(60);

/// Two services pinned to one SE each (span 1) that both start on the group's only SE.
async fn two_services_on_one_se(rebalance: bool) -> Harness {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    let mut g = group("web", 1, 4);
    g.placement.rebalance = rebalance;
    setup(&h, g).await;
    for name in ["a", "b"] {
        let mut v = vs(name, "web");
        v.max_ses = 1;
        h.ctl.apply_virtual_service(v).await.unwrap();
    }
    wait_for("both services on the one SE", 3 * MIN, || async {
        let s = h.status();
        h.healthy("web") == 1 && ["a", "b"].iter().all(|v| placed_on(&s, v).is_some())
    })
    .await;
    h
}

fn placed_on(s: &ControllerStatus, vs: &str) -> Option<String> {
    let v = s.vs(vs)?;
    match v.placement.as_slice() {
        [one] if v.bound_to.as_ref() == Some(one) => Some(one.clone()),
        _ => None,
    }
}

fn placements(s: &ControllerStatus) -> BTreeMap<&'static str, Option<String>> {
    ["a", "b"]
        .into_iter()
        .map(|v| (v, placed_on(s, v)))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_overloaded_se_hands_one_service_to_the_se_added_for_it_and_it_stays() {
    let h = two_services_on_one_se(true).await;
    // 45 rps each: the SE runs at 90 % of 100 rps (target 50 %). Each service alone is at
    // 45 %, under target, so neither span grows; the group grows to 2 for the total.
    h.load.set("a", 45.0);
    h.load.set("b", 45.0);
    wait_for("a and b on different SEs", 3 * MIN, || async {
        let p = placements(&h.status());
        matches!((&p["a"], &p["b"]), (Some(a), Some(b)) if a != b)
    })
    .await;
    let s = h.status();
    let why = s.group("web").unwrap().rebalanced.clone();
    assert!(
        why.as_deref().is_some_and(|w| w.contains("90 %")),
        "the status says why: {why:?}"
    );
    // DNS follows the VIP of the moved service.
    for v in ["a", "b"] {
        let v = s.vs(v).unwrap();
        assert_eq!(v.dns.map(std::net::IpAddr::V4), v.address, "{}", v.name);
    }

    // Settled: at 45 % each SE is inside the band, so nothing moves again.
    let settled = placements(&s);
    for _ in 0..180 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(placements(&h.status()), settled, "a service moved again");
    }
    assert_eq!(h.vms("web").await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn without_rebalancing_the_added_se_stays_idle() {
    let h = two_services_on_one_se(false).await;
    h.load.set("a", 45.0);
    h.load.set("b", 45.0);
    wait_for("a second SE", 3 * MIN, || async { h.healthy("web") == 2 }).await;
    tokio::time::sleep(2 * MIN).await;
    let p = placements(&h.status());
    assert!(p["a"].is_some(), "{p:?}");
    assert_eq!(p["a"], p["b"], "nothing moved the services apart");
    assert!(h.status().group("web").unwrap().rebalanced.is_none());
}
