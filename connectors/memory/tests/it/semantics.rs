//! The memory cloud's own semantics: persistence, quotas and partial scale-ups, eventual
//! consistency, boot latency, IPAM, group scale-down order, rate limits, factory.

use std::collections::BTreeSet;
use std::time::Duration;
use strato_core::config::Config;
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{
    CloudConnector, Error, ErrorKind, Group, GroupSpec, Network, NetworkId, NetworkQuery,
    NetworkSpec, NicSpec, Operation, OwnerId, Size, VipQuery, VipSpec, Vm, VmId, VmQuery, VmSpec,
    VmState, member_ordinal,
};
use strato_memory::{MemoryBackend, MemoryConfig, MemoryConnector, MemoryFactory, MemoryFeature};

fn owner(s: &str) -> OwnerId {
    OwnerId::new(s).unwrap()
}

fn spec(name: &str) -> VmSpec {
    VmSpec::new(name, Size::shape(1, 512), "img")
}

fn cloud(settings: MemoryConfig) -> MemoryConnector {
    MemoryConnector::from_settings(settings, owner("team-a")).unwrap()
}

/// Creates a network with an address range.
async fn network(c: &impl CloudConnector, name: &str, cidr: &str) -> Network {
    c.create_network(&NetworkSpec::new(name, Some(cidr.parse().unwrap())))
        .await
        .unwrap()
}

/// The owner's VMs (the first page).
async fn owned_vms(c: &impl CloudConnector) -> Vec<Vm> {
    c.list_vms(&VmQuery::default()).await.unwrap().items
}

/// The owner's networks (the first page).
async fn owned_networks(c: &impl CloudConnector) -> Vec<Network> {
    c.list_networks(&NetworkQuery::default())
        .await
        .unwrap()
        .items
}

/// A group's member names, in its order.
fn names(g: &Group) -> Vec<&str> {
    g.members.iter().map(|m| m.name.as_str()).collect()
}

/// A NIC on `network` with a fixed address.
fn nic_at(network: &NetworkId, address: std::net::IpAddr) -> NicSpec {
    NicSpec {
        network: network.clone(),
        address: Some(address),
    }
}

/// Fails unless `e` is an invalid spec naming `field`.
#[track_caller]
fn assert_invalid(e: &Error, field: &str) {
    assert_eq!(
        (e.kind(), e.field()),
        (&ErrorKind::InvalidSpec, Some(field)),
        "{e}"
    );
}

fn group(name: &str, image: &str) -> GroupSpec {
    GroupSpec {
        name: name.into(),
        size: Size::shape(1, 512),
        image: image.into(),
        network: None,
        tags: Default::default(),
    }
}

#[tokio::test(start_paused = true)]
async fn two_instances_share_one_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let settings = MemoryConfig {
        state_file: Some(dir.path().join("sub/cloud.json")),
        boot_latency: Duration::from_secs(2),
        ..Default::default()
    };
    let a = cloud(settings.clone());
    let b = cloud(settings.clone());
    let vm = a.create_vm(&spec("web")).await.unwrap();
    assert_eq!(vm.state, VmState::Pending);
    assert_eq!(b.get_vm(&vm.id).await.unwrap().state, VmState::Pending);
    // The same request through the other process finds the same VM.
    assert_eq!(b.create_vm(&spec("web")).await.unwrap().id, vm.id);

    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(b.get_vm(&vm.id).await.unwrap().state, VmState::Running);
    b.stop_vm(&vm.id).await.unwrap();
    assert_eq!(a.get_vm(&vm.id).await.unwrap().state, VmState::Stopped);

    let net = network(&b, "lab", "10.9.0.0/24").await;
    let nets = owned_networks(&a).await;
    assert_eq!(
        nets.iter().map(|n| &n.id).collect::<Vec<_>>(),
        vec![&net.id]
    );

    // A third process started later sees everything.
    let c = cloud(settings);
    let all = owned_vms(&c).await;
    assert_eq!(all.iter().map(|v| &v.id).collect::<Vec<_>>(), vec![&vm.id]);
    c.delete_vm(&vm.id).await.unwrap();
    assert!(a.get_vm(&vm.id).await.unwrap_err().is_not_found());
    assert!(dir.path().join("sub/cloud.json.lock").exists());
    let text = std::fs::read_to_string(dir.path().join("sub/cloud.json")).unwrap();
    assert!(text.contains("lab") && !text.contains("\"web\""), "{text}");
}

