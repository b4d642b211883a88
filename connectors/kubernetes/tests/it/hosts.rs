//! Hosts are nodes: `list_hosts` and VMs pinned to a node (`VmSpec::host` -> `spec.nodeName`),
//! through a real `kube::Client` against the fake API server.

use crate::common::{connector, network};
use serde_json::Value;
use strato_core::*;
use strato_kube_fake::{FakeKube, Fault};
use strato_kubernetes::HOST_ANNOTATION;

fn vm(name: &str, host: Option<&str>) -> VmSpec {
    let mut spec = VmSpec::new(name, Size::shape(1, 1024), "registry.example/se:22.1");
    spec.host = host.map(HostId::from);
    spec
}

fn readiness(hosts: &[Host]) -> Vec<(String, bool)> {
    hosts
        .iter()
        .map(|h| {
            assert_eq!(
                h.id.as_str(),
                h.name,
                "a host's id and name are the node name"
            );
            (h.name.clone(), h.ready)
        })
        .collect()
}

fn node_of(fake: &FakeKube, pod: &str) -> String {
    let p = fake.object("pods", "default", pod).expect("pod exists");
    p.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn pods_named(fake: &FakeKube, name: &str) -> usize {
    fake.objects("pods")
        .iter()
        .filter(|p| p["metadata"]["name"] == name)
        .count()
}

#[tokio::test]
async fn hosts_are_all_the_nodes_with_their_readiness() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    assert!(c.capabilities().host_pinning);
    let hosts = c.list_hosts().await.unwrap();
    assert_eq!(
        readiness(&hosts),
        [
            ("node-1".to_owned(), true),
            ("node-2".to_owned(), true),
            ("node-3".to_owned(), true)
        ]
    );
    // Nodes belong to no owner: another owner sees the same hosts.
    let other = connector(&url).await;
    assert_eq!(other.list_hosts().await.unwrap(), hosts);

    fake.add_node("node-4").unwrap();
    fake.remove_node("node-1").unwrap();
    assert_eq!(
        readiness(&c.list_hosts().await.unwrap()),
        [
            ("node-2".to_owned(), true),
            ("node-3".to_owned(), true),
            ("node-4".to_owned(), true)
        ]
    );
}

#[tokio::test]
async fn a_not_ready_or_cordoned_node_lists_as_not_ready() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    fake.set_node_ready("node-2", false).unwrap();
    fake.set_node_unschedulable("node-3", true).unwrap();
    assert_eq!(
        readiness(&c.list_hosts().await.unwrap()),
        [
            ("node-1".to_owned(), true),
            ("node-2".to_owned(), false),
            ("node-3".to_owned(), false)
        ]
    );
    fake.set_node_ready("node-2", true).unwrap();
    fake.set_node_unschedulable("node-3", false).unwrap();
    assert!(c.list_hosts().await.unwrap().iter().all(|h| h.ready));
}

#[tokio::test]
async fn list_hosts_pages_through_a_large_cluster() {
    let (url, fake) = strato_kube_fake::start().await;
    for i in 0..520 {
        fake.add_node(&format!("pool-{i:04}")).unwrap();
    }
    let c = connector(&url).await;
    let hosts = c.list_hosts().await.unwrap();
    assert_eq!(hosts.len(), 523);
    let names: std::collections::BTreeSet<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names.len(), 523, "no node listed twice");
    let lists: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v1/nodes?"))
        .collect();
    assert_eq!(lists.len(), 2, "two pages of at most 500: {lists:?}");
    assert!(lists.iter().all(|r| r.contains("limit=500")), "{lists:?}");
    assert!(lists[1].contains("continue="), "{lists:?}");
}

#[tokio::test]
async fn a_pinned_vm_runs_on_its_node_and_creates_are_idempotent() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let spec = vm("se-pinned", Some("node-2"));
    let made = c.create_vm(&spec).await.unwrap();
    assert_eq!(made.host, Some(HostId::from("node-2")));
    assert_eq!(node_of(&fake, "se-pinned"), "node-2");
    let pod = fake.object("pods", "default", "se-pinned").unwrap();
    assert_eq!(
        pod["metadata"]["annotations"][HOST_ANNOTATION], "node-2",
        "the pin is recorded"
    );
    let uid = pod["metadata"]["uid"].clone();
    let up = c
        .wait_running(&made.id, WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(up.host, Some(HostId::from("node-2")));

    // The same request again is the same pod; the same name on another node is another request.
    let again = c.create_vm(&spec).await.unwrap();
    assert_eq!(again.id, made.id);
    assert_eq!(
        fake.object("pods", "default", "se-pinned").unwrap()["metadata"]["uid"],
        uid
    );
    assert_eq!(pods_named(&fake, "se-pinned"), 1);
    let e = c
        .create_vm(&vm("se-pinned", Some("node-3")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists, "{e}");
    let e = c.create_vm(&vm("se-pinned", None)).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists, "{e}");

    // A cordoned node still takes a pod pinned to it (the scheduler is bypassed, as for
    // DaemonSets); an unpinned VM is placed by the scheduler and reports where.
    fake.set_node_unschedulable("node-3", true).unwrap();
    let cordoned = c.create_vm(&vm("se-on-3", Some("node-3"))).await.unwrap();
    let cordoned = c
        .wait_running(&cordoned.id, WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(cordoned.host, Some(HostId::from("node-3")));
    let free = c.create_vm(&vm("se-free", None)).await.unwrap();
    let placed = free.host.expect("the scheduler placed it");
    assert_ne!(placed.as_str(), "node-3", "not on the cordoned node");
    assert!(
        fake.object("pods", "default", "se-free").unwrap()["metadata"]["annotations"]
            .get(HOST_ANNOTATION)
            .is_none()
    );
    let listed = c.list_vms(&VmQuery::default()).await.unwrap().items;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|v| v.host.is_some()));
}

