//! State that survives: a crash between two writes, records that no longer decode, and the
//! bounds and fairness that keep one group from crowding out the others.

use crate::common::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::controller::VsRuntime;
use strato_controller::store::{StateStore, StateStoreExt};
use strato_core::CloudConnector;
use strato_testkit::CrashingStore;

const MIN: Duration = Duration::from_secs(60);

/// Every address claimed in the store (`pool/address` -> service), and every address a
/// service's record holds.
async fn claims_and_holders(
    store: &dyn StateStore,
) -> (BTreeSet<(String, String)>, BTreeSet<(String, String)>) {
    let claims = store
        .list_json::<String>("ipam/")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, vs, _)| (k["ipam/".len()..].to_owned(), vs))
        .collect();
    let held = store
        .list_json::<VsRuntime>("vsrt/")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, rt, _)| Some((format!("{}/{}", rt.pool?, rt.address?), rt.name)))
        .collect();
    (claims, held)
}

/// The names of the group's live VMs.
async fn vm_names(h: &Harness, group: &str) -> BTreeSet<String> {
    h.vms(group).await.into_iter().map(|v| v.name).collect()
}

#[tokio::test(start_paused = true)]
async fn a_crash_between_the_ipam_claim_and_the_vip_record_leaks_no_address() {
    let cloud: Arc<dyn CloudConnector> = Arc::new(memory_cloud(&owner()));
    let store = memory_store();
    // The process dies at its first write of a service's runtime record (`vsrt/`), the
    // record that says which address the service holds.
    let crashing = CrashingStore::new(store.clone(), "vsrt/");
    let h = Harness::start(cloud.clone(), crashing.clone()).await;
    h.setup(group("web", 1, 2), Some(pool())).await;
    h.wait_for("one healthy SE", 3 * MIN, || async {
        h.healthy("web") == 1
    })
    .await;
    let before = vm_names(&h, "web").await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for("the crash", MIN, || async { crashing.crashed() })
        .await;
    h.crash().await;

    // A new process on the store as the crash left it.
    let h2 = Harness::start(cloud.clone(), store.clone()).await;
    h2.wait_for("shop's VIP bound and answered by DNS", 3 * MIN, || async {
        h2.status().vs("shop").is_some_and(|v| {
            v.bound_to.is_some()
                && v.dns.is_some()
                && v.dns
                    == v.address.and_then(|a| match a {
                        std::net::IpAddr::V4(a) => Some(a),
                        std::net::IpAddr::V6(_) => None,
                    })
        })
    })
    .await;
    tokio::time::sleep(MIN).await;

    let (claims, held) = claims_and_holders(&*store).await;
    assert_eq!(
        claims, held,
        "every claimed address is held by the record of the service that claimed it"
    );
    assert_eq!(claims.len(), 1, "one service, one address: {claims:?}");
    let after = vm_names(&h2, "web").await;
    assert_eq!(before, after, "no SE deleted or duplicated");
    assert_eq!(
        h2.se_names("web"),
        after,
        "every VM has a record, every record a VM"
    );
    println!(
        "fault-matrix: crash between IPAM claim and record | memory | 0 deleted, 0 leaked, \
         0 duplicated, 1 address claimed and held, dns ok, recovered"
    );
}