#[tokio::test(start_paused = true)]
async fn corrupt_state_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.json");
    std::fs::write(&path, "{ not json").unwrap();
    let settings = MemoryConfig {
        state_file: Some(path.clone()),
        ..Default::default()
    };
    let e = MemoryConnector::from_settings(settings, owner("team-a")).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Internal);
    assert!(e.to_string().contains("cloud.json"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn quota_makes_scale_up_partial_and_reports_every_member_made() {
    let c = cloud(MemoryConfig {
        quota_vms: Some(3),
        ..Default::default()
    });
    c.create_vm(&spec("solo")).await.unwrap();
    let g = group("web", "img");
    let e = c.scale_group(&g, 4).await.unwrap_err();
    let ErrorKind::Partial { succeeded, failed } = e.kind() else {
        panic!("{e}")
    };
    assert_eq!(succeeded.len(), 2, "{e}");
    assert_eq!(failed.len(), 2, "{e}");
    assert!(
        failed.iter().all(|f| f.kind() == &ErrorKind::QuotaExceeded),
        "{e}"
    );
    assert!(!e.is_retryable(), "a quota is not retried: {e}");
    let members = c.get_group("web").await.unwrap().members;
    let ids: BTreeSet<String> = members.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, succeeded.iter().cloned().collect());
    let ordinals: Vec<u32> = members
        .iter()
        .filter_map(|m| member_ordinal("web", &m.name))
        .collect();
    assert_eq!(ordinals, vec![0, 1]);

    // Nothing fits any more: a plain quota error, and a single create fails the same way.
    let e = c.scale_group(&g, 4).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::QuotaExceeded, "{e}");
    let e = c.create_vm(&spec("more")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::QuotaExceeded, "{e}");
    assert_eq!(e.vendor().unwrap().code, "Memory.QuotaExceeded");

    // Another owner's VMs count against the same account.
    let other = MemoryConnector::new(c.backend().clone(), owner("team-b"));
    assert_eq!(
        other.create_vm(&spec("x")).await.unwrap_err().kind(),
        &ErrorKind::QuotaExceeded
    );
    assert_eq!(c.scale_group(&g, 0).await.unwrap().members.len(), 0);
    other.create_vm(&spec("x")).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn new_vms_are_invisible_for_a_while() {
    let c = cloud(MemoryConfig {
        visibility_delay: Duration::from_secs(5),
        ..Default::default()
    });
    let vm = c.create_vm(&spec("late")).await.unwrap();
    let e = c.get_vm(&vm.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotYetVisible);
    assert!(e.is_retryable());
    assert!(owned_vms(&c).await.is_empty());
    // A retried create still finds it: idempotency does not depend on visibility.
    assert_eq!(c.create_vm(&spec("late")).await.unwrap().id, vm.id);
    assert!(c.capabilities().eventually_consistent);

    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(c.get_vm(&vm.id).await.unwrap().id, vm.id);
    assert_eq!(owned_vms(&c).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn boot_latency_and_stop_start() {
    let c = cloud(MemoryConfig {
        boot_latency: Duration::from_secs(30),
        ..Default::default()
    });
    let vm = c.create_vm(&spec("boot")).await.unwrap();
    assert_eq!(vm.state, VmState::Pending);
    let e = c.stop_vm(&vm.id).await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Conflict,
        "a pending VM cannot be stopped: {e}"
    );
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(c.get_vm(&vm.id).await.unwrap().state, VmState::Pending);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(c.get_vm(&vm.id).await.unwrap().state, VmState::Running);
    assert_eq!(c.stop_vm(&vm.id).await.unwrap().state, VmState::Stopped);
    assert_eq!(
        c.stop_vm(&vm.id).await.unwrap().state,
        VmState::Stopped,
        "stop is idempotent"
    );
    assert_eq!(c.start_vm(&vm.id).await.unwrap().state, VmState::Pending);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(c.get_vm(&vm.id).await.unwrap().state, VmState::Running);
}

#[tokio::test(start_paused = true)]
async fn scale_down_removes_the_older_template_first_then_the_highest_ordinals() {
    let c = cloud(MemoryConfig::default());
    let v1 = group("web", "img-1");
    let v2 = group("web", "img-2");
    c.scale_group(&v1, 3).await.unwrap();
    // Rolling upgrade: one more of the new template, then back to 3.
    let g = c.scale_group(&v2, 4).await.unwrap();
    let new = g.members.iter().find(|m| m.image == "img-2").unwrap();
    assert_eq!(new.name, "web-3");
    let g = c.scale_group(&v2, 3).await.unwrap();
    assert_eq!(names(&g), ["web-0", "web-1", "web-3"]);
    let g = c.scale_group(&v2, 1).await.unwrap();
    assert_eq!(names(&g), ["web-3"]);
    // Growing again fills the lowest free ordinals.
    let g = c.scale_group(&v2, 3).await.unwrap();
    assert_eq!(names(&g), ["web-0", "web-1", "web-3"]);
    let g = c.scale_group(&v2, 2).await.unwrap();
    assert_eq!(names(&g), ["web-0", "web-1"]);
    let listed = c
        .list_vms(&VmQuery {
            group: Some("web".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn addresses_are_never_handed_out_twice() {
    let c = cloud(MemoryConfig {
        boot_latency: Duration::ZERO,
        ..Default::default()
    });
    // A /28 has 14 host addresses; the first is the gateway: 13 for VMs, NICs and VIPs.
    let net = network(&c, "small", "192.168.5.0/28").await;
    let mut addresses = BTreeSet::new();
    let mut vms = Vec::new();
    for i in 0..6 {
        let vm = c
            .create_vm(&spec(&format!("vm-{i}")).with_network(net.id.clone()))
            .await
            .unwrap();
        assert!(addresses.insert(vm.private_ip.unwrap()));
        vms.push(vm);
    }
    for (i, vm) in vms.iter().enumerate() {
        let vip = c
            .allocate_vip(&VipSpec::new(format!("vip-{i}"), vm.id.clone()))
            .await
            .unwrap();
        assert!(
            addresses.insert(vip.address),
            "{} handed out twice",
            vip.address
        );
    }
    let fixed = "192.168.5.14".parse().unwrap();
    let nic = c
        .attach_nic(&vms[0].id, &nic_at(&net.id, fixed))
        .await
        .unwrap();
    assert_eq!(nic.address, Some(fixed));
    assert_eq!(addresses.len() + 1, 13);
    let e = c
        .create_vm(&spec("one-too-many").with_network(net.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NoCapacity, "{e}");
    // A fixed address in use or outside the network is refused, naming it.
    let e = c
        .attach_nic(&vms[1].id, &nic_at(&net.id, fixed))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    let e = c
        .attach_nic(&vms[1].id, &nic_at(&net.id, "10.1.1.1".parse().unwrap()))
        .await
        .unwrap_err();
    assert_invalid(&e, "address");
    // A network in use cannot go; once emptied it can.
    assert_eq!(
        c.delete_network(&net.id).await.unwrap_err().kind(),
        &ErrorKind::Conflict
    );
    for vm in &vms {
        c.delete_vm(&vm.id).await.unwrap();
    }
    assert!(
        c.list_vips(&VipQuery::default()).await.unwrap().is_empty(),
        "VIPs go with their VM"
    );
    c.delete_network(&net.id).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_clouds_own_resources_are_never_touched() {
    let c = cloud(MemoryConfig::default());
    assert!(owned_vms(&c).await.is_empty());
    // The backend's own VM exists (it holds an address on the default network) but is not ours.
    let e = c.delete_vm(&VmId::new("vm-00000000")).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let default = NetworkId::new(strato_memory::DEFAULT_NETWORK);
    let net = c.get_network(&default).await.unwrap();
    assert!(net.ownership.is_none());
    assert!(owned_networks(&c).await.is_empty());
    let all = c
        .list_networks(&NetworkQuery {
            include_unowned: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
    let e = c.delete_network(&default).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
    let vm = c.create_vm(&spec("web")).await.unwrap();
    assert_ne!(
        vm.private_ip,
        Some("10.0.0.2".parse().unwrap()),
        "the gateway VM holds it"
    );
}

#[tokio::test(start_paused = true)]
async fn bad_specs_name_the_field_and_value() {
    let c = cloud(MemoryConfig::default());
    let e = c
        .create_vm(&spec("web").with_network("net-nope"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.field(), e.operation()),
        (
            &ErrorKind::InvalidSpec,
            Some("network"),
            Operation::CreateVm
        )
    );
    assert!(
        e.to_string().contains("net-nope") && e.to_string().contains("memory"),
        "{e}"
    );
    let e = c.create_vm(&spec("Web")).await.unwrap_err();
    assert_invalid(&e, "name");
    let e = c
        .create_network(&NetworkSpec::new("n", Some("10.1.2.3/24".parse().unwrap())))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("cidr"), "{e}");
    let e = c
        .list_vms(&VmQuery {
            page_token: Some("x".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("page_token"), "{e}");
    // The same name under another owner is another VM.
    let other = MemoryConnector::new(c.backend().clone(), owner("team-b"));
    let a = c.create_vm(&spec("web")).await.unwrap();
    let b = other.create_vm(&spec("web")).await.unwrap();
    assert_ne!(a.id, b.id);
    let e = c
        .create_vm(&spec("web").with_tag("x", "y"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists);
    assert!(e.to_string().contains(a.id.as_str()), "{e}");
}

#[tokio::test(start_paused = true)]
async fn mutating_calls_are_rate_limited() {
    let c = cloud(MemoryConfig {
        mutating_per_sec: Some(2.0),
        mutating_burst: 2,
        ..Default::default()
    });
    c.create_vm(&spec("a")).await.unwrap();
    c.create_vm(&spec("b")).await.unwrap();
    let e = c.create_vm(&spec("c")).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Throttled { .. }), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(500)));
    // Reads are not limited.
    c.list_vms(&VmQuery::default()).await.unwrap();
    tokio::time::advance(Duration::from_millis(500)).await;
    c.create_vm(&spec("c")).await.unwrap();
    assert_eq!(c.capabilities().rate_limits.mutating_per_sec, 2.0);
}

#[tokio::test(start_paused = true)]
async fn disabled_features_are_unsupported_naming_the_operation() {
    let c = cloud(MemoryConfig {
        disable: [
            MemoryFeature::StopStart,
            MemoryFeature::Vip,
            MemoryFeature::Groups,
        ]
        .into(),
        ..Default::default()
    });
    let caps = c.capabilities();
    assert!(!caps.vm_stop_start && caps.vip == strato_core::VipSupport::None);
    let vm = c.create_vm(&spec("web")).await.unwrap();
    let e = c.stop_vm(&vm.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unsupported);
    assert!(
        e.to_string().contains("stop_vm") && e.to_string().contains("memory"),
        "{e}"
    );
    let e = c.scale_group(&group("g", "img"), 1).await.unwrap_err();
    assert!(e.to_string().contains("scale_group"), "{e}");
}

#[tokio::test]
async fn factory_builds_a_persistent_cloud_from_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        "[profiles.lab]\nkind = \"memory\"\nowner = \"team-a\"\nboot_latency = \"0s\"\naccount = \"lab\"\n",
        None,
    )
    .unwrap();
    let profile = config.profile(Some("lab")).unwrap();
    let f = MemoryFactory;
    f.validate(profile).unwrap();
    let ctx = ConnectContext {
        data_dir: dir.path().to_owned(),
    };
    let c = f.connect(profile, &ctx).await.unwrap();
    assert_eq!(
        (
            c.info().kind,
            c.info().account.as_str(),
            c.info().owner.as_str()
        ),
        ("memory", "lab", "team-a")
    );
    let vm = c.create_vm(&spec("web")).await.unwrap();
    assert_eq!(vm.state, VmState::Running);
    assert!(dir.path().join("memory-lab.json").exists());
    // The next "process" sees it.
    let again = f.connect(profile, &ctx).await.unwrap();
    assert_eq!(again.get_vm(&vm.id).await.unwrap().name, "web");

    let bad = Config::parse(
        "[profiles.x]\nkind = \"memory\"\nboot_latncy = \"1s\"\n",
        None,
    )
    .unwrap();
    let e = f.validate(bad.profile(Some("x")).unwrap()).unwrap_err();
    assert!(e.to_string().contains("boot_latncy"), "{e}");
}

#[test]
fn backend_debug_shows_settings() {
    let b = MemoryBackend::new(MemoryConfig::default()).unwrap();
    assert!(format!("{b:?}").contains("boot_latency"));
}

const CHILD_ENV: &str = "STRATO_MEMORY_TEST_CHILD_STATE";

/// Run as a child process by `processes_sharing_a_state_file_never_clobber_each_other`; a
/// no-op in a normal test run.
#[tokio::test]
async fn child_process_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let prefix = std::env::var("STRATO_MEMORY_TEST_CHILD_PREFIX").unwrap();
    let settings = MemoryConfig {
        state_file: Some(path.into()),
        ..Default::default()
    };
    let c = cloud(settings);
    for i in 0..10 {
        c.create_vm(&spec(&format!("{prefix}-{i}"))).await.unwrap();
    }
}

#[tokio::test]
async fn processes_sharing_a_state_file_never_clobber_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.json");
    let exe = std::env::current_exe().unwrap();
    // The test's full name within this crate's one test binary (module path minus the crate).
    let child = format!(
        "{}::child_process_writer",
        module_path!().split_once("::").unwrap().1
    );
    let children: Vec<_> = (0..4)
        .map(|n| {
            std::process::Command::new(&exe)
                .args([child.as_str(), "--exact", "--test-threads=1"])
                .env(CHILD_ENV, &path)
                .env("STRATO_MEMORY_TEST_CHILD_PREFIX", format!("p{n}"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let c = cloud(MemoryConfig {
        state_file: Some(path),
        ..Default::default()
    });
    let vms = c
        .list_vms(&VmQuery {
            page_size: Some(100),
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    assert_eq!(vms.len(), 40, "every create of every process is kept");
    let ids: BTreeSet<_> = vms.iter().map(|v| v.id.clone()).collect();
    let addresses: BTreeSet<_> = vms.iter().map(|v| v.private_ip.unwrap()).collect();
    assert_eq!(
        (ids.len(), addresses.len()),
        (40, 40),
        "ids and addresses are unique across processes"
    );
}
