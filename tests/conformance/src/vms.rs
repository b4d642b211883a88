//! Checks on single VMs: lifecycle, idempotent creates, listing and paging.

use crate::Target;
use crate::support::*;
use std::collections::BTreeSet;
use strato_core::{CloudConnectorExt, ErrorKind, OWNER_TAG, Operation, VmId, VmQuery, VmState};

/// Create -> running -> stop -> stopped -> start -> running -> delete -> gone. On a cloud
/// without stop/start, those calls must answer `Unsupported`.
pub async fn vm_lifecycle(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-life");
    let spec = t.vm_spec(&name);
    let vm = c.create_vm(&spec).await.must("create vm");
    assert_eq!(vm.name, name, "conformance: created vm has another name");
    assert_eq!(
        &vm.ownership.owner,
        t.owner(),
        "conformance: created vm is not owned by the connector's owner"
    );
    assert_eq!(
        vm.tags.get(OWNER_TAG),
        Some(&t.owner().to_string()),
        "conformance: created vm lacks the owner tag"
    );
    assert_eq!(
        vm.ownership.token,
        spec.client_token(t.owner()),
        "conformance: created vm lacks its client token"
    );
    assert!(
        matches!(vm.state, VmState::Pending | VmState::Running),
        "conformance: a new vm is {} (expected pending or running)",
        vm.state
    );
    let vm = c
        .wait_running(&vm.id, wait_opts())
        .await
        .must("wait for the vm to run");
    assert_eq!(vm.state, VmState::Running);

    if c.capabilities().vm_stop_start {
        c.stop_vm(&vm.id).await.must("stop vm");
        let stopped = c
            .wait_vm(&vm.id, wait_opts(), &|v| v.state == VmState::Stopped)
            .await
            .must("wait for the vm to stop");
        assert_eq!(stopped.state, VmState::Stopped);
        let listed = c
            .list_all_vms(&VmQuery {
                name: Some(name.clone()),
                state: Some(VmState::Stopped),
                ..Default::default()
            })
            .await
            .must("list stopped vms");
        assert!(
            listed.iter().any(|v| v.id == vm.id),
            "conformance: the stopped vm is not listed as stopped"
        );
        c.start_vm(&vm.id).await.must("start vm");
        c.wait_running(&vm.id, wait_opts())
            .await
            .must("wait for the vm to run again");
    } else {
        expect_unsupported(c.stop_vm(&vm.id).await, Operation::StopVm);
        expect_unsupported(c.start_vm(&vm.id).await, Operation::StartVm);
    }

    t.delete_vms(std::slice::from_ref(&vm.id)).await;
    c.delete_vm(&vm.id)
        .await
        .must("delete an already deleted vm");
    eventually!("the deleted vm leaves the list", {
        let left = c.list_all_vms(&vms_named_exactly(name.clone())).await?;
        Ok(left.is_empty().then_some(()))
    });
}

/// The same spec twice gives the same VM; a different spec under the same name is
/// `AlreadyExists` and makes nothing.
pub async fn idempotent_create(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-idem");
    let spec = t.vm_spec(&name);
    let first = c.create_vm(&spec).await.must("create vm");
    let again = c.create_vm(&spec).await.must("create the same vm again");
    assert_eq!(
        first.id, again.id,
        "conformance: the same spec twice made two vms"
    );
    let changed = spec.clone().with_tag("changed", "yes");
    let e = expect_kind(
        "create a different vm under a taken name",
        c.create_vm(&changed).await,
        &ErrorKind::AlreadyExists,
    );
    eprintln!("conformance:   AlreadyExists reads: {e}");
    // A retry after a lost answer also finds the first VM, even while it is still invisible.
    let listed = eventually!("the vm is listed once", {
        let l = c.list_all_vms(&vms_named_exactly(name.clone())).await?;
        Ok((!l.is_empty()).then_some(l))
    });
    assert_eq!(
        listed.len(),
        1,
        "conformance: {} vms named {name}",
        listed.len()
    );
    assert_eq!(listed[0].id, first.id);
    assert_eq!(
        listed[0].ownership.token,
        spec.client_token(t.owner()),
        "conformance: the changed spec replaced the vm"
    );
    t.delete_vms(&[first.id]).await;
}

