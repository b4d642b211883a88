//! This suite's side of the shared harness (`strato-testkit`): the real controller on the real
//! AWS connector against moto, and on the Kubernetes connector against the API fake, with
//! simulated agents, in real time.
//!
//! Real time, not tokio's paused clock: the connectors talk HTTP, and a paused clock
//! auto-advances while a task waits on a socket, firing timeouts that never happened. The
//! controller runs with second-scale options instead ([`options`]), and every wait is bounded
//! and prints the controller's status when it gives up.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;
use strato_controller::ControllerOptions;
use strato_controller::controller::VsStatus;
use strato_controller::model::{IpamPool, SeGroup};
use strato_controller::se_protocol::Role;
use strato_core::layers::{Around, LayerConfig, Layered, RetryConfig};
use strato_core::{CloudConnector, Operation, OwnerId};
pub use strato_testkit::moto::region::e2e as region;
pub use strato_testkit::moto::{AMI, Moto, SUBNET_CIDR};
pub use strato_testkit::{
    Baseline, CallLog, Hang, Harness, HarnessConfig, Hide, SlowCreates, describe, dns_query_within,
    memory_store, vips, vms, vs,
};

/// The cloud profile name the SE groups use.
pub const CLOUD: &str = "aws";

/// An owner unique to this process and call (tests run in parallel on one moto).
pub fn owner(prefix: &str) -> OwnerId {
    strato_testkit::unique_owner(&format!("e2e-{prefix}"))
}

/// The connector the controller gets: the production layer stack (observe, retry, rate limit,
/// timeout) around `inner`.
pub fn controller_cloud(inner: Arc<dyn CloudConnector>) -> Arc<dyn CloudConnector> {
    strato_core::layers::stack(inner, &LayerConfig::default())
}

/// The controller's connector for the scenario "a cloud call hangs": `inner` behind a [`Hang`]
/// of `get_vm` (switched off), inside the production layer stack with a real-time deadline
/// ([`HUNG_CALL_TIMEOUT`]) and two attempts, so a hung read gives up within seconds, not the
/// minutes the production defaults allow. Returns the connector and the switch.
pub fn hanging_controller_cloud(inner: Arc<dyn CloudConnector>) -> (Arc<dyn CloudConnector>, Hang) {
    let hang = Hang::new(&[Operation::GetVm]);
    let cfg = LayerConfig {
        timeout: HUNG_CALL_TIMEOUT,
        retry: RetryConfig {
            max_attempts: 2,
            ..RetryConfig::default()
        },
        ..LayerConfig::default()
    };
    (
        strato_core::layers::stack(with(inner, hang.clone()), &cfg),
        hang,
    )
}

/// The deadline of one attempt of a call in [`hanging_controller_cloud`]: far above what moto
/// or the Kubernetes fake take to answer, even on a loaded 2-core CI runner.
pub const HUNG_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// `inner` wrapped in one test layer.
pub fn with<A: Around>(inner: Arc<dyn CloudConnector>, layer: A) -> Arc<dyn CloudConnector> {
    Layered::wrap(inner, layer)
}

/// Second-scale controller options (the agents report at most once a second, so the report
/// interval cannot be shorter).
pub fn options() -> ControllerOptions {
    ControllerOptions {
        report_interval: Duration::from_secs(1),
        missed_reports: 3,
        resync: Duration::from_secs(1),
        inflight_grace: Duration::from_secs(10),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        long_poll: Duration::from_secs(2),
        boot_timeout: Duration::from_secs(60),
        ..ControllerOptions::default()
    }
}

/// The harness at real-time pace: the cloud under [`CLOUD`], [`options`], the fleet synced
/// every 300 ms and waits checking every 100 ms.
pub fn real_time() -> HarnessConfig {
    HarnessConfig {
        options: options(),
        fleet_sync: Duration::from_millis(300),
        poll: Duration::from_millis(100),
        ..HarnessConfig::new(CLOUD)
    }
}

/// An SE group on the AWS profile: 2 vCPU / 4 GiB (t3.medium), 100 rps per SE at a 50 % target,
/// scaling in after a 6 s window.
pub fn group(name: &str, min: u32, max: u32) -> SeGroup {
    let mut g = strato_testkit::group(CLOUD, AMI, name, min, max);
    g.autoscale.scale_down_window = Duration::from_secs(6);
    g
}

/// An IPAM pool at the top of the test subnet (moto hands out primary addresses from the
/// bottom), so pool addresses are valid secondary IPs of the SEs' ENIs.
pub fn pool() -> IpamPool {
    strato_testkit::pool(SUBNET_CIDR, &[("10.0.0.0", "10.0.0.199")])
}

