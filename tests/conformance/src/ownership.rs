//! Checks that other owners' resources stay invisible and untouched, and that nothing leaks.

use crate::Target;
use crate::support::*;
use strato_core::{CloudConnectorExt, VipSpec, VipSupport, VmQuery, VmState};

/// Another owner's resources are invisible and untouchable.
pub async fn ownership(t: &Target) {
    let c = &t.connector;
    let f = &t.foreign;
    assert_ne!(
        c.info().owner,
        f.info().owner,
        "conformance: target and foreign have the same owner"
    );
    let caps = c.capabilities();
    let name = unique("cf-own");
    let theirs = f
        .create_vm(&t.vm_spec(&format!("{name}-f")))
        .await
        .must("foreign creates a vm");
    f.wait_running(&theirs.id, wait_opts())
        .await
        .must("foreign vm runs");
    let mine = t.running_vm(&format!("{name}-m")).await;

    let listed = c.list_all_vms(&VmQuery::default()).await.must("list vms");
    assert!(
        !listed.iter().any(|v| v.id == theirs.id),
        "conformance: another owner's vm is listed"
    );
    assert!(
        listed.iter().all(|v| &v.ownership.owner == t.owner()),
        "conformance: list_vms shows vms of other owners"
    );
    let deleted_too = c
        .list_all_vms(&VmQuery {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .must("list vms");
    assert!(
        !deleted_too.iter().any(|v| v.id == theirs.id),
        "conformance: another owner's vm is listed"
    );
    expect_not_found("get another owner's vm", c.get_vm(&theirs.id).await);
    expect_not_found("delete another owner's vm", c.delete_vm(&theirs.id).await);
    if caps.vm_stop_start {
        expect_not_found("stop another owner's vm", c.stop_vm(&theirs.id).await);
    }
    let still = f.get_vm(&theirs.id).await.must("foreign reads its vm");
    assert_eq!(
        still.state,
        VmState::Running,
        "conformance: another owner's vm was touched"
    );

    if caps.vip != VipSupport::None {
        let vip = f
            .allocate_vip(&VipSpec::new(format!("{name}-f"), theirs.id.clone()))
            .await
            .must("foreign allocates a vip");
        let listed = t.owned_vips().await;
        assert!(
            !listed.iter().any(|v| v.id == vip.id),
            "conformance: another owner's vip is listed"
        );
        expect_not_found("get another owner's vip", c.get_vip(&vip.id).await);
        expect_not_found("release another owner's vip", c.release_vip(&vip.id).await);
        if caps.vip_move {
            expect_not_found(
                "move another owner's vip",
                c.move_vip(&vip.id, &mine.id).await,
            );
        }
        let still = f.get_vip(&vip.id).await.must("foreign reads its vip");
        assert_eq!(
            still.vm.as_ref(),
            Some(&theirs.id),
            "conformance: another owner's vip was moved"
        );
        f.release_vip(&vip.id)
            .await
            .must("foreign releases its vip");
    }

    if let (true, Some(make)) = (caps.network_create, &t.network_spec) {
        let net = f
            .create_network(&make(&format!("{name}-f"), 5))
            .await
            .must("foreign creates a network");
        let listed = t.owned_networks().await;
        assert!(
            !listed.iter().any(|n| n.id == net.id),
            "conformance: another owner's network is listed"
        );
        expect_not_found(
            "delete another owner's network",
            c.delete_network(&net.id).await,
        );
        f.get_network(&net.id)
            .await
            .must("foreign reads its network");
        f.delete_network(&net.id)
            .await
            .must("foreign deletes its network");
    }

    f.delete_vm(&theirs.id).await.must("foreign deletes its vm");
    t.delete_vms(&[mine.id]).await;
}

/// Nothing owned remains: no VM, VIP or network (run after the other checks).
pub async fn nothing_leaked(t: &Target) {
    let c = &t.connector;
    let vms = eventually!("no owned vm remains", {
        let l = c.list_all_vms(&VmQuery::default()).await?;
        Ok(Some(l))
    });
    assert!(
        vms.is_empty(),
        "conformance: vms leaked: {:?}",
        vms.iter().map(|v| (&v.id, &v.name)).collect::<Vec<_>>()
    );
    if c.capabilities().vip != VipSupport::None {
        let vips = t.owned_vips().await;
        assert!(vips.is_empty(), "conformance: vips leaked: {vips:?}");
    }
    let nets = t.owned_networks().await;
    assert!(nets.is_empty(), "conformance: networks leaked: {nets:?}");
}
