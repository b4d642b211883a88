//! End-to-end on AWS (moto): a virtual service on a second subnet, which strato creates for
//! the SE group. The SE carrying it gets an ENI there hot-attached (tagged with the owner), the
//! VIP is a secondary address of that ENI, and deleting the group leaves no ENI behind.
//! Needs `STRATO_TEST_MOTO_URL` (`./scripts/test` starts moto).

use crate::common::*;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_controller::model::{IpamPool, SeNetwork, VirtualService};

const SEC: Duration = Duration::from_secs(1);
const DATA_CIDR: &str = "10.0.1.0/24";

/// An ENI read raw: id, subnet, device index when attached, private addresses.
type Eni = (String, String, Option<i32>, Vec<String>);

/// The ENIs tagged with `owner` in the region, attached or not.
async fn enis(m: &Moto, owner: &strato_core::OwnerId) -> Vec<Eni> {
    let out = m
        .ec2()
        .describe_network_interfaces()
        .filters(strato_testkit::moto::owner_filter(owner))
        .send()
        .await
        .expect("describe network interfaces");
    out.network_interfaces()
        .iter()
        .map(|n| {
            (
                n.network_interface_id().unwrap_or_default().to_owned(),
                n.subnet_id().unwrap_or_default().to_owned(),
                n.attachment().and_then(|a| a.device_index()),
                n.private_ip_addresses()
                    .iter()
                    .filter_map(|a| a.private_ip_address().map(str::to_owned))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_vs_on_a_second_subnet_gets_its_se_an_eni_there_and_nothing_leaks() {
    let m = Moto::new(region::NETWORKS).await;
    let o = owner("enis");
    let aws = m.connector(&o);
    let h = real_time()
        .start(
            controller_cloud(aws.clone()),
            memory_store(),
            Arc::new(LoadModel::new()),
        )
        .await;
    let mut g = group("web", 1, 2);
    g.networks = vec![SeNetwork {
        network: "data".into(),
        create: true,
        cidr: Some(DATA_CIDR.parse().unwrap()),
    }];
    h.setup(g, None).await;
    // Pool addresses at the top of the subnet: moto hands out ENI addresses from the bottom.
    let pool = IpamPool {
        name: "data".into(),
        network: "data".into(),
        cidr: DATA_CIDR.parse().unwrap(),
        reserved: vec![strato_controller::model::IpRange {
            start: "10.0.1.0".parse().unwrap(),
            end: "10.0.1.199".parse().unwrap(),
        }],
    };
    h.ctl.apply_ipam_pool(pool.clone()).await.unwrap();
    let shop = VirtualService {
        network: Some("data".into()),
        ..vs("shop", "web")
    };
    h.ctl.apply_virtual_service(shop).await.unwrap();
    h.wait_for("shop bound on the data subnet", 30 * SEC, || async {
        h.status()
            .vs("shop")
            .is_some_and(|v| v.bound_to.is_some() && v.dns.is_some())
    })
    .await;
    let v = h.status().vs("shop").unwrap().clone();
    let addr = v.address.unwrap().to_string();
    assert!(pool.usable(v.address.unwrap()), "{addr} from the data pool");
    // strato made the subnet, and the SE's second ENI is in it, carrying the VIP.
    let data = h.status().group("web").unwrap().ses[0]
        .nics
        .iter()
        .find(|n| n.network.as_deref() == Some("data"))
        .cloned()
        .expect("the SE's NIC on data, in the status");
    let enis_now = enis(&m, &o).await;
    let eni = enis_now
        .iter()
        .find(|e| e.0 == data.id)
        .unwrap_or_else(|| panic!("ENI {} tagged with the owner: {enis_now:?}", data.id));
    assert_eq!(eni.1, data.network_id, "in the data subnet");
    assert_eq!(eni.2, Some(1), "attached as the second NIC");
    assert!(eni.3.contains(&addr), "the VIP {addr} is on it: {eni:?}");

    // Deleting everything leaves no ENI of the owner behind.
    h.ctl.delete_virtual_service("shop").await.unwrap();
    h.ctl.delete_se_group("web").await.unwrap();
    h.wait_for("no instance left", 30 * SEC, || async {
        m.raw_live_instances(&o).await.is_empty()
    })
    .await;
    let left = enis(&m, &o).await;
    assert!(left.is_empty(), "ENIs left behind: {left:?}");
}
