//! End-to-end: the real controller on the real GCP connector (google-cloud-compute-v1 over
//! HTTP) against the in-process stateful Compute fake (`strato-gcp-fake`), with simulated
//! agents, in real time: an SE group, a virtual service whose VIP is an alias IP range on the
//! primary SE's NIC, scale out and in under load, and a teardown that leaves nothing.
//!
//! Every assertion about what exists reads the fake's own instances (labels, alias ranges), or
//! the cloud through a bare connector of the test's owner, never only the controller's status.

use crate::common::*;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_controller::model::SeGroup;
use strato_core::{OwnerId, Size, VmState};
use strato_gcp::{GcpConfig, GcpConnector};
use strato_gcp_fake::FakeGce;

const SEC: Duration = Duration::from_secs(1);
/// The profile name the SE groups use.
const PROFILE: &str = "gcp";
const IMAGE: &str = "projects/debian-cloud/global/images/family/debian-12";

async fn connector(fake: &FakeGce, o: &OwnerId) -> Arc<GcpConnector> {
    let (project, zone) = fake.project_zone();
    let cfg = GcpConfig {
        project: Some(project),
        zone: Some(zone),
        endpoint: Some(fake.url.clone()),
        anonymous: true,
        poll_interval: Some(Duration::from_millis(20)),
        ..Default::default()
    };
    Arc::new(
        GcpConnector::connect(o.clone(), cfg)
            .await
            .expect("connect to the fake"),
    )
}

fn gcp_group(name: &str, min: u32, max: u32) -> SeGroup {
    let mut g = strato_testkit::group(PROFILE, IMAGE, name, min, max);
    g.template.size = Size::shape(2, 4096);
    g.autoscale.scale_down_window = 6 * SEC;
    g
}

async fn start(
    fake: &FakeGce,
    tag: &str,
    load: Arc<LoadModel>,
) -> (OwnerId, Arc<GcpConnector>, Harness) {
    let o = owner(tag);
    let gcp = connector(fake, &o).await;
    let h = HarnessConfig {
        profile: PROFILE.into(),
        ..real_time()
    }
    .start(controller_cloud(gcp.clone()), memory_store(), load)
    .await;
    (o, gcp, h)
}

/// The alias addresses on the fake's instances, as (instance, address).
fn aliases(fake: &FakeGce) -> Vec<(String, IpAddr)> {
    fake.alias_addresses()
        .into_iter()
        .map(|(n, a)| (n, a.parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_vs_on_gcp_gets_ses_an_alias_ip_vip_and_dns_and_teardown_leaves_nothing() {
    let fake = strato_gcp_fake::start().await;
    let (o, gcp, h) = start(&fake, "gcp-create", Arc::new(LoadModel::new())).await;
    h.setup(gcp_group("web", 2, 4), None).await;
    let v = shop_on_two_ses(&h, "web").await;
    let addr = v.address.expect("an address");
    let primary = v.bound_to.clone().unwrap();

    // Compute holds two instances of our owner, labelled as SEs of the group.
    let ses = vms(&*gcp, "web").await;
    assert_eq!(ses.len(), 2, "{ses:?}");
    for vm in &ses {
        assert_eq!(vm.state, VmState::Running);
        assert_eq!(vm.ownership.owner, o);
        let raw = fake.instance(&vm.name).expect("in the fake");
        assert_eq!(raw["labels"]["strato-owner"], o.as_str());
        assert_eq!(raw["labels"]["strato-group"], "web");
        assert_eq!(
            raw["machineType"].as_str().unwrap().rsplit('/').next(),
            Some("e2-medium")
        );
    }
    // The VIP is an alias range Compute picked in the subnetwork, on the primary's NIC only.
    let primary_vm = ses
        .iter()
        .find(|v| v.name == primary)
        .expect("the primary is an SE");
    assert_eq!(aliases(&fake), vec![(primary_vm.name.clone(), addr)]);
    assert!(
        ses.iter().all(|s| s.private_ip != Some(addr)),
        "the VIP is no SE's own address"
    );

    let dns = h.serve_dns().await;
    assert_eq!(
        dns_query_within(dns.addr, "shop.apps.example.com.", 5 * SEC).await,
        vec![addr]
    );
    assert_primary_and_secondary_configured(&h, &v, "web").await;

    // Teardown: the VIP's alias range is removed, then every instance.
    h.ctl.delete_virtual_service("shop").await.unwrap();
    h.wait_for("the VIP released in Compute", 15 * SEC, || async {
        vips(&*gcp).await.is_empty() && aliases(&fake).is_empty()
    })
    .await;
    h.ctl.delete_se_group("web").await.unwrap();
    h.wait_for("every instance deleted", 15 * SEC, || async {
        fake.instance_names().is_empty()
    })
    .await;
    h.wait_for("the group forgotten", 10 * SEC, || async {
        h.status().group("web").is_none()
    })
    .await;
    dns.shutdown().await;
}

#[tokio::test]
async fn load_scales_out_and_in_on_gcp_and_the_vip_stays_on_a_survivor() {
    let fake = strato_gcp_fake::start().await;
    let load = Arc::new(LoadModel::new());
    let (_o, gcp, h) = start(&fake, "gcp-scale", load.clone()).await;
    h.setup(gcp_group("web", 1, 4), None).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for("one healthy SE with the VIP", 30 * SEC, || async {
        h.healthy("web") == 1 && h.vip_bound("shop")
    })
    .await;
    let addr = h.status().vs("shop").unwrap().address.unwrap();

    // 150 rps on SEs of 100 rps at a 50 % target: 3 SEs.
    load.set("shop", 150.0);
    h.wait_for("scale out to 3 healthy SEs", 30 * SEC, || async {
        h.healthy("web") == 3
    })
    .await;
    assert_eq!(fake.instance_names().len(), 3);

    load.set("shop", 10.0);
    h.wait_for("scale in to 1", 40 * SEC, || async {
        fake.instance_names().len() == 1 && h.healthy("web") == 1
    })
    .await;
    let left = vms(&*gcp, "web").await;
    assert_eq!(left.len(), 1, "{left:?}");
    h.wait_for("the VIP on the survivor", 15 * SEC, || async {
        aliases(&fake) == vec![(left[0].name.clone(), addr)]
            && h.status()
                .vs("shop")
                .is_some_and(|v| v.bound_to.as_deref() == Some(left[0].name.as_str()))
    })
    .await;

    h.ctl.delete_virtual_service("shop").await.unwrap();
    h.ctl.delete_se_group("web").await.unwrap();
    h.wait_for("nothing left", 20 * SEC, || async {
        fake.instance_names().is_empty() && aliases(&fake).is_empty()
    })
    .await;
}
