//! The Kubernetes objects behind each strato resource, read back from the fake API server.

use crate::common::{connector, connector_with, network, owner};
use serde_json::Value;
use strato_core::config::Config;
use strato_core::registry::{ConnectContext, Registry};
use strato_core::*;
use strato_kube_fake::Options;
use strato_kubernetes::{
    KubernetesConfig, KubernetesConnector, KubernetesFactory, Multus, VipMode,
};

fn vm(name: &str) -> VmSpec {
    VmSpec::new(name, Size::shape(2, 4096), "registry.example/se:22.1").with_tag("team", "lb")
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// The uid of the pod `name` in the default namespace: a new uid is a replaced pod.
fn pod_uid(fake: &strato_kube_fake::FakeKube, name: &str) -> String {
    let pod = fake.object("pods", "default", name).expect("the pod");
    s(&pod, "/metadata/uid").to_owned()
}

async fn running(c: &KubernetesConnector, id: &VmId) -> Vm {
    c.wait_running(id, WaitOptions::default())
        .await
        .expect("pod runs")
}

#[tokio::test]
async fn a_vm_is_a_labelled_guaranteed_pod() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let spec = vm("se-1");
    let made = c.create_vm(&spec).await.unwrap();
    let pod = fake
        .object("pods", "default", "se-1")
        .expect("pod named like the vm");
    let labels = &pod["metadata"]["labels"];
    assert_eq!(s(labels, "/strato-owner"), c.info().owner.as_str());
    assert_eq!(
        s(labels, "/strato-token"),
        spec.client_token(&c.info().owner)
    );
    assert_eq!(s(labels, "/strato-pod"), "se-1");
    assert_eq!(s(labels, "/team"), "lb");
    let ctr = &pod["spec"]["containers"][0];
    assert_eq!(s(ctr, "/name"), "service-engine");
    assert_eq!(s(ctr, "/image"), "registry.example/se:22.1");
    assert_eq!(
        ctr["resources"]["requests"],
        serde_json::json!({"cpu": "2", "memory": "4096Mi"})
    );
    assert_eq!(ctr["resources"]["limits"], ctr["resources"]["requests"]);
    assert_eq!(made.size, Size::shape(2, 4096));
    let vm = running(&c, &made.id).await;
    assert_eq!(
        vm.private_ip.map(|ip| ip.to_string()).as_deref(),
        Some(s(
            &fake.object("pods", "default", "se-1").unwrap(),
            "/status/podIP"
        ))
    );

    let e = c
        .create_vm(&VmSpec::new(
            "se-2",
            Size::Native("m5.large".into()),
            "se:1",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (&ErrorKind::InvalidSpec, Some("size"))
    );
    assert!(fake.object("pods", "default", "se-2").is_none());

    for (r, op) in [
        (c.start_vm(&made.id).await, Operation::StartVm),
        (c.stop_vm(&made.id).await, Operation::StopVm),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Unsupported);
        assert!(
            e.to_string().contains(op.name()) && e.to_string().contains("kubernetes"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_foreign_pod_with_the_same_name_is_already_exists_and_never_deleted() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    fake.insert(
        "pods",
        "default",
        serde_json::json!({"metadata": {"name": "taken"}, "spec": {"containers": [{"name": "x", "image": "nginx"}]}}),
    )
    .unwrap();
    let e = c.create_vm(&vm("taken")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists, "{e}");
    assert_eq!(
        c.get_vm(&VmId::new("taken")).await.unwrap_err().kind(),
        &ErrorKind::NotFound
    );
    assert_eq!(
        c.delete_vm(&VmId::new("taken")).await.unwrap_err().kind(),
        &ErrorKind::NotFound
    );
    assert!(
        fake.object("pods", "default", "taken").is_some(),
        "an unowned pod was deleted"
    );
    c.delete_vm(&VmId::new("never-was"))
        .await
        .expect("deleting what is gone is fine");
}

#[tokio::test]
async fn attaching_a_nic_replaces_the_pod_and_the_vip_follows() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let net = network(&c, "data", "10.50.0.0/24").await;
    let nad = fake
        .object("network-attachment-definitions", "default", "data")
        .unwrap();
    let cfg: Value = serde_json::from_str(s(&nad, "/spec/config")).unwrap();
    assert_eq!(
        (s(&cfg, "/type"), s(&cfg, "/ipam/range")),
        ("macvlan", "10.50.0.0/24")
    );
    assert_eq!(net.cidr.unwrap().to_string(), "10.50.0.0/24");

    let made = c.create_vm(&vm("se-n")).await.unwrap();
    running(&c, &made.id).await;
    let vip = c
        .allocate_vip(&VipSpec::new("web", made.id.clone()))
        .await
        .unwrap();
    let uid_before = pod_uid(&fake, "se-n");

    let addr: std::net::IpAddr = "10.50.0.9".parse().unwrap();
    let nic = c
        .attach_nic(
            &made.id,
            &NicSpec {
                network: net.id.clone(),
                address: Some(addr),
            },
        )
        .await
        .unwrap();
    assert_eq!((nic.id.as_str(), nic.device_index), ("net1", 1));
    let pod = fake.object("pods", "default", "se-n").unwrap();
    assert_ne!(
        s(&pod, "/metadata/uid"),
        uid_before,
        "attach replaces the pod"
    );
    let sel: Value = serde_json::from_str(s(
        &pod,
        "/metadata/annotations/k8s.v1.cni.cncf.io~1networks",
    ))
    .unwrap();
    assert_eq!(
        sel,
        serde_json::json!([{"name": "data", "interface": "net1", "ips": ["10.50.0.9/24"]}])
    );
    // Same name, same labels: the VM id, its token and its VIP survive the replacement.
    let vm = running(&c, &made.id).await;
    assert_eq!(vm.ownership.token, made.ownership.token);
    let nic1 = vm
        .nics
        .iter()
        .find(|n| n.id.as_str() == "net1")
        .expect("net1 reported");
    assert_eq!((nic1.network.as_str(), nic1.address), ("data", Some(addr)));
    assert_eq!(c.get_vip(&vip.id).await.unwrap().vm, Some(made.id.clone()));
    // A retried attach is the same NIC, without another replacement.
    let uid_after = s(&pod, "/metadata/uid").to_owned();
    assert_eq!(
        c.attach_nic(
            &made.id,
            &NicSpec {
                network: net.id.clone(),
                address: Some(addr)
            }
        )
        .await
        .unwrap()
        .id,
        nic.id
    );
    assert_eq!(pod_uid(&fake, "se-n"), uid_after);

    let e = c.delete_network(&net.id).await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Conflict,
        "a network in use is not deleted: {e}"
    );
    c.detach_nic(&made.id, &nic.id).await.unwrap();
    let pod = fake.object("pods", "default", "se-n").unwrap();
    assert!(
        pod.pointer("/metadata/annotations/k8s.v1.cni.cncf.io~1networks")
            .is_none()
    );
    c.detach_nic(&made.id, &nic.id)
        .await
        .expect("detaching a detached nic is fine");
    c.delete_vm(&made.id).await.unwrap();
    assert!(
        fake.object("services", "default", "web").is_none(),
        "the vm's vip goes with it"
    );
    c.delete_network(&net.id).await.unwrap();
}

#[tokio::test]
async fn vips_are_services_selecting_one_pod() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let a = c.create_vm(&vm("va")).await.unwrap();
    let b = c.create_vm(&vm("vb")).await.unwrap();
    let mut spec = VipSpec::new("front", a.id.clone());
    spec.address = Some("192.0.2.80".parse().unwrap());
    let vip = c.allocate_vip(&spec).await.unwrap();
    let svc = fake.object("services", "default", "front").unwrap();
    assert_eq!(
        (s(&svc, "/spec/type"), s(&svc, "/spec/loadBalancerIP")),
        ("LoadBalancer", "192.0.2.80")
    );
    assert_eq!(
        svc["spec"]["selector"],
        serde_json::json!({"strato-pod": "va"})
    );
    assert_eq!(svc["spec"]["ports"].as_array().unwrap().len(), 2);
    assert_eq!(vip.address.to_string(), "192.0.2.80");
    c.move_vip(&vip.id, &b.id).await.unwrap();
    let svc = fake.object("services", "default", "front").unwrap();
    assert_eq!(
        svc["spec"]["selector"],
        serde_json::json!({"strato-pod": "vb"})
    );

    let x = connector_with(
        &url,
        KubernetesConfig {
            vip_mode: VipMode::ExternalIps,
            ..Default::default()
        },
    )
    .await;
    let xa = x.create_vm(&vm("xa")).await.unwrap();
    let e = x
        .allocate_vip(&VipSpec::new("noaddr", xa.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (&ErrorKind::InvalidSpec, Some("address"))
    );
    let mut spec = VipSpec::new("ext", xa.id.clone());
    spec.address = Some("192.0.2.81".parse().unwrap());
    let vip = x.allocate_vip(&spec).await.unwrap();
    let svc = fake.object("services", "default", "ext").unwrap();
    assert_eq!(
        (s(&svc, "/spec/type"), s(&svc, "/spec/externalIPs/0")),
        ("ClusterIP", "192.0.2.81")
    );
    assert_eq!(vip.address.to_string(), "192.0.2.81");
}

#[tokio::test]
async fn a_group_is_a_deployment_with_numbered_members() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let mut spec = GroupSpec {
        name: "pool".into(),
        size: Size::shape(1, 1024),
        image: "se:1".into(),
        network: None,
        tags: Default::default(),
    };
    let g = c
        .scale_group_and_wait(&spec, 3, WaitOptions::default())
        .await
        .unwrap();
    let dep = fake.object("deployments", "default", "pool").unwrap();
    assert_eq!(dep["spec"]["replicas"], 3);
    assert_eq!(s(&dep, "/metadata/labels/strato-group"), "pool");
    assert_eq!(dep["status"]["readyReplicas"], 3);
    let mut names: Vec<&str> = g.members.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["pool-0", "pool-1", "pool-2"]);
    assert!(
        g.members
            .iter()
            .all(|m| m.id.as_str().starts_with("pool-") && m.id.as_str() != m.name),
        "ids are pod names"
    );
    // A member cannot change its networks: its pod belongs to the Deployment.
    let e = c
        .attach_nic(
            &g.members[0].id,
            &NicSpec {
                network: NetworkId::new("x"),
                address: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unsupported, "{e}");
    // A VIP can sit on a member: the member gets its per-pod label.
    let vip = c
        .allocate_vip(&VipSpec::new("pool-vip", g.members[0].id.clone()))
        .await
        .unwrap();
    assert_eq!(vip.vm.as_ref(), Some(&g.members[0].id));
    c.release_vip(&vip.id).await.unwrap();

    let g = c.scale_group(&spec, 1).await.unwrap();
    assert_eq!(
        g.members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["pool-0"],
        "highest ordinals go first"
    );

    // A new template rolls the pods.
    spec.image = "se:2".into();
    let g = c
        .scale_group_and_wait(&spec, 1, WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(g.members[0].image, "se:2");
    // pool-1 when the new pod was numbered while the old one still held pool-0, else pool-0.
    assert!(
        ["pool-0", "pool-1"].contains(&g.members[0].name.as_str()),
        "{}",
        g.members[0].name
    );
    let g = c
        .scale_group_and_wait(&spec, 2, WaitOptions::default())
        .await
        .unwrap();
    let mut names: Vec<&str> = g.members.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["pool-0", "pool-1"],
        "a new member takes the freed ordinal"
    );

    // Another owner sees nothing and cannot take the name.
    let other = connector(&url).await;
    assert!(other.get_group("pool").await.unwrap().members.is_empty());
    assert_eq!(
        other.scale_group(&spec, 2).await.unwrap_err().kind(),
        &ErrorKind::AlreadyExists
    );

    let g = c.scale_group(&spec, 0).await.unwrap();
    assert!(g.members.is_empty(), "{:?}", g.members);
    assert!(
        fake.object("deployments", "default", "pool").is_none(),
        "an empty group leaves no Deployment"
    );
    assert!(fake.objects("pods").is_empty());
}

