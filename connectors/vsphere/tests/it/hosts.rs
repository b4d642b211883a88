//! Hosts against govmomi's simulator: listing the ESXi hosts VMs can run on, pinning a VM to one
//! (one service engine per host), the scope of a configured resource pool, maintenance mode.
//!
//! The default inventory (`simulator.VPX()`) has the standalone host `DC0_H0`, which runs the
//! template, and the cluster `DC0_C0` with hosts `DC0_C0_H0` to `DC0_C0_H2`.

use crate::common;

use crate::common::{assert_invalid, assert_no_vms, pinned, spec};
use std::collections::BTreeMap;
use strato_core::{CloudConnector, ErrorKind, Host, HostId, VmQuery};
use strato_vsphere::VsphereConnector;
use strato_vsphere::soap::{MoRef, Request};

const STANDALONE: &str = "DC0_H0";
const CLUSTER_HOSTS: [&str; 3] = ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"];

/// Hosts by name.
async fn hosts(c: &VsphereConnector) -> BTreeMap<String, Host> {
    c.list_hosts()
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.name.clone(), h))
        .collect()
}

/// The managed object at an inventory path, as the SearchIndex resolves it.
async fn at(c: &VsphereConnector, path: &str) -> MoRef {
    c.vim()
        .find_by_path(path)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{path} not in vcsim's inventory"))
}

/// Runs `EnterMaintenanceMode_Task` or `ExitMaintenanceMode_Task` on `host`, without a timeout.
async fn maintenance_task(c: &VsphereConnector, method: &'static str, host: &MoRef) {
    let mut req = Request::new(method, host);
    req.text("timeout", 0);
    c.vim().run_task(req).await.unwrap();
}

#[tokio::test]
async fn every_host_of_the_datacenter_is_listed_ready_with_its_managed_object_id() {
    let c = common::connector("hl").await;
    let listed = c.list_hosts().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|h| h.name.as_str()).collect();
    assert!(
        names.is_sorted(),
        "sorted by name for a stable placement: {names:?}"
    );
    let by_name = hosts(&c).await;
    for (name, path) in [
        (STANDALONE, format!("DC0/host/{STANDALONE}/{STANDALONE}")),
        (
            CLUSTER_HOSTS[0],
            format!("DC0/host/DC0_C0/{}", CLUSTER_HOSTS[0]),
        ),
        (
            CLUSTER_HOSTS[1],
            format!("DC0/host/DC0_C0/{}", CLUSTER_HOSTS[1]),
        ),
        (
            CLUSTER_HOSTS[2],
            format!("DC0/host/DC0_C0/{}", CLUSTER_HOSTS[2]),
        ),
    ] {
        let h = by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {listed:?}"));
        let mo = at(&c, &path).await;
        assert_eq!(mo.kind, "HostSystem");
        assert_eq!(
            h.id.as_str(),
            mo.value,
            "{name}: the id is the HostSystem's"
        );
        assert!(h.ready, "{h:?}");
    }
    c.logout().await.unwrap();
}

