//! VIPs (`VipSupport::Guest`): addresses from strato's pool per network (`ipam.rs`), bound to
//! a VM by a record in its `strato-vips` attribute; the SE agent configures them in the guest.

use crate::CLOUD;
use crate::client::VsphereConnector;
use crate::convert::{self, VipRecord};
use crate::error::{MapCall, invalid};
use crate::inventory::Brief;
use crate::ipam::now_ms;
use std::collections::BTreeSet;
use std::net::IpAddr;
use strato_core::{
    Error, ErrorKind, NetworkId, Operation, Ownership, Result, Vip, VipBinding, VipId, VipQuery,
    VipSpec, VmId,
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
        for (r, on) in &records {
            if !self.is_mine(&on.attrs) {
                continue;
            }
            if r.token == token {
                return self
                    .vip_of(r, on)
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
        let pool = self.pool_of(op, &network).await?;
        let mut used: BTreeSet<IpAddr> = records
            .iter()
            .filter(|(r, _)| r.network == network.as_str())
            .map(|(r, _)| r.address)
            .collect();
        let r = convert::vm_ref(&spec.vm);
        // The pool is shared with every strato process using this vCenter and there is no
        // compare-and-swap on attributes: write, read back, and keep the address only when ours
        // is its sole record. Of two racing writers, the one reading last always sees both and
        // gives up; both may give up, then they retry on different addresses.
        for attempt in 0..8 {
            let address = match spec.address {
                Some(a) if !pool.contains(&a) => {
                    return Err(invalid(
                        op,
                        "address",
                        format!("address {a} is outside the VIP pool {pool} of {network}"),
                    ));
                }
                Some(a) if used.contains(&a) => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        op,
                        format!("address {a} on {network} is already a VIP"),
                    )
                    .with_field("address")
                    .with_cloud(CLOUD));
                }
                Some(a) => a,
                None => {
                    // First try the lowest free address; after a collision, a random one of the
                    // next free ones, so two colliding allocators do not collide again.
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
                        (nanos ^ token.len().wrapping_mul(attempt)) % free.len()
                    };
                    *free.get(pick).ok_or_else(|| {
                        Error::new(
                            ErrorKind::NoCapacity,
                            op,
                            format!("the VIP pool {pool} of {network} is exhausted"),
                        )
                        .with_cloud(CLOUD)
                    })?
                }
            };
            let rec = VipRecord {
                name: spec.name.clone(),
                address,
                network: network.to_string(),
                token: token.clone(),
                seq: now_ms(),
            };
            let added = rec.clone();
            self.edit_vips(op, &r, move |v| {
                v.retain(|x| x.token != added.token);
                v.push(added);
            })
            .await?;
            let holders: Vec<VipRecord> = self
                .vip_records(op)
                .await?
                .into_iter()
                .map(|(x, _)| x)
                .filter(|x| x.network == rec.network && x.address == address)
                .collect();
            let ours_kept = holders.iter().any(|x| x.token == rec.token);
            match holders.as_slice() {
                [only] if only.token == rec.token => {
                    return Ok(Vip {
                        id: VipId::new(convert::vip_id(&rec.network, rec.address)),
                        name: rec.name,
                        address,
                        public_address: None,
                        vm: Some(spec.vm.clone()),
                        network,
                        binding: VipBinding::Guest,
                        ownership: Ownership {
                            owner: self.owner().clone(),
                            group: None,
                            token: rec.token,
                        },
                    });
                }
                // Another writer of this VM's attribute overwrote ours: write again.
                _ if !ours_kept => {
                    tracing::debug!(%address, "vsphere: VIP record lost to a concurrent write, retrying");
                }
                _ => {
                    tracing::debug!(%address, "vsphere: VIP address taken concurrently, picking another");
                    let tok = rec.token.clone();
                    self.edit_vips(op, &r, move |v| v.retain(|x| x.token != tok))
                        .await?;
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
            moved.seq = now_ms().max(rec.seq + 1);
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
            {
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
        }
        Ok(())
    }

    fn vip_of(&self, r: &VipRecord, on: &Brief) -> Option<Vip> {
        let own = convert::ownership(&on.attrs)?;
        Some(Vip {
            id: VipId::new(convert::vip_id(&r.network, r.address)),
            name: r.name.clone(),
            address: r.address,
            public_address: None,
            vm: Some(VmId::new(on.obj.value.clone())),
            network: NetworkId::new(r.network.clone()),
            binding: VipBinding::Guest,
            ownership: Ownership {
                owner: own.owner,
                group: None,
                token: r.token.clone(),
            },
        })
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
