//! The fault matrix on the memory cloud: faults that a controller which trusts every read would
//! answer by destroying healthy SEs (a VM missing from a list, every host not ready, agents
//! gone silent, a cloud call that hangs), and the disruption budget that caps what any pass
//! removes. Each scenario checks, during the fault and after it clears, that no SE was wrongly
//! deleted, none leaked and none duplicated, and that DNS still answers the service's VIP
//! ([`strato_testkit::Baseline`]); then prints its `fault-matrix:` line.

use crate::common::*;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_controller::controller::{SeHealth, SePhase};
use strato_controller::dns::DnsServer;
use strato_controller::model::SeGroup;
use strato_core::layers::{LayerConfig, Layered};
use strato_core::{CloudConnector, Operation};
use strato_testkit::{Baseline, Hang, Hide};

const MIN: Duration = Duration::from_secs(60);
const SEC: Duration = Duration::from_secs(1);

/// The group `g` with the service `shop` on it, served by `n` healthy SEs with its VIP bound
/// and answered by the DNS server the returned handle runs.
async fn serve_shop(h: &Harness, g: SeGroup, n: usize) -> DnsServer {
    let name = g.name.clone();
    h.setup(g, Some(pool())).await;
    h.ctl
        .apply_virtual_service(vs("shop", &name))
        .await
        .unwrap();
    h.wait_for(
        &format!("{n} healthy SEs serving shop"),
        5 * MIN,
        || async {
            h.healthy(&name) == n && h.status().vs("shop").is_some_and(|v| v.dns.is_some())
        },
    )
    .await;
    h.serve_dns().await
}

/// Checks `base` every 10 s for `d`, while a fault holds.
async fn hold_safe(h: &Harness, base: &Baseline, d: Duration, what: &str) {
    let t = tokio::time::Instant::now();
    while t.elapsed() < d {
        tokio::time::sleep(10 * SEC).await;
        base.assert_safe(h, what).await;
    }
}

/// Waits until every SE of `group` serves again, `n` of them, with no reason left and the
/// group no longer held.
async fn recovered(h: &Harness, group: &str, n: usize) {
    h.wait_for("recovery", 5 * MIN, || async {
        let s = h.status();
        let g = s.group(group).unwrap();
        g.healthy == n
            && g.ses.len() == n
            && g.held.is_none()
            && g.ses.iter().all(|s| s.reason.is_none())
    })
    .await;
}

/// The reason the status gives for the SE `se` of `group`.
fn reason(h: &Harness, group: &str, se: &str) -> String {
    let s = h.status();
    let g = s.group(group).unwrap();
    let se = g.ses.iter().find(|s| s.name == se).unwrap();
    se.reason.clone().unwrap_or_default()
}

/// The memory cloud for the agents, and a [`Hide`] in front of it for the controller.
async fn hidden_start(
    wrap: impl FnOnce(Arc<dyn CloudConnector>) -> Arc<dyn CloudConnector>,
) -> (Harness, Arc<Hide>) {
    let mem: Arc<dyn CloudConnector> = Arc::new(memory_cloud(&owner()));
    let hide = Arc::new(Hide::new(mem.clone()));
    let h = HarnessConfig::new(CLOUD)
        .start_with_view(
            mem,
            wrap(hide.clone()),
            memory_store(),
            Arc::new(LoadModel::new()),
        )
        .await;
    (h, hide)
}

