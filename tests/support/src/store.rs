//! A state store that crashes at a chosen write, for the scenarios of a controller that dies
//! between two writes.

use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strato_controller::error::Result;
use strato_controller::store::{Precondition, StateStore, Txn, Versioned};

/// A store over another that dies at the first write (a put, a delete or a transaction)
/// touching a key under `at`: that write never reaches the store and never returns, nor does
/// any write after it, as if the process had died in it (so the task that wrote does nothing
/// more, as a dead process would not). Reads still answer, so the test can look. A controller
/// restarted on the inner store then finds exactly what a crash at that point leaves behind.
#[derive(Debug)]
pub struct CrashingStore {
    inner: Arc<dyn StateStore>,
    at: String,
    crashed: AtomicBool,
}

impl CrashingStore {
    /// Wraps `inner`, to crash at the first write under the key prefix `at`.
    pub fn new(inner: Arc<dyn StateStore>, at: &str) -> Arc<Self> {
        Arc::new(Self {
            inner,
            at: at.to_owned(),
            crashed: AtomicBool::new(false),
        })
    }

    /// True once the crash happened.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// Dies (never returns) if the write touches `keys` under the prefix, or if it died
    /// already.
    async fn write<'a>(&self, mut keys: impl Iterator<Item = &'a str>) {
        if self.crashed() || keys.any(|k| k.starts_with(&self.at)) {
            self.crashed.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait]
impl StateStore for CrashingStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> Result<u64> {
        self.write(std::iter::once(key)).await;
        self.inner.put(key, value, cond).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Versioned>> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str, cond: Precondition) -> Result<bool> {
        self.write(std::iter::once(key)).await;
        self.inner.delete(key, cond).await
    }

    async fn txn(&self, txn: &Txn) -> Result<u64> {
        self.write(txn.ops.iter().map(|op| op.key())).await;
        self.inner.txn(txn).await
    }
}
