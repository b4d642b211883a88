//! strato's IPAM for guest VIPs: a pool per network (the profile's `vip_pools`, or the CIDR of a
//! network strato created), and the allocation records kept in the `strato-vips` attribute of
//! the VM each VIP is bound to (shared by every strato process using the vCenter).

use crate::CLOUD;
use crate::client::VsphereConnector;
use crate::convert::{self, VipRecord};
use crate::error::{MapCall, invalid, map};
use crate::inventory::Brief;
use crate::soap::MoRef;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use strato_core::{Error, ErrorKind, NetworkId, OWNER_TAG, Operation, Result};

/// The `seq` of a record written now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An address the spec asks for, when it is in the pool and not already a VIP.
pub(crate) fn check_requested(
    op: Operation,
    address: IpAddr,
    pool: &IpNet,
    network: &NetworkId,
    used: &BTreeSet<IpAddr>,
) -> Result<IpAddr> {
    if !pool.contains(&address) {
        return Err(invalid(
            op,
            "address",
            format!("address {address} is outside the VIP pool {pool} of {network}"),
        ));
    }
    if used.contains(&address) {
        return Err(Error::new(
            ErrorKind::Conflict,
            op,
            format!("address {address} on {network} is already a VIP"),
        )
        .with_field("address")
        .with_cloud(CLOUD));
    }
    Ok(address)
}

/// A free address of the pool for allocation `attempt`: the lowest at first; after a collision
/// a random one of the next free ones, so two colliding allocators do not collide again.
/// `seed` tells allocators apart.
pub(crate) fn next_free(
    op: Operation,
    pool: &IpNet,
    network: &NetworkId,
    used: &BTreeSet<IpAddr>,
    attempt: usize,
    seed: usize,
) -> Result<IpAddr> {
    let free: Vec<IpAddr> = pool
        .hosts()
        .filter(|a| !used.contains(a))
        .take(64)
        .collect();
    let pick = if attempt == 0 || free.is_empty() {
        0
    } else {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as usize)
            .unwrap_or(0);
        (nanos ^ seed.wrapping_mul(attempt)) % free.len()
    };
    free.get(pick).copied().ok_or_else(|| {
        Error::new(
            ErrorKind::NoCapacity,
            op,
            format!("the VIP pool {pool} of {network} is exhausted"),
        )
        .with_cloud(CLOUD)
    })
}

/// What became of an address a record was written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The record is the address's only one: the address is ours.
    Kept,
    /// Another writer of the VM's attribute overwrote the record: write it again.
    Overwritten,
    /// Another allocation holds the address too; the record was taken back: pick another.
    Taken,
}

impl VsphereConnector {
    /// Every VIP record in the datacenter (all owners: the pools are shared), newest bind per
    /// token, with the VM it is on and that VM's attributes.
    pub(crate) async fn vip_records(&self, op: Operation) -> Result<Vec<(VipRecord, Brief)>> {
        let briefs = self.briefs().await.op(op)?;
        let mut by_token: BTreeMap<(String, String), (VipRecord, Brief)> = BTreeMap::new();
        for b in briefs {
            let recs: Vec<VipRecord> = convert::json_attr(&b.attrs, convert::VIPS_ATTR);
            let owner = b.attrs.get(OWNER_TAG).cloned().unwrap_or_default();
            for r in recs {
                let k = (owner.clone(), r.token.clone());
                if by_token.get(&k).is_none_or(|(old, _)| old.seq < r.seq) {
                    by_token.insert(k, (r, b.clone()));
                }
            }
        }
        Ok(by_token.into_values().collect())
    }

    async fn write_vips(&self, op: Operation, vm: &MoRef, recs: &[VipRecord]) -> Result<()> {
        self.set_attr(
            vm,
            convert::VIPS_ATTR,
            &serde_json::to_string(recs).expect("json"),
        )
        .await
        .op(op)
    }

    /// Re-reads a VM's VIP records (under the VIP lock) and writes them back changed by `f`.
    pub(crate) async fn edit_vips(
        &self,
        op: Operation,
        vm: &MoRef,
        f: impl FnOnce(&mut Vec<VipRecord>),
    ) -> Result<()> {
        let o = match self.vim.props(vm, &["customValue"]).await {
            Ok(o) => o,
            Err(e) if e.is_gone() => {
                return Err(Error::not_found(op, format!("vm {}", vm.value)).with_cloud(CLOUD));
            }
            Err(e) => return Err(map(op, e)),
        };
        let mut recs: Vec<VipRecord> = convert::json_attr(&self.attrs(&o), convert::VIPS_ATTR);
        f(&mut recs);
        self.write_vips(op, vm, &recs).await
    }

    /// The VIP pool of a network: the profile's `vip_pools` (by id or name), else the CIDR of a
    /// network strato created.
    pub(crate) async fn pool_of(&self, op: Operation, network: &NetworkId) -> Result<ipnet::IpNet> {
        if let Some(p) = self.config.vip_pools.get(network.as_str()) {
            return Ok(*p);
        }
        let n = self
            .network_by_id(op, network)
            .await?
            .ok_or_else(|| invalid(op, "network", format!("network {network} not found")))?;
        n.cidr.ok_or_else(|| {
            invalid(
                op,
                "network",
                format!(
                    "network {:?} ({network}) has no VIP pool: add vip_pools.\"{}\" = \"CIDR\" to the profile",
                    n.name, n.name
                ),
            )
        })
    }

    /// Writes `rec` to the records of `vm` and reads every record back. The pool is shared with
    /// every strato process using this vCenter and custom attributes have no compare-and-swap:
    /// an address is kept only when its record is the only one. Of two racing writers, the one
    /// reading last always sees both and gives up; both may give up, then they retry on
    /// different addresses.
    pub(crate) async fn claim(&self, op: Operation, vm: &MoRef, rec: &VipRecord) -> Result<Claim> {
        let added = rec.clone();
        self.edit_vips(op, vm, move |v| {
            v.retain(|x| x.token != added.token);
            v.push(added);
        })
        .await?;
        let holders: Vec<VipRecord> = self
            .vip_records(op)
            .await?
            .into_iter()
            .map(|(x, _)| x)
            .filter(|x| x.network == rec.network && x.address == rec.address)
            .collect();
        let ours_kept = holders.iter().any(|x| x.token == rec.token);
        match holders.as_slice() {
            [only] if only.token == rec.token => Ok(Claim::Kept),
            _ if !ours_kept => {
                tracing::debug!(address = %rec.address, "vsphere: VIP record lost to a concurrent write, retrying");
                Ok(Claim::Overwritten)
            }
            _ => {
                tracing::debug!(address = %rec.address, "vsphere: VIP address taken concurrently, picking another");
                let tok = rec.token.clone();
                self.edit_vips(op, vm, move |v| v.retain(|x| x.token != tok))
                    .await?;
                Ok(Claim::Taken)
            }
        }
    }
}
