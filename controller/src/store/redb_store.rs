//! The embedded store: one redb file. Each put, delete or [`Txn`] is one write transaction,
//! so a compare-and-swap or a multi-key transaction is atomic and durable when it returns.
//!
//! redb is synchronous; calls run inline because every transaction is small (a few keys) and
//! the controller writes only when a record changes, never in a steady-state pass.

use super::{Precondition, StateStore, Txn, TxnOp, Versioned, conflict};
use crate::error::{ControllerError, Result};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REVISION: &str = "revision";

/// A store in a redb file.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> ControllerError {
    ControllerError::Store(e.to_string())
}

/// A stored record is its revision (8 bytes, little-endian) and its value. One too short to
/// hold the revision (a damaged file, or a write by something else) is read with revision 0,
/// which no write produces, rather than failing the whole read: the controller moves such a
/// record aside at start instead of refusing to start over it.
fn split(key: &str, raw: &[u8]) -> Versioned {
    match raw.split_first_chunk::<8>() {
        Some((rev, value)) => Versioned {
            key: key.to_owned(),
            revision: u64::from_le_bytes(*rev),
            value: value.to_vec(),
        },
        None => Versioned {
            key: key.to_owned(),
            revision: 0,
            value: raw.to_vec(),
        },
    }
}

impl RedbStore {
    /// Opens (or creates) the store file.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("create {}: {e}", dir.display())))?;
        }
        let db =
            Database::create(path).map_err(|e| err(format!("open {}: {e}", path.display())))?;
        // Create the tables so that reads of a fresh file find them.
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(KV).map_err(err)?;
        tx.open_table(META).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Self { db })
    }

    /// Checks the compares and applies the writes in one write transaction: all or nothing.
    /// Returns the store revision after it and whether anything changed.
    fn apply(&self, compares: &[(&str, Precondition)], ops: &[TxnOp]) -> Result<(u64, bool)> {
        let tx = self.db.begin_write().map_err(err)?;
        let result = {
            let mut kv = tx.open_table(KV).map_err(err)?;
            let mut meta = tx.open_table(META).map_err(err)?;
            for (key, cond) in compares {
                let current = kv
                    .get(*key)
                    .map_err(err)?
                    .map(|g| split(key, g.value()).revision);
                if !cond.holds(current) {
                    // Dropping the transaction aborts it.
                    return Err(conflict(key, *cond, current));
                }
            }
            let old = meta
                .get(REVISION)
                .map_err(err)?
                .map(|g| g.value())
                .unwrap_or(0);
            let rev = old + 1;
            let mut changed = false;
            for op in ops {
                match op {
                    TxnOp::Put { key, value } => {
                        let mut raw = rev.to_le_bytes().to_vec();
                        raw.extend_from_slice(value);
                        kv.insert(key.as_str(), raw.as_slice()).map_err(err)?;
                        changed = true;
                    }
                    TxnOp::Delete { key } => {
                        changed |= kv.remove(key.as_str()).map_err(err)?.is_some();
                    }
                }
            }
            if changed {
                meta.insert(REVISION, rev).map_err(err)?;
            }
            (if changed { rev } else { old }, changed)
        };
        tx.commit().map_err(err)?;
        Ok(result)
    }
}

#[async_trait]
impl StateStore for RedbStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        let tx = self.db.begin_read().map_err(err)?;
        let kv = tx.open_table(KV).map_err(err)?;
        match kv.get(key).map_err(err)? {
            Some(g) => Ok(Some(split(key, g.value()))),
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> Result<u64> {
        let op = TxnOp::Put {
            key: key.to_owned(),
            value,
        };
        Ok(self.apply(&[(key, cond)], &[op])?.0)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Versioned>> {
        let tx = self.db.begin_read().map_err(err)?;
        let kv = tx.open_table(KV).map_err(err)?;
        let mut out = Vec::new();
        for item in kv.range(prefix..).map_err(err)? {
            let (k, v) = item.map_err(err)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push(split(k.value(), v.value()));
        }
        Ok(out)
    }

    async fn delete(&self, key: &str, cond: Precondition) -> Result<bool> {
        let op = TxnOp::Delete {
            key: key.to_owned(),
        };
        Ok(self.apply(&[(key, cond)], &[op])?.1)
    }

    async fn txn(&self, txn: &Txn) -> Result<u64> {
        txn.check()?;
        let compares: Vec<(&str, Precondition)> =
            txn.compares.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        Ok(self.apply(&compares, &txn.ops)?.0)
    }
}
