//! Loading the state at start, and what happens to a record that no longer decodes (a damaged
//! file, a record written by a newer version, a hand edit): it is moved aside to
//! `quarantine/<its key>` (its bytes kept as they were, for whoever looks into it), reported in
//! the status and in `/metrics`, and the controller starts on everything else. One bad record
//! never keeps the controller from starting, and never makes it destroy what the record
//! described:
//!
//! * an SE group or a virtual service whose record was moved aside is *held*: its SEs, address
//!   and VIP stay as they are (the reconcile fails with the reason, which the status shows)
//!   until it is applied again;
//! * the controller's own records are rebuilt: an SE record by adopting the VM by its tags, a
//!   service's runtime from the address claim it still holds (the claim is reused, not leaked),
//!   an address claim from the runtime record that holds the address.
//!
//! A moved-aside record is reported until its key holds a record again (applied again, or
//! rebuilt); then the copy is deleted.

use super::{Controller, GroupRuntime, SeRecord, State, VsRuntime, keys};
use crate::error::{ControllerError, Result};
use crate::model::{DnsZone, IpamPool, SeGroup, VirtualService};
use crate::store::{Precondition, StateStore, StateStoreExt, Txn, Versioned};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

/// A record moved aside because it does not decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantinedRecord {
    /// Where it was (`segroup/web`); its bytes are now under `quarantine/` and this key.
    pub key: String,
    /// Why it does not decode.
    pub error: String,
}

/// A stored record, decoded by the prefix of its key.
enum Record {
    Group(SeGroup),
    Vs(VirtualService),
    Pool(IpamPool),
    Zone(DnsZone),
    Se(SeRecord),
    VsRt(VsRuntime),
    GroupRt(String, GroupRuntime),
    Ipam(String, IpAddr, String),
    /// A service's forecaster (boxed: its history is far larger than the other records).
    Forecast(String, Box<crate::forecast::Forecaster>),
    /// A key of no kind this version knows (left alone).
    Other,
}

fn json<T: DeserializeOwned>(value: &[u8]) -> std::result::Result<T, String> {
    serde_json::from_slice(value).map_err(|e| e.to_string())
}

fn decode(key: &str, value: &[u8]) -> std::result::Result<Record, String> {
    Ok(if key.starts_with(keys::SEGROUP) {
        Record::Group(json(value)?)
    } else if key.starts_with(keys::VS) {
        Record::Vs(json(value)?)
    } else if key.starts_with(keys::POOL) {
        Record::Pool(json(value)?)
    } else if key.starts_with(keys::ZONE) {
        Record::Zone(json(value)?)
    } else if key.starts_with(keys::SE) {
        Record::Se(json(value)?)
    } else if key.starts_with(keys::VSRT) {
        Record::VsRt(json(value)?)
    } else if let Some(group) = key.strip_prefix(keys::SEGRT) {
        Record::GroupRt(group.to_owned(), json(value)?)
    } else if let Some(vs) = key.strip_prefix(keys::FORECAST) {
        Record::Forecast(vs.to_owned(), json(value)?)
    } else if let Some(rest) = key.strip_prefix(keys::IPAM) {
        let (pool, addr) = rest
            .split_once('/')
            .and_then(|(p, a)| Some((p, a.parse::<IpAddr>().ok()?)))
            .ok_or_else(|| format!("{key} is not ipam/POOL/ADDRESS"))?;
        Record::Ipam(pool.to_owned(), addr, json(value)?)
    } else {
        Record::Other
    })
}

/// Reads the whole store into `st`, moving aside what does not decode.
pub(super) async fn load(store: &dyn StateStore, st: &mut State) -> Result<()> {
    let mut claims = Vec::new();
    for v in store.list("").await? {
        if let Some(original) = v.key.strip_prefix(keys::QUARANTINE) {
            // Moved aside by an earlier start: still to be looked at.
            let why = match decode(original, &v.value) {
                Err(e) => e,
                Ok(_) => "decodes now: apply it again, or delete the moved-aside copy".into(),
            };
            st.quarantined.entry(original.to_owned()).or_insert(why);
            continue;
        }
        // Revision 0 is how a record too short for its revision header reads.
        let record = if v.revision == 0 {
            Err("the record is shorter than its revision header".to_owned())
        } else {
            decode(&v.key, &v.value)
        };
        match record {
            Ok(Record::Group(g)) => {
                st.groups.insert(g.name.clone(), g);
            }
            Ok(Record::Vs(v)) => {
                st.insert_vs(v);
            }
            Ok(Record::Pool(p)) => {
                st.pools.insert(p.name.clone(), p);
            }
            Ok(Record::Zone(z)) => {
                st.zones.insert(z.key(), z);
            }
            Ok(Record::Se(r)) => {
                st.ses
                    .entry(r.group.clone())
                    .or_default()
                    .insert(r.name.clone(), Arc::new(r));
            }
            Ok(Record::VsRt(r)) => {
                st.vsrt.insert(r.name.clone(), r);
            }
            Ok(Record::GroupRt(g, r)) => {
                st.group_rt.insert(g, r);
            }
            Ok(Record::Ipam(pool, addr, vs)) => claims.push((pool, addr, vs)),
            Ok(Record::Forecast(vs, f)) => {
                st.vs_scale.entry(vs).or_default().forecast = Some(*f);
            }
            Ok(Record::Other) => {}
            Err(why) => {
                move_aside(store, &v, &why).await?;
                st.quarantined.insert(v.key, why);
            }
        }
    }
    reconcile_claims(store, st, claims).await
}

