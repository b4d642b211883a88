//! The extension methods on the memory cloud.

use super::{memory, vm_spec};
use std::time::Duration;
use strato_core::{
    CloudConnector, CloudConnectorExt, ErrorKind, NetworkId, NetworkSpec, NicSpec, Operation,
    VmQuery, VmState, WaitOptions,
};
use strato_memory::{DEFAULT_NETWORK, MemoryConfig, MemoryConnector, MemoryFeature};

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
    let conn =
        MemoryConnector::from_settings(settings, strato_core::OwnerId::new("core-it").unwrap())
            .unwrap();
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
    let start = tokio::time::Instant::now();
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
