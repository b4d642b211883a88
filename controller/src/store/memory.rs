//! An in-memory store, for tests and for a controller that keeps no state.

use super::{Precondition, StateStore, Versioned};
use crate::error::{ControllerError, Result};
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
}

fn conflict(key: &str, cond: Precondition, current: Option<u64>) -> ControllerError {
    ControllerError::Conflict(format!(
        "{key}: expected {cond:?}, found revision {current:?}"
    ))
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
        let mut g = self.inner.lock().expect("store lock");
        let current = g.1.get(key).map(|(r, _)| *r);
        if !cond.holds(current) {
            return Err(conflict(key, cond, current));
        }
        g.0 += 1;
        let rev = g.0;
        g.1.insert(key.to_owned(), (rev, value));
        Ok(rev)
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
        let mut g = self.inner.lock().expect("store lock");
        let current = g.1.get(key).map(|(r, _)| *r);
        if !cond.holds(current) {
            return Err(conflict(key, cond, current));
        }
        if current.is_some() {
            g.0 += 1;
        }
        Ok(g.1.remove(key).is_some())
    }
}