#[tokio::test(start_paused = true)]
async fn an_se_missing_from_the_list_is_held_until_a_direct_read_says_not_found() {
    let (h, hide) = hidden_start(|c| c).await;
    let dns = serve_shop(&h, group("web", 2, 4), 2).await;
    let base = Baseline::take(&h, "web", Some("shop"), dns.addr, None).await;
    // The primary, which holds the VIP, is the worst SE to lose to a bad read.
    let victim = h.status().vs("shop").unwrap().bound_to.clone().unwrap();
    hide.names.lock().unwrap().insert(victim.clone());
    // Missing from lists, and not yet visible to a direct read either (eventual consistency):
    // nothing is known, so nothing is done, far longer than a dead SE would take to go.
    hold_safe(&h, &base, 3 * MIN, "missing and unread").await;
    let why = reason(&h, "web", &victim);
    assert!(why.contains("did not confirm it gone"), "{why}");
    // Missing from lists only: a direct read finds it, so it stays too.
    hide.lists_only
        .store(true, std::sync::atomic::Ordering::Relaxed);
    hold_safe(&h, &base, 2 * MIN, "missing from lists only").await;
    let why = reason(&h, "web", &victim);
    assert!(why.contains("a direct read finds it"), "{why}");
    hide.names.lock().unwrap().clear();
    recovered(&h, "web", 2).await;
    let t = base.assert_safe(&h, "after the list is whole again").await;
    println!("{}", t.line("vm missing from one list", "memory", true));

    // A VM that really is gone (a direct read answers not found) is replaced as before.
    let vm = h
        .vms("web")
        .await
        .into_iter()
        .find(|v| v.name == victim)
        .unwrap();
    h.cloud.delete_vm(&vm.id).await.unwrap();
    h.wait_for("the deleted SE replaced", 5 * MIN, || async {
        let names = h.se_names("web");
        h.healthy("web") == 2 && !names.contains(&victim)
    })
    .await;
    assert_eq!(h.vms("web").await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_host_list_with_no_ready_host_holds_the_size() {
    let mem = memory_cloud(&owner());
    let backend = mem.backend().clone();
    let h = Harness::start(Arc::new(mem), memory_store()).await;
    let mut g = group("edge", 1, 5);
    g.placement.se_per_host = true;
    let dns = serve_shop(&h, g, 3).await;
    let base = Baseline::take(&h, "edge", Some("shop"), dns.addr, None).await;
    let hosts = ["host-1", "host-2", "host-3"];
    for host in hosts {
        backend.set_host_ready(host, false).unwrap();
    }
    hold_safe(&h, &base, 3 * MIN, "no host ready").await;
    let s = h.status();
    let g = s.group("edge").unwrap();
    let held = g.held.clone().unwrap_or_default();
    assert!(held.contains("none of the cloud's 3 hosts"), "{held}");
    assert_eq!(g.desired, Some(3), "the size is held");
    for host in hosts {
        backend.set_host_ready(host, true).unwrap();
    }
    recovered(&h, "edge", 3).await;
    let t = base
        .assert_safe(&h, "after the hosts are ready again")
        .await;
    println!("{}", t.line("every host not ready", "memory", true));
}

#[tokio::test(start_paused = true)]
async fn when_every_agent_goes_silent_nothing_is_replaced_and_dns_keeps_answering() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    let dns = serve_shop(&h, group("web", 3, 6), 3).await;
    let base = Baseline::take(&h, "web", Some("shop"), dns.addr, None).await;
    let ses = h.se_names("web");
    for se in &ses {
        h.fleet.kill(se);
    }
    // Six missed reports (60 s) would have replaced the whole fleet.
    hold_safe(&h, &base, 4 * MIN, "every agent silent").await;
    let s = h.status();
    let g = s.group("web").unwrap();
    let held = g.held.clone().unwrap_or_default();
    assert!(
        held.contains("3 of 3 SEs look unhealthy") && held.contains("max_unhealthy"),
        "{held}"
    );
    assert!(
        g.ses.iter().all(|s| s.health == SeHealth::Unreachable),
        "{}",
        h.describe()
    );
    for se in &ses {
        h.fleet.revive(se);
    }
    recovered(&h, "web", 3).await;
    let t = base.assert_safe(&h, "after the agents report again").await;
    println!("{}", t.line("all agents silent", "memory", true));
}

#[tokio::test(start_paused = true)]
async fn when_half_the_agents_go_silent_their_vips_move_and_nothing_is_replaced() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    let dns = serve_shop(&h, group("web", 4, 6), 4).await;
    let base = Baseline::take(&h, "web", Some("shop"), dns.addr, None).await;
    let primary = h.status().vs("shop").unwrap().bound_to.clone().unwrap();
    let other = h
        .se_names("web")
        .into_iter()
        .find(|n| *n != primary)
        .unwrap();
    let silent = [primary.clone(), other];
    for se in &silent {
        h.fleet.kill(se);
    }
    h.wait_for("the VIP moved to a healthy SE", 3 * MIN, || async {
        h.status()
            .vs("shop")
            .unwrap()
            .bound_to
            .as_ref()
            .is_some_and(|b| !silent.contains(b))
    })
    .await;
    hold_safe(&h, &base, 3 * MIN, "half the agents silent").await;
    let held = h.status().group("web").unwrap().held.clone();
    assert!(
        held.as_deref()
            .is_some_and(|w| w.contains("2 of 4 SEs look unhealthy")),
        "{held:?}"
    );
    for se in &silent {
        h.fleet.revive(se);
    }
    recovered(&h, "web", 4).await;
    let t = base.assert_safe(&h, "after the agents report again").await;
    println!("{}", t.line("half the agents silent", "memory", true));
}

