//! VIPs (`VipSupport::Guest`): addresses from strato's pool per network (`ipam.rs`), bound to
//! a VM by a record in its `strato-vips` attribute; the SE agent configures them in the guest.

use crate::CLOUD;
use crate::client::VsphereConnector;
use crate::convert::{self, VipRecord};
use crate::error::{MapCall, invalid};
use crate::inventory::Brief;
use crate::ipam::{self, Claim};
use std::collections::BTreeSet;
use std::net::IpAddr;
use strato_core::{
    Error, ErrorKind, NetworkId, Operation, Result, Vip, VipId, VipQuery, VipSpec, VmId,
};

impl VsphereConnector {
    pub(crate) async fn allocate_vip_impl(&self, spec: &VipSpec) -> Result<Vip> {
        let op = Operation::AllocateVip;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if spec.public {
            return Err(Error::unsupported(
                op,
                CLOUD,
                "vSphere has no public addresses",
            ));
        }
        let token = spec.client_token(self.owner());
        let guard = self.lock("vips".into());
        let _g = guard.lock().await;
        let records = self.vip_records(op).await?;
        if let Some(vip) = self.earlier_allocation(op, &records, spec, &token)? {
            return Ok(vip);
        }
        let network = self.vip_network(op, spec).await?;
        let pool = self.pool_of(op, &network).await?;
        let mut used: BTreeSet<IpAddr> = records
            .iter()
            .filter(|(r, _)| r.network == network.as_str())
            .map(|(r, _)| r.address)
            .collect();
        let vm = convert::vm_ref(&spec.vm);
        for attempt in 0..8 {
            let address = match spec.address {
                Some(a) => ipam::check_requested(op, a, &pool, &network, &used)?,
                None => ipam::next_free(op, &pool, &network, &used, attempt, token.len())?,
            };
            let rec = VipRecord {
                name: spec.name.clone(),
                address,
                network: network.to_string(),
                token: token.clone(),
                seq: ipam::now_ms(),
            };
            match self.claim(op, &vm, &rec).await? {
                Claim::Kept => {
                    return Ok(convert::vip_from(
                        &rec,
                        spec.vm.clone(),
                        self.owner().clone(),
                    ));
                }
                Claim::Overwritten => {}
                Claim::Taken => {
                    used.insert(address);
                }
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            op,
            format!(
                "VIP {:?}: allocation kept colliding with concurrent allocations",
                spec.name
            ),
        )
        .with_cloud(CLOUD))
    }

