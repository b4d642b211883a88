//! End-to-end: the real controller on the real Azure connector (azure_mgmt_compute and
//! azure_mgmt_network over HTTP) against the in-process stateful ARM fake
//! (`strato-azure-fake`), with simulated agents, in real time.
//!
//! Every assertion about what exists reads the cloud: a bare connector of the test's owner, or
//! the fake's own VMs, NICs and disks. Each test starts its own fake.

use crate::common::*;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use strato_azure::{Auth, AzureConfig, AzureConnector};
use strato_azure_fake::{FakeArm, SUBSCRIPTION};
use strato_controller::agent::LoadModel;
use strato_controller::model::SeGroup;
use strato_core::{CloudConnector, OwnerId, Size, VipBinding, VmState};
use strato_testkit::HarnessConfig;

const SEC: Duration = Duration::from_secs(1);
/// The profile name the SE groups use.
const PROFILE: &str = "azure";
const IMAGE: &str = "Canonical:ubuntu-24_04-lts:server:latest";
const RG: &str = "strato-e2e";
const VNET: &str = "strato-vnet";

/// A fake with the VNet (10.0.0.0/8, subnet `default` 10.0.0.0/16) and the owner's connector.
async fn azure(tag: &str) -> (FakeArm, OwnerId, Arc<AzureConnector>) {
    let (url, fake) = strato_azure_fake::start().await;
    fake.seed_vnet(RG, VNET, "10.0.0.0/8", &[("default", "10.0.0.0/16")]);
    let o = owner(tag);
    let mut cfg = AzureConfig::new(SUBSCRIPTION, RG, "westeurope", VNET);
    cfg.endpoint = Some(url);
    cfg.auth = Auth::Anonymous;
    cfg.poll_interval = Duration::from_millis(100);
    let c = AzureConnector::connect(o.clone(), cfg)
        .await
        .expect("connect to the fake");
    (fake, o, Arc::new(c))
}

fn real_time_azure() -> HarnessConfig {
    HarnessConfig {
        options: options(),
        fleet_sync: Duration::from_millis(300),
        poll: Duration::from_millis(100),
        ..HarnessConfig::new(PROFILE)
    }
}

/// An SE group on the Azure profile: 2 vCPU / 4 GiB (Standard_B2s), scaling in after 6 s.
fn azure_group(name: &str, min: u32, max: u32) -> SeGroup {
    let mut g = strato_testkit::group(PROFILE, IMAGE, name, min, max);
    g.autoscale.scale_down_window = 6 * SEC;
    g
}

/// Asserts the cloud holds exactly one VIP, `name` at `addr`, on `se`'s VM.
async fn assert_vip_on(az: &dyn CloudConnector, name: &str, addr: IpAddr, se: &str) {
    let vips = vips(az).await;
    assert_eq!(vips.len(), 1, "exactly one VIP in Azure: {vips:?}");
    let v = &vips[0];
    assert_eq!((v.name.as_str(), v.address), (name, addr), "{v:?}");
    assert_eq!(v.binding, VipBinding::Cloud);
    let vm = vms(az, "web")
        .await
        .into_iter()
        .find(|v| v.name == se)
        .expect("the SE's VM");
    assert_eq!(
        v.vm.as_ref(),
        Some(&vm.id),
        "the VIP is on the primary SE {se}"
    );
    assert!(
        vm.nics.iter().all(|n| n.address != Some(addr)),
        "the VIP is not the VM's own address"
    );
}

#[tokio::test]
async fn a_vs_on_azure_gets_ses_a_cloud_vip_and_dns_and_teardown_leaks_nothing() {
    let (fake, o, az) = azure("az-create").await;
    let h = real_time_azure()
        .start(
            controller_cloud(az.clone()),
            memory_store(),
            Arc::new(LoadModel::new()),
        )
        .await;
    h.setup(azure_group("web", 2, 4), None).await;
    let v = shop_on_two_ses(&h, "web").await;
    let addr = v.address.expect("an address");
    let primary = v.bound_to.clone().unwrap();

    // Two VMs of our owner, tagged as SEs of the group, each with its primary NIC and OS disk.
    let ses = vms(&*az, "web").await;
    assert_eq!(
        ses.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["web-1", "web-2"]
    );
    for vm in &ses {
        assert_eq!(vm.state, VmState::Running);
        assert_eq!(vm.ownership.owner, o);
        assert_eq!(vm.size, Size::shape(2, 4096));
    }
    assert_eq!(fake.vms().len(), 2);
    assert_eq!(fake.nics().len(), 2);
    assert_eq!(fake.disks().len(), 2);
    // The VIP is a secondary ipConfiguration Azure picked in the subnet, on the primary's NIC.
    assert!(
        matches!(addr, IpAddr::V4(a) if a.octets()[..2] == [10, 0]),
        "{addr}"
    );
    assert_vip_on(&*az, "shop", addr, &primary).await;
    let dns = h.serve_dns().await;
    assert_eq!(
        dns_query_within(dns.addr, "shop.apps.example.com.", 5 * SEC).await,
        vec![addr]
    );
    assert_primary_and_secondary_configured(&h, &v, "web").await;

    // Teardown: the VIP released, every VM deleted with its NIC and disk.
    h.ctl.delete_virtual_service("shop").await.unwrap();
    h.wait_for("the VIP released in Azure", 15 * SEC, || async {
        vips(&*az).await.is_empty()
    })
    .await;
    h.ctl.delete_se_group("web").await.unwrap();
    h.wait_for("every VM, NIC and disk gone", 20 * SEC, || async {
        fake.vms().is_empty() && fake.nics().is_empty() && fake.disks().is_empty()
    })
    .await;
    h.wait_for("the group forgotten", 10 * SEC, || async {
        h.status().group("web").is_none()
    })
    .await;
    dns.shutdown().await;
}

