//! The extension methods on the memory cloud.

use super::{memory, vm_spec};
use std::time::Duration;
use strato_core::layers::{FaultConfig, FaultInjector};
use strato_core::{
    CloudConnector, CloudConnectorExt, ErrorKind, GroupSpec, NetworkId, NetworkQuery, NetworkSpec,
    NicSpec, Operation, OwnerId, Size, VipSpec, VmQuery, VmState, WaitOptions,
};
use strato_memory::{DEFAULT_NETWORK, MemoryConfig, MemoryConnector, MemoryFeature};
use tokio::time::Instant;

fn opts(timeout: Duration) -> WaitOptions {
    WaitOptions {
        timeout,
        interval: Duration::from_millis(100),
        max_interval: Duration::from_secs(1),
    }
}

fn nic_on(network: &NetworkId) -> NicSpec {
    NicSpec {
        network: network.clone(),
        address: None,
    }
}

async fn backend_network(conn: &MemoryConnector) -> NetworkId {
    conn.create_network(&NetworkSpec::new(
        "backend",
        Some("10.9.0.0/24".parse().unwrap()),
    ))
    .await
    .unwrap()
    .id
}

#[tokio::test(start_paused = true)]
async fn create_and_attach_waits_for_the_vm_then_attaches() {
    let conn = memory(Duration::from_secs(2));
    let net = backend_network(&conn).await;

    let (vm, nic) = conn
        .create_and_attach(
            &vm_spec("ca-1"),
            &nic_on(&net),
            opts(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(vm.state, VmState::Running);
    assert_eq!(nic.network, net);
    // The VM as it came up: the new NIC shows on the next read.
    assert_eq!(vm.nics.len(), 1, "{vm:?}");
    let now = conn.get_vm(&vm.id).await.unwrap();
    let networks: Vec<&NetworkId> = now.nics.iter().map(|n| &n.network).collect();
    assert_eq!(
        networks,
        [&NetworkId::new(DEFAULT_NETWORK), &net],
        "{now:?}"
    );
    assert_eq!(now.nics[1].id, nic.id);

    // The same request again changes nothing.
    let (vm2, nic2) = conn
        .create_and_attach(
            &vm_spec("ca-1"),
            &nic_on(&net),
            opts(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!((vm2.id, nic2.id), (vm.id.clone(), nic.id));
    assert_eq!(conn.get_vm(&vm.id).await.unwrap().nics.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_attach_leaves_the_running_vm_and_a_second_call_finishes_the_job() {
    let conn = memory(Duration::ZERO);
    let nowhere = NetworkId::new("net-nowhere");

    let e = conn
        .create_and_attach(
            &vm_spec("ca-2"),
            &nic_on(&nowhere),
            opts(Duration::from_secs(30)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.operation(), Operation::AttachNic, "{e}");
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("net-nowhere"), "{e}");

    // Not cleaned up: the VM is there, running, with its primary NIC only.
    let vms = conn.list_all_vms(&VmQuery::default()).await.unwrap();
    assert_eq!(vms.len(), 1, "{vms:?}");
    assert_eq!(
        (vms[0].name.as_str(), vms[0].state),
        ("ca-2", VmState::Running)
    );
    assert_eq!(vms[0].nics.len(), 1);

    // The same spec with a network that exists reuses that VM.
    let net = backend_network(&conn).await;
    let (vm, nic) = conn
        .create_and_attach(
            &vm_spec("ca-2"),
            &nic_on(&net),
            opts(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(vm.id, vms[0].id);
    assert_eq!(nic.network, net);
    assert_eq!(
        conn.list_all_vms(&VmQuery::default()).await.unwrap().len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn on_a_cloud_without_nic_attach_the_vm_stays_and_the_error_is_unsupported() {
    let settings = MemoryConfig {
        boot_latency: Duration::ZERO,
        disable: [MemoryFeature::NicAttach].into(),
        ..MemoryConfig::default()
    };
    let conn = MemoryConnector::from_settings(settings, OwnerId::new("core-it").unwrap()).unwrap();
    let e = conn
        .create_and_attach(
            &vm_spec("ca-3"),
            &nic_on(&NetworkId::new(DEFAULT_NETWORK)),
            opts(Duration::from_secs(30)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::Unsupported, Operation::AttachNic),
        "{e}"
    );
    let vms = conn.list_all_vms(&VmQuery::default()).await.unwrap();
    assert_eq!(vms.len(), 1, "{vms:?}");
    assert_eq!(vms[0].state, VmState::Running);
}

#[tokio::test(start_paused = true)]
async fn a_vm_that_does_not_come_up_in_time_is_not_attached() {
    let conn = memory(Duration::from_secs(3600));
    let net = backend_network(&conn).await;
    let start = Instant::now();
    let e = conn
        .create_and_attach(
            &vm_spec("ca-4"),
            &nic_on(&net),
            opts(Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::Timeout, Operation::GetVm),
        "{e}"
    );
    assert!(
        start.elapsed() <= Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let vms = conn.list_all_vms(&VmQuery::default()).await.unwrap();
    assert_eq!(vms.len(), 1, "{vms:?}");
    assert_eq!(
        (vms[0].state, vms[0].nics.len()),
        (VmState::Pending, 1),
        "left as it was, not attached"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_create_makes_nothing() {
    let conn = memory(Duration::ZERO);
    let mut spec = vm_spec("ca-5");
    spec.image = " ".into();
    let e = conn
        .create_and_attach(
            &spec,
            &nic_on(&NetworkId::new(DEFAULT_NETWORK)),
            opts(Duration::from_secs(30)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidSpec, "{e}");
    assert_eq!(e.field(), Some("image"), "{e}");
    assert!(
        conn.list_all_vms(&VmQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn list_all_follows_every_page() {
    let conn = memory(Duration::ZERO);
    for i in 0..5 {
        conn.create_vm(&vm_spec(&format!("pg-{i}"))).await.unwrap();
    }
    let small = VmQuery {
        page_size: Some(2),
        ..VmQuery::default()
    };
    let first = conn.list_vms(&small).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(
        first.next.is_some(),
        "five VMs take more than one page of two"
    );

    let mut names: Vec<String> = conn
        .list_all_vms(&small)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    names.sort();
    assert_eq!(names, ["pg-0", "pg-1", "pg-2", "pg-3", "pg-4"]);

    conn.create_network(&NetworkSpec::new(
        "n-1",
        Some("10.8.1.0/24".parse().unwrap()),
    ))
    .await
    .unwrap();
    conn.create_network(&NetworkSpec::new(
        "n-2",
        Some("10.8.2.0/24".parse().unwrap()),
    ))
    .await
    .unwrap();
    let one_by_one = NetworkQuery {
        page_size: Some(1),
        include_unowned: true,
        ..NetworkQuery::default()
    };
    let mut nets: Vec<String> = conn
        .list_all_networks(&one_by_one)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    nets.sort();
    assert_eq!(nets, [DEFAULT_NETWORK, "n-1", "n-2"]);
}

#[tokio::test(start_paused = true)]
async fn find_vm_and_find_vip_by_name_or_not_found() {
    let conn = memory(Duration::ZERO);
    let vm = conn.create_vm(&vm_spec("fv-1")).await.unwrap();
    conn.create_vm(&vm_spec("fv-2")).await.unwrap();
    assert_eq!(conn.find_vm("fv-1").await.unwrap().id, vm.id);
    let e = conn.find_vm("fv-9").await.unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::NotFound, Operation::ListVms)
    );
    assert!(e.to_string().contains("fv-9"), "{e}");

    let vip = conn
        .allocate_vip(&VipSpec::new("vip-a", vm.id.clone()))
        .await
        .unwrap();
    assert_eq!(conn.find_vip("vip-a").await.unwrap().id, vip.id);
    let e = conn.find_vip("vip-b").await.unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::NotFound, Operation::ListVips)
    );
    assert!(e.to_string().contains("vip-b"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn find_network_prefers_the_owners_own_then_one_strato_does_not_own() {
    let a = memory(Duration::ZERO);
    let b = MemoryConnector::new(a.backend().clone(), OwnerId::new("team-b").unwrap());
    let seeded = NetworkId::new(DEFAULT_NETWORK);
    // A network strato did not create is found by anyone.
    assert_eq!(b.find_network(DEFAULT_NETWORK).await.unwrap().id, seeded);
    // Under the same name, the owner's own comes first.
    let own = a
        .create_network(&NetworkSpec::new(
            DEFAULT_NETWORK,
            Some("10.7.1.0/24".parse().unwrap()),
        ))
        .await
        .unwrap();
    assert_ne!(own.id, seeded);
    assert_eq!(a.find_network(DEFAULT_NETWORK).await.unwrap().id, own.id);
    // Another owner's network is not one to find.
    assert_eq!(b.find_network(DEFAULT_NETWORK).await.unwrap().id, seeded);
    let e = b.find_network("nowhere").await.unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::NotFound, Operation::ListNetworks)
    );
    assert!(e.to_string().contains("nowhere"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn waiting_outlasts_a_vm_not_yet_visible_and_gives_up_at_the_timeout() {
    let faults = FaultConfig {
        invisible_for: Some(Duration::from_secs(3)),
        ..FaultConfig::default()
    };
    let conn = FaultInjector::new(memory(Duration::from_secs(1)), faults);
    let vm = conn.create_vm(&vm_spec("wv-1")).await.unwrap();
    let e = conn.get_vm(&vm.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotYetVisible, "{e}");

    let start = Instant::now();
    let up = conn
        .wait_running(&vm.id, opts(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!((up.id, up.state), (vm.id, VmState::Running));
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );

    let late = conn.create_vm(&vm_spec("wv-2")).await.unwrap();
    let e = conn
        .wait_running(&late.id, opts(Duration::from_secs(2)))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::Timeout, Operation::GetVm),
        "{e}"
    );
    assert_eq!(e.resource(), Some(late.id.as_str()));
}

#[tokio::test(start_paused = true)]
async fn scale_group_and_wait_returns_once_every_member_runs() {
    let conn = memory(Duration::from_secs(2));
    let spec = GroupSpec {
        name: "sg".into(),
        size: Size::shape(1, 1024),
        image: "img-1".into(),
        network: None,
        tags: Default::default(),
    };
    let start = Instant::now();
    let g = conn
        .scale_group_and_wait(&spec, 3, opts(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let states: Vec<(&str, VmState)> = g
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.state))
        .collect();
    assert_eq!(
        states,
        [
            ("sg-0", VmState::Running),
            ("sg-1", VmState::Running),
            ("sg-2", VmState::Running)
        ]
    );
    let g = conn
        .scale_group_and_wait(&spec, 1, opts(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(g.members.len(), 1);

    let slow = memory(Duration::from_secs(3600));
    let e = slow
        .scale_group_and_wait(&spec, 2, opts(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::Timeout, Operation::ScaleGroup),
        "{e}"
    );
}
