//! The simulated account's state: its records, how ids are made, whose a record is, idempotent
//! creates and paging. What each call does to it lives in the resource files (`vms.rs`,
//! `networks.rs`, ...), as `impl World` blocks beside the connector's `_impl` methods.
//!
//! Everything here is synchronous and runs under the backend's lock, so a call is atomic. Time
//! enters only as the `now` of the call: states that change over time (pending -> running,
//! invisible -> visible) are computed from stored timestamps rather than by timers, so they also
//! advance across processes sharing a state file.

use crate::config::{MemoryConfig, MemoryFeature};
use crate::error::{invalid, name_taken, not_found, unsupported};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::Bound;
use strato_core::{
    Bootstrap, Error, NAME_TAG, OWNER_TAG, Operation, OwnerId, Ownership, Size, TOKEN_TAG, Tags,
};

/// Id and name of the network every account starts with (not owned by anyone).
pub const DEFAULT_NETWORK: &str = "default";
/// Largest page a list returns.
pub const MAX_PAGE: u32 = 100;
/// Most NICs a VM can have, the primary included.
pub const MAX_NICS: u32 = 8;
/// Most VMs one scale call creates at once.
pub const MAX_BATCH: u32 = 100;
/// The default network's CIDR unless the settings name another ([`crate::MemoryConfig::network_cidr`]).
pub(crate) const DEFAULT_CIDR: &str = "10.0.0.0/16";

/// What a call sees: who calls, when, and how the cloud is configured.
pub(crate) struct Ctx<'a> {
    pub owner: &'a OwnerId,
    pub now: DateTime<Utc>,
    pub settings: &'a MemoryConfig,
}

impl Ctx<'_> {
    /// `Unsupported` for `op` when the settings disable `f`.
    pub fn feature(&self, f: MemoryFeature, op: Operation, why: &str) -> Result<(), Error> {
        if self.settings.has(f) {
            Ok(())
        } else {
            Err(unsupported(op, why))
        }
    }
}

/// Power state as stored; `pending` vs `running` is derived from `since` and the boot latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "power")]
pub(crate) enum Power {
    On { since: DateTime<Utc> },
    Off,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NicRec {
    pub id: String,
    pub network: String,
    pub address: IpAddr,
    pub mac: String,
    pub device_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VmRec {
    pub id: String,
    pub name: String,
    pub size: Size,
    pub image: String,
    /// User tags plus ownership tags; none for the cloud's own VMs.
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
    pub power: Power,
    pub nics: Vec<NicRec>,
    /// The host it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its first-boot document, what a guest would read from the metadata service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NetRec {
    pub id: String,
    pub name: String,
    pub cidr: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VipRec {
    pub id: String,
    pub name: String,
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_address: Option<IpAddr>,
    pub vm: Option<String>,
    pub network: String,
    pub tags: Tags,
}

/// What the ownership and idempotency lookups need of a stored record, so one lookup serves
/// VMs, networks and VIPs alike.
pub(crate) trait Record {
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    fn tags(&self) -> &Tags;
}

macro_rules! record {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn tags(&self) -> &Tags {
                &self.tags
            }
        }
    )*};
}
record!(VmRec, NetRec, VipRec);

/// The whole simulated account. Maps are keyed by id; ids grow monotonically, so map order is
/// creation order and paging by offset is stable.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct World {
    next_id: u64,
    pub vms: BTreeMap<String, VmRec>,
    pub networks: BTreeMap<String, NetRec>,
    pub vips: BTreeMap<String, VipRec>,
    /// Hosts (of `host-1..=settings.hosts`) that accept no new VMs now.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hosts_down: BTreeSet<String>,
}

pub(crate) fn owner_of(tags: &Tags) -> Option<OwnerId> {
    Ownership::from_tags(tags).map(|o| o.owner)
}

