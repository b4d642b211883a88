//! State that survives: a crash between two writes, records that no longer decode, and the
//! bounds and fairness that keep one group from crowding out the others.

use crate::common::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use strato_controller::controller::VsRuntime;
use strato_controller::store::{Precondition, RedbStore, StateStore, StateStoreExt};
use strato_core::CloudConnector;
use strato_core::layers::Layered;
use strato_testkit::{CrashingStore, SlowCreates};

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

/// The live VMs of the group, by name, with their ids.
async fn vm_ids(h: &Harness, group: &str) -> BTreeSet<(String, String)> {
    h.vms(group)
        .await
        .into_iter()
        .map(|v| (v.name, v.id.to_string()))
        .collect()
}

/// The service's address, bound and answered by DNS.
fn answered(h: &Harness, vs: &str) -> Option<std::net::IpAddr> {
    let s = h.status();
    let v = s.vs(vs)?;
    v.bound_to.as_ref()?;
    let a = v.address?;
    (v.dns.map(std::net::IpAddr::V4) == Some(a)).then_some(a)
}

/// Writes raw bytes under a key of a closed redb store file, as a damaged file would hold them.
fn write_raw(path: &std::path::Path, key: &str, raw: &[u8]) {
    use redb::{Database, TableDefinition};
    let kv: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
    let db = Database::open(path).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(kv).unwrap().insert(key, raw).unwrap();
    tx.commit().unwrap();
}