#[tokio::test]
async fn without_multus_networks_are_unsupported_or_refused_at_connect() {
    let (url, fake) = strato_kube_fake::start_with(Options {
        multus: false,
        ..Default::default()
    })
    .await;
    let c = connector(&url).await;
    let e = c
        .create_network(&NetworkSpec::new("n", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unsupported);
    assert!(
        e.to_string().contains("create_network") && e.to_string().contains("kubernetes"),
        "{e}"
    );
    let listed = c
        .list_networks(&NetworkQuery {
            include_unowned: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|n| n.id.as_str())
            .collect::<Vec<_>>(),
        ["pod-network"]
    );
    let e = KubernetesConnector::connect(
        KubernetesConfig {
            cluster_url: Some(url.clone()),
            multus: Multus::Required,
            ..Default::default()
        },
        owner(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.field(), Some("multus"), "{e}");
    fake.set_multus(true);
    assert!(
        connector(&url).await.capabilities().network_create,
        "discovery finds the CRD once installed"
    );
}

#[tokio::test]
async fn kubeconfig_context_and_token_are_used() {
    let (url, fake) = strato_kube_fake::start_with(Options {
        bearer_token: Some("s3cret".into()),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: wrong\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             users:\n- name: good\n  user:\n    token: s3cret\n- name: bad\n  user:\n    token: nope\n\
             contexts:\n- name: right\n  context:\n    cluster: fake\n    user: good\n- name: wrong\n  context:\n    cluster: fake\n    user: bad\n"
        ),
    )
    .unwrap();
    fake.insert(
        "namespaces",
        "",
        serde_json::json!({"metadata": {"name": "lb"}}),
    )
    .unwrap();
    let cfg = |ctx: &str| KubernetesConfig {
        kubeconfig: Some(path.clone()),
        context: Some(ctx.into()),
        namespace: "lb".into(),
        ..Default::default()
    };
    let c = KubernetesConnector::connect(cfg("right"), owner())
        .await
        .expect("the selected context's token works");
    c.create_vm(&vm("in-lb")).await.unwrap();
    assert!(
        fake.object("pods", "lb", "in-lb").is_some(),
        "the profile's namespace is used"
    );
    assert_eq!(c.info().region, "lb");
    let e = KubernetesConnector::connect(cfg("wrong"), owner())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(
        !format!("{e} {e:?} {c:?}").contains("s3cret"),
        "a credential leaked into an error or Debug"
    );
}

#[tokio::test]
async fn the_factory_builds_a_layered_connector_from_a_profile() {
    let (url, fake) = strato_kube_fake::start().await;
    let toml = format!(
        "default_profile = \"k\"\n[profiles.k]\nkind = \"kubernetes\"\nowner = \"{}\"\ncluster_url = \"{url}\"\nnamespace = \"default\"\n\
         vip_ports = [443]\n[profiles.k.retry]\nmax_attempts = 3\n",
        owner()
    );
    let config = Config::parse(&toml, None).unwrap();
    let mut reg = Registry::new();
    reg.register(std::sync::Arc::new(KubernetesFactory));
    reg.validate(&config).unwrap();
    let c = reg
        .connect(config.profile(None).unwrap(), &ConnectContext::default())
        .await
        .unwrap();
    assert_eq!(c.info().kind, "kubernetes");
    let made = c.create_vm(&vm("via-factory")).await.unwrap();
    c.allocate_vip(&VipSpec::new("one-port", made.id))
        .await
        .unwrap();
    assert_eq!(
        fake.object("services", "default", "one-port").unwrap()["spec"]["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let bad = Config::parse(&toml.replace("vip_ports", "vip_portz"), None).unwrap();
    let e = reg.validate(&bad).unwrap_err();
    assert!(e.to_string().contains("vip_portz"), "{e}");
}

/// The old pod can linger (a finalizer holds it Terminating): the replacement waits for the
/// name to free up instead of failing, and completes once the old pod is gone.
#[tokio::test(start_paused = true)]
async fn a_replacement_waits_for_the_terminating_pod() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams};
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let net = c
        .create_network(&NetworkSpec::new("hold", None))
        .await
        .unwrap();
    let made = c.create_vm(&vm("held")).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(
        kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap(),
        "default",
    );
    let hold = serde_json::json!({"metadata": {"finalizers": ["example.com/hold"]}});
    pods.patch("held", &PatchParams::default(), &Patch::Merge(&hold))
        .await
        .unwrap();
    let old_uid = pod_uid(&fake, "held");

    let c2 = c.clone();
    let id = made.id.clone();
    let spec = NicSpec {
        network: net.id.clone(),
        address: None,
    };
    let attach = tokio::spawn(async move { c2.attach_nic(&id, &spec).await });
    loop {
        let pod = fake.object("pods", "default", "held").unwrap();
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !attach.is_finished(),
        "the attach waits while the old pod terminates"
    );
    let release = serde_json::json!({"metadata": {"finalizers": null}});
    pods.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    let nic = attach
        .await
        .unwrap()
        .expect("the attach completes once the old pod is gone");
    assert_eq!(nic.id.as_str(), "net1");
    let pod = fake.object("pods", "default", "held").unwrap();
    assert_ne!(s(&pod, "/metadata/uid"), old_uid);
    assert!(s(&pod, "/metadata/annotations/k8s.v1.cni.cncf.io~1networks").contains("\"hold\""));
}
