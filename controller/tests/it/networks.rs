//! Virtual services on networks other than their SE group's template network, on the memory
//! cloud: the SEs carrying them join those networks by hot attach, by new SEs made with the
//! NICs when attach is refused or an SE is at its NIC limit, NICs no service needs are
//! detached, and a NIC attached by a controller that died before recording it is found again.

use crate::common::*;
use async_trait::async_trait;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use strato_controller::error::Result as CtlResult;
use strato_controller::model::{IpamPool, SeGroup, SeNetwork, VirtualService};
use strato_controller::store::{Precondition, StateStore, Txn, Versioned};
use strato_core::{CloudConnector, NetworkQuery, Vm};
use strato_memory::{MemoryConfig, MemoryConnector, MemoryFeature};

const MIN: Duration = Duration::from_secs(60);

fn cloud(o: &strato_core::OwnerId, tweak: impl FnOnce(&mut MemoryConfig)) -> MemoryConnector {
    let mut settings = MemoryConfig {
        boot_latency: Duration::from_secs(3),
        ..MemoryConfig::default()
    };
    tweak(&mut settings);
    MemoryConnector::from_settings(settings, o.clone()).unwrap()
}

/// `web` with the networks `data1` and `data2`, created by strato when absent.
fn net_group(min: u32, max: u32) -> SeGroup {
    SeGroup {
        networks: ["data1", "data2"]
            .iter()
            .enumerate()
            .map(|(i, n)| SeNetwork {
                network: (*n).into(),
                create: true,
                cidr: Some(format!("10.{}.0.0/16", i + 1).parse().unwrap()),
            })
            .collect(),
        ..group("web", min, max)
    }
}

fn net_pool(net: &str, cidr: &str) -> IpamPool {
    IpamPool {
        name: format!("{net}-vips"),
        network: net.into(),
        cidr: cidr.parse().unwrap(),
        reserved: vec![],
    }
}

fn on(name: &str, net: &str) -> VirtualService {
    VirtualService {
        network: Some(net.into()),
        ..vs(name, "web")
    }
}

async fn setup(h: &Harness, g: SeGroup) {
    h.setup(g, Some(pool())).await;
    h.ctl
        .apply_ipam_pool(net_pool("data1", "10.1.200.0/24"))
        .await
        .unwrap();
    h.ctl
        .apply_ipam_pool(net_pool("data2", "10.2.200.0/24"))
        .await
        .unwrap();
}

/// The id of the network named `name`.
async fn net_id(c: &dyn CloudConnector, name: &str) -> strato_core::NetworkId {
    let q = NetworkQuery {
        name: Some(name.into()),
        include_unowned: true,
        ..Default::default()
    };
    c.list_networks(&q).await.unwrap().items[0].id.clone()
}

/// The networks each VM of `web` is on (by id), by VM name.
async fn vm_nets(h: &Harness) -> Vec<(String, Vec<String>)> {
    h.vms("web")
        .await
        .into_iter()
        .map(|v: Vm| {
            (
                v.name,
                v.nics.iter().map(|n| n.network.to_string()).collect(),
            )
        })
        .collect()
}

/// The VIP of `vs` is bound, answered in DNS, and on its network's pool.
fn served_from(h: &Harness, vs: &str, prefix: &str) -> bool {
    h.status().vs(vs).is_some_and(|v| {
        v.dns.is_some() && v.address.is_some_and(|a| a.to_string().starts_with(prefix))
    })
}

