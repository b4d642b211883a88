//! Listing pages against govmomi's simulator: a VM deleted between two page calls must not make
//! another VM skip a page, or a controller paging through its VMs would think that one is gone.

use crate::common;
use crate::common::{assert_no_vms, spec};
use std::collections::BTreeSet;
use strato_core::{CloudConnector, VmId, VmQuery};

#[tokio::test]
async fn a_delete_between_pages_skips_no_vm() {
    let c = common::connector("pgdel").await;
    let mut created = BTreeSet::new();
    for i in 0..5 {
        created.insert(c.create_vm(&spec(&format!("pg-{i}"))).await.unwrap().id);
    }
    let mut q = VmQuery {
        page_size: Some(2),
        ..Default::default()
    };
    let first = c.list_vms(&q).await.unwrap();
    assert_eq!(first.items.len(), 2, "{first:?}");
    let deleted = first.items[0].id.clone();
    c.delete_vm(&deleted).await.unwrap();

    let mut seen: Vec<VmId> = first.items.into_iter().map(|v| v.id).collect();
    let mut next = first.next;
    let mut pages = 1;
    while let Some(token) = next {
        pages += 1;
        assert!(pages < 10, "paging never ends");
        q.page_token = Some(token);
        let page = c.list_vms(&q).await.unwrap();
        assert!(page.items.len() <= 2, "{page:?}");
        seen.extend(page.items.into_iter().map(|v| v.id));
        next = page.next;
    }
    let kept: Vec<&VmId> = created.iter().filter(|id| **id != deleted).collect();
    for id in &kept {
        let n = seen.iter().filter(|s| s == id).count();
        assert_eq!(
            n, 1,
            "{id} listed {n} times after deleting {deleted}: {seen:?}"
        );
    }
    assert!(
        seen.iter().all(|id| created.contains(id)),
        "listed a VM never created: {seen:?}"
    );

    for id in kept {
        c.delete_vm(id).await.unwrap();
    }
    assert_no_vms(&c).await;
    c.logout().await.unwrap();
}
