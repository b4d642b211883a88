//! Checks on error kinds across resources.

use crate::Target;
use crate::support::*;
use strato_core::{ErrorKind, OWNER_TAG, VipId, VipSpec, VipSupport, VmState};

/// Error kinds: `NotFound` for missing resources, `InvalidSpec` naming the field for bad specs.
pub async fn error_kinds(t: &Target) {
    let c = &t.connector;
    let caps = c.capabilities();
    let name = unique("cf-err");

    // Bad specs are refused and make nothing.
    let mut bad = t.vm_spec("Bad_Name");
    expect_invalid_naming(
        "create a vm named Bad_Name",
        c.create_vm(&bad).await,
        "name",
        "Bad_Name",
    );
    bad = t.vm_spec(&name).with_tag(OWNER_TAG, "someone-else");
    let e = expect_kind(
        "create a vm with a reserved tag",
        c.create_vm(&bad).await,
        &ErrorKind::InvalidSpec,
    );
    assert!(
        e.to_string().contains(OWNER_TAG),
        "conformance: error does not name the reserved tag: {e}"
    );
    bad = t.vm_spec(&name).with_network("no-such-network-0");
    expect_invalid_naming(
        "create a vm on a missing network",
        c.create_vm(&bad).await,
        "network",
        "no-such-network-0",
    );
    let mut made = t.vms_named(&name).await.must("list vms");
    made.extend(t.vms_named("Bad_Name").await.must("list vms"));
    assert!(
        made.is_empty(),
        "conformance: refused creates made vms: {made:?}"
    );

    // A VM id that looked valid a moment ago.
    let vm = t.running_vm(&name).await;
    if caps.vip != VipSupport::None {
        let vip = c
            .allocate_vip(&VipSpec::new(&name, vm.id.clone()))
            .await
            .must("allocate vip");
        c.release_vip(&vip.id).await.must("release vip");
        expect_not_found("get a released vip", c.get_vip(&vip.id).await);
    }
    t.delete_vms(std::slice::from_ref(&vm.id)).await;
    // Clouds that keep deleted VMs visible for a while report them as deleted (EC2) or, while
    // the delete still runs, as deleting (Azure) instead.
    let gone = match c.get_vm(&vm.id).await {
        Err(e) if e.is_not_found() => true,
        Ok(v) if matches!(v.state, VmState::Deleted | VmState::Deleting) => false,
        other => panic!("conformance: get of a deleted vm: expected not_found, got {other:?}"),
    };
    if gone && caps.vm_stop_start {
        expect_not_found("stop a deleted vm", c.stop_vm(&vm.id).await);
    }

    if let (true, Some(make)) = (caps.network_create, &t.network_spec) {
        let net = c
            .create_network(&make(&name, 4))
            .await
            .must("create network");
        t.delete_network(&net.id).await;
        expect_not_found("get a deleted network", c.get_network(&net.id).await);
    }
    if caps.vip != VipSupport::None {
        expect_not_found(
            "get a vip that never was",
            c.get_vip(&VipId::new("vip-0000dead")).await,
        );
    }
}
