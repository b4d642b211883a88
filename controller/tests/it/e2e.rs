//! End-to-end: the real controller on the memory cloud with simulated agents, at paused time.

use crate::common::*;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use strato_controller::model::{HaMode, SeGroup, VirtualService};
use strato_controller::se_protocol::Role;
use strato_core::layers::{FaultConfig, FaultInjector, InjectedFault};
use strato_core::{CloudConnector, CloudConnectorExt, Size, VipQuery, VipSupport, Vm, VmSpec};
use strato_memory::{MemoryConfig, MemoryConnector, MemoryFeature};

const MIN: Duration = Duration::from_secs(60);

pub(crate) async fn setup(h: &Harness, g: SeGroup) {
    h.setup(g, Some(pool())).await;
}

/// [`setup`]s the group `g` and puts the service `shop` on it.
async fn setup_shop(h: &Harness, g: SeGroup) {
    let name = g.name.clone();
    setup(h, g).await;
    h.ctl
        .apply_virtual_service(vs("shop", &name))
        .await
        .unwrap();
}

/// Waits up to `limit` until the group has `n` healthy SEs.
async fn wait_healthy(h: &Harness, group: &str, n: usize, limit: Duration) {
    let what = format!("{n} healthy SEs in {group}");
    h.wait_for(&what, limit, || async { h.healthy(group) == n })
        .await;
}

/// Waits up to `limit` until the group has `n` live VMs.
async fn wait_vms(h: &Harness, group: &str, n: usize, limit: Duration) {
    let what = format!("{n} VMs in {group}");
    h.wait_for(&what, limit, || async { h.vms(group).await.len() == n })
        .await;
}

/// A VM of 1 CPU and 512 MiB that is no SE (no SE image or template tag), in `group` if any.
fn plain_vm(name: &str, group: Option<&str>) -> VmSpec {
    VmSpec {
        group: group.map(str::to_owned),
        ..VmSpec::new(name, Size::shape(1, 512), "x")
    }
}

/// The group's live VM named `name`; panics if there is none.
async fn vm_named(h: &Harness, group: &str, name: &str) -> Vm {
    let vms = h.vms(group).await;
    vms.into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no live VM {name} in {group}"))
}

/// The names of the group's live VMs.
async fn vm_names(h: &Harness, group: &str) -> BTreeSet<String> {
    h.vms(group).await.into_iter().map(|v| v.name).collect()
}

