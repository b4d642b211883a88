//! End-to-end: the real controller on the real vSphere connector against govmomi's vCenter
//! simulator (fixtures/vcsim), with simulated agents, in real time. Needs
//! `STRATO_TEST_VCSIM_URL` and friends (`./scripts/test` starts vcsim).
//!
//! A virtual service on vcsim's second portgroup (the distributed `DC0_DVPG0`, the SEs being
//! cloned onto `VM Network`): the SEs carrying it get a NIC there hot-attached, the agent of
//! the primary is told to configure the VIP in the guest on that NIC, and when the primary
//! dies the VIP moves to an SE that has (or gets) the NIC too. What exists is read from
//! vCenter through a bare connector of the test's owner.

use crate::common::*;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_controller::model::{IpamPool, SeGroup, SeNetwork, VirtualService};
use strato_controller::se_protocol::Role;
use strato_core::{CloudConnector, NetworkQuery, OwnerId, Vm};
use strato_vsphere::{VsphereConfig, VsphereConnector};

const SEC: Duration = Duration::from_secs(1);
/// The template SEs are cloned from: a VM of vcsim's default inventory.
const TEMPLATE: &str = "DC0_H0_VM0";
/// vcsim's second portgroup, where the service lives.
const DATA_NET: &str = "DC0_DVPG0";
/// vcsim's standard portgroup, where SEs are cloned.
const STANDARD_NET: &str = "VM Network";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run ./scripts/test (it starts fixtures/vcsim), or source the \
             env file of fixtures/vcsim/up STATE_DIR"
        )
    })
}

async fn vsphere(o: &OwnerId) -> Arc<VsphereConnector> {
    let mut c = VsphereConfig::new(env("STRATO_TEST_VCSIM_URL"));
    c.user = Some(env("STRATO_TEST_VCSIM_USER"));
    c.password = Some(env("STRATO_TEST_VCSIM_PASSWORD"));
    c.ca_file = Some(env("STRATO_TEST_VCSIM_CA").into());
    Arc::new(
        VsphereConnector::connect(c, o.clone())
            .await
            .expect("connect to vcsim"),
    )
}

/// SEs cloned onto `primary` (the standard portgroup: the template's own NIC is on the
/// distributed one), allowed to join the data portgroup.
fn group(name: &str, min: u32, max: u32, primary: &strato_core::NetworkId) -> SeGroup {
    let mut g = strato_testkit::group("vsphere", TEMPLATE, name, min, max);
    g.template.network = Some(primary.to_string());
    g.networks = vec![SeNetwork {
        network: DATA_NET.into(),
        create: false,
        cidr: None,
    }];
    g
}

async fn net_id(c: &dyn CloudConnector, name: &str) -> strato_core::NetworkId {
    let q = NetworkQuery {
        name: Some(name.into()),
        include_unowned: true,
        ..Default::default()
    };
    c.list_networks(&q).await.unwrap().items[0].id.clone()
}

/// True when the VM `se` of `vms` has a NIC on `net` besides its primary.
fn joined(vms: &[Vm], se: &str, net: &strato_core::NetworkId) -> bool {
    vms.iter().find(|v| v.name == se).is_some_and(|v| {
        v.nics
            .iter()
            .any(|n| n.device_index > 0 && n.network == *net)
    })
}

#[tokio::test]
async fn a_vs_on_a_second_portgroup_gets_its_ses_nic_hot_attached_and_its_vip_moves_on_failover() {
    let o = owner("vsnet");
    let cloud = vsphere(&o).await;
    let h = HarnessConfig {
        profile: "vsphere".into(),
        ..real_time()
    }
    .start(
        controller_cloud(cloud.clone()),
        memory_store(),
        Arc::new(LoadModel::new()),
    )
    .await;
    let pool = IpamPool {
        name: "data".into(),
        network: DATA_NET.into(),
        cidr: "198.51.100.0/24".parse().unwrap(),
        reserved: vec![],
    };
    let standard = net_id(&*cloud, STANDARD_NET).await;
    h.setup(group("web", 2, 3, &standard), Some(pool.clone()))
        .await;
    let shop = VirtualService {
        min_ses: 2,
        network: Some(DATA_NET.into()),
        ..vs("shop", "web")
    };
    h.ctl.apply_virtual_service(shop).await.unwrap();
    h.wait_for("shop on two SEs with its VIP bound", 60 * SEC, || async {
        h.healthy("web") == 2
            && h.status()
                .vs("shop")
                .is_some_and(|v| v.bound_to.is_some() && v.placement.len() == 2)
    })
    .await;
    let data = net_id(&*cloud, DATA_NET).await;
    let v = h.status().vs("shop").unwrap().clone();
    let addr = v.address.expect("an address");
    assert!(pool.usable(addr), "{addr} comes from the data pool");
    // vCenter shows both SEs with a NIC on the data portgroup.
    let now = vms(&*cloud, "web").await;
    for se in &v.placement {
        assert!(
            joined(&now, se, &data),
            "{se} has no NIC on {DATA_NET}: {now:?}"
        );
    }
    // The primary's agent configures the VIP in the guest, on that NIC.
    let primary = v.bound_to.clone().unwrap();
    let nic = now
        .iter()
        .find(|m| m.name == primary)
        .and_then(|m| m.nics.iter().find(|n| n.network == data))
        .unwrap()
        .clone();
    h.wait_for("the primary's agent configured", 10 * SEC, || async {
        h.fleet
            .plane(&primary)
            .and_then(|p| p.config())
            .is_some_and(|c| c.virtual_services.len() == 1)
    })
    .await;
    let cfg = h.fleet.plane(&primary).unwrap().config().unwrap();
    let e = &cfg.virtual_services[0];
    assert_eq!(
        (e.role, e.vip, e.configure_vip),
        (Role::Primary, Some(addr), true)
    );
    let iface = e
        .interface
        .as_ref()
        .expect("the interface carrying the VIP");
    assert_eq!(iface.device_index, nic.device_index);
    assert_eq!(iface.mac, nic.mac);

    // The primary dies: the VIP moves to the other SE (configured on its own data NIC), and
    // the replacement joins the data portgroup too.
    h.fleet.kill(&primary);
    h.wait_for(
        "the VIP moved and the dead SE replaced",
        60 * SEC,
        || async {
            let s = h.status();
            let Some(v) = s.vs("shop") else { return false };
            let now = vms(&*cloud, "web").await;
            v.bound_to.as_ref().is_some_and(|b| *b != primary)
                && v.address == Some(addr)
                && h.healthy("web") == 2
                && !now.iter().any(|m| m.name == primary)
                && v.placement.iter().all(|se| joined(&now, se, &data))
        },
    )
    .await;
    let v = h.status().vs("shop").unwrap().clone();
    let new_primary = v.bound_to.clone().unwrap();
    h.wait_for("the new primary's agent configured", 10 * SEC, || async {
        h.fleet
            .plane(&new_primary)
            .and_then(|p| p.config())
            .is_some_and(|c| {
                c.virtual_services.iter().any(|e| {
                    e.role == Role::Primary
                        && e.configure_vip
                        && e.vip == Some(addr)
                        && e.interface.as_ref().is_some_and(|i| i.device_index > 0)
                })
            })
    })
    .await;

    // Nothing is left behind.
    h.ctl.delete_virtual_service("shop").await.unwrap();
    h.ctl.delete_se_group("web").await.unwrap();
    h.wait_for("no VM left", 60 * SEC, || async {
        vms(&*cloud, "web").await.is_empty()
    })
    .await;
}
