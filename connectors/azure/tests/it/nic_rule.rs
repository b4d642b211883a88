//! Azure adds or removes a NIC only while the VM is deallocated: attach and detach on a running
//! VM refuse with guidance and change nothing, unless the profile lets strato do the
//! deallocate / attach / start cycle.

use crate::common::{config, connector, connector_with, fake, vm_spec};
use std::time::Duration;
use strato_core::{
    CloudConnector, CloudConnectorExt, ErrorKind, NetworkId, NetworkSpec, NicSpec, VmState,
    WaitOptions,
};

fn quick() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(5),
        interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
    }
}

fn nic(net: &str) -> NicSpec {
    NicSpec {
        network: NetworkId::new(net),
        address: None,
    }
}

#[tokio::test]
async fn attach_on_a_running_vm_refuses_with_guidance_and_changes_nothing() {
    let (url, fake) = fake().await;
    let c = connector(&url).await;
    assert!(!c.capabilities().hot_nic_attach);
    c.create_network(&NetworkSpec::new(
        "rule-a",
        Some("10.91.0.0/24".parse().unwrap()),
    ))
    .await
    .unwrap();
    let vm = c
        .create_vm_and_wait(&vm_spec("rule-a"), quick())
        .await
        .unwrap();
    let nics_before = fake.nics();
    let e = c.attach_nic(&vm.id, &nic("rule-a")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains("deallocated") && e.message().contains("nic_attach_restart"),
        "{e}"
    );
    assert_eq!(fake.nics(), nics_before, "a refused attach made a NIC");
    assert!(
        !fake.requests().iter().any(|r| r.starts_with("POST")),
        "a refused attach stopped the VM"
    );
    // Deallocated, the same attach works, and detach needs it deallocated too.
    c.stop_vm(&vm.id).await.unwrap();
    c.wait_vm(&vm.id, quick(), &|v| v.state == VmState::Stopped)
        .await
        .unwrap();
    let n = c.attach_nic(&vm.id, &nic("rule-a")).await.unwrap();
    assert_eq!(n.device_index, 1);
    let again = c.attach_nic(&vm.id, &nic("rule-a")).await.unwrap();
    assert_eq!(again.id, n.id, "the same attach twice made two NICs");
    c.start_vm(&vm.id).await.unwrap();
    c.wait_running(&vm.id, quick()).await.unwrap();
    let e = c.detach_nic(&vm.id, &n.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert_eq!(c.get_vm(&vm.id).await.unwrap().nics.len(), 2);
    c.delete_vm(&vm.id).await.unwrap();
}

#[tokio::test]
async fn with_nic_attach_restart_strato_deallocates_attaches_and_starts() {
    let (url, fake) = fake().await;
    let mut cfg = config(&url);
    cfg.nic_attach_restart = true;
    let c = connector_with(cfg).await;
    c.create_network(&NetworkSpec::new(
        "rule-b",
        Some("10.92.0.0/24".parse().unwrap()),
    ))
    .await
    .unwrap();
    let vm = c
        .create_vm_and_wait(&vm_spec("rule-b"), quick())
        .await
        .unwrap();
    fake.clear_requests();
    let n = c.attach_nic(&vm.id, &nic("rule-b")).await.unwrap();
    let log = fake.requests();
    let at = |needle: &str| {
        log.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in {log:?}"))
    };
    assert!(at("/deallocate") < at("PUT /subscriptions"), "{log:?}");
    assert!(at("PUT /subscriptions") < at("/start"), "{log:?}");
    let vm = c.wait_running(&vm.id, quick()).await.unwrap();
    assert!(
        vm.nics
            .iter()
            .any(|x| x.id == n.id && x.network.as_str() == "rule-b"),
        "{:?}",
        vm.nics
    );
    c.detach_nic(&vm.id, &n.id).await.unwrap();
    let vm = c.wait_running(&vm.id, quick()).await.unwrap();
    assert_eq!(vm.nics.len(), 1);
    assert_eq!(
        fake.nics().len(),
        1,
        "the detached NIC was not deleted: {:?}",
        fake.nics()
    );
    c.delete_vm(&vm.id).await.unwrap();
}