#[tokio::test(start_paused = true)]
async fn a_hung_cloud_call_times_out_and_neither_deletes_nor_forgets() {
    let hang = Hang::new(&[Operation::GetVm]);
    let layer = hang.clone();
    // The production stack (retry, timeout...) around the hanging call: its timeout ends it.
    let (h, hide) = hidden_start(move |c| {
        let cfg = LayerConfig {
            timeout: 20 * SEC,
            ..LayerConfig::default()
        };
        strato_core::layers::stack(Layered::wrap(c, layer), &cfg)
    })
    .await;
    let dns = serve_shop(&h, group("web", 2, 4), 2).await;
    h.ctl.apply_se_group(group("old", 1, 1)).await.unwrap();
    h.wait_for("the old group's SE", 3 * MIN, || async {
        h.healthy("old") == 1
    })
    .await;
    let base = Baseline::take(&h, "web", Some("shop"), dns.addr, None).await;
    let old = Baseline::take(&h, "old", None, dns.addr, None).await;
    hang.on.store(true, std::sync::atomic::Ordering::Relaxed);
    // The read that would confirm a missing SE gone hangs...
    let victim = h.status().vs("shop").unwrap().bound_to.clone().unwrap();
    hide.names.lock().unwrap().insert(victim);
    // ...and so does the read that finds the SEs of a deleted group.
    h.ctl.delete_se_group("old").await.unwrap();
    let t = tokio::time::Instant::now();
    while t.elapsed() < 3 * MIN {
        tokio::time::sleep(10 * SEC).await;
        base.assert_safe(&h, "get_vm hangs").await;
        let o = old.tally(&h).await;
        assert!(o.deleted.is_empty() && o.leaked.is_empty(), "old: {o}");
    }
    let s = h.status();
    let g = s
        .group("old")
        .expect("the deleted group's SE is remembered");
    assert!(!g.exists && g.ses.len() == 1, "{}", h.describe());
    let err = g.last_error.clone().unwrap_or_default();
    assert!(err.contains("no answer within"), "the timeout fired: {err}");
    hang.on.store(false, std::sync::atomic::Ordering::Relaxed);
    hide.names.lock().unwrap().clear();
    h.wait_for("the old group gone", 5 * MIN, || async {
        h.status().group("old").is_none() && h.vms("old").await.is_empty()
    })
    .await;
    recovered(&h, "web", 2).await;
    let t = base.assert_safe(&h, "after the call answers again").await;
    println!("{}", t.line("cloud call hangs (get_vm)", "memory", true));
}

/// SEs of `group` on their way out now: draining, or deleted and not yet seen gone.
fn draining(h: &Harness, group: &str) -> usize {
    h.status().group(group).map_or(0, |g| {
        g.ses
            .iter()
            .filter(|s| matches!(s.phase, SePhase::Draining | SePhase::Deleting))
            .count()
    })
}

#[tokio::test(start_paused = true)]
async fn the_disruption_budget_replaces_failed_ses_one_at_a_time() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    serve_shop(&h, group("web", 5, 8), 5).await;
    let before = h.se_names("web");
    // Two of five is within max_unhealthy (40 %): they are replaced, one at a time.
    let dead: Vec<String> = before.iter().take(2).cloned().collect();
    for se in &dead {
        h.fleet.kill(se);
    }
    let mut most = 0;
    for _ in 0..600 {
        tokio::time::sleep(SEC).await;
        most = most.max(draining(&h, "web"));
        let names = h.se_names("web");
        if h.healthy("web") == 5 && dead.iter().all(|d| !names.contains(d)) {
            break;
        }
    }
    let names = h.se_names("web");
    assert!(
        h.healthy("web") == 5 && dead.iter().all(|d| !names.contains(d)),
        "both replaced: {}",
        h.describe()
    );
    assert_eq!(most, 1, "at most max_unavailable (1) SE leaves at a time");
    assert_eq!(h.vms("web").await.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_scale_in_spends_the_same_budget() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    serve_shop(&h, group("web", 1, 6), 1).await;
    // 250 rps at 50 rps per SE (100 rps at a 50 % target) wants 5 SEs.
    h.load.set("shop", 250.0);
    h.wait_for("5 healthy SEs", 5 * MIN, || async { h.healthy("web") == 5 })
        .await;
    h.load.set("shop", 0.0);
    let mut most = 0;
    for _ in 0..900 {
        tokio::time::sleep(SEC).await;
        most = most.max(draining(&h, "web"));
        if h.vms("web").await.len() == 1 && h.healthy("web") == 1 {
            break;
        }
    }
    assert_eq!(h.vms("web").await.len(), 1, "{}", h.describe());
    assert_eq!(most, 1, "at most max_unavailable (1) SE leaves at a time");
}