#[tokio::test(start_paused = true)]
async fn records_that_no_longer_decode_are_moved_aside_and_rebuilt_without_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("controller.redb");
    let cloud: Arc<dyn CloudConnector> = Arc::new(memory_cloud(&owner()));
    let store: Arc<dyn StateStore> = Arc::new(RedbStore::open(&path).unwrap());
    let h = Harness::start(cloud.clone(), store).await;
    h.setup(group("web", 2, 3), Some(pool())).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for("2 healthy SEs, shop answered", 3 * MIN, || async {
        h.healthy("web") == 2 && answered(&h, "shop").is_some()
    })
    .await;
    let before = vm_ids(&h, "web").await;
    let address = answered(&h, "shop").unwrap();
    let se = before.first().unwrap().0.clone();
    h.crash().await;

    // One SE record written by a version whose format this one does not read, and the
    // service's runtime record damaged down to three bytes.
    let store = RedbStore::open(&path).unwrap();
    store
        .put(
            &format!("se/web/{se}"),
            br#"{"name": 7, "format": 99}"#.to_vec(),
            Precondition::Any,
        )
        .await
        .unwrap();
    drop(store);
    write_raw(&path, "vsrt/shop", &[1, 2, 3]);

    let store: Arc<dyn StateStore> = Arc::new(RedbStore::open(&path).unwrap());
    let h2 = Harness::start(cloud.clone(), store.clone()).await;
    // Reported before the first pass rebuilds them: in the status and in /metrics.
    let moved: Vec<String> = h2.status().quarantined.into_iter().map(|q| q.key).collect();
    assert_eq!(moved, [format!("se/web/{se}"), "vsrt/shop".to_owned()]);
    let json = serde_json::to_value(h2.status()).unwrap();
    assert_eq!(json["quarantined"].as_array().map(Vec::len), Some(2));
    let metrics = strato_controller::state_metrics::render(&h2.ctl);
    assert!(
        metrics.contains("\nstrato_controller_quarantined_records 2\n"),
        "{metrics}"
    );
    // Moved aside, bytes as they were.
    let raw = store.get("quarantine/vsrt/shop").await.unwrap().unwrap();
    assert_eq!(raw.value, [1, 2, 3]);
    assert!(store.get("vsrt/shop").await.unwrap().is_none());

    // The SE is adopted again, the service takes back the address it held.
    h2.wait_for(
        "shop answered at its address, records rebuilt",
        3 * MIN,
        || async {
            h2.healthy("web") == 2
                && answered(&h2, "shop") == Some(address)
                && h2.status().quarantined.is_empty()
        },
    )
    .await;
    tokio::time::sleep(MIN).await;
    assert_eq!(
        vm_ids(&h2, "web").await,
        before,
        "no SE deleted or duplicated"
    );
    let names: BTreeSet<String> = before.into_iter().map(|(n, _)| n).collect();
    assert_eq!(h2.se_names("web"), names, "every VM has a record");
    let (claims, held) = claims_and_holders(&*store).await;
    assert_eq!(claims, held);
    assert_eq!(
        claims,
        BTreeSet::from([(format!("vips/{address}"), "shop".to_owned())]),
        "the address was taken back, not leaked for a new one"
    );
    assert!(store.list("quarantine/").await.unwrap().is_empty());
    assert!(
        strato_controller::state_metrics::render(&h2.ctl)
            .contains("\nstrato_controller_quarantined_records 0\n")
    );
    println!(
        "fault-matrix: corrupt record (an SE record, a VIP record, redb) | memory | 0 deleted, \
         0 leaked, 0 duplicated, dns ok (same address), recovered"
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_whose_record_no_longer_decodes_is_held_not_torn_down() {
    let cloud: Arc<dyn CloudConnector> = Arc::new(memory_cloud(&owner()));
    let store = memory_store();
    let h = Harness::start(cloud.clone(), store.clone()).await;
    let g = group("web", 2, 3);
    h.setup(g.clone(), Some(pool())).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for("2 healthy SEs, shop answered", 3 * MIN, || async {
        h.healthy("web") == 2 && answered(&h, "shop").is_some()
    })
    .await;
    let before = vm_ids(&h, "web").await;
    let address = answered(&h, "shop").unwrap();
    h.crash().await;
    store
        .put(
            "segroup/web",
            br#"{"name": "web", "max_ses": "many"}"#.to_vec(),
            Precondition::Any,
        )
        .await
        .unwrap();

    let h2 = Harness::start(cloud.clone(), store.clone()).await;
    tokio::time::sleep(5 * MIN).await;
    let s = h2.status();
    assert_eq!(s.quarantined.len(), 1);
    assert_eq!(s.quarantined[0].key, "segroup/web");
    assert!(
        s.group("web")
            .and_then(|g| g.last_error.as_deref())
            .is_some_and(|e| e.contains("quarantine/segroup/web")),
        "the status says why the group is held: {s:?}"
    );
    assert_eq!(vm_ids(&h2, "web").await, before, "no SE torn down");
    assert!(
        h2.ctl.orphans().await.unwrap().is_empty(),
        "nor offered to a sweep"
    );
    let (claims, _) = claims_and_holders(&*store).await;
    assert_eq!(claims.len(), 1, "the address stays claimed");

    // Applied again: the group is back as it was, and the moved-aside copy goes.
    h2.ctl.apply_se_group(g).await.unwrap();
    h2.wait_for("shop answered at its address", 3 * MIN, || async {
        h2.healthy("web") == 2
            && answered(&h2, "shop") == Some(address)
            && h2.status().quarantined.is_empty()
    })
    .await;
    assert_eq!(
        vm_ids(&h2, "web").await,
        before,
        "no SE deleted or duplicated"
    );
    let (claims, held) = claims_and_holders(&*store).await;
    assert_eq!((claims.len(), claims == held), (1, true));
    assert!(store.list("quarantine/").await.unwrap().is_empty());
    println!(
        "fault-matrix: corrupt record (an SE group) | memory | 0 deleted, 0 leaked, \
         0 duplicated, group held until applied again, dns ok after, recovered"
    );
}

#[tokio::test(start_paused = true)]
async fn a_claim_no_record_holds_is_released_after_a_restart() {
    let cloud: Arc<dyn CloudConnector> = Arc::new(memory_cloud(&owner()));
    let store = memory_store();
    let h = Harness::start(cloud.clone(), store.clone()).await;
    h.setup(group("web", 1, 2), Some(pool())).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for("shop answered", 3 * MIN, || async {
        answered(&h, "shop").is_some()
    })
    .await;
    let address = answered(&h, "shop").unwrap();
    h.crash().await;
    // What a crash between the claim and the record left behind before both were one
    // transaction: an address claimed by shop, which its record does not hold.
    store
        .put_json("ipam/vips/10.0.200.77", &"shop", Precondition::Absent)
        .await
        .unwrap();

    let h2 = Harness::start(cloud.clone(), store.clone()).await;
    h2.wait_for("the stray claim released", 3 * MIN, || async {
        claims_and_holders(&*store).await.0.len() == 1
    })
    .await;
    let (claims, held) = claims_and_holders(&*store).await;
    assert_eq!(claims, held);
    assert_eq!(
        answered(&h2, "shop"),
        Some(address),
        "shop keeps its address"
    );
}

#[tokio::test(start_paused = true)]
async fn a_small_group_converges_while_a_huge_one_is_still_scaling() {
    // Every create takes a second, as a real cloud's do.
    let slow = SlowCreates::new(Duration::from_secs(1), Duration::ZERO);
    slow.on.store(true, Ordering::Relaxed);
    let cloud = Layered::wrap(Arc::new(memory_cloud(&owner())), slow);
    let h = Harness::start(cloud, memory_store()).await;
    let started = tokio::time::Instant::now();
    // "big" comes first in every pass (objects are reconciled in name order).
    h.setup(group("big", 100, 100), Some(pool())).await;
    h.ctl.apply_se_group(group("small", 1, 2)).await.unwrap();
    h.wait_for("small's SE serving", MIN, || async {
        h.healthy("small") == 1
    })
    .await;
    let big = h.vms("big").await.len();
    println!(
        "small served after {:?}; big had {big} of its 100 VMs",
        started.elapsed()
    );
    assert!(big < 100, "big was still scaling: {big} VMs");
    h.wait_for("big's 100 VMs", 5 * MIN, || async {
        h.vms("big").await.len() == 100
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_group_above_the_controllers_limit_is_refused_naming_max_ses() {
    let mut config = HarnessConfig::new(CLOUD);
    config.options.max_ses_per_group = 50;
    let h = config
        .start(
            Arc::new(memory_cloud(&owner())),
            memory_store(),
            Arc::new(strato_controller::agent::LoadModel::new()),
        )
        .await;
    let e = h.ctl.apply_se_group(group("web", 1, 51)).await.unwrap_err();
    assert_eq!(e.field(), Some("max_ses"), "{e}");
    assert!(e.to_string().contains("50"), "{e}");
    h.ctl.apply_se_group(group("web", 1, 50)).await.unwrap();
}