#[tokio::test]
async fn load_scales_out_on_azure_and_in_after_the_window_with_the_vip_kept() {
    let (fake, _o, az) = azure("az-scale").await;
    let load = Arc::new(LoadModel::new());
    let h = real_time_azure()
        .start(controller_cloud(az.clone()), memory_store(), load.clone())
        .await;
    h.setup(azure_group("web", 1, 4), None).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for("one healthy SE with the VIP", 30 * SEC, || async {
        h.healthy("web") == 1 && h.vip_bound("shop")
    })
    .await;
    let addr = h.status().vs("shop").unwrap().address.unwrap();

    // 150 rps on SEs of 100 rps at a 50 % target: 3 SEs, created in parallel.
    load.set("shop", 150.0);
    h.wait_for("scale out to 3 healthy SEs", 30 * SEC, || async {
        h.healthy("web") == 3
    })
    .await;
    assert_eq!(vms(&*az, "web").await.len(), 3);
    assert_eq!(fake.vms().len(), 3);

    // The load falls: after the window, back to one SE, which holds the VIP.
    load.set("shop", 10.0);
    h.wait_for("scale in to 1 VM in Azure", 30 * SEC, || async {
        fake.vms().len() == 1 && vms(&*az, "web").await.len() == 1
    })
    .await;
    let left = vms(&*az, "web").await;
    h.wait_for(
        "desired 1 and the VIP bound to the survivor",
        10 * SEC,
        || async {
            let s = h.status();
            s.group("web").is_some_and(|g| g.desired == Some(1))
                && s.vs("shop")
                    .is_some_and(|v| v.bound_to.as_deref() == Some(left[0].name.as_str()))
        },
    )
    .await;
    assert_vip_on(&*az, "shop", addr, &left[0].name).await;
    assert_eq!(
        fake.nics().len(),
        1,
        "the scaled-in VMs' NICs went with them: {:?}",
        fake.nics()
    );
}

#[tokio::test]
async fn a_dead_se_is_replaced_on_azure_after_its_vip_moved_at_the_same_address() {
    let (fake, _o, az) = azure("az-failover").await;
    let log = CallLog::default();
    let h = real_time_azure()
        .start(
            controller_cloud(with(az.clone(), log.clone())),
            memory_store(),
            Arc::new(LoadModel::new()),
        )
        .await;
    h.setup(azure_group("web", 2, 4), None).await;
    let mut shop = vs("shop", "web");
    shop.min_ses = 2;
    h.ctl.apply_virtual_service(shop).await.unwrap();
    h.wait_for("2 healthy SEs and a bound VIP", 30 * SEC, || async {
        h.healthy("web") == 2
            && h.status()
                .vs("shop")
                .is_some_and(|v| v.bound_to.is_some() && v.placement.len() == 2)
    })
    .await;
    let before = h.status().vs("shop").unwrap().clone();
    let addr = before.address.unwrap();
    let dead = before.bound_to.clone().unwrap();
    assert_vip_on(&*az, "shop", addr, &dead).await;

    // The primary's agent stops reporting: the VIP moves (two NIC updates), then the SE is
    // replaced.
    log.on.store(true, std::sync::atomic::Ordering::Relaxed);
    h.fleet.kill(&dead);
    h.wait_for(
        "a replacement healthy and the dead SE gone",
        30 * SEC,
        || async {
            let names: Vec<String> = vms(&*az, "web").await.into_iter().map(|v| v.name).collect();
            h.healthy("web") == 2 && names.len() == 2 && !names.contains(&dead)
        },
    )
    .await;
    log.on.store(false, std::sync::atomic::Ordering::Relaxed);
    let calls = log.calls();
    let moved = calls
        .iter()
        .position(|c| *c == (strato_core::Operation::MoveVip, true))
        .unwrap_or_else(|| panic!("the VIP was never moved: {calls:?}"));
    let deleted = calls
        .iter()
        .position(|c| c.0 == strato_core::Operation::DeleteVm)
        .unwrap_or_else(|| panic!("the dead SE was never deleted: {calls:?}"));
    assert!(
        moved < deleted,
        "an SE was deleted before the VIP moved: {calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.0 == strato_core::Operation::AllocateVip),
        "the VIP was allocated again instead of moved: {calls:?}"
    );
    let after = h.status().vs("shop").unwrap().clone();
    let new_primary = after.bound_to.clone().unwrap();
    assert_ne!(new_primary, dead);
    assert_eq!(after.address, Some(addr), "the VIP keeps its address");
    assert_vip_on(&*az, "shop", addr, &new_primary).await;
    h.wait_for("the dead SE's VM, NIC and disk gone", 10 * SEC, || async {
        fake.vms().len() == 2 && fake.nics().len() == 2 && fake.disks().len() == 2
    })
    .await;
}