/// Applies the virtual service `shop` on `group` with two SEs and waits until both are healthy,
/// its VIP is bound and DNS answers it: the opening of every cloud's first end-to-end test.
pub async fn shop_on_two_ses(h: &Harness, group: &str) -> VsStatus {
    let mut shop = vs("shop", group);
    shop.min_ses = 2;
    h.ctl.apply_virtual_service(shop).await.unwrap();
    h.wait_for("two healthy SEs and a bound VIP", 30 * SEC, || async {
        let s = h.status();
        h.healthy(group) == 2
            && s.vs("shop")
                .is_some_and(|v| v.bound_to.is_some() && v.dns.is_some() && v.placement.len() == 2)
    })
    .await;
    h.status().vs("shop").unwrap().clone()
}

/// Waits until every SE carrying `v` got a configuration with it, then checks what each agent
/// was told: the primary (`v.bound_to`) carries the VIP `v.address`, routed by the cloud (the
/// agent does not configure it), served by two SEs, with `group`'s servers; the second SE is a
/// secondary of the same VIP.
pub async fn assert_primary_and_secondary_configured(h: &Harness, v: &VsStatus, group: &str) {
    h.wait_for(
        "both agents configured",
        10 * Duration::from_secs(1),
        || async {
            v.placement.iter().all(|se| {
                h.fleet
                    .plane(se)
                    .and_then(|p| p.config())
                    .is_some_and(|c| c.virtual_services.len() == 1)
            })
        },
    )
    .await;
    let primary = v.bound_to.as_deref().expect("a primary");
    let pl = h.fleet.plane(primary).unwrap().config().unwrap();
    let e = &pl.virtual_services[0];
    assert_eq!(
        (e.name.as_str(), e.role, e.vip, e.configure_vip, e.serving),
        (v.name.as_str(), Role::Primary, v.address, false, 2)
    );
    assert_eq!(e.servers, vs(&v.name, group).servers);
    let sec = h.fleet.plane(&v.placement[1]).unwrap().config().unwrap();
    assert_eq!(sec.virtual_services[0].role, Role::Secondary);
    assert_eq!(sec.virtual_services[0].vip, v.address);
}

/// Checks `base` every 500 ms for `d`, while a fault holds.
pub async fn hold_safe(h: &Harness, base: &Baseline, d: Duration, what: &str) {
    let t = tokio::time::Instant::now();
    while t.elapsed() < d {
        tokio::time::sleep(Duration::from_millis(500)).await;
        base.assert_safe(h, what).await;
    }
}

/// Waits up to `limit` until `group` has `n` SEs again, all serving, with no reason left and
/// the group no longer held.
pub async fn recovered(h: &Harness, group: &str, n: usize, limit: Duration) {
    h.wait_for("recovery", limit, || async {
        let s = h.status();
        let Some(g) = s.group(group) else {
            return false;
        };
        g.healthy == n
            && g.ses.len() == n
            && g.held.is_none()
            && g.ses.iter().all(|s| s.reason.is_none())
    })
    .await;
}

/// The fault-matrix scenario "an existing VM missing from a list", on any backend: the
/// controller sees the cloud through `hide` (the agents do not). The primary of `vs` goes
/// missing from lists and unreadable, then missing from lists only; nothing may happen to it
/// either way, and all is as before once it shows again. Returns the matrix line.
pub async fn vm_missing_from_a_list(
    h: &Harness,
    hide: &Hide,
    group: &str,
    vs: &str,
    backend: &str,
    hold: Duration,
) -> String {
    let dns = h.serve_dns().await;
    let base = Baseline::take(h, group, Some(vs), dns.addr, Some(5 * SEC)).await;
    let n = base.vms.len();
    let victim = h.status().vs(vs).unwrap().bound_to.clone().unwrap();
    hide.names.lock().unwrap().insert(victim.clone());
    hold_safe(h, &base, hold, "missing from lists and unreadable").await;
    hide.lists_only
        .store(true, std::sync::atomic::Ordering::Relaxed);
    hold_safe(h, &base, hold, "missing from lists only").await;
    let s = h.status();
    let why = s
        .group(group)
        .and_then(|g| g.ses.iter().find(|s| s.name == victim))
        .and_then(|s| s.reason.clone())
        .unwrap_or_default();
    assert!(why.contains("a direct read finds it"), "{why}");
    hide.names.lock().unwrap().clear();
    recovered(h, group, n, 30 * SEC).await;
    let t = base.assert_safe(h, "after the list is whole again").await;
    dns.shutdown().await;
    t.line("vm missing from one list", backend, true)
}

