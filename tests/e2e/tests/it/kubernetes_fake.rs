//! End-to-end: "one SE per node" on Kubernetes. The real controller runs an SE group with
//! `placement.se_per_host` through the real Kubernetes connector (a `kube::Client` over HTTP)
//! against the in-process stateful API fake (`strato-kube-fake`), with simulated agents, in real
//! time. The memory-cloud version is `controller/tests/e2e.rs`
//! `one_se_per_host_follows_the_hosts_and_rolls_host_by_host`.
//!
//! Every assertion about what runs where reads the fake's own objects (pods' `spec.nodeName`,
//! images and readiness, the VIP Service's selector and ingress), never only the controller's
//! status. Each test starts its own fake and works in a namespace of its own, with its own owner.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_controller::controller::SePhase;
use strato_controller::model::*;
use strato_core::{CloudConnector, OWNER_TAG, OwnerId, Size};
use strato_kube_fake::FakeKube;
use strato_kubernetes::{HOST_ANNOTATION, KubernetesConfig, KubernetesConnector, POD_LABEL};

const SEC: Duration = Duration::from_secs(1);
/// The profile name the SE groups use.
const PROFILE: &str = "k8s";
const IMAGE_1: &str = "registry.example/strato/service-engine:1.0";
const IMAGE_2: &str = "registry.example/strato/service-engine:2.0";
/// VIPs come from this pool (the fake's load-balancer controller grants the requested IP).
const POOL_CIDR: &str = "203.0.113.0/28";

/// One live (not terminating) pod of the test's owner, as the fake holds it.
#[derive(Clone, Debug, PartialEq)]
struct Pod {
    name: String,
    uid: String,
    node: String,
    image: String,
    ready: bool,
    host_annotation: Option<String>,
}

/// A fake cluster with a namespace for one test.
struct Cluster {
    url: String,
    fake: FakeKube,
    ns: String,
}

