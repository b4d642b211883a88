//! The conformance suite against the in-process fake API server, through a real `kube::Client`
//! over HTTP: once with Multus (networks and NICs) and once without (networks unsupported).

use crate::common::{connector, owner};
use std::sync::Arc;
use strato_conformance::{Target, run_all};
use strato_core::{CloudConnector, NetworkSpec, OwnerId, Size, VmSpec};

/// The namespace the test connectors use (the profile default).
const NAMESPACE: &str = "default";

async fn target(url: &str, fake: &strato_kube_fake::FakeKube) -> Target {
    let objects = fake.reader();
    Target {
        connector: Arc::new(connector(url).await),
        foreign: Arc::new(connector(url).await),
        size: Size::shape(1, 512),
        image: "registry.example/strato/service-engine:1.0".into(),
        network: None,
        network_spec: Some(Arc::new(|name: &str, index: u8| {
            NetworkSpec::new(name, Some(format!("10.77.{index}.0/24").parse().unwrap()))
        })),
        extra_network: None,
        // The Secret mounted into the pod, as the container would read its file.
        bootstrap_of: Some(Arc::new(move |vm| {
            use strato_kubernetes::bootstrap::{BOOTSTRAP_KEY, secret_name};
            let doc = objects
                .object("secrets", NAMESPACE, &secret_name(vm.as_str()))
                .and_then(|s| s["data"][BOOTSTRAP_KEY].as_str().map(str::to_owned))
                .map(|b64| {
                    use base64::Engine;
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .expect("Secret data is base64");
                    String::from_utf8(raw).expect("UTF-8")
                });
            Box::pin(async move { doc })
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_with_multus() {
    let (url, fake) = strato_kube_fake::start().await;
    let t = target(&url, &fake).await;
    assert!(
        t.connector.capabilities().network_create,
        "the fake serves the Multus CRD"
    );
    run_all(&t).await;
    // The bootstrap Secrets went with their pods (ownerReference, garbage collector).
    for _ in 0..100 {
        if fake.objects("secrets").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(fake.objects("secrets"), Vec::<serde_json::Value>::new());
}

/// A pod made with bootstrap data mounts its Secret read-only at /etc/strato, and the Secret
/// carries the ownership labels and names the pod as its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_is_a_secret_owned_by_the_pod_and_mounted_into_it() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let spec = VmSpec::new("boot-se", Size::shape(1, 512), "registry.example/se:1")
        .with_bootstrap(strato_core::Bootstrap::new("#cloud-config\n"));
    let vm = c.create_vm(&spec).await.unwrap();
    let pod = fake.object("pods", NAMESPACE, vm.id.as_str()).unwrap();
    let secret = fake
        .object("secrets", NAMESPACE, "boot-se-bootstrap")
        .unwrap();
    assert_eq!(
        pod["spec"]["volumes"][0]["secret"]["secretName"],
        "boot-se-bootstrap"
    );
    let mount = &pod["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(
        (mount["mountPath"].as_str(), mount["readOnly"].as_bool()),
        (Some("/etc/strato"), Some(true))
    );
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["uid"],
        pod["metadata"]["uid"]
    );
    assert_eq!(
        secret["metadata"]["labels"][strato_core::OWNER_TAG].as_str(),
        Some(c.info().owner.as_str())
    );
    c.delete_vm(&vm.id).await.unwrap();
    for _ in 0..100 {
        if fake
            .object("secrets", NAMESPACE, "boot-se-bootstrap")
            .is_none()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the bootstrap Secret outlived its pod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_without_multus() {
    let (url, fake) = strato_kube_fake::start_with(strato_kube_fake::Options {
        multus: false,
        ..Default::default()
    })
    .await;
    let t = target(&url, &fake).await;
    let caps = t.connector.capabilities();
    assert!(
        !caps.network_create && !caps.nic_attach,
        "no Multus CRD, no networks: {caps:?}"
    );
    run_all(&t).await;
}

/// The whole stack a profile gets (factory, registry, retry/rate-limit/timeout layers) passes too,
/// and every request the suite made is one `rbac.yaml` allows (its Role in the namespace, its
/// ClusterRole for nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_the_registry_within_rbac() {
    use strato_core::config::Config;
    use strato_core::registry::{ConnectContext, Registry};
    let (url, fake) = strato_kube_fake::start().await;
    let mut reg = Registry::new();
    reg.register(Arc::new(strato_kubernetes::KubernetesFactory));
    let profile = |o: &OwnerId| {
        let toml = format!(
            "[profiles.p]\nkind = \"kubernetes\"\nowner = \"{o}\"\ncluster_url = \"{url}\"\n"
        );
        Config::parse(&toml, None)
            .unwrap()
            .profiles
            .remove("p")
            .unwrap()
    };
    let ctx = ConnectContext::default();
    let mut t = target(&url, &fake).await;
    t.connector = reg.connect(&profile(&owner()), &ctx).await.unwrap();
    t.foreign = reg.connect(&profile(&owner()), &ctx).await.unwrap();
    run_all(&t).await;
    // Hosts through the same stack, whether or not the suite's host check ran: the nodes rules
    // of the ClusterRole must be used too.
    let hosts = t.connector.list_hosts().await.unwrap();
    assert!(hosts.iter().any(|h| h.ready), "the fake's nodes: {hosts:?}");
    let mut spec = VmSpec::new("rbac-pinned", t.size.clone(), t.image.clone());
    spec.host = Some(hosts[0].id.clone());
    let vm = t.connector.create_vm(&spec).await.unwrap();
    assert_eq!(vm.host.as_ref(), Some(&hosts[0].id));
    t.connector.delete_vm(&vm.id).await.unwrap();

    let allowed = rbac_rules(include_str!("../../rbac.yaml"));
    let mut used = std::collections::BTreeSet::new();
    for line in fake.requests() {
        let (method, path) = line.split_once(' ').unwrap();
        let path = path.split('?').next().unwrap();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _v, rest @ ..] => ("", rest),
            ["apis", g, _v, rest @ ..] => (*g, rest),
            _ => panic!("unexpected request {line}"),
        };
        let (scope, resource, named) = match rest {
            [] => continue, // discovery, allowed to every authenticated user
            ["namespaces", _ns, res] => ("Role", *res, false),
            ["namespaces", _ns, res, _name] => ("Role", *res, true),
            [res] => ("ClusterRole", *res, false),
            [res, _name] => ("ClusterRole", *res, true),
            other => panic!("unexpected path {other:?} in {line}"),
        };
        let verb = match (method, named) {
            ("GET", true) => "get",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", _) => "delete",
            _ => panic!("unexpected method in {line}"),
        };
        used.insert((
            scope.to_owned(),
            group.to_owned(),
            resource.to_owned(),
            verb.to_owned(),
        ));
    }
    eprintln!(
        "conformance through the registry: {} API requests, {} (scope, group, resource, verb) rules",
        fake.requests().len(),
        used.len()
    );
    for u in &used {
        assert!(
            allowed.contains(u),
            "rbac.yaml does not allow {u:?}, which the connector used"
        );
    }
    for a in &allowed {
        assert!(
            used.contains(a),
            "rbac.yaml allows {a:?}, which the connector never used"
        );
    }
}

/// (Role or ClusterRole, apiGroup, resource, verb) of the flow-style rules in rbac.yaml.
fn rbac_rules(yaml: &str) -> std::collections::BTreeSet<(String, String, String, String)> {
    let list = |l: &str| -> Vec<String> {
        let inner = l.split_once('[').unwrap().1.rsplit_once(']').unwrap().0;
        inner
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_owned())
            .collect()
    };
    let mut out = std::collections::BTreeSet::new();
    let (mut kind, mut groups, mut resources) = (String::new(), Vec::new(), Vec::new());
    for line in yaml.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some(k) = line.strip_prefix("kind:") {
            kind = k.trim().to_owned();
        } else if let Some(l) = line.strip_prefix("- apiGroups:") {
            groups = list(l);
        } else if let Some(l) = line.strip_prefix("resources:") {
            resources = list(l);
        } else if let Some(l) = line.strip_prefix("verbs:") {
            for g in &groups {
                for r in &resources {
                    for v in list(l) {
                        out.insert((kind.clone(), g.clone(), r.clone(), v));
                    }
                }
            }
        }
    }
    assert!(!out.is_empty(), "no rules parsed from rbac.yaml");
    out
}
