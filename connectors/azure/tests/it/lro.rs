//! Long-running operations: creates return at once and the VM moves Creating -> Running over
//! time; the operations strato follows are polled at the interval the service asks for, end in
//! the error their ARM code maps to when they fail late, and give up at the deadline.

use crate::common::{config, connector, connector_with, fake_with, vm_spec};
use std::time::Duration;
use strato_azure_fake::{FailOn, Failure, Options};
use strato_core::{
    CloudConnector, CloudConnectorExt, ErrorKind, NetworkId, NicSpec, VipSpec, VmState, WaitOptions,
};

fn quick() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(5),
        interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
    }
}

fn polls(fake: &strato_azure_fake::FakeArm) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.contains("/operations/") || r.contains("/operationResults/"))
        .count()
}

#[tokio::test]
async fn a_create_returns_before_the_vm_is_provisioned_and_the_vm_runs_later() {
    // Long phases, so the reads in between see them even on a loaded machine.
    let (url, fake) = fake_with(Options {
        create_delay: Duration::from_millis(800),
        delete_delay: Duration::from_millis(800),
        ..Options::default()
    })
    .await;
    let c = connector(&url).await;
    let vm = c.create_vm(&vm_spec("lro-create")).await.unwrap();
    assert_eq!(vm.state, VmState::Pending, "ARM said Creating");
    assert_eq!(
        polls(&fake),
        0,
        "create_vm followed the VM's operation: {:?}",
        fake.requests()
    );
    assert_eq!(c.get_vm(&vm.id).await.unwrap().state, VmState::Pending);
    let vm = c.wait_running(&vm.id, quick()).await.unwrap();
    assert_eq!(vm.state, VmState::Running);
    // Deleting is a state of its own until the operation ends, then the VM is gone.
    c.delete_vm(&vm.id).await.unwrap();
    assert_eq!(c.get_vm(&vm.id).await.unwrap().state, VmState::Deleting);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(c.get_vm(&vm.id).await.unwrap_err().is_not_found());
    assert!(
        fake.nics().is_empty() && fake.disks().is_empty(),
        "{:?} {:?}",
        fake.nics(),
        fake.disks()
    );
}

#[tokio::test]
async fn an_allocation_failure_late_in_the_create_shows_as_a_failed_vm() {
    let (url, fake) = fake_with(Options::default()).await;
    let c = connector(&url).await;
    fake.fail_next(Failure::late(FailOn::VmPut, "AllocationFailed"));
    let vm = c.create_vm(&vm_spec("lro-late")).await.unwrap();
    assert_eq!(vm.state, VmState::Pending, "the PUT itself was accepted");
    let e = c.wait_running(&vm.id, quick()).await.unwrap_err();
    assert!(e.to_string().contains("failed"), "{e}");
    assert_eq!(c.get_vm(&vm.id).await.unwrap().state, VmState::Failed);
    c.delete_vm(&vm.id).await.unwrap();
}

#[tokio::test]
async fn a_followed_operation_that_fails_late_is_the_error_of_its_code() {
    let (url, fake) = fake_with(Options::default()).await;
    let c = connector(&url).await;
    let vm = c
        .create_vm_and_wait(&vm_spec("lro-vip"), quick())
        .await
        .unwrap();
    fake.fail_next(Failure::late(FailOn::NicPut, "AllocationFailed"));
    let e = c
        .allocate_vip(&VipSpec::new("late", vm.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NoCapacity, "{e}");
    assert_eq!(
        e.vendor().map(|v| v.code.as_str()),
        Some("AllocationFailed")
    );
    assert!(polls(&fake) >= 1, "the NIC's operation was not followed");
    fake.fail_next(Failure::late(FailOn::NicPut, "QuotaExceeded"));
    let e = c
        .allocate_vip(&VipSpec::new("late2", vm.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::QuotaExceeded, "{e}");
    c.delete_vm(&vm.id).await.unwrap();
}

#[tokio::test]
async fn operations_are_polled_at_the_interval_the_service_asks_for() {
    // Deallocate takes 600 ms and the fake asks for a poll every 150 ms: about 4 polls. The
    // profile's own poll_interval (1 s) would make it 1; hammering would make it hundreds.
    let (url, fake) = fake_with(Options {
        power_delay: Duration::from_millis(600),
        poll_after: Duration::from_millis(150),
        create_delay: Duration::from_millis(10),
        ..Options::default()
    })
    .await;
    let mut cfg = config(&url);
    cfg.poll_interval = Duration::from_secs(1);
    cfg.nic_attach_restart = true;
    let c = connector_with(cfg).await;
    let vm = c
        .create_vm_and_wait(&vm_spec("lro-poll"), quick())
        .await
        .unwrap();
    c.create_network(&strato_core::NetworkSpec::new(
        "lro-poll",
        Some("10.90.0.0/24".parse().unwrap()),
    ))
    .await
    .unwrap();
    fake.clear_requests();
    let started = std::time::Instant::now();
    c.attach_nic(
        &vm.id,
        &NicSpec {
            network: NetworkId::new("lro-poll"),
            address: None,
        },
    )
    .await
    .unwrap();
    let deallocate_polls = fake
        .requests()
        .iter()
        .take_while(|r| !r.contains("networkInterfaces"))
        .filter(|r| r.contains("/operations/"))
        .count();
    assert!(
        (3..=6).contains(&deallocate_polls),
        "{deallocate_polls} polls: {:?}",
        fake.requests()
    );
    assert!(started.elapsed() >= Duration::from_millis(600));
    c.delete_vm(&vm.id).await.unwrap();
}

#[tokio::test]
async fn an_operation_past_the_deadline_is_a_timeout() {
    let (url, _fake) = fake_with(Options {
        power_delay: Duration::from_secs(30),
        create_delay: Duration::from_millis(10),
        ..Options::default()
    })
    .await;
    let mut cfg = config(&url);
    cfg.operation_timeout = Duration::from_millis(300);
    cfg.nic_attach_restart = true;
    let c = connector_with(cfg).await;
    let vm = c
        .create_vm_and_wait(&vm_spec("lro-deadline"), quick())
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let e = c
        .attach_nic(
            &vm.id,
            &NicSpec {
                network: NetworkId::new("default"),
                address: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        t.elapsed()
    );
}
