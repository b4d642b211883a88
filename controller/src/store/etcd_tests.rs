//! The etcd store against a real etcd (fixtures/etcd/up): the contract the other stores keep,
//! prefixes that keep fleets apart, listings larger than one response.

use super::tests::contract;
use super::*;
use std::time::Duration;

/// The test etcd's endpoints (fixtures/etcd/up writes them to its env file).
pub(crate) fn etcd_endpoints() -> Vec<String> {
    let v = std::env::var("STRATO_TEST_ETCD_ENDPOINTS").unwrap_or_else(|_| {
        panic!(
            "STRATO_TEST_ETCD_ENDPOINTS is not set: start etcd with \
             `fixtures/etcd/up DIR && . DIR/env` (scripts/test does)"
        )
    });
    v.split(',').map(str::to_owned).collect()
}

/// A prefix of its own for each test run, so that runs and tests never see each other.
fn options() -> EtcdOptions {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    EtcdOptions {
        endpoints: etcd_endpoints(),
        prefix: format!("/strato-test/{}-{nanos}", std::process::id()),
        timeout: Duration::from_secs(5),
        ..EtcdOptions::default()
    }
}

#[tokio::test]
async fn etcd_store_keeps_the_contract_and_its_prefix() {
    let opts = options();
    let s = EtcdStore::connect(&opts).await.unwrap();
    contract(&s, false).await;
    // A second controller on the same prefix sees the same records; one on another prefix
    // sees none of them.
    let same = EtcdStore::connect(&opts).await.unwrap();
    assert_eq!(same.get("t/a").await.unwrap().unwrap().value, b"a");
    let other = EtcdStore::connect(&EtcdOptions {
        prefix: format!("{}-other", opts.prefix),
        ..opts.clone()
    })
    .await
    .unwrap();
    assert!(other.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn etcd_listing_pages_through_more_keys_than_one_request_returns() {
    let s = EtcdStore::connect(&options()).await.unwrap();
    let n = 1234;
    let mut txn = Txn::new();
    for i in 0..n {
        txn.put(format!("vs/{i:05}"), vec![b'x'; 16]);
    }
    // etcd takes at most 128 operations per transaction by default: write in chunks.
    for chunk in txn.ops.chunks(100) {
        let t = Txn {
            compares: vec![],
            ops: chunk.to_vec(),
        };
        s.txn(&t).await.unwrap();
    }
    s.put("vt", b"not under vs/".to_vec(), Precondition::Any)
        .await
        .unwrap();
    let keys: Vec<String> = s
        .list("vs/")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert_eq!(keys.len(), n);
    assert_eq!(keys.first().map(String::as_str), Some("vs/00000"));
    assert_eq!(keys.last().map(String::as_str), Some("vs/01233"));
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "in key order, no repeat"
    );
}

#[tokio::test]
async fn an_unreachable_etcd_is_a_store_error_not_a_hang() {
    let s = EtcdStore::connect(&EtcdOptions {
        endpoints: vec!["http://127.0.0.1:9".into()],
        prefix: "/strato".into(),
        timeout: Duration::from_millis(500),
        ..EtcdOptions::default()
    })
    .await;
    let e = match s {
        Err(e) => e,
        Ok(s) => s.get("k").await.unwrap_err(),
    };
    assert!(matches!(e, ControllerError::Store(_)), "{e}");
}

/// etcd refuses a transaction of more than 128 operations (`--max-txn-ops`): the start-up
/// quarantine of many damaged records must not gather them into one. Each record is moved
/// aside in a transaction of its own (compare, put, delete, and the leader's fence), so 300
/// damaged records, more than twice the limit, are all moved aside, by a fenced leader too.
#[tokio::test]
async fn the_start_up_quarantine_of_many_damaged_records_stays_under_etcds_txn_limit() {
    let s = std::sync::Arc::new(EtcdStore::connect(&options()).await.unwrap());
    let n = 300;
    let mut txn = Txn::new();
    for i in 0..n {
        txn.put(format!("vs/damaged-{i:03}"), b"{not json".to_vec());
    }
    for chunk in txn.ops.chunks(100) {
        let t = Txn {
            compares: vec![],
            ops: chunk.to_vec(),
        };
        s.txn(&t).await.unwrap();
    }
    let _lead = crate::leader::campaign(&s, "http://a", Duration::from_secs(5))
        .await
        .unwrap();
    let ctl = crate::controller::Controller::new(
        s.clone(),
        std::collections::BTreeMap::new(),
        crate::controller::ControllerOptions::default(),
    )
    .await
    .expect("starts, every damaged record moved aside");
    assert_eq!(ctl.status().quarantined.len(), n);
    assert_eq!(s.list("quarantine/vs/").await.unwrap().len(), n);
    assert!(s.list("vs/").await.unwrap().is_empty());
}