#[tokio::test(start_paused = true)]
async fn a_vs_on_another_network_gets_its_ses_nic_hot_attached_and_detached_when_it_leaves() {
    let o = owner();
    let h = Harness::start(Arc::new(cloud(&o, |_| {})), memory_store()).await;
    setup(&h, net_group(1, 3)).await;
    h.ctl
        .apply_virtual_service(on("shop", "data2"))
        .await
        .unwrap();
    h.wait_for("shop served on data2", 3 * MIN, || async {
        served_from(&h, "shop", "10.2.200.")
    })
    .await;
    let data2 = net_id(&*h.cloud, "data2").await;
    let vms = vm_nets(&h).await;
    assert_eq!(vms.len(), 1, "one SE, joined rather than replaced: {vms:?}");
    assert_eq!(
        vms[0].1.len(),
        2,
        "its primary NIC and one on data2: {vms:?}"
    );
    assert_eq!(vms[0].1[1], data2.to_string());
    // The agent is told which interface carries the VIP.
    let se = &vms[0].0;
    let cfg = h.ctl.hub().current(se).expect("published");
    let vsc = cfg
        .virtual_services
        .iter()
        .find(|v| v.name == "shop")
        .unwrap();
    let iface = vsc.interface.as_ref().expect("the interface of the VIP");
    assert_eq!(iface.device_index, 1);
    assert!(iface.mac.is_some());
    // The status shows the NIC and its network by the group's name for it.
    let s = h.status();
    let st = &s.group("web").unwrap().ses[0];
    assert_eq!(st.nics.len(), 2);
    assert_eq!(st.nics[1].network.as_deref(), Some("data2"));

    // The service moves to data1: the SE joins data1, and leaves data2 once nothing needs it.
    h.ctl
        .apply_virtual_service(on("shop", "data1"))
        .await
        .unwrap();
    let data1 = net_id(&*h.cloud, "data1").await;
    h.wait_for("shop on data1, data2 detached", 3 * MIN, || async {
        let nets = vm_nets(&h).await;
        served_from(&h, "shop", "10.1.200.")
            && nets.len() == 1
            && nets[0].1 == vec![nets[0].1[0].clone(), data1.to_string()]
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_vs_naming_a_network_its_group_does_not_list_is_refused_naming_both() {
    let o = owner();
    let h = Harness::start(Arc::new(cloud(&o, |_| {})), memory_store()).await;
    setup(&h, net_group(1, 3)).await;
    let e = h
        .ctl
        .apply_virtual_service(on("shop", "data9"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("network"));
    let msg = e.to_string();
    assert!(msg.contains("data9") && msg.contains("web"), "{msg}");
}

#[tokio::test(start_paused = true)]
async fn at_the_nic_limit_a_new_se_is_made_on_the_network() {
    let o = owner();
    // Two NICs a VM: the primary and one more.
    let h = Harness::start(
        Arc::new(cloud(&o, |s| s.max_nics = Some(2))),
        memory_store(),
    )
    .await;
    setup(&h, net_group(1, 3)).await;
    h.ctl.apply_virtual_service(on("a", "data1")).await.unwrap();
    h.wait_for("a served on data1", 3 * MIN, || async {
        served_from(&h, "a", "10.1.200.")
    })
    .await;
    h.ctl.apply_virtual_service(on("b", "data2")).await.unwrap();
    h.wait_for("b served on data2 by a second SE", 3 * MIN, || async {
        served_from(&h, "b", "10.2.200.") && h.healthy("web") == 2
    })
    .await;
    let (d1, d2) = (
        net_id(&*h.cloud, "data1").await.to_string(),
        net_id(&*h.cloud, "data2").await.to_string(),
    );
    let nets = vm_nets(&h).await;
    assert_eq!(nets.len(), 2, "{nets:?}");
    assert!(nets.iter().all(|(_, n)| n.len() == 2), "{nets:?}");
    let s = h.status();
    let a = s.vs("a").unwrap().placement.clone();
    let b = s.vs("b").unwrap().placement.clone();
    assert_ne!(a, b, "each on the SE on its network");
    // Stable: the group keeps both (neither is scaled in, which would only make another).
    tokio::time::sleep(5 * MIN).await;
    let later = vm_nets(&h).await;
    assert_eq!(later, nets);
    let all: BTreeSet<String> = later.iter().flat_map(|(_, n)| n.clone()).collect();
    assert!(all.contains(&d1) && all.contains(&d2));
}

#[tokio::test(start_paused = true)]
async fn where_attach_is_refused_new_ses_are_made_with_the_nics() {
    let o = owner();
    let h = Harness::start(
        Arc::new(cloud(&o, |s| {
            s.disable.insert(MemoryFeature::NicAttach);
        })),
        memory_store(),
    )
    .await;
    setup(&h, net_group(1, 3)).await;
    h.ctl
        .apply_virtual_service(vs("plain", "web"))
        .await
        .unwrap();
    h.wait_for("plain served", 3 * MIN, || async {
        served_from(&h, "plain", "10.0.200.")
    })
    .await;
    let first: Vec<String> = vm_nets(&h).await.into_iter().map(|(n, _)| n).collect();
    h.ctl
        .apply_virtual_service(on("shop", "data2"))
        .await
        .unwrap();
    h.wait_for("shop served on data2", 3 * MIN, || async {
        served_from(&h, "shop", "10.2.200.")
    })
    .await;
    let d2 = net_id(&*h.cloud, "data2").await.to_string();
    let nets = vm_nets(&h).await;
    let shop_se = h.status().vs("shop").unwrap().placement[0].clone();
    assert!(!first.contains(&shop_se), "a new SE carries it: {nets:?}");
    let on_shop = &nets.iter().find(|(n, _)| *n == shop_se).unwrap().1;
    assert_eq!(on_shop.len(), 2, "made with its NIC on data2: {nets:?}");
    assert_eq!(on_shop[1], d2);
    // The first SE still serves and still has its one NIC: never stopped to attach.
    let old = nets.iter().find(|(n, _)| first.contains(n)).unwrap();
    assert_eq!(old.1.len(), 1);
}

/// A store that, once armed, dies (never returns) at the first write of an SE record.
#[derive(Debug)]
struct DieAtSeWrite {
    inner: Arc<dyn StateStore>,
    armed: AtomicBool,
    died: AtomicBool,
}

impl DieAtSeWrite {
    async fn write(&self, mut keys: impl Iterator<Item = String>) {
        if self.died.load(Ordering::SeqCst)
            || (self.armed.load(Ordering::SeqCst) && keys.any(|k| k.starts_with("se/")))
        {
            self.died.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait]
impl StateStore for DieAtSeWrite {
    async fn get(&self, key: &str) -> CtlResult<Option<Versioned>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> CtlResult<u64> {
        self.write(std::iter::once(key.to_owned())).await;
        self.inner.put(key, value, cond).await
    }
    async fn list(&self, prefix: &str) -> CtlResult<Vec<Versioned>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str, cond: Precondition) -> CtlResult<bool> {
        self.write(std::iter::once(key.to_owned())).await;
        self.inner.delete(key, cond).await
    }
    async fn txn(&self, txn: &Txn) -> CtlResult<u64> {
        self.write(txn.ops.iter().map(|op| op.key().to_owned()))
            .await;
        self.inner.txn(txn).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_nic_attached_before_a_crash_is_found_again_not_attached_twice_and_not_leaked() {
    let o = owner();
    let mem: Arc<dyn CloudConnector> = Arc::new(cloud(&o, |_| {}));
    let inner = memory_store();
    let store = Arc::new(DieAtSeWrite {
        inner: inner.clone(),
        armed: AtomicBool::new(false),
        died: AtomicBool::new(false),
    });
    let h = Harness::start(mem.clone(), store.clone()).await;
    setup(&h, net_group(1, 3)).await;
    h.ctl
        .apply_virtual_service(vs("plain", "web"))
        .await
        .unwrap();
    h.wait_for("plain served", 3 * MIN, || async {
        served_from(&h, "plain", "10.0.200.")
    })
    .await;
    // The next SE record written is the one after the attach: the process dies there.
    store.armed.store(true, Ordering::SeqCst);
    h.ctl
        .apply_virtual_service(on("shop", "data2"))
        .await
        .unwrap();
    h.wait_for("the attach, then the crash", 3 * MIN, || async {
        store.died.load(Ordering::SeqCst)
    })
    .await;
    let d2 = net_id(&*mem, "data2").await.to_string();
    let nets = vm_nets(&h).await;
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0].1.len(), 2, "the NIC was attached: {nets:?}");
    let rec: strato_controller::controller::SeRecord = serde_json::from_slice(
        &inner
            .get(&format!("se/web/{}", nets[0].0))
            .await
            .unwrap()
            .unwrap()
            .value,
    )
    .unwrap();
    assert!(
        !rec.nics.iter().any(|n| n.network.to_string() == d2),
        "and not recorded"
    );
    h.crash().await;

    // A new process on what the store holds, its mutating cloud calls logged.
    let log = strato_testkit::CallLog::default();
    log.on.store(true, Ordering::SeqCst);
    let h = Harness::start(
        strato_core::layers::Layered::wrap(mem.clone(), log.clone()),
        inner.clone(),
    )
    .await;
    h.wait_for(
        "shop served on data2 after the restart",
        3 * MIN,
        || async { served_from(&h, "shop", "10.2.200.") },
    )
    .await;
    let after = vm_nets(&h).await;
    assert_eq!(
        after, nets,
        "the same SE with the same two NICs: none attached twice"
    );
    let attaches: Vec<_> = log
        .calls()
        .into_iter()
        .filter(|(op, _)| *op == strato_core::Operation::AttachNic)
        .collect();
    assert!(
        attaches.is_empty(),
        "the NIC was found, not attached again: {attaches:?}"
    );
    let se = h.status().group("web").unwrap().ses[0].clone();
    assert!(
        se.nics
            .iter()
            .any(|n| n.network.as_deref() == Some("data2")),
        "found again and recorded: {se:?}"
    );

    // Deleting the group leaves no VM and so no NIC behind.
    h.ctl.delete_virtual_service("shop").await.unwrap();
    h.ctl.delete_virtual_service("plain").await.unwrap();
    h.ctl.delete_se_group("web").await.unwrap();
    h.wait_for("nothing left", 3 * MIN, || async {
        h.vms("web").await.is_empty()
    })
    .await;
}