    /// The VIP an earlier identical request allocated, or `AlreadyExists` when the name is
    /// taken by a different request; `None` when the name is free.
    fn earlier_allocation(
        &self,
        op: Operation,
        records: &[(VipRecord, Brief)],
        spec: &VipSpec,
        token: &str,
    ) -> Result<Option<Vip>> {
        for (r, on) in records {
            if !self.is_mine(&on.attrs) {
                continue;
            }
            if r.token == token {
                return self
                    .vip_of(r, on)
                    .map(Some)
                    .ok_or_else(|| Error::not_found(op, "vip").with_cloud(CLOUD));
            }
            if r.name == spec.name {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    op,
                    format!(
                        "vip {:?} already exists ({}) and was made from a different spec",
                        spec.name, r.address
                    ),
                )
                .with_resource(&spec.name)
                .with_cloud(CLOUD));
            }
        }
        Ok(None)
    }

    /// The network a VIP is allocated on: the spec's, which the VM must have a NIC on, else
    /// that of the VM's first NIC.
    async fn vip_network(&self, op: Operation, spec: &VipSpec) -> Result<NetworkId> {
        let (vm, _, _) = self.owned_vm(op, &spec.vm).await?;
        let network = match &spec.network {
            Some(n) => n.clone(),
            None => vm
                .nics
                .first()
                .map(|n| n.network.clone())
                .filter(|n| !n.as_str().is_empty())
                .ok_or_else(|| {
                    invalid(
                        op,
                        "network",
                        format!("vm {} has no NIC: name the VIP's network", spec.vm),
                    )
                })?,
        };
        if spec.network.is_some() && !vm.nics.iter().any(|n| n.network == network) {
            return Err(invalid(
                op,
                "network",
                format!("vm {} has no NIC on network {network}", spec.vm),
            ));
        }
        Ok(network)
    }

    pub(crate) async fn get_vip_impl(&self, id: &VipId) -> Result<Vip> {
        let op = Operation::GetVip;
        self.owned_vip(op, id)
            .await?
            .and_then(|(r, on)| self.vip_of(&r, &on))
            .ok_or_else(|| Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))
    }

    pub(crate) async fn list_vips_impl(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        let op = Operation::ListVips;
        let mut out: Vec<Vip> = self
            .vip_records(op)
            .await?
            .iter()
            .filter(|(_, on)| self.is_mine(&on.attrs))
            .filter_map(|(r, on)| self.vip_of(r, on))
            .filter(|v| query.matches(v))
            .collect();
        out.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(out)
    }

    pub(crate) async fn move_vip_impl(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        let op = Operation::MoveVip;
        let guard = self.lock("vips".into());
        let _g = guard.lock().await;
        let (rec, from) = self
            .owned_vip(op, id)
            .await?
            .ok_or_else(|| Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))?;
        let (target, _, _) = self.owned_vm(op, to).await?;
        if !target
            .nics
            .iter()
            .any(|n| n.network.as_str() == rec.network)
        {
            return Err(invalid(
                op,
                "to",
                format!("vm {to} has no NIC on the VIP's network {}", rec.network),
            ));
        }
        if from.obj.value != to.as_str() {
            // Bind on the new VM first, then unbind: an interrupted move leaves two records of
            // one token and the newer one wins, never none.
            let mut moved = rec.clone();
            moved.seq = ipam::now_ms().max(rec.seq + 1);
            let token = rec.token.clone();
            self.edit_vips(op, &convert::vm_ref(to), move |v| {
                v.retain(|r| r.token != moved.token);
                v.push(moved);
            })
            .await?;
            match self
                .edit_vips(op, &from.obj, |v| v.retain(|r| r.token != token))
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        self.owned_vip(op, id)
            .await?
            .and_then(|(r, on)| self.vip_of(&r, &on))
            .ok_or_else(|| Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))
    }

    pub(crate) async fn release_vip_impl(&self, id: &VipId) -> Result<()> {
        let op = Operation::ReleaseVip;
        let guard = self.lock("vips".into());
        let _g = guard.lock().await;
        // Every record of this address (an interrupted move may have left two).
        let Some((net, addr)) = convert::parse_vip_id(id.as_str()) else {
            return Ok(());
        };
        let briefs = self.briefs().await.op(op)?;
        let holds = |b: &Brief| {
            let recs: Vec<VipRecord> = convert::json_attr(&b.attrs, convert::VIPS_ATTR);
            recs.iter().any(|r| r.network == net && r.address == addr)
        };
        let mine: Vec<&Brief> = briefs
            .iter()
            .filter(|b| self.is_mine(&b.attrs) && holds(b))
            .collect();
        if mine.is_empty() && briefs.iter().any(holds) {
            // Someone else's VIP: not ours to release.
            return Err(Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD));
        }
        for b in mine {
            match self
                .edit_vips(op, &b.obj, |v| {
                    v.retain(|r| !(r.network == net && r.address == addr))
                })
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The VIP of a record on `on`, owned by that VM's owner.
    fn vip_of(&self, r: &VipRecord, on: &Brief) -> Option<Vip> {
        let own = convert::ownership(&on.attrs)?;
        Some(convert::vip_from(
            r,
            VmId::new(on.obj.value.clone()),
            own.owner,
        ))
    }

    /// The owned VIP record with this id and the VM it is on.
    async fn owned_vip(&self, op: Operation, id: &VipId) -> Result<Option<(VipRecord, Brief)>> {
        let Some((net, addr)) = convert::parse_vip_id(id.as_str()) else {
            return Ok(None);
        };
        Ok(self
            .vip_records(op)
            .await?
            .into_iter()
            .find(|(r, on)| self.is_mine(&on.attrs) && r.network == net && r.address == addr))
    }
}