impl Cluster {
    /// A fake with `nodes` Ready nodes (`node-1`...) and a fresh namespace `e2e-<tag>`.
    async fn start(tag: &str, nodes: usize) -> Self {
        let (url, fake) = strato_kube_fake::start_with(strato_kube_fake::Options {
            nodes: (1..=nodes).map(|i| format!("node-{i}")).collect(),
            ..Default::default()
        })
        .await;
        let ns = format!("e2e-{tag}");
        fake.insert(
            "namespaces",
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .expect("create the namespace");
        Self { url, fake, ns }
    }

    /// The bare connector of `owner` in the test's namespace.
    async fn connector(&self, owner: &OwnerId) -> Arc<KubernetesConnector> {
        let cfg = KubernetesConfig {
            cluster_url: Some(self.url.clone()),
            namespace: self.ns.clone(),
            ..Default::default()
        };
        Arc::new(
            KubernetesConnector::connect(cfg, owner.clone())
                .await
                .expect("connect to the fake"),
        )
    }

    /// The owner's objects of a resource in the namespace, terminating ones left out.
    fn owned(&self, plural: &str, owner: &OwnerId) -> Vec<Value> {
        self.fake
            .objects(plural)
            .into_iter()
            .filter(|o| o["metadata"]["namespace"] == self.ns.as_str())
            .filter(|o| o["metadata"]["labels"][OWNER_TAG] == owner.as_str())
            .filter(|o| o["metadata"].get("deletionTimestamp").is_none())
            .collect()
    }

    /// The owner's live pods, by name.
    fn pods(&self, owner: &OwnerId) -> Vec<Pod> {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut pods: Vec<Pod> = self
            .owned("pods", owner)
            .iter()
            .map(|p| Pod {
                name: s(&p["metadata"]["name"]),
                uid: s(&p["metadata"]["uid"]),
                node: s(&p["spec"]["nodeName"]),
                image: s(&p["spec"]["containers"][0]["image"]),
                ready: p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True"),
                host_annotation: p["metadata"]["annotations"][HOST_ANNOTATION]
                    .as_str()
                    .map(str::to_owned),
            })
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        pods
    }

    /// The owner's VIP Services as (uid, selected pod, ingress IP).
    fn vip_services(&self, owner: &OwnerId) -> Vec<(String, String, Option<IpAddr>)> {
        self.owned("services", owner)
            .iter()
            .map(|s| {
                (
                    s["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
                    s["spec"]["selector"][POD_LABEL]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    s.pointer("/status/loadBalancer/ingress/0/ip")
                        .and_then(Value::as_str)
                        .and_then(|ip| ip.parse().ok()),
                )
            })
            .collect()
    }
}

/// Pods per node.
fn per_node(pods: &[Pod]) -> BTreeMap<&str, Vec<&Pod>> {
    let mut m: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for p in pods {
        m.entry(p.node.as_str()).or_default().push(p);
    }
    m
}

/// Asserts exactly one pod per named node, each Ready, pinned (annotation) to its node, with
/// `image`.
fn assert_one_ready_pod_per_node(pods: &[Pod], nodes: &[&str], image: &str) {
    let by_node = per_node(pods);
    assert_eq!(
        by_node.keys().copied().collect::<Vec<_>>(),
        nodes,
        "one pod per node: {pods:#?}"
    );
    for (node, ps) in &by_node {
        assert_eq!(ps.len(), 1, "more than one pod on {node}: {ps:#?}");
        let p = ps[0];
        assert!(p.ready, "{p:?}");
        assert_eq!(p.image, image, "{p:?}");
        assert_eq!(p.host_annotation.as_deref(), Some(*node), "pinned: {p:?}");
    }
}

/// An SE group of one SE per node on the Kubernetes profile: 1 vCPU / 512 MiB pods.
fn group(name: &str, max: u32) -> SeGroup {
    let mut g = strato_testkit::group(PROFILE, IMAGE_1, name, 1, max);
    g.template.size = Size::shape(1, 512);
    g.placement.se_per_host = true;
    g.autoscale.scale_down_window = 6 * SEC;
    g
}

fn k8s_pool() -> IpamPool {
    strato_testkit::pool(POOL_CIDR, &[])
}

fn in_pool(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.octets()[..3] == [203, 0, 113] && a.octets()[3] < 16,
        IpAddr::V6(_) => false,
    }
}

/// The controller on `c` for a new owner, with a pool, the zone, the group `edge` and the
/// service `shop` on two SEs (a primary and a secondary, so a VIP has somewhere to move).
async fn start(c: &Cluster, tag: &str, g: SeGroup) -> (OwnerId, Harness) {
    start_with_view(c, tag, g, controller_cloud).await
}

/// [`start`] with the controller seeing the cluster through `view` (of the bare connector,
/// layers included); the agents see the cluster as it is.
async fn start_with_view(
    c: &Cluster,
    tag: &str,
    g: SeGroup,
    view: impl FnOnce(Arc<dyn CloudConnector>) -> Arc<dyn CloudConnector>,
) -> (OwnerId, Harness) {
    let o = owner(tag);
    let kc: Arc<dyn CloudConnector> = c.connector(&o).await;
    let config = HarnessConfig {
        profile: PROFILE.into(),
        ..real_time()
    };
    let h = config
        .start_with_view(
            kc.clone(),
            view(kc),
            memory_store(),
            Arc::new(LoadModel::new()),
        )
        .await;
    h.setup(g, Some(k8s_pool())).await;
    let mut shop = vs("shop", "edge");
    shop.min_ses = 2;
    h.ctl.apply_virtual_service(shop).await.unwrap();
    (o, h)
}

/// The hosts of the group's active SEs, per the controller, sorted.
fn status_hosts(h: &Harness) -> Vec<String> {
    let s = h.status();
    let mut hosts: Vec<String> = s
        .group("edge")
        .map(|g| {
            g.ses
                .iter()
                .filter(|s| s.phase == SePhase::Active)
                .filter_map(|s| s.host.clone())
                .collect()
        })
        .unwrap_or_default();
    hosts.sort();
    hosts
}

/// `n` Ready pods, one on each of `n` distinct nodes, and `n` healthy SEs with the service bound.
fn settled(c: &Cluster, o: &OwnerId, h: &Harness, n: usize) -> bool {
    let pods = c.pods(o);
    let nodes: BTreeSet<&str> = pods.iter().map(|p| p.node.as_str()).collect();
    pods.len() == n
        && nodes.len() == n
        && pods.iter().all(|p| p.ready)
        && h.healthy("edge") == n
        && h.status()
            .vs("shop")
            .is_some_and(|v| v.bound_to.is_some() && v.dns.is_some())
}

/// The node the pod of SE `se` runs on.
fn node_of(c: &Cluster, o: &OwnerId, se: &str) -> String {
    c.pods(o)
        .into_iter()
        .find(|p| p.name == se)
        .unwrap_or_else(|| panic!("SE {se} has no pod"))
        .node
}

#[tokio::test]
async fn one_se_pod_per_node_with_a_vip_service_dns_and_agent_configs() {
    let c = Cluster::start("per-node-up", 3).await;
    let (o, h) = start(&c, "k8s-up", group("edge", 5)).await;
    h.wait_for("an SE on each of the 3 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;

    // The cluster runs exactly one Ready pod per node, pinned to it, from the template.
    let pods = c.pods(&o);
    assert_one_ready_pod_per_node(&pods, &["node-1", "node-2", "node-3"], IMAGE_1);
    // The controller agrees: each SE's pod is on the host its SE is pinned to.
    assert_eq!(status_hosts(&h), ["node-1", "node-2", "node-3"]);
    let s = h.status();
    for se in &s.group("edge").unwrap().ses {
        assert_eq!(
            Some(node_of(&c, &o, &se.name)),
            se.host,
            "SE {} runs where it is pinned",
            se.name
        );
    }
    assert_eq!(
        s.group("edge").unwrap().desired,
        Some(3),
        "the nodes set the size"
    );

    // The VIP is a LoadBalancer Service with the pool address, selecting the primary's pod.
    let v = s.vs("shop").unwrap().clone();
    let addr = v.address.expect("an address");
    assert!(in_pool(addr), "{addr} is not from {POOL_CIDR}");
    let primary = v.bound_to.clone().unwrap();
    assert_eq!(v.placement.len(), 2, "{v:?}");
    assert_eq!(v.placement[0], primary);
    let svcs = c.vip_services(&o);
    assert_eq!(svcs.len(), 1, "one VIP Service: {svcs:?}");
    assert_eq!(svcs[0].1, primary, "the Service selects the primary's pod");
    assert_eq!(svcs[0].2, Some(addr), "the LB ingress is the VIP");
    assert_eq!(v.dns, Some(addr_v4(addr)));

    // Real DNS over UDP answers the VIP.
    let dns = h.serve_dns().await;
    assert_eq!(
        dns_query_within(dns.addr, "shop.apps.example.com.", 5 * SEC).await,
        vec![addr]
    );
    dns.shutdown().await;

    // The agents of the placement received their configuration; the third SE carries nothing.
    assert_primary_and_secondary_configured(&h, &v, "edge").await;
    let third: Vec<&Pod> = pods
        .iter()
        .filter(|p| !v.placement.contains(&p.name))
        .collect();
    assert_eq!(third.len(), 1);
    assert!(
        h.fleet
            .plane(&third[0].name)
            .and_then(|p| p.config())
            .is_none_or(|c| c.virtual_services.is_empty()),
        "the unplaced SE carries no service"
    );
}

fn addr_v4(a: IpAddr) -> std::net::Ipv4Addr {
    match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => panic!("{a} is not IPv4"),
    }
}

#[tokio::test]
async fn a_not_ready_node_loses_its_se_after_the_vip_moves_and_gets_it_back() {
    let c = Cluster::start("per-node-ready", 3).await;
    let (o, h) = start(&c, "k8s-ready", group("edge", 5)).await;
    h.wait_for("an SE on each of the 3 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;
    let s = h.status();
    let v = s.vs("shop").unwrap();
    let addr = v.address.unwrap();
    let primary = v.bound_to.clone().unwrap();
    let victim = node_of(&c, &o, &primary);
    let svcs = c.vip_services(&o);
    assert_eq!(svcs.len(), 1, "{svcs:?}");
    let svc_uid = svcs[0].0.clone();

    // The primary's node goes NotReady: its pod must go, the VIP first (the Service is moved,
    // never deleted with the pod and re-created), and no pod may replace it on another node.
    c.fake.set_node_ready(&victim, false).unwrap();
    let start = tokio::time::Instant::now();
    // Samples where the VIP had left the primary while its pod still existed.
    let mut moved_while_up = 0;
    loop {
        let pods = c.pods(&o);
        for (node, ps) in per_node(&pods) {
            assert!(ps.len() <= 1, "two pods on {node}: {ps:#?}");
        }
        let svcs = c.vip_services(&o);
        assert_eq!(svcs.len(), 1, "the VIP Service stays: {svcs:?}");
        assert_eq!(
            svcs[0].0, svc_uid,
            "the VIP Service was re-created, not moved"
        );
        let selected = &svcs[0].1;
        // While the primary's pod exists the Service may select it; once it is gone the
        // Service already selects another pod.
        if !pods.iter().any(|p| p.name == primary) {
            assert_ne!(selected, &primary, "the pod went before the VIP moved");
        } else if selected != &primary {
            moved_while_up += 1;
        }
        if pods.len() == 2
            && pods.iter().all(|p| p.node != victim)
            && h.status()
                .vs("shop")
                .is_some_and(|v| v.bound_to.as_ref().is_some_and(|b| *b != primary))
        {
            break;
        }
        if start.elapsed() > 20 * SEC {
            panic!(
                "timed out waiting for the SE of {victim} to go; pods {pods:#?}; controller:{}",
                h.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the SE of {victim} went in {:?}; VIP moved off it while its pod lived in {moved_while_up} samples",
        start.elapsed()
    );
    let bound = h.status().vs("shop").unwrap().bound_to.clone().unwrap();
    let svcs = c.vip_services(&o);
    assert_eq!(
        svcs[0].1, bound,
        "the Service selects the new primary's pod"
    );
    assert_ne!(node_of(&c, &o, &bound), victim);
    assert_eq!(svcs[0].2, Some(addr), "the VIP kept its address");
    assert_eq!(h.status().vs("shop").unwrap().address, Some(addr));
    assert_eq!(
        h.ctl.dns_table().get("shop.apps.example.com").map(|_| ()),
        Some(()),
        "still served"
    );

    // A few resyncs later there is still no replacement elsewhere: the group is one per node.
    tokio::time::sleep(3 * SEC).await;
    let pods = c.pods(&o);
    assert_eq!(pods.len(), 2, "{pods:#?}");
    let mut nodes: Vec<&str> = pods.iter().map(|p| p.node.as_str()).collect();
    nodes.sort();
    let mut others: Vec<String> = ["node-1", "node-2", "node-3"]
        .iter()
        .filter(|n| **n != victim)
        .map(|n| n.to_string())
        .collect();
    others.sort();
    assert_eq!(nodes, others);
    assert_eq!(h.status().group("edge").unwrap().desired, Some(2));
    assert_eq!(status_hosts(&h), others);

    // The node comes back: an SE is created on it again.
    c.fake.set_node_ready(&victim, true).unwrap();
    h.wait_for("an SE on the node again", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;
    assert_one_ready_pod_per_node(&c.pods(&o), &["node-1", "node-2", "node-3"], IMAGE_1);
    assert_eq!(status_hosts(&h), ["node-1", "node-2", "node-3"]);
    let back = c.pods(&o).into_iter().find(|p| p.node == victim).unwrap();
    assert_ne!(back.name, primary, "a new SE, not the old pod revived");
}

#[tokio::test]
async fn a_new_node_gets_an_se_and_an_upgrade_rolls_node_by_node() {
    let c = Cluster::start("per-node-roll", 3).await;
    let mut g = group("edge", 5);
    let (o, h) = start(&c, "k8s-roll", g.clone()).await;
    h.wait_for("an SE on each of the 3 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;

    // A fourth node joins: a fourth SE lands on it.
    c.fake.add_node("node-4").unwrap();
    h.wait_for("an SE on node-4", 20 * SEC, || async {
        settled(&c, &o, &h, 4)
    })
    .await;
    let all = ["node-1", "node-2", "node-3", "node-4"];
    assert_one_ready_pod_per_node(&c.pods(&o), &all, IMAGE_1);
    assert_eq!(status_hosts(&h), all);

    // An image change rolls node by node: never two new pods on one node, at most one surge
    // pod, never fewer than 3 healthy SEs.
    g.template.image = IMAGE_2.into();
    h.ctl.apply_se_group(g).await.unwrap();
    let start = tokio::time::Instant::now();
    let mut max_pods = 0;
    let mut surged_on: BTreeSet<String> = BTreeSet::new();
    loop {
        let pods = c.pods(&o);
        let healthy = h.healthy("edge");
        max_pods = max_pods.max(pods.len());
        // One surge SE at a time: the pods of SEs the controller has not given up (not
        // draining or deleting) are at most the nodes plus one.
        let st = h.status();
        let leaving: BTreeSet<&str> = st
            .group("edge")
            .map(|g| {
                g.ses
                    .iter()
                    .filter(|s| matches!(s.phase, SePhase::Draining | SePhase::Deleting))
                    .map(|s| s.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let staying = pods
            .iter()
            .filter(|p| !leaving.contains(p.name.as_str()))
            .count();
        assert!(
            staying <= 5,
            "more than one surge SE: {pods:#?}; controller:{}",
            h.describe()
        );
        // A drained old SE still waiting for its VIP to move counts against max_ses too.
        assert!(
            pods.len() <= 5,
            "pods beyond max_ses: {pods:#?}; controller:{}",
            h.describe()
        );
        for (node, ps) in per_node(&pods) {
            let new = ps.iter().filter(|p| p.image == IMAGE_2).count();
            assert!(new <= 1, "two new-image pods on {node}: {ps:#?}");
            assert!(ps.len() <= 2, "three pods on {node}: {ps:#?}");
            if ps.len() == 2 {
                surged_on.insert(node.to_owned());
            }
        }
        assert!(
            healthy >= 3,
            "healthy SEs fell to {healthy}; pods {pods:#?}; controller:{}",
            h.describe()
        );
        if pods.len() == 4
            && pods.iter().all(|p| p.image == IMAGE_2 && p.ready)
            && per_node(&pods).len() == 4
            && healthy == 4
        {
            break;
        }
        if start.elapsed() > 40 * SEC {
            panic!(
                "the upgrade did not finish; pods {pods:#?}; controller:{}",
                h.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "upgrade of 4 nodes took {:?}; at most {max_pods} pods; surged on {surged_on:?}",
        start.elapsed()
    );
    assert!(
        max_pods >= 5,
        "the upgrade surged (a new pod beside an old one)"
    );
    assert!(
        surged_on.len() >= 2,
        "each new pod replaced the old one on its own node: surged on {surged_on:?}"
    );
    assert_one_ready_pod_per_node(&c.pods(&o), &all, IMAGE_2);
    assert_eq!(status_hosts(&h), all);
    h.wait_for("the upgrade note cleared", 10 * SEC, || async {
        h.status().group("edge").unwrap().upgrade.is_none()
    })
    .await;
    assert!(
        h.status().vs("shop").unwrap().bound_to.is_some(),
        "served throughout"
    );
}

#[tokio::test]
async fn when_no_node_is_ready_the_ses_stay_and_dns_keeps_answering() {
    let c = Cluster::start("no-node-ready", 3).await;
    let (o, h) = start(&c, "k8s-no-node", group("edge", 5)).await;
    h.wait_for("an SE on each of the 3 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;
    let dns = h.serve_dns().await;
    let base = Baseline::take(&h, "edge", Some("shop"), dns.addr, Some(5 * SEC)).await;
    let nodes = ["node-1", "node-2", "node-3"];
    for n in nodes {
        c.fake.set_node_ready(n, false).unwrap();
    }
    // One NotReady node loses its SE within seconds (the test above): hold for longer.
    hold_safe(&h, &base, 10 * SEC, "no node ready").await;
    let held = h.status().group("edge").unwrap().held.clone();
    assert!(
        held.as_deref()
            .is_some_and(|w| w.contains("none of the cloud's 3 hosts")),
        "{held:?}"
    );
    assert_eq!(c.pods(&o).len(), 3, "every pod stays");
    for n in nodes {
        c.fake.set_node_ready(n, true).unwrap();
    }
    recovered(&h, "edge", 3, 20 * SEC).await;
    let t = base
        .assert_safe(&h, "after the nodes are ready again")
        .await;
    dns.shutdown().await;
    println!(
        "{}",
        t.line("every host not ready", "kubernetes-fake", true)
    );
}

#[tokio::test]
async fn an_se_pod_missing_from_a_list_is_held_not_replaced() {
    let c = Cluster::start("missing-pod", 3).await;
    let mut hide = None;
    let (o, h) = start_with_view(&c, "k8s-missing", group("edge", 5), |kc| {
        let x = Arc::new(Hide::new(kc));
        hide = Some(x.clone());
        controller_cloud(x)
    })
    .await;
    let hide = hide.unwrap();
    h.wait_for("an SE on each of the 3 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;
    let line = vm_missing_from_a_list(&h, &hide, "edge", "shop", "kubernetes-fake", 8 * SEC).await;
    assert_eq!(c.pods(&o).len(), 3, "every pod stays");
    println!("{line}");
}

#[tokio::test]
async fn when_every_se_agent_in_the_cluster_goes_silent_nothing_is_replaced() {
    let c = Cluster::start("silent-agents", 3).await;
    let (o, h) = start(&c, "k8s-silent", group("edge", 5)).await;
    h.wait_for("an SE on each of the 3 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;
    let all: Vec<String> = h.se_names("edge").into_iter().collect();
    let line = agents_silent(
        &h,
        "edge",
        "shop",
        &all,
        "all agents silent",
        "kubernetes-fake",
        10 * SEC,
    )
    .await;
    assert_eq!(c.pods(&o).len(), 3, "every pod stays");
    println!("{line}");
}

#[tokio::test]
async fn when_half_the_se_agents_in_the_cluster_go_silent_their_vip_moves_and_nothing_is_replaced()
{
    let c = Cluster::start("half-silent", 4).await;
    let (o, h) = start(&c, "k8s-half-silent", group("edge", 5)).await;
    h.wait_for("an SE on each of the 4 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 4)
    })
    .await;
    // Three missed reports (3 s) would have replaced both; hold for three times that.
    let line = half_the_agents_silent(&h, "edge", "shop", "kubernetes-fake", 10 * SEC).await;
    assert_eq!(c.pods(&o).len(), 4, "every pod stays");
    println!("{line}");
}

#[tokio::test]
async fn a_hung_get_vm_in_the_cluster_times_out_and_neither_deletes_nor_forgets() {
    let c = Cluster::start("hang", 3).await;
    let mut switches = None;
    let (o, h) = start_with_view(&c, "k8s-hang", group("edge", 5), |kc| {
        let hide = Arc::new(Hide::new(kc));
        let (view, hang) = hanging_controller_cloud(hide.clone());
        switches = Some((hide, hang));
        view
    })
    .await;
    let (hide, hang) = switches.unwrap();
    h.wait_for("an SE on each of the 3 nodes", 20 * SEC, || async {
        settled(&c, &o, &h, 3)
    })
    .await;
    // A plain group of one pod, placed anywhere, to be deleted while get_vm hangs.
    let mut old = strato_testkit::group(PROFILE, IMAGE_1, "old", 1, 1);
    old.template.size = Size::shape(1, 512);
    // Long enough for several hung reads to time out (two attempts of HUNG_CALL_TIMEOUT each).
    let line = cloud_call_hangs(
        &h,
        &hide,
        &hang,
        "edge",
        "shop",
        old,
        "kubernetes-fake",
        12 * SEC,
    )
    .await;
    assert_eq!(
        c.pods(&o).len(),
        3,
        "the old group's pod is gone, every SE pod stays"
    );
    println!("{line}");
}
