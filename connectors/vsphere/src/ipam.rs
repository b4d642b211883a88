//! strato's IPAM for guest VIPs: a pool per network (the profile's `vip_pools`, or the CIDR of a
//! network strato created), and the allocation records kept in the `strato-vips` attribute of
//! the VM each VIP is bound to (shared by every strato process using the vCenter).

use crate::CLOUD;
use crate::client::VsphereConnector;
use crate::convert::{self, VipRecord};
use crate::error::{MapCall, invalid, map};
use crate::inventory::Brief;
use crate::soap::MoRef;
use std::collections::BTreeMap;
use strato_core::{Error, NetworkId, OWNER_TAG, Operation, Result};

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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
        if let Some(p) = self.cfg.vip_pools.get(network.as_str()) {
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
}
