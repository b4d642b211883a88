//! Checks on hosts and pinning VMs to them.

use crate::Target;
use crate::support::*;
use strato_core::{CloudConnectorExt, ErrorKind, HostId, Operation};

/// Hosts: clouds that show them list them and pin a VM to the one asked for (idempotently, and
/// an unknown host is a spec error naming `host`); the others refuse both as unsupported.
pub async fn hosts(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-host");
    let mut spec = t.vm_spec(&name);
    if !c.capabilities().host_pinning {
        expect_unsupported(c.list_hosts().await, Operation::ListHosts);
        spec.host = Some(HostId::new("no-such-host"));
        let e = expect_kind(
            "create a vm pinned to a host on a cloud without hosts",
            c.create_vm(&spec).await,
            &ErrorKind::Unsupported,
        );
        assert_eq!(e.field(), Some("host"), "conformance: {e}");
        return;
    }
    let hosts = c.list_hosts().await.must("list hosts");
    let ready: Vec<_> = hosts.iter().filter(|h| h.ready).collect();
    assert!(
        !ready.is_empty(),
        "conformance: a cloud with host pinning lists no ready host: {hosts:?}"
    );
    // A host other than the one the cloud picks by itself, so that a connector ignoring the
    // pin cannot pass by accident.
    let probe = c
        .create_vm(&t.vm_spec(&unique("cf-host")))
        .await
        .must("create an unpinned vm");
    let probe = c
        .wait_running(&probe.id, wait_opts())
        .await
        .must("wait for the unpinned vm to run");
    let host = ready
        .iter()
        .find(|h| Some(&h.id) != probe.host.as_ref())
        .unwrap_or(&ready[0])
        .id
        .clone();
    c.delete_vm(&probe.id).await.must("delete the unpinned vm");
    spec.host = Some(host.clone());
    let vm = c
        .create_vm(&spec)
        .await
        .must("create a vm pinned to a host");
    let again = c.create_vm(&spec).await.must("create the pinned vm again");
    assert_eq!(
        again.id, vm.id,
        "conformance: a pinned create is not idempotent"
    );
    let vm = c
        .wait_running(&vm.id, wait_opts())
        .await
        .must("wait for the pinned vm to run");
    assert_eq!(
        vm.host.as_ref(),
        Some(&host),
        "conformance: the vm pinned to {host} runs on {:?}",
        vm.host
    );

    let mut bad = t.vm_spec(&unique("cf-host"));
    bad.host = Some(HostId::new("strato-no-such-host"));
    let e = expect_kind(
        "create a vm pinned to a host that does not exist",
        c.create_vm(&bad).await,
        &ErrorKind::InvalidSpec,
    );
    assert_eq!(e.field(), Some("host"), "conformance: {e}");

    c.delete_vm(&vm.id).await.must("delete the pinned vm");
    eventually!("the host check's vms are gone", {
        Ok(t.vms_named("cf-host").await?.is_empty().then_some(()))
    });
}