#[tokio::test(start_paused = true)]
async fn vs_gets_ses_a_vip_dns_and_agent_config() {
    let o = owner();
    let h = Harness::start(Arc::new(memory_cloud(&o)), memory_store()).await;
    setup(&h, group("web", 2, 4)).await;
    h.ctl
        .apply_virtual_service(VirtualService {
            min_ses: 2,
            ..vs("shop", "web")
        })
        .await
        .unwrap();

    wait_for("two healthy SEs and a bound VIP", 3 * MIN, || async {
        let s = h.status();
        h.healthy("web") == 2
            && s.vs("shop")
                .is_some_and(|v| v.bound_to.is_some() && v.dns.is_some())
    })
    .await;
    let s = h.status();
    let v = s.vs("shop").unwrap();
    let addr = v.address.unwrap();
    assert!(
        pool().usable(addr),
        "{addr} comes from the pool, outside its reserved range"
    );
    assert_eq!(v.placement.len(), 2, "spread over its min_ses of 2");

    // The cloud holds the VIP, bound to the primary's VM.
    let vips = h.cloud.list_vips(&VipQuery::default()).await.unwrap();
    assert_eq!(vips.len(), 1);
    assert_eq!(vips[0].address, addr);
    let primary = vm_named(&h, "web", v.bound_to.as_deref().unwrap()).await;
    assert_eq!(vips[0].vm.as_ref(), Some(&primary.id));

    // Every SE carries the ownership tags with its group.
    for vm in h.vms("web").await {
        assert_eq!(vm.ownership.owner, o);
        assert_eq!(vm.group(), Some("web"));
    }

    // Real DNS over UDP answers the VIP.
    let dns = h.serve_dns().await;
    let answer = dns_query(dns.addr, "shop.apps.example.com.").await;
    assert_eq!(answer, vec![addr]);

    // The agents received their configuration: primary and secondary roles, the VIP, servers.
    let pl = h.fleet.plane(&v.placement[0]).unwrap().config().unwrap();
    assert_eq!(pl.virtual_services.len(), 1);
    assert_eq!(pl.virtual_services[0].role, Role::Primary);
    assert_eq!(pl.virtual_services[0].vip, Some(addr));
    assert!(
        !pl.virtual_services[0].configure_vip,
        "the cloud routes the VIP"
    );
    let sec = h.fleet.plane(&v.placement[1]).unwrap().config().unwrap();
    assert_eq!(sec.virtual_services[0].role, Role::Secondary);

    // Deleting the service releases its VIP, address and name.
    h.ctl.delete_virtual_service("shop").await.unwrap();
    wait_for("VIP released", MIN, || async {
        h.cloud
            .list_vips(&VipQuery::default())
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    assert!(h.ctl.dns_table().get("shop.apps.example.com").is_none());
    dns.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn load_scales_out_at_once_and_in_only_after_the_window() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    setup_shop(&h, group("web", 1, 6)).await;
    wait_healthy(&h, "web", 1, 2 * MIN).await;

    // 200 rps on 1 SE of 100 rps at a 50% target: 4 SEs.
    h.load.set("shop", 200.0);
    wait_healthy(&h, "web", 4, 3 * MIN).await;
    let g = h.status();
    assert_eq!(g.group("web").unwrap().desired, Some(4));
    assert_eq!(h.vms("web").await.len(), 4);

    // Load falls: the window (60 s) holds the size first.
    h.load.set("shop", 20.0);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        h.healthy("web"),
        4,
        "no scale-in inside the stabilisation window"
    );
    wait_vms(&h, "web", 1, 3 * MIN).await;
    assert_eq!(h.status().group("web").unwrap().desired, Some(1));
}

#[tokio::test(start_paused = true)]
async fn throttled_reads_never_count_as_zero_load() {
    let switch = ThrottleReads::default();
    let h = Harness::start(
        layered(memory_cloud(&owner()), switch.clone()),
        memory_store(),
    )
    .await;
    setup_shop(&h, group("web", 1, 6)).await;
    h.load.set("shop", 200.0);
    wait_healthy(&h, "web", 4, 4 * MIN).await;

    // The cloud throttles every read while the agents go quiet: nothing is known, so nothing
    // may be scaled down, however long it lasts.
    switch.0.store(true, std::sync::atomic::Ordering::Relaxed);
    h.load.set("shop", 0.0);
    tokio::time::sleep(5 * MIN).await;
    let s = h.status();
    let g = s.group("web").unwrap();
    assert_eq!(g.desired, Some(4));
    assert!(
        g.last_error
            .as_deref()
            .is_some_and(|e| e.contains("throttled")),
        "{:?}",
        g.last_error
    );
    // Backing off: 1, 2, 4, ... s, so a handful of attempts in 5 minutes, not 30.
    assert!((4..=12).contains(&g.failures), "failures {}", g.failures);
    switch.0.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(h.vms("web").await.len(), 4, "a throttled read deleted SEs");

    // Once reads work again, the real (low) load scales in after the window, and the
    // group's error backoff starts over: the error and the failure count are cleared.
    wait_vms(&h, "web", 1, 4 * MIN).await;
    let s = h.status();
    let g = s.group("web").unwrap();
    assert_eq!((g.last_error.as_deref(), g.failures), (None, 0));
}

#[tokio::test(start_paused = true)]
async fn a_dead_se_is_replaced_after_its_vip_moved() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    setup_shop(&h, group("web", 2, 4)).await;
    wait_for("bound VIP on 2 SEs", 3 * MIN, || async {
        h.healthy("web") == 2 && h.status().vs("shop").is_some_and(|v| v.bound_to.is_some())
    })
    .await;
    let before = h.status().vs("shop").unwrap().clone();
    let dead = before.bound_to.clone().unwrap();

    // The primary stops reporting: after 6 missed reports (60 s) it is replaced.
    h.fleet.kill(&dead);
    wait_for("replacement healthy and dead SE gone", 4 * MIN, || async {
        h.healthy("web") == 2 && !vm_names(&h, "web").await.contains(&dead)
    })
    .await;
    let after = h.status().vs("shop").unwrap().clone();
    assert_ne!(after.bound_to.as_ref(), Some(&dead));
    assert_eq!(after.address, before.address, "the VIP keeps its address");
    assert_eq!(after.dns, before.dns);
    // The VIP survived the deletion of the dead SE's VM: it was moved before the delete.
    let vips = h.cloud.list_vips(&VipQuery::default()).await.unwrap();
    assert_eq!(vips.len(), 1, "the VIP was deleted with the dead VM");
    let bound_vm = vm_named(&h, "web", after.bound_to.as_deref().unwrap()).await;
    assert_eq!(vips[0].vm.as_ref(), Some(&bound_vm.id));
    assert_eq!(h.vms("web").await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_restart_mid_scale_makes_no_duplicate_and_leaks_nothing() {
    let o = owner();
    let cloud: Arc<dyn CloudConnector> = Arc::new(memory_cloud(&o));
    let store = memory_store();
    let load = Arc::new(strato_controller::agent::LoadModel::new());
    let h = Harness::start_with(cloud.clone(), store.clone(), load.clone()).await;
    setup_shop(&h, group("web", 1, 6)).await;
    wait_healthy(&h, "web", 1, 2 * MIN).await;
    load.set("shop", 250.0);
    // Crash as soon as the scale-out has begun: new SEs are recorded, some still booting.
    wait_for("scale-out in flight", MIN, || async {
        let g = h.status();
        let g = g.group("web").unwrap();
        g.current > 1 && g.healthy < g.current
    })
    .await;
    let before = vm_names(&h, "web").await;
    h.crash().await;

    // The scale-out finishes after the restart.
    let h2 = Harness::start_with(cloud.clone(), store.clone(), load.clone()).await;
    wait_healthy(&h2, "web", 5, 4 * MIN).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let vms = h2.vms("web").await;
    let names: BTreeSet<String> = vms.iter().map(|v| v.name.clone()).collect();
    assert_eq!(names.len(), vms.len(), "duplicate VM names");
    assert_eq!(vms.len(), 5, "{names:?}");
    assert!(
        before.is_subset(&names),
        "SEs from before the crash were lost or replaced: {before:?} vs {names:?}"
    );
    assert_eq!(
        h2.se_names("web"),
        names,
        "every VM has a record and every record a VM"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_store_adopts_its_ses_by_tags_and_never_touches_others() {
    let o = owner();
    let mem = memory_cloud(&o);
    // Another owner on the same account, with a VM in a group of the same name.
    let foreign = MemoryConnector::new(mem.backend().clone(), owner());
    let fvm = foreign
        .create_vm(&plain_vm("web-1", Some("web")))
        .await
        .unwrap();
    let cloud: Arc<dyn CloudConnector> = Arc::new(mem);
    // Our own VM outside any SE group the controller manages.
    let mine = cloud.create_vm(&plain_vm("bastion", None)).await.unwrap();

    let h = Harness::start(cloud.clone(), memory_store()).await;
    setup_shop(&h, group("web", 3, 4)).await;
    wait_healthy(&h, "web", 3, 3 * MIN).await;
    let before = vm_names(&h, "web").await;
    h.crash().await;

    // A new controller with an empty store and the same desired state.
    let h2 = Harness::start(cloud.clone(), memory_store()).await;
    setup_shop(&h2, group("web", 3, 4)).await;
    wait_healthy(&h2, "web", 3, 3 * MIN).await;
    tokio::time::sleep(MIN).await;
    let after = vm_names(&h2, "web").await;
    assert_eq!(before, after, "adopted, not recreated");
    assert_eq!(h2.se_names("web"), before, "exactly our SEs were adopted");
    assert!(
        h2.status()
            .group("web")
            .unwrap()
            .ses
            .iter()
            .all(|s| s.vm_id.as_deref() != Some(fvm.id.as_str()))
    );
    // The VIP the new controller found sits on the SE it names as primary.
    let bound = h2.status().vs("shop").unwrap().bound_to.clone().unwrap();
    let primary = vm_named(&h2, "web", &bound).await;
    let vips = cloud.list_vips(&VipQuery::default()).await.unwrap();
    assert_eq!(vips.len(), 1, "{vips:?}");
    assert_eq!(vips[0].vm.as_ref(), Some(&primary.id));
    // The foreign VM and our unrelated VM are untouched.
    assert!(foreign.get_vm(&fvm.id).await.unwrap().state.is_live());
    assert!(cloud.get_vm(&mine.id).await.unwrap().state.is_live());
}

#[tokio::test(start_paused = true)]
async fn an_image_upgrade_rolls_one_se_at_a_time() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    let mut g = group("web", 3, 5);
    setup_shop(&h, g.clone()).await;
    wait_healthy(&h, "web", 3, 3 * MIN).await;

    g.template.image = "se-2".into();
    h.ctl.apply_se_group(g).await.unwrap();
    let mut max_vms = 0;
    let mut seen_images = Vec::new();
    for _ in 0..900 {
        let vms = h.vms("web").await;
        let healthy = h.healthy("web");
        assert!(
            healthy >= 3,
            "healthy SEs fell to {healthy} during the upgrade"
        );
        max_vms = max_vms.max(vms.len());
        let new = vms.iter().filter(|v| v.image == "se-2").count();
        if seen_images.last() != Some(&new) {
            seen_images.push(new);
        }
        if new == 3 && vms.len() == 3 && healthy == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let vms = h.vms("web").await;
    assert!(vms.iter().all(|v| v.image == "se-2"), "{vms:?}");
    assert_eq!(vms.len(), 3);
    assert!(max_vms <= 4, "more than one surge SE at a time: {max_vms}");
    assert_eq!(
        seen_images,
        vec![0, 1, 2, 3],
        "new-image SEs appeared one at a time"
    );
    assert!(h.status().vs("shop").unwrap().bound_to.is_some());
}

#[tokio::test(start_paused = true)]
async fn the_fault_layer_does_not_make_duplicates_or_leaks() {
    let o = owner();
    let mem = Arc::new(memory_cloud(&o));
    let faults = FaultConfig {
        fail_fraction: 0.15,
        lost_response_fraction: 0.3,
        kind: InjectedFault::Transient,
        seed: 7,
        ..FaultConfig::default()
    };
    let layered = Arc::new(FaultInjector::new(mem.clone(), faults));
    let cloud: Arc<dyn CloudConnector> = layered.clone();
    let h = Harness::start(cloud, memory_store()).await;
    setup_shop(&h, group("web", 3, 6)).await;
    h.ctl
        .apply_virtual_service(vs("cart", "web"))
        .await
        .unwrap();
    wait_for("3 healthy SEs and both VIPs bound", 5 * MIN, || async {
        let s = h.status();
        h.healthy("web") == 3
            && ["shop", "cart"]
                .iter()
                .all(|n| s.vs(n).is_some_and(|v| v.bound_to.is_some()))
    })
    .await;
    tokio::time::sleep(MIN).await;
    assert!(layered.injected() > 0, "no fault was injected");
    // Read the truth without the fault layer.
    let vms = mem
        .list_all_vms(&strato_core::VmQuery::default())
        .await
        .unwrap();
    let names: HashSet<&str> = vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(vms.len(), 3, "{names:?}");
    assert_eq!(names.len(), 3);
    let vips = mem.list_vips(&VipQuery::default()).await.unwrap();
    assert_eq!(vips.len(), 2, "{vips:?}");
}

#[tokio::test(start_paused = true)]
async fn guest_vips_are_configured_by_the_agent_and_move_with_failover() {
    let settings = MemoryConfig {
        boot_latency: Duration::from_secs(3),
        disable: [MemoryFeature::Vip].into(),
        ..MemoryConfig::default()
    };
    let mem = MemoryConnector::from_settings(settings, owner()).unwrap();
    assert_eq!(mem.capabilities().vip, VipSupport::None);
    let h = Harness::start(Arc::new(mem), memory_store()).await;
    let mut g = group("lb", 2, 3);
    g.ha = HaMode::ActiveStandby;
    setup(&h, g).await;
    h.ctl.apply_virtual_service(vs("api", "lb")).await.unwrap();
    wait_for("bound", 3 * MIN, || async {
        h.status()
            .vs("api")
            .is_some_and(|v| v.bound_to.is_some() && v.placement.len() == 2)
    })
    .await;
    let v = h.status().vs("api").unwrap().clone();
    let active = v.bound_to.clone().unwrap();
    let cfg = h.fleet.plane(&active).unwrap().config().unwrap();
    assert!(
        cfg.virtual_services[0].configure_vip,
        "the agent must configure a guest VIP"
    );
    let standby = v.placement[1].clone();
    let scfg = h.fleet.plane(&standby).unwrap().config().unwrap();
    assert_eq!(scfg.virtual_services[0].role, Role::Standby);
    assert!(!scfg.virtual_services[0].configure_vip);

    // The active SE reports down: the standby takes the VIP.
    h.fleet
        .plane(&active)
        .unwrap()
        .set_health(strato_controller::se_protocol::ReportedHealth::Down);
    wait_for("failover to the standby", 2 * MIN, || async {
        h.status()
            .vs("api")
            .is_some_and(|v| v.bound_to.as_ref() == Some(&standby))
    })
    .await;
    wait_for("standby configures the VIP", MIN, || async {
        h.fleet
            .plane(&standby)
            .and_then(|p| p.config())
            .is_some_and(|c| c.virtual_services[0].configure_vip)
    })
    .await;
    assert_eq!(h.status().vs("api").unwrap().address, v.address);
}

#[tokio::test(start_paused = true)]
async fn an_inflight_create_recorded_before_a_crash_is_issued_once() {
    use strato_controller::controller::{SePhase, SeRecord, se_spec, template_hash};
    use strato_controller::store::{Precondition, StateStoreExt};
    let o = owner();
    let cloud: Arc<dyn CloudConnector> = Arc::new(memory_cloud(&o));
    let store = memory_store();
    let g = group("web", 2, 4);
    // The previous process recorded two creates and crashed: web-1's call reached the cloud,
    // web-2's never did.
    let tpl = template_hash(&g, &o);
    for serial in [1u64, 2] {
        let spec = se_spec(&g, serial, &tpl, None);
        let rec = SeRecord {
            name: spec.name.clone(),
            group: "web".into(),
            serial,
            token: spec.client_token(&o),
            spec: spec.clone(),
            template: tpl.clone(),
            vm_id: None,
            phase: SePhase::Creating,
            reason: None,
            adopted: false,
            credential_sha256: None,
            credential_nonce: None,
            nics: Vec::new(),
        };
        store
            .put_json(&format!("se/web/{}", rec.name), &rec, Precondition::Absent)
            .await
            .unwrap();
        if serial == 1 {
            cloud.create_vm(&spec).await.unwrap();
        }
    }
    store
        .put_json("segroup/web", &g, Precondition::Absent)
        .await
        .unwrap();
    let h = Harness::start(cloud.clone(), store).await;
    wait_healthy(&h, "web", 2, 3 * MIN).await;
    tokio::time::sleep(MIN).await;
    let names: Vec<String> = h.vms("web").await.into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        ["web-1", "web-2"],
        "one VM per recorded create, nothing more"
    );
}

#[tokio::test(start_paused = true)]
async fn each_service_spans_the_ses_its_own_load_needs() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    setup(&h, group("web", 2, 6)).await;
    for name in ["shop", "blog"] {
        h.ctl.apply_virtual_service(vs(name, "web")).await.unwrap();
    }
    wait_for("two healthy SEs, each service on one", 3 * MIN, || async {
        let s = h.status();
        h.healthy("web") == 2
            && ["shop", "blog"]
                .iter()
                .all(|v| s.vs(v).is_some_and(|v| v.placement.len() == 1))
    })
    .await;

    // 200 rps for shop alone: 4 SEs of 100 rps at a 50% target. blog stays on one SE.
    h.load.set("shop", 200.0);
    h.load.set("blog", 10.0);
    wait_for("shop spread over 4 SEs", 3 * MIN, || async {
        let s = h.status();
        s.vs("shop").unwrap().placement.len() == 4
    })
    .await;
    let s = h.status();
    let shop = s.vs("shop").unwrap();
    assert_eq!(shop.desired_ses, Some(4), "{:?}", shop.scaling);
    // The group follows the total: 210 rps at 50 % of 100 rps per SE is 5 SEs.
    assert_eq!(s.group("web").unwrap().desired, Some(5));
    let load = shop
        .load
        .expect("every SE carrying shop reported its share");
    assert!((load.rps - 200.0).abs() < 1.0, "shop load {load:?}");
    let blog = s.vs("blog").unwrap();
    assert_eq!(
        blog.placement.len(),
        1,
        "blog's own load needs one SE: {:?}",
        blog.scaling
    );
    // The agents serve the share the span gives them.
    let share = h
        .fleet
        .plane(&shop.placement[3])
        .unwrap()
        .config()
        .unwrap()
        .virtual_services
        .into_iter()
        .find(|v| v.name == "shop")
        .unwrap();
    assert_eq!(share.serving, 4);

    // Load falls: the span and then the group come back after the window, not before.
    h.load.set("shop", 10.0);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.status().vs("shop").unwrap().placement.len(), 4);
    wait_for(
        "shop back on one SE and the group at its minimum",
        3 * MIN,
        || async {
            h.status().vs("shop").unwrap().placement.len() == 1 && h.vms("web").await.len() == 2
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn dedicated_placement_gives_each_service_its_own_ses() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    let mut g = group("web", 1, 6);
    g.placement.max_vs_per_se = 1;
    setup(&h, g).await;
    for name in ["a", "b", "c"] {
        h.ctl.apply_virtual_service(vs(name, "web")).await.unwrap();
    }
    wait_for("three services on three SEs", 3 * MIN, || async {
        let s = h.status();
        ["a", "b", "c"]
            .iter()
            .all(|v| s.vs(v).is_some_and(|v| v.bound_to.is_some()))
    })
    .await;
    let s = h.status();
    let on: HashSet<String> = ["a", "b", "c"]
        .iter()
        .flat_map(|v| s.vs(v).unwrap().placement.clone())
        .collect();
    assert_eq!(on.len(), 3, "no SE carries two services: {on:?}");
    assert_eq!(h.vms("web").await.len(), 3);
    // A fourth service needs a fourth SE even with no load at all.
    h.ctl.apply_virtual_service(vs("d", "web")).await.unwrap();
    wait_for("a fourth SE for d", 3 * MIN, || async {
        h.status().vs("d").is_some_and(|v| v.bound_to.is_some())
    })
    .await;
    assert_eq!(h.vms("web").await.len(), 4);
}

/// Watches an upgrade to `image` until every SE runs it; returns the most VMs seen at once.
async fn watch_upgrade(h: &Harness, image: &str, want: usize, healthy_min: usize) -> usize {
    let mut max_vms = 0;
    for _ in 0..900 {
        let vms = h.vms("web").await;
        let healthy = h.healthy("web");
        assert!(
            healthy >= healthy_min,
            "healthy SEs fell to {healthy} during the upgrade"
        );
        max_vms = max_vms.max(vms.len());
        if vms.len() == want && vms.iter().all(|v| v.image == image) && healthy == want {
            return max_vms;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("upgrade did not finish: {:?}", h.status().group("web"));
}

#[tokio::test(start_paused = true)]
async fn an_upgrade_at_max_ses_replaces_in_place_and_never_exceeds_it() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    let mut g = group("web", 2, 3);
    setup_shop(&h, g.clone()).await;
    // 150 rps wants 3 SEs: the group sits at its max.
    h.load.set("shop", 150.0);
    wait_healthy(&h, "web", 3, 3 * MIN).await;

    g.template.image = "se-2".into();
    h.ctl.apply_se_group(g.clone()).await.unwrap();
    let max_vms = watch_upgrade(&h, "se-2", 3, 2).await;
    assert_eq!(max_vms, 3, "an upgrade at max_ses never goes above it");

    // At max_ses and at the healthy minimum, the upgrade waits and says why...
    g.min_ses = 3;
    h.ctl.apply_se_group(g.clone()).await.unwrap();
    g.template.image = "se-3".into();
    h.ctl.apply_se_group(g.clone()).await.unwrap();
    tokio::time::sleep(2 * MIN).await;
    let vms = h.vms("web").await;
    assert_eq!(vms.len(), 3);
    assert!(vms.iter().all(|v| v.image == "se-2"), "nothing replaced");
    let note = h.status().group("web").unwrap().upgrade.clone().unwrap();
    assert!(note.contains("raise max_ses"), "{note}");
    // ...until max_ses makes room for a surge SE.
    g.max_ses = 4;
    h.ctl.apply_se_group(g).await.unwrap();
    let max_vms = watch_upgrade(&h, "se-3", 3, 3).await;
    assert_eq!(max_vms, 4, "one surge SE at a time");
    wait_for("the upgrade note cleared", MIN, || async {
        h.status().group("web").unwrap().upgrade.is_none()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn one_se_per_host_follows_the_hosts_and_rolls_host_by_host() {
    let o = owner();
    let mem = memory_cloud(&o);
    let backend = mem.backend().clone();
    let h = Harness::start(Arc::new(mem), memory_store()).await;
    let mut g = group("edge", 1, 5);
    g.placement.se_per_host = true;
    setup_shop(&h, g.clone()).await;
    let hosts_of = |h: &Harness| {
        let s = h.status();
        let mut hosts: Vec<String> = s
            .group("edge")
            .unwrap()
            .ses
            .iter()
            .filter(|s| s.phase == strato_controller::controller::SePhase::Active)
            .filter_map(|s| s.host.clone())
            .collect();
        hosts.sort();
        hosts
    };
    wait_for("an SE on each of the 3 hosts", 3 * MIN, || async {
        h.healthy("edge") == 3 && h.status().vs("shop").unwrap().bound_to.is_some()
    })
    .await;
    assert_eq!(hosts_of(&h), ["host-1", "host-2", "host-3"]);
    // The cloud agrees: every VM runs on the host its SE is pinned to.
    let mut on: Vec<String> = h
        .vms("edge")
        .await
        .iter()
        .map(|v| v.host.as_ref().unwrap().to_string())
        .collect();
    on.sort();
    assert_eq!(on, ["host-1", "host-2", "host-3"]);
    // The status names the hosts, not the load, as what sets the size.
    let rec = h
        .status()
        .group("edge")
        .unwrap()
        .recommendation
        .clone()
        .unwrap();
    assert_eq!(rec.desired, 3);
    assert!(rec.reason.contains("3 ready"), "{}", rec.reason);

    // A host goes away: its SE goes (the VIP first), nothing replaces it elsewhere.
    backend.set_host_ready("host-2", false).unwrap();
    wait_vms(&h, "edge", 2, 3 * MIN).await;
    assert_eq!(hosts_of(&h), ["host-1", "host-3"]);
    assert!(h.status().vs("shop").unwrap().dns.is_some(), "still served");
    // It comes back: so does its SE.
    backend.set_host_ready("host-2", true).unwrap();
    wait_healthy(&h, "edge", 3, 3 * MIN).await;
    assert_eq!(hosts_of(&h), ["host-1", "host-2", "host-3"]);

    // An upgrade replaces host by host: never two new SEs on one host, never a host without
    // a healthy SE for more than one step.
    g.template.image = "se-2".into();
    h.ctl.apply_se_group(g).await.unwrap();
    for _ in 0..900 {
        let vms = h.vms("edge").await;
        assert!(vms.len() <= 4, "more than one surge SE: {}", vms.len());
        let mut new_hosts: Vec<String> = vms
            .iter()
            .filter(|v| v.image == "se-2")
            .map(|v| v.host.as_ref().unwrap().to_string())
            .collect();
        let n = new_hosts.len();
        new_hosts.sort();
        new_hosts.dedup();
        assert_eq!(new_hosts.len(), n, "two new SEs on one host: {vms:?}");
        assert!(h.healthy("edge") >= 2, "healthy SEs fell below 2");
        if vms.len() == 3 && n == 3 && h.healthy("edge") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(hosts_of(&h), ["host-1", "host-2", "host-3"]);
    assert!(h.vms("edge").await.iter().all(|v| v.image == "se-2"));
}

#[tokio::test(start_paused = true)]
async fn one_se_per_host_needs_a_cloud_that_shows_hosts() {
    let settings = MemoryConfig {
        hosts: 0,
        ..MemoryConfig::default()
    };
    let cloud = MemoryConnector::from_settings(settings, owner()).unwrap();
    let h = Harness::start(Arc::new(cloud), memory_store()).await;
    let mut g = group("edge", 1, 5);
    g.placement.se_per_host = true;
    let e = h.ctl.apply_se_group(g).await.unwrap_err();
    assert_eq!(e.field(), Some("placement.se_per_host"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn orphaned_ses_are_reported_then_swept_and_nothing_else_is_touched() {
    let o = owner();
    let mem = memory_cloud(&o);
    let foreign = MemoryConnector::new(mem.backend().clone(), owner());
    let cloud: Arc<dyn CloudConnector> = Arc::new(mem);
    // An SE of a group the controller no longer knows (a lost store, the group not declared
    // again): our owner, the SE template tag, group "old".
    let mut tags = strato_core::Tags::new();
    tags.insert(
        strato_controller::controller::TEMPLATE_TAG.into(),
        "abc".into(),
    );
    let se_like = |name: &str| VmSpec {
        group: Some("old".into()),
        tags: tags.clone(),
        ..VmSpec::new(name, Size::shape(1, 512), "se-1")
    };
    let orphan = cloud.create_vm(&se_like("old-1")).await.unwrap();
    // The same under another owner, and a VM of ours that is no SE (no template tag).
    let theirs = foreign.create_vm(&se_like("old-1")).await.unwrap();
    let plain = cloud
        .create_vm(&plain_vm("old-2", Some("old")))
        .await
        .unwrap();

    let h = Harness::start(cloud.clone(), memory_store()).await;
    setup_shop(&h, group("web", 1, 2)).await;
    wait_healthy(&h, "web", 1, 3 * MIN).await;

    let found = h.ctl.orphans().await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].vm_id, orphan.id.to_string());
    assert_eq!(found[0].group.as_deref(), Some("old"));
    // Reporting deletes nothing.
    assert!(cloud.get_vm(&orphan.id).await.unwrap().state.is_live());

    let swept = h.ctl.sweep_orphans().await.unwrap();
    assert_eq!(swept, found);
    assert!(
        cloud
            .get_vm(&orphan.id)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(foreign.get_vm(&theirs.id).await.unwrap().state.is_live());
    assert!(cloud.get_vm(&plain.id).await.unwrap().state.is_live());
    // The controller's own SEs are not orphans.
    assert_eq!(h.vms("web").await.len(), 1);
    assert!(h.ctl.orphans().await.unwrap().is_empty());
}
