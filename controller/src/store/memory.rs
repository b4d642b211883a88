//! An in-memory store, for tests and for a controller that keeps no state.

use super::{Precondition, StateStore, Txn, TxnOp, Versioned, conflict};
use crate::error::Result;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

type Entries = BTreeMap<String, (u64, Vec<u8>)>;

/// A store in a `BTreeMap`. Cloning the `Arc` holding it shares it, which is how tests simulate
/// a controller restart that keeps its store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// The store revision, and key -> (revision, value).
    inner: Mutex<(u64, Entries)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the compares, then applies the writes under one lock: all or nothing. Returns
    /// the store revision after it and whether anything changed.
    fn apply(&self, compares: &[(&str, Precondition)], ops: Vec<TxnOp>) -> Result<(u64, bool)> {
        let mut g = self.inner.lock().expect("store lock");
        for (key, cond) in compares {
            let current = g.1.get(*key).map(|(r, _)| *r);
            if !cond.holds(current) {
                return Err(conflict(key, *cond, current));
            }
        }
        let rev = g.0 + 1;
        let mut changed = false;
        for op in ops {
            match op {
                TxnOp::Put { key, value } => {
                    g.1.insert(key, (rev, value));
                    changed = true;
                }
                TxnOp::Delete { key } => changed |= g.1.remove(&key).is_some(),
            }
        }
        if changed {
            g.0 = rev;
        }
        Ok((g.0, changed))
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        let g = self.inner.lock().expect("store lock");
        Ok(g.1.get(key).map(|(r, v)| Versioned {
            key: key.to_owned(),
            revision: *r,
            value: v.clone(),
        }))
    }

    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> Result<u64> {
        let op = TxnOp::Put {
            key: key.to_owned(),
            value,
        };
        Ok(self.apply(&[(key, cond)], vec![op])?.0)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Versioned>> {
        let g = self.inner.lock().expect("store lock");
        Ok(g.1
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (r, v))| Versioned {
                key: k.clone(),
                revision: *r,
                value: v.clone(),
            })
            .collect())
    }

    async fn delete(&self, key: &str, cond: Precondition) -> Result<bool> {
        let op = TxnOp::Delete {
            key: key.to_owned(),
        };
        Ok(self.apply(&[(key, cond)], vec![op])?.1)
    }

    async fn txn(&self, txn: &Txn) -> Result<u64> {
        txn.check()?;
        let compares: Vec<(&str, Precondition)> =
            txn.compares.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        Ok(self.apply(&compares, txn.ops.clone())?.0)
    }
}
