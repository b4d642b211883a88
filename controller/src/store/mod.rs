//! The state store: desired state and the controller's records, behind a small trait so that an
//! etcd implementation can replace the embedded one.
//!
//! Keys are strings (`segroup/web`, `se/web/web-7`); values are bytes (JSON for every record the
//! controller writes). Every write bumps one store-wide revision, as etcd does, and a put or
//! delete can require the key's current revision (compare-and-swap). A [`Txn`] writes several
//! keys at once, all or nothing, when every one of its compares holds (etcd's `Txn`), so two
//! records that only make sense together (an address claim and the service that holds it)
//! never exist one without the other, whatever happens to the process between them.

mod etcd_config;
mod etcd_store;
mod memory;
mod redb_store;

pub use etcd_config::{EtcdSection, StoreKind, StoreSetting};
pub use etcd_store::{EtcdOptions, EtcdStore};
pub use memory::MemoryStore;
pub use redb_store::RedbStore;

use crate::error::{ControllerError, Result};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A value with the revision that last wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// Key.
    pub key: String,
    /// Store revision of the last write of this key.
    pub revision: u64,
    /// The bytes.
    pub value: Vec<u8>,
}

/// What a write requires of the key's current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing.
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist at exactly this revision.
    Revision(u64),
}

impl Precondition {
    /// True when a key at `current` (None: absent) passes.
    pub fn holds(self, current: Option<u64>) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Absent => current.is_none(),
            Precondition::Revision(r) => current == Some(r),
        }
    }
}

/// One write of a [`Txn`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOp {
    /// Writes the key.
    Put {
        /// Key.
        key: String,
        /// The bytes.
        value: Vec<u8>,
    },
    /// Deletes the key (nothing happens when it is absent).
    Delete {
        /// Key.
        key: String,
    },
}

impl TxnOp {
    /// The key it writes.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Put { key, .. } | TxnOp::Delete { key } => key,
        }
    }
}

/// A multi-key transaction in the shape of etcd's `Txn`: compares (a key's revision, or its
/// absence), then puts and deletes that all happen, at one new store revision, or, when a
/// compare fails, none of them ([`ControllerError::Conflict`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    /// What each key must be for the writes to happen.
    pub compares: Vec<(String, Precondition)>,
    /// The writes, in order. A key is written at most once.
    pub ops: Vec<TxnOp>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `cond` of `key`.
    pub fn compare(&mut self, key: impl Into<String>, cond: Precondition) -> &mut Self {
        self.compares.push((key.into(), cond));
        self
    }

    /// Writes `key`.
    pub fn put(&mut self, key: impl Into<String>, value: Vec<u8>) -> &mut Self {
        self.ops.push(TxnOp::Put {
            key: key.into(),
            value,
        });
        self
    }

    /// Encodes and writes `key`.
    pub fn put_json<T: Serialize + ?Sized>(
        &mut self,
        key: impl Into<String>,
        value: &T,
    ) -> Result<&mut Self> {
        let key = key.into();
        let bytes = serde_json::to_vec(value)
            .map_err(|e| ControllerError::Store(format!("encode {key}: {e}")))?;
        Ok(self.put(key, bytes))
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: impl Into<String>) -> &mut Self {
        self.ops.push(TxnOp::Delete { key: key.into() });
        self
    }

    /// True when it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Refuses a transaction that writes a key twice (etcd does too): which write wins would
    /// depend on the order, which a reader of the transaction should not have to know.
    pub(crate) fn check(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for op in &self.ops {
            if !seen.insert(op.key()) {
                return Err(ControllerError::Store(format!(
                    "a transaction writes {} twice",
                    op.key()
                )));
            }
        }
        Ok(())
    }
}

/// The error of a compare that does not hold.
pub(crate) fn conflict(key: &str, cond: Precondition, current: Option<u64>) -> ControllerError {
    ControllerError::Conflict(format!(
        "{key}: expected {cond:?}, found revision {current:?}"
    ))
}

/// A key-value store with revisions and compare-and-swap.
#[async_trait]
pub trait StateStore: Send + Sync + Debug + 'static {
    /// Reads a key.
    async fn get(&self, key: &str) -> Result<Option<Versioned>>;
    /// Writes a key if `cond` holds; returns the new revision. A failed precondition is
    /// [`ControllerError::Conflict`].
    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> Result<u64>;
    /// Every key starting with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<Versioned>>;
    /// Deletes a key if `cond` holds; true when something was deleted. Deleting an absent key
    /// with `Any` is Ok(false).
    async fn delete(&self, key: &str, cond: Precondition) -> Result<bool>;
    /// Applies a transaction: every compare holds and every write happens, at one new
    /// revision (returned), or nothing happens. A transaction that changes nothing (only
    /// deletes of absent keys) returns the current revision and does not bump it.
    async fn txn(&self, txn: &Txn) -> Result<u64>;
}

/// JSON conveniences over any store.
#[async_trait]
pub trait StateStoreExt: StateStore {
    /// Reads and decodes a key.
    async fn get_json<T: DeserializeOwned + Send>(&self, key: &str) -> Result<Option<(T, u64)>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(v) => Ok(Some((decode(&v)?, v.revision))),
        }
    }
    /// Encodes and writes a key.
    async fn put_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        cond: Precondition,
    ) -> Result<u64> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| ControllerError::Store(format!("encode {key}: {e}")))?;
        self.put(key, bytes, cond).await
    }
    /// Lists and decodes every key under a prefix.
    async fn list_json<T: DeserializeOwned + Send>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T, u64)>> {
        let mut out = Vec::new();
        for v in self.list(prefix).await? {
            let t = decode(&v)?;
            out.push((v.key, t, v.revision));
        }
        Ok(out)
    }
}

