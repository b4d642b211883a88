//! The embedded store: one redb file. Each put or delete is one write transaction, so a
//! compare-and-swap is atomic and durable when it returns.
//!
//! redb is synchronous; calls run inline because every transaction is small (one key) and the
//! controller writes only when a record changes, never in a steady-state pass.

use super::{Precondition, StateStore, Versioned};
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

fn split(key: &str, raw: &[u8]) -> Result<Versioned> {
    if raw.len() < 8 {
        return Err(ControllerError::Store(format!(
            "{key}: record shorter than its revision header"
        )));
    }
    let (rev, value) = raw.split_at(8);
    Ok(Versioned {
        key: key.to_owned(),
        revision: u64::from_le_bytes(rev.try_into().expect("8 bytes")),
        value: value.to_vec(),
    })
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

    fn write(&self, key: &str, value: Option<Vec<u8>>, cond: Precondition) -> Result<(u64, bool)> {
        let tx = self.db.begin_write().map_err(err)?;
        let result = {
            let mut kv = tx.open_table(KV).map_err(err)?;
            let mut meta = tx.open_table(META).map_err(err)?;
            let current = match kv.get(key).map_err(err)? {
                Some(g) => Some(split(key, g.value())?.revision),
                None => None,
            };
            if !cond.holds(current) {
                return Err(ControllerError::Conflict(format!(
                    "{key}: expected {cond:?}, found revision {current:?}"
                )));
            }
            let rev = meta
                .get(REVISION)
                .map_err(err)?
                .map(|g| g.value())
                .unwrap_or(0)
                + 1;
            let changed = match value {
                Some(v) => {
                    let mut raw = rev.to_le_bytes().to_vec();
                    raw.extend_from_slice(&v);
                    kv.insert(key, raw.as_slice()).map_err(err)?;
                    true
                }
                None => kv.remove(key).map_err(err)?.is_some(),
            };
            if changed {
                meta.insert(REVISION, rev).map_err(err)?;
            }
            (rev, changed)
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
            Some(g) => Ok(Some(split(key, g.value())?)),
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> Result<u64> {
        Ok(self.write(key, Some(value), cond)?.0)
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
            out.push(split(k.value(), v.value())?);
        }
        Ok(out)
    }

    async fn delete(&self, key: &str, cond: Precondition) -> Result<bool> {
        Ok(self.write(key, None, cond)?.1)
    }
}
