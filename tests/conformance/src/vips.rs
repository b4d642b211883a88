//! Checks on virtual IPs.

use crate::Target;
use crate::support::*;
use std::collections::BTreeSet;
use strato_core::{Operation, VipQuery, VipSpec, VipSupport};

/// VIPs: allocate, idempotent allocate, get, list, move, release; or `Unsupported`.
pub async fn vips(t: &Target) {
    let c = &t.connector;
    let caps = c.capabilities();
    let name = unique("cf-vip");
    if caps.vip == VipSupport::None {
        expect_unsupported(
            c.allocate_vip(&VipSpec::new(&name, "vm-conformance")).await,
            Operation::AllocateVip,
        );
        expect_unsupported(c.list_vips(&VipQuery::default()).await, Operation::ListVips);
        return;
    }
    let a = t.running_vm(&format!("{name}-a")).await;
    let b = t.running_vm(&format!("{name}-b")).await;
    let spec = VipSpec::new(&name, a.id.clone());
    let vip = c.allocate_vip(&spec).await.must("allocate vip");
    assert_eq!(vip.name, name);
    assert_eq!(
        vip.vm.as_ref(),
        Some(&a.id),
        "conformance: the vip is not bound to the vm asked for"
    );
    assert_eq!(&vip.ownership.owner, t.owner());
    let vm_addresses: BTreeSet<_> = [&a, &b]
        .iter()
        .flat_map(|v| v.nics.iter().filter_map(|n| n.address))
        .collect();
    assert!(
        !vm_addresses.contains(&vip.address),
        "conformance: the vip {} is a vm's own address",
        vip.address
    );
    let again = c
        .allocate_vip(&spec)
        .await
        .must("allocate the same vip again");
    assert_eq!(
        again.id, vip.id,
        "conformance: the same vip spec twice made two vips"
    );
    assert_eq!(
        c.get_vip(&vip.id).await.must("get vip").address,
        vip.address
    );
    let listed = t.owned_vips().await;
    assert!(
        listed.iter().any(|v| v.id == vip.id),
        "conformance: the vip is not listed"
    );
    let on_a = c
        .list_vips(&vips_on(a.id.clone()))
        .await
        .must("list vips by vm");
    assert_eq!(
        on_a.iter().map(|v| &v.id).collect::<Vec<_>>(),
        vec![&vip.id]
    );

    if caps.vip_move {
        let moved = c.move_vip(&vip.id, &b.id).await.must("move vip");
        assert_eq!(
            moved.vm.as_ref(),
            Some(&b.id),
            "conformance: the moved vip is not on the new vm"
        );
        assert_eq!(
            moved.address, vip.address,
            "conformance: moving a vip changed its address"
        );
        let got = c.get_vip(&vip.id).await.must("get moved vip");
        assert_eq!(got.vm.as_ref(), Some(&b.id));
        let on_b = c
            .list_vips(&vips_on(b.id.clone()))
            .await
            .must("list vips on b");
        assert!(
            on_b.iter().any(|v| v.id == vip.id),
            "conformance: the moved vip is not listed on its new vm"
        );
        c.move_vip(&vip.id, &b.id)
            .await
            .must("move vip to where it is");
    } else {
        expect_unsupported(c.move_vip(&vip.id, &b.id).await, Operation::MoveVip);
    }

    c.release_vip(&vip.id).await.must("release vip");
    expect_not_found("get a released vip", c.get_vip(&vip.id).await);
    let listed = t.owned_vips().await;
    assert!(
        !listed.iter().any(|v| v.id == vip.id),
        "conformance: the released vip is still listed"
    );
    c.release_vip(&vip.id)
        .await
        .must("release an already released vip");
    t.delete_vms(&[a.id, b.id]).await;
}