/// More VMs than one page: every page at most the page size, all VMs exactly once, and the
/// name, tag and state filters.
pub async fn list_paging(t: &Target) {
    let c = &t.connector;
    let base = unique("cf-page");
    let suite = base.clone();
    let mut ids = BTreeSet::new();
    for i in 0..5 {
        let spec = t
            .vm_spec(&format!("{base}-{i}"))
            .with_tag("suite", suite.clone())
            .with_tag("half", if i < 3 { "a" } else { "b" });
        ids.insert(c.create_vm(&spec).await.must("create vm").id);
    }
    let by_suite = VmQuery {
        tags: [("suite".to_owned(), suite.clone())].into(),
        ..Default::default()
    };
    eventually!("all 5 vms listed", {
        let n = c.list_all_vms(&by_suite).await?.len();
        Ok((n == 5).then_some(()))
    });

    let max_page = c.capabilities().max_page_size.max(1);
    let page_size = 2.min(max_page);
    let mut q = VmQuery {
        page_size: Some(page_size),
        ..by_suite.clone()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = c.list_vms(&q).await.must("list a page of vms");
        pages += 1;
        assert!(
            page.items.len() <= page_size as usize,
            "conformance: a page of size {page_size} has {} items",
            page.items.len()
        );
        seen.extend(page.items.into_iter().map(|v| v.id));
        match page.next {
            Some(token) => q.page_token = Some(token),
            None => break,
        }
        assert!(pages < 100, "conformance: paging never ends");
    }
    let unique_seen: BTreeSet<VmId> = seen.iter().cloned().collect();
    assert_eq!(
        unique_seen.len(),
        seen.len(),
        "conformance: paging returned duplicates: {seen:?}"
    );
    assert_eq!(unique_seen, ids, "conformance: paging lost or added vms");
    assert!(
        pages >= 3,
        "conformance: 5 vms in pages of {page_size} came in {pages} pages"
    );

    let one = c
        .list_all_vms(&vms_named_exactly(format!("{base}-3")))
        .await
        .must("list by name");
    assert_eq!(one.len(), 1, "conformance: listing by name found {one:?}");
    assert_eq!(one[0].name, format!("{base}-3"));

    let mut half = by_suite.clone();
    half.tags.insert("half".into(), "a".into());
    let a = c.list_all_vms(&half).await.must("list by tags");
    assert_eq!(
        a.len(),
        3,
        "conformance: listing by two tags found {} vms",
        a.len()
    );
    assert!(
        a.iter()
            .all(|v| v.tags.get("half").map(String::as_str) == Some("a"))
    );

    for id in &ids {
        c.wait_running(id, wait_opts())
            .await
            .must("wait for listed vms to run");
    }
    let running = c
        .list_all_vms(&VmQuery {
            state: Some(VmState::Running),
            ..by_suite.clone()
        })
        .await
        .must("list running vms");
    assert_eq!(
        running.len(),
        5,
        "conformance: listing running vms found {}",
        running.len()
    );
    let stopped = c
        .list_all_vms(&VmQuery {
            state: Some(VmState::Stopped),
            ..by_suite.clone()
        })
        .await
        .must("list stopped vms");
    assert!(
        stopped.is_empty(),
        "conformance: listing stopped vms found running ones: {stopped:?}"
    );

    t.delete_vms(&ids.into_iter().collect::<Vec<_>>()).await;
    eventually!(
        "paging vms leave the list",
        Ok(c.list_all_vms(&by_suite).await?.is_empty().then_some(()))
    );
}