/// Moves a record to `quarantine/<key>`, in one transaction that requires it unchanged.
async fn move_aside(store: &dyn StateStore, v: &Versioned, why: &str) -> Result<()> {
    tracing::warn!(key = %v.key, error = %why, "a stored record does not decode: moved to {}{}", keys::QUARANTINE, v.key);
    let mut txn = Txn::new();
    txn.compare(v.key.as_str(), Precondition::Revision(v.revision))
        .put(format!("{}{}", keys::QUARANTINE, v.key), v.value.clone())
        .delete(v.key.as_str());
    store.txn(&txn).await?;
    Ok(())
}

/// Matches the address claims with the runtime records that hold them: a claim no record holds
/// (its record was lost or moved aside) is kept for its service to take back, and an address a
/// record holds without a claim (the claim was moved aside) is claimed again, so no other
/// service is given it.
async fn reconcile_claims(
    store: &dyn StateStore,
    st: &mut State,
    claims: Vec<(String, IpAddr, String)>,
) -> Result<()> {
    let held: HashSet<(&str, IpAddr)> = st
        .vsrt
        .values()
        .filter_map(|r| Some((r.pool.as_deref()?, r.address?)))
        .collect();
    let mut unheld = Vec::new();
    for (pool, addr, vs) in claims {
        if !held.contains(&(pool.as_str(), addr)) {
            unheld.push((vs.clone(), pool.clone(), addr));
        }
        st.ipam.entry(pool).or_default().insert(addr, vs);
    }
    for (vs, pool, addr) in unheld {
        st.unheld_claims.entry(vs).or_default().push((pool, addr));
    }
    let unclaimed: Vec<(String, IpAddr, String)> = st
        .vsrt
        .values()
        .filter_map(|r| Some((r.pool.clone()?, r.address?, r.name.clone())))
        .filter(|(p, a, _)| !st.ipam.get(p).is_some_and(|m| m.contains_key(a)))
        .collect();
    for (pool, addr, vs) in unclaimed {
        let key = format!("{}{pool}/{addr}", keys::IPAM);
        store.put_json(&key, &vs, Precondition::Absent).await?;
        tracing::warn!(vs = %vs, %addr, "claimed again the address a service holds");
        st.ipam.entry(pool).or_default().insert(addr, vs);
    }
    Ok(())
}

impl Controller {
    /// The error that holds an object whose record was moved aside (`prefix` is its kind's
    /// key prefix): nothing of it is torn down while it is away.
    pub(super) fn quarantine_hold(&self, prefix: &str, name: &str) -> Option<ControllerError> {
        let key = format!("{prefix}{name}");
        let st = self.state();
        let why = st.quarantined.get(&key)?;
        Some(ControllerError::Store(format!(
            "{key} does not decode ({why}) and was moved to {}{key}; nothing of it is torn \
             down until it is applied again",
            keys::QUARANTINE
        )))
    }

    /// Deletes the moved-aside copy of every record whose key holds a record again (applied
    /// again, or rebuilt by a reconcile).
    pub(super) async fn drop_superseded_quarantine(&self) {
        let moved: Vec<String> = self.state().quarantined.keys().cloned().collect();
        for key in moved {
            let res = match self.inner.store.get(&key).await {
                Ok(Some(_)) => self
                    .inner
                    .store
                    .delete(&format!("{}{key}", keys::QUARANTINE), Precondition::Any)
                    .await
                    .map(|_| true),
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            };
            match res {
                Ok(true) => {
                    tracing::info!(%key, "a moved-aside record was replaced: its copy is deleted");
                    self.state().quarantined.remove(&key);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(%key, error = %e, "checking a moved-aside record"),
            }
        }
    }

    /// The records moved aside, by key.
    pub(super) fn quarantined(&self) -> Vec<QuarantinedRecord> {
        self.state()
            .quarantined
            .iter()
            .map(|(k, e)| QuarantinedRecord {
                key: k.clone(),
                error: e.clone(),
            })
            .collect()
    }
}