impl<S: StateStore + ?Sized> StateStoreExt for S {}

fn decode<T: DeserializeOwned>(v: &Versioned) -> Result<T> {
    serde_json::from_slice(&v.value)
        .map_err(|e| ControllerError::Store(format!("decode {}: {e}", v.key)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The contract every store keeps. `exclusive`: nothing else writes to the store meanwhile,
    /// so revisions can be checked to the unit (an etcd shared with other tests is not).
    pub(crate) async fn contract(s: &dyn StateStore, exclusive: bool) {
        assert!(s.get("a/1").await.unwrap().is_none());
        let r1 = s
            .put("a/1", b"x".to_vec(), Precondition::Absent)
            .await
            .unwrap();
        assert!(matches!(
            s.put("a/1", b"y".to_vec(), Precondition::Absent).await,
            Err(ControllerError::Conflict(_))
        ));
        let r2 = s
            .put("a/1", b"y".to_vec(), Precondition::Revision(r1))
            .await
            .unwrap();
        assert!(r2 > r1);
        assert!(matches!(
            s.put("a/1", b"z".to_vec(), Precondition::Revision(r1))
                .await,
            Err(ControllerError::Conflict(_))
        ));
        s.put("a/2", b"q".to_vec(), Precondition::Any)
            .await
            .unwrap();
        s.put("b/1", b"q".to_vec(), Precondition::Any)
            .await
            .unwrap();
        let got = s.get("a/1").await.unwrap().unwrap();
        assert_eq!((got.value.as_slice(), got.revision), (&b"y"[..], r2));
        let keys: Vec<String> = s
            .list("a/")
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.key)
            .collect();
        assert_eq!(keys, ["a/1", "a/2"]);
        assert!(matches!(
            s.delete("a/1", Precondition::Revision(r1)).await,
            Err(ControllerError::Conflict(_))
        ));
        assert!(s.delete("a/1", Precondition::Revision(r2)).await.unwrap());
        assert!(!s.delete("a/1", Precondition::Any).await.unwrap());
        assert!(s.get("a/1").await.unwrap().is_none());
        txn_contract(s, exclusive).await;
    }

    /// Transactions: all or nothing, one revision for all their writes.
    async fn txn_contract(s: &dyn StateStore, exclusive: bool) {
        let b = s
            .put("t/b", b"b".to_vec(), Precondition::Any)
            .await
            .unwrap();
        let mut ok = Txn::new();
        ok.compare("t/a", Precondition::Absent)
            .compare("t/b", Precondition::Revision(b))
            .put("t/a", b"a".to_vec())
            .put("t/c", b"c".to_vec())
            .delete("t/b");
        let r = s.txn(&ok).await.unwrap();
        assert!(r > b);
        let a = s.get("t/a").await.unwrap().unwrap();
        let c = s.get("t/c").await.unwrap().unwrap();
        assert_eq!(
            (a.revision, c.revision),
            (r, r),
            "one revision for every write"
        );
        assert!(s.get("t/b").await.unwrap().is_none());

        // One compare fails: nothing is written, nothing deleted, the revision stays.
        let mut bad = Txn::new();
        bad.compare("t/a", Precondition::Revision(r))
            .compare("t/c", Precondition::Absent)
            .put("t/d", b"d".to_vec())
            .delete("t/a");
        assert!(matches!(
            s.txn(&bad).await,
            Err(ControllerError::Conflict(m)) if m.contains("t/c")
        ));
        assert!(s.get("t/d").await.unwrap().is_none());
        assert_eq!(s.get("t/a").await.unwrap().unwrap().revision, r);

        // Nothing to change: no new revision.
        let mut noop = Txn::new();
        noop.delete("t/none");
        let noop_rev = s.txn(&noop).await.unwrap();
        let next = s.put("t/e", vec![], Precondition::Any).await.unwrap();
        if exclusive {
            assert_eq!(noop_rev, r);
            assert_eq!(next, r + 1, "a failed or empty transaction bumps nothing");
        } else {
            assert!(noop_rev >= r && next > noop_rev);
        }

        let mut twice = Txn::new();
        twice.put("t/f", vec![]).delete("t/f");
        assert!(matches!(
            s.txn(&twice).await,
            Err(ControllerError::Store(_))
        ));
        assert!(s.get("t/f").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn memory_store_keeps_the_contract() {
        contract(&MemoryStore::new(), true).await;
    }

    #[tokio::test]
    async fn redb_store_keeps_the_contract_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let s = RedbStore::open(&path).unwrap();
            contract(&s, true).await;
            s.put_json("c/k", &vec![1, 2, 3], Precondition::Any)
                .await
                .unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        let (v, rev): (Vec<i32>, u64) = s.get_json("c/k").await.unwrap().unwrap();
        assert_eq!(v, [1, 2, 3]);
        // Revisions keep growing across a reopen, and a transaction's writes were kept.
        let r = s.put("c/k2", vec![], Precondition::Any).await.unwrap();
        assert!(r > rev);
        assert_eq!(s.get("t/a").await.unwrap().unwrap().value, b"a");
    }
}

#[cfg(test)]
mod etcd_tests;