#[tokio::test]
async fn an_unknown_node_is_an_invalid_spec_naming_host() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let e = c
        .create_vm(&vm("se-ghost", Some("node-9")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidSpec, "{e}");
    assert_eq!(e.field(), Some("host"));
    assert_eq!(e.operation(), Operation::CreateVm);
    assert_eq!(e.cloud(), Some("kubernetes"));
    assert!(e.message().contains("\"node-9\""), "{e}");
    assert_eq!(pods_named(&fake, "se-ghost"), 0, "no pod left Pending");

    // Not a node name at all: refused before any request.
    let e = c
        .create_vm(&vm("se-bad", Some("Node_1/x")))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (&ErrorKind::InvalidSpec, Some("host"))
    );
    assert!(e.message().contains("Node_1/x"), "{e}");
    assert!(
        !fake.requests().iter().any(|r| r.contains("Node_1")),
        "no request for an invalid node name"
    );

    // A node removed later: the pinned pod goes with it, a re-create is refused.
    let made = c.create_vm(&vm("se-gone", Some("node-1"))).await.unwrap();
    fake.remove_node("node-1").unwrap();
    let e = c.get_vm(&made.id).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = c
        .create_vm(&vm("se-gone", Some("node-1")))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("host"), "{e}");
}

#[tokio::test]
async fn a_pinned_vm_keeps_its_node_when_a_nic_replaces_its_pod() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let net = network(&c, "data", "10.60.0.0/24").await;
    let pinned = c.create_vm(&vm("se-p", Some("node-3"))).await.unwrap();
    // The unpinned VM lands on node-3 too (the only schedulable node for a moment).
    fake.set_node_unschedulable("node-1", true).unwrap();
    fake.set_node_unschedulable("node-2", true).unwrap();
    let free = c.create_vm(&vm("se-f", None)).await.unwrap();
    assert_eq!(free.host, Some(HostId::from("node-3")));
    c.wait_running(&pinned.id, WaitOptions::default())
        .await
        .unwrap();
    // From now on the scheduler places nothing on node-3: only the pin can keep a pod there.
    fake.set_node_unschedulable("node-1", false).unwrap();
    fake.set_node_unschedulable("node-2", false).unwrap();
    fake.set_node_unschedulable("node-3", true).unwrap();
    let uid = |name: &str| fake.object("pods", "default", name).unwrap()["metadata"]["uid"].clone();
    let before = uid("se-p");
    let nic = NicSpec {
        network: net.id.clone(),
        address: None,
    };
    c.attach_nic(&pinned.id, &nic).await.unwrap();
    assert_ne!(uid("se-p"), before, "the pod was replaced");
    assert_eq!(node_of(&fake, "se-p"), "node-3");
    let after = c
        .wait_running(&pinned.id, WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(after.host, Some(HostId::from("node-3")));
    assert_eq!(after.nics.len(), 2);
    c.detach_nic(&pinned.id, &NicId::new("net1")).await.unwrap();
    assert_eq!(node_of(&fake, "se-p"), "node-3", "detach keeps the pin too");

    // An unpinned pod is scheduled anew, off the cordoned node.
    c.attach_nic(&free.id, &nic).await.unwrap();
    let moved = c.get_vm(&free.id).await.unwrap();
    assert!(
        moved.host.as_ref().is_some_and(|h| h.as_str() != "node-3"),
        "{moved:?}"
    );
}

#[tokio::test]
async fn node_errors_map_once() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    fake.inject(Fault::new(403, 1).path("/api/v1/nodes"));
    let e = c.list_hosts().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.operation(), e.cloud()),
        (
            &ErrorKind::PermissionDenied,
            Operation::ListHosts,
            Some("kubernetes")
        )
    );
    assert_eq!(e.vendor().unwrap().code, "403 Forbidden");

    // A failed node check is that failure, not a missing node, and creates nothing.
    fake.inject(Fault::new(403, 1).path("/api/v1/nodes/node-1"));
    let e = c
        .create_vm(&vm("se-denied", Some("node-1")))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.operation(), e.field()),
        (&ErrorKind::PermissionDenied, Operation::CreateVm, None)
    );
    assert_eq!(pods_named(&fake, "se-denied"), 0);
}