/// The fault-matrix scenario "agents silent", on any backend: the agents of `silent` (all of
/// the group's SEs, or half of them) stop reporting for `hold`; with more than `max_unhealthy`
/// of the group silent, nothing may be replaced or deleted and DNS keeps answering, and while
/// some still report the VIP moves to one of them; then they report again and all is as
/// before. Returns the matrix line.
pub async fn agents_silent(
    h: &Harness,
    group: &str,
    vs: &str,
    silent: &[String],
    fault: &str,
    backend: &str,
    hold: Duration,
) -> String {
    let dns = h.serve_dns().await;
    let base = Baseline::take(h, group, Some(vs), dns.addr, Some(5 * SEC)).await;
    let n = base.vms.len();
    for se in silent {
        h.fleet.kill(se);
    }
    if silent.len() < n {
        // SEs that still report can carry the VIP, so it must not stay on a silent one.
        h.wait_for("the VIP on an SE that reports", 20 * SEC, || async {
            h.status()
                .vs(vs)
                .and_then(|v| v.bound_to.clone())
                .is_some_and(|b| !silent.contains(&b))
        })
        .await;
    }
    hold_safe(h, &base, hold, fault).await;
    let held = h.status().group(group).and_then(|g| g.held.clone());
    let want = format!("{} of {n} SEs look unhealthy", silent.len());
    assert!(
        held.as_deref().is_some_and(|w| w.contains(&want)),
        "{held:?}"
    );
    for se in silent {
        h.fleet.revive(se);
    }
    recovered(h, group, n, 30 * SEC).await;
    let t = base.assert_safe(h, "after the agents report again").await;
    dns.shutdown().await;
    t.line(fault, backend, true)
}

/// The fault-matrix scenario "half the agents silent", on any backend: the agents of the
/// primary of `vs` and of as many other SEs of `group` as make half of it go silent
/// ([`agents_silent`]). Returns the matrix line.
pub async fn half_the_agents_silent(
    h: &Harness,
    group: &str,
    vs: &str,
    backend: &str,
    hold: Duration,
) -> String {
    let primary = h.status().vs(vs).unwrap().bound_to.clone().unwrap();
    let names = h.se_names(group);
    let others = names.iter().filter(|n| **n != primary).cloned();
    // The primary is the SE whose silence matters most: its VIP has to move.
    let silent: Vec<String> = std::iter::once(primary.clone())
        .chain(others)
        .take(names.len() / 2)
        .collect();
    agents_silent(
        h,
        group,
        vs,
        &silent,
        "half the agents silent",
        backend,
        hold,
    )
    .await
}

/// The fault-matrix scenario "a cloud call hangs", on any backend: the controller sees the
/// cloud through `hide` behind `hang` ([`hanging_controller_cloud`]). With `get_vm` hanging,
/// the primary of `vs` goes missing from lists (so only a direct read could confirm it gone)
/// and the group `old` (one SE, set up here) is deleted (so only a direct read finds its SE).
/// For `hold`, the timeout ends every hung read: nothing of `group` or `old` is deleted or
/// leaked, DNS keeps answering, and `old` is remembered with the timeout as its last error.
/// Once `get_vm` answers again, `old` goes and `group` is as before. Returns the matrix line.
#[allow(clippy::too_many_arguments)]
pub async fn cloud_call_hangs(
    h: &Harness,
    hide: &Hide,
    hang: &Hang,
    group: &str,
    vs: &str,
    old: SeGroup,
    backend: &str,
    hold: Duration,
) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let dns = h.serve_dns().await;
    let old_name = old.name.clone();
    h.ctl.apply_se_group(old).await.unwrap();
    h.wait_for("the old group's SE", 30 * SEC, || async {
        h.healthy(&old_name) == 1
    })
    .await;
    let base = Baseline::take(h, group, Some(vs), dns.addr, Some(5 * SEC)).await;
    let n = base.vms.len();
    let old_base = Baseline::take(h, &old_name, None, dns.addr, Some(5 * SEC)).await;
    hang.on.store(true, Relaxed);
    // The read that would confirm a missing SE gone hangs...
    let victim = h.status().vs(vs).unwrap().bound_to.clone().unwrap();
    hide.names.lock().unwrap().insert(victim);
    // ...and so does the read that finds the SEs of a deleted group.
    h.ctl.delete_se_group(&old_name).await.unwrap();
    let t = tokio::time::Instant::now();
    while t.elapsed() < hold {
        tokio::time::sleep(Duration::from_millis(500)).await;
        base.assert_safe(h, "get_vm hangs").await;
        let o = old_base.tally(h).await;
        assert!(o.deleted.is_empty() && o.leaked.is_empty(), "old: {o}");
    }
    let s = h.status();
    let g = s
        .group(&old_name)
        .expect("the deleted group's SE is remembered");
    assert!(!g.exists && g.ses.len() == 1, "{}", h.describe());
    let err = g.last_error.clone().unwrap_or_default();
    assert!(err.contains("no answer within"), "the timeout fired: {err}");
    hang.on.store(false, Relaxed);
    hide.names.lock().unwrap().clear();
    h.wait_for("the old group gone", 30 * SEC, || async {
        h.status().group(&old_name).is_none() && h.vms(&old_name).await.is_empty()
    })
    .await;
    recovered(h, group, n, 30 * SEC).await;
    let t = base.assert_safe(h, "after the call answers again").await;
    dns.shutdown().await;
    t.line("cloud call hangs (get_vm)", backend, true)
}

const SEC: Duration = Duration::from_secs(1);
