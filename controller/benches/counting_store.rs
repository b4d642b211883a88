//! The reconcile bench's store: memory, redb or etcd (`BENCH_STORE`), counting its writes so
//! that the bench checks a steady pass writes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strato_controller::error::Result;
use strato_controller::store::{
    EtcdOptions, EtcdStore, MemoryStore, Precondition, RedbStore, StateStore, Txn, Versioned,
};

/// A store that counts the writes (puts, deletes, transactions) that reach it.
#[derive(Debug)]
pub struct Counting {
    inner: Arc<dyn StateStore>,
    pub writes: AtomicU64,
}

impl Counting {
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// The store `BENCH_STORE` names (`memory`, the default; `redb`, in a temporary file; `etcd`,
/// at `STRATO_TEST_ETCD_ENDPOINTS` under a prefix of its own), its name, and on etcd how to
/// connect to it again (a standby's own connection) with the store itself (to campaign on).
pub async fn open(
    dir: &std::path::Path,
) -> (Arc<Counting>, String, Option<(Arc<EtcdStore>, EtcdOptions)>) {
    let kind = std::env::var("BENCH_STORE").unwrap_or_else(|_| "memory".into());
    let mut etcd = None;
    let inner: Arc<dyn StateStore> = match kind.as_str() {
        "memory" => Arc::new(MemoryStore::new()),
        "redb" => Arc::new(RedbStore::open(&dir.join("bench.redb")).unwrap()),
        "etcd" => {
            let endpoints = std::env::var("STRATO_TEST_ETCD_ENDPOINTS")
                .expect("BENCH_STORE=etcd needs STRATO_TEST_ETCD_ENDPOINTS (fixtures/etcd/up)");
            let opts = EtcdOptions {
                endpoints: endpoints.split(',').map(str::to_owned).collect(),
                prefix: format!("/strato-bench/{}", std::process::id()),
                timeout: std::time::Duration::from_secs(10),
                ..EtcdOptions::default()
            };
            let store = Arc::new(EtcdStore::connect(&opts).await.unwrap());
            etcd = Some((store.clone(), opts));
            store
        }
        other => panic!("BENCH_STORE={other}: memory, redb or etcd"),
    };
    (counting(inner), kind, etcd)
}

/// `inner`, counting its writes.
pub fn counting(inner: Arc<dyn StateStore>) -> Arc<Counting> {
    Arc::new(Counting {
        inner,
        writes: AtomicU64::new(0),
    })
}

#[async_trait::async_trait]
impl StateStore for Counting {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> Result<u64> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, value, cond).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<Versioned>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str, cond: Precondition) -> Result<bool> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key, cond).await
    }
    async fn txn(&self, txn: &Txn) -> Result<u64> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.txn(txn).await
    }
}
