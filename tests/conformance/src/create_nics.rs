//! NICs made with the VM (`VmSpec::extra_networks`), for clouds whose NICs are fixed at creation
//! or cannot be hot-attached.

use crate::Target;
use crate::support::*;
use strato_core::{CloudConnectorExt, ErrorKind, Operation};

/// With `nics_at_create`: a VM made with one extra network has two NICs, the primary on its
/// network and the second on the extra one, in that order; its delete leaves nothing (the extra
/// network, when the check made it, can be deleted after it, which a leaked NIC would block);
/// more NICs than `max_nics_per_vm` is `InvalidSpec` naming `extra_networks` and makes nothing.
/// Without: a create with extra networks is `Unsupported`.
pub async fn nics_at_create(t: &Target) {
    let c = &t.connector;
    let caps = c.capabilities();
    let name = unique("cf-nics");
    let Some((net, created)) = t.second_network(&name, 6).await else {
        eprintln!("conformance:   skipped: no second network (set network_spec or extra_network)");
        return;
    };
    if !caps.nics_at_create {
        let e = expect_kind(
            "create a vm with an extra network on a cloud that makes one NIC",
            c.create_vm(&t.vm_spec(&name).with_extra_network(net.clone()))
                .await,
            &ErrorKind::Unsupported,
        );
        assert_eq!(e.operation(), Operation::CreateVm, "conformance: {e}");
        assert!(t.vms_named(&name).await.must("list vms").is_empty());
        if created {
            t.delete_network(&net).await;
        }
        return;
    }

    let mut too_many = t.vm_spec(&name);
    for _ in 0..caps.max_nics_per_vm {
        too_many = too_many.with_extra_network(net.clone());
    }
    let e = expect_kind(
        "create a vm with more NICs than max_nics_per_vm",
        c.create_vm(&too_many).await,
        &ErrorKind::InvalidSpec,
    );
    assert!(
        e.field() == Some("extra_networks") || e.to_string().contains("extra_networks"),
        "conformance: the refusal does not name extra_networks: {e}"
    );
    assert!(
        t.vms_named(&name).await.must("list vms").is_empty(),
        "conformance: a refused create made a vm"
    );

    let spec = t.vm_spec(&name).with_extra_network(net.clone());
    let vm = c.create_vm(&spec).await.must("create a vm with two NICs");
    let vm = c
        .wait_running(&vm.id, wait_opts())
        .await
        .must("wait for the two-NIC vm to run");
    let vm = eventually!("the vm shows both NICs", {
        let v = c.get_vm(&vm.id).await?;
        Ok((v.nics.len() >= 2).then_some(v))
    });
    assert_eq!(
        vm.nics.len(),
        2,
        "conformance: a vm made with one extra network has NICs {:?}",
        vm.nics
    );
    let (primary, extra) = (&vm.nics[0], &vm.nics[1]);
    if let Some(want) = &t.network {
        assert_eq!(
            &primary.network, want,
            "conformance: the primary NIC is on another network: {:?}",
            vm.nics
        );
    }
    assert_ne!(
        primary.network, net,
        "conformance: the primary NIC is on the extra network: {:?}",
        vm.nics
    );
    assert_eq!(
        extra.network, net,
        "conformance: the second NIC is not on the extra network: {:?}",
        vm.nics
    );
    assert_eq!(
        (primary.device_index, extra.device_index),
        (0, 1),
        "conformance: NICs out of order: {:?}",
        vm.nics
    );
    t.delete_vms(std::slice::from_ref(&vm.id)).await;
    if created {
        t.delete_network(&net).await;
    }
}