#[tokio::test]
async fn a_pinned_vm_runs_on_its_host_in_that_hosts_pool_and_a_repeat_returns_it() {
    let c = common::connector("hp").await;
    let by_name = hosts(&c).await;
    // A cluster host: the template runs on the standalone host, so the clone has to move.
    let target = by_name[CLUSTER_HOSTS[1]].id.clone();
    let s = pinned("se-1", target.clone());
    let vm = c.create_vm(&s).await.unwrap();
    assert_eq!(vm.host.as_ref(), Some(&target), "{vm:?}");
    let o = c
        .vim()
        .props(
            &MoRef::new("VirtualMachine", vm.id.as_str()),
            &["resourcePool"],
        )
        .await
        .unwrap();
    let cluster_pool = at(&c, "DC0/host/DC0_C0/Resources").await;
    assert_eq!(
        o.props["resourcePool"].as_moref(),
        Some(cluster_pool),
        "a VM on a cluster host is in the cluster's pool"
    );
    assert_eq!(c.get_vm(&vm.id).await.unwrap().host, Some(target.clone()));
    let listed = c.list_vms(&VmQuery::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].host, Some(target.clone()));

    // Same request: the same VM, nothing moved or cloned.
    let again = c.create_vm(&s).await.unwrap();
    assert_eq!((&again.id, &again.host), (&vm.id, &Some(target.clone())));
    assert_eq!(
        c.list_vms(&VmQuery::default()).await.unwrap().items.len(),
        1
    );
    // The pin is part of the request: the same name on another host is someone else's request.
    let mut elsewhere = s.clone();
    elsewhere.host = Some(by_name[CLUSTER_HOSTS[2]].id.clone());
    let e = c.create_vm(&elsewhere).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists, "{e}");

    // One per host, the standalone host included; an unpinned VM still reports its host.
    let on_standalone = pinned("se-2", by_name[STANDALONE].id.clone());
    let vm2 = c.create_vm(&on_standalone).await.unwrap();
    assert_eq!(vm2.host, on_standalone.host);
    let free = c.create_vm(&spec("free")).await.unwrap();
    let free_host = free.host.clone().expect("an unpinned VM reports its host");
    assert!(by_name.values().any(|h| h.id == free_host), "{free_host}");

    for v in [vm, vm2, free] {
        c.delete_vm(&v.id).await.unwrap();
    }
    c.logout().await.unwrap();
}

#[tokio::test]
async fn an_unknown_host_is_an_invalid_spec_naming_host_and_clones_nothing() {
    let c = common::connector("hx").await;
    for bogus in ["host-999999", "vm-1", "DC0_C0_H0"] {
        let e = c
            .create_vm(&pinned("pinned", HostId::new(bogus)))
            .await
            .unwrap_err();
        assert_invalid(&e, "host");
        let msg = e.to_string();
        assert!(msg.contains(bogus), "names the value: {msg}");
        assert!(
            msg.contains("list_hosts") && msg.contains("(DC0_C0_H0)"),
            "says which hosts exist: {msg}"
        );
    }
    assert_no_vms(&c).await;
    c.logout().await.unwrap();
}

#[tokio::test]
async fn a_configured_cluster_pool_limits_the_hosts_to_that_cluster() {
    let mut cfg = common::config();
    cfg.resource_pool = Some("host/DC0_C0".into());
    let c = VsphereConnector::connect(cfg, common::owner("hc"))
        .await
        .unwrap();
    let by_name = hosts(&c).await;
    assert_eq!(
        by_name.keys().map(String::as_str).collect::<Vec<_>>(),
        CLUSTER_HOSTS,
        "only the cluster's hosts"
    );
    let everywhere = common::connector("hc").await;
    let all = hosts(&everywhere).await;
    everywhere.logout().await.unwrap();
    let e = c
        .create_vm(&pinned("outside", all[STANDALONE].id.clone()))
        .await
        .unwrap_err();
    assert_invalid(&e, "host");
    assert!(
        e.to_string().contains("host/DC0_C0"),
        "names the scope: {e}"
    );
    let s = pinned("inside", by_name[CLUSTER_HOSTS[0]].id.clone());
    let vm = c.create_vm(&s).await.unwrap();
    assert_eq!(vm.host, s.host);
    c.delete_vm(&vm.id).await.unwrap();
    c.logout().await.unwrap();
}

/// Changes a host's state, so on a simulator of its own: the shared one stays all ready.
#[tokio::test]
async fn a_host_in_maintenance_mode_is_not_ready_until_it_exits() {
    let sim = common::private_sim().await;
    let c = VsphereConnector::connect(sim.config.clone(), common::owner("hm"))
        .await
        .unwrap();
    let before = hosts(&c).await;
    assert!(before.values().all(|h| h.ready), "{before:?}");
    let host = MoRef::new("HostSystem", before[CLUSTER_HOSTS[2]].id.as_str());
    maintenance_task(&c, "EnterMaintenanceMode_Task", &host).await;
    let during = hosts(&c).await;
    for (name, h) in &during {
        assert_eq!(h.ready, name != CLUSTER_HOSTS[2], "{h:?}");
    }
    maintenance_task(&c, "ExitMaintenanceMode_Task", &host).await;
    assert_eq!(hosts(&c).await, before);
    c.logout().await.unwrap();
}