/// True when `s` has the shape of an id this world makes with `prefix` (see `new_id`).
fn is_id_of(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Runs for every record of every listed page: compares in place rather than parsing the
/// ownership tags (which cloned three strings per record).
pub(crate) fn owned_by(tags: &Tags, owner: &OwnerId) -> bool {
    tags.get(OWNER_TAG)
        .is_some_and(|o| o.as_str() == owner.as_str())
}

/// The caller's record `id`: `None` when there is no such record at all, `NotFound` when it is
/// another owner's (which must look exactly like one that does not exist, except to deletes,
/// which succeed on what is gone).
pub(crate) fn owned<'w, R: Record>(
    records: &'w BTreeMap<String, R>,
    ctx: &Ctx,
    what: &str,
    id: &str,
    op: Operation,
) -> Result<Option<&'w R>, Error> {
    match records.get(id) {
        None => Ok(None),
        Some(r) if !owned_by(r.tags(), ctx.owner) => Err(not_found(op, what, id)),
        Some(r) => Ok(Some(r)),
    }
}

/// Idempotent creates: the caller's record made from this very request (same client token) is
/// the answer to a retry; one of the same name made from another request is a conflict.
pub(crate) fn made_before<'w, R: Record>(
    records: &'w BTreeMap<String, R>,
    ctx: &Ctx,
    what: &str,
    token: &str,
    name: &str,
    op: Operation,
) -> Result<Option<&'w R>, Error> {
    let mine = || records.values().filter(|r| owned_by(r.tags(), ctx.owner));
    if let Some(r) = mine().find(|r| r.tags().get(TOKEN_TAG).map(String::as_str) == Some(token)) {
        return Ok(Some(r));
    }
    match mine().find(|r| r.name() == name) {
        Some(r) => Err(name_taken(op, what, name, r.id())),
        None => Ok(None),
    }
}

/// The tags a new record is stored with: the spec's, its ownership, and its name.
pub(crate) fn stored_tags(spec_tags: &Tags, ownership: Ownership, name: &str) -> Tags {
    let mut tags = spec_tags.clone();
    ownership.apply(&mut tags);
    tags.insert(NAME_TAG.into(), name.to_owned());
    tags
}

/// Where a keyset page starts: after the last id of the previous page (its token), which must
/// be an id of `prefix`.
pub(crate) fn page_start(
    token: Option<&str>,
    prefix: &str,
    op: Operation,
) -> Result<Bound<String>, Error> {
    match token {
        None => Ok(Bound::Unbounded),
        Some(t) if is_id_of(prefix, t) => Ok(Bound::Excluded(t.to_owned())),
        Some(t) => Err(invalid(
            op,
            "page_token",
            format!("page token {t:?} is not one this connector issued"),
        )),
    }
}

impl World {
    /// A fresh account: the default network and one VM of the cloud's own, so that ownership
    /// filtering always has something to filter out.
    pub fn seeded(now: DateTime<Utc>, cidr: IpNet) -> Self {
        let mut w = World::default();
        w.networks.insert(
            DEFAULT_NETWORK.into(),
            NetRec {
                id: DEFAULT_NETWORK.into(),
                name: DEFAULT_NETWORK.into(),
                cidr,
                parent: Some("memory".into()),
                tags: Tags::new(),
                created_at: now,
            },
        );
        let id = w.new_id("vm");
        let nic = w.new_nic(
            DEFAULT_NETWORK,
            w.free_address(DEFAULT_NETWORK).expect("empty network"),
            0,
            None,
        );
        w.vms.insert(
            id.clone(),
            VmRec {
                id,
                name: "gateway".into(),
                size: Size::shape(1, 512),
                image: "memory-gateway".into(),
                tags: Tags::from([("role".to_owned(), "gateway".to_owned())]),
                created_at: now,
                power: Power::On { since: now },
                nics: vec![nic],
                host: None,
                bootstrap: None,
            },
        );
        w
    }

    pub fn inventory(&self) -> crate::Inventory {
        crate::Inventory {
            vms: self.vms.len(),
            nics: self.vms.values().map(|v| v.nics.len()).sum(),
            networks: self.networks.len(),
            vips: self.vips.len(),
        }
    }

    pub fn new_id(&mut self, prefix: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{prefix}-{n:08x}")
    }

    pub fn new_nic(
        &mut self,
        network: &str,
        address: IpAddr,
        device_index: u32,
        token: Option<String>,
    ) -> NicRec {
        let n = self.next_id;
        let id = self.new_id("nic");
        let b = n.to_be_bytes();
        NicRec {
            id,
            network: network.into(),
            address,
            mac: format!("02:00:{:02x}:{:02x}:{:02x}:{:02x}", b[4], b[5], b[6], b[7]),
            device_index,
            token,
        }
    }
}
