//! VIPs: an address of a VM's network bound to one of its VMs (plus a public address when asked),
//! allocated idempotently by client token, moved between VMs on that network, released.

use crate::client::MemoryConnector;
use crate::config::MemoryFeature;
use crate::convert;
use crate::error::{Code, fail, invalid, not_found};
use crate::world::{
    Ctx, DEFAULT_NETWORK, VipRec, World, made_before, owned, owned_by, stored_tags,
};
use ipnet::IpNet;
use std::collections::HashSet;
use std::net::IpAddr;
use strato_core::{Error, NetworkId, Operation, Result, Vip, VipId, VipQuery, VipSpec, VmId};

// TEST-NET-3: documentation addresses, never routed, so a "public" VIP cannot leak anywhere.
const PUBLIC_POOL: &str = "203.0.113.0/24";

impl MemoryConnector {
    pub(crate) async fn allocate_vip_impl(&self, spec: &VipSpec) -> Result<Vip> {
        self.call(Operation::AllocateVip, |w, c| w.allocate_vip(c, spec))
    }

    pub(crate) async fn get_vip_impl(&self, id: &VipId) -> Result<Vip> {
        self.call(Operation::GetVip, |w, c| w.get_vip(c, id))
    }

    pub(crate) async fn list_vips_impl(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        self.call(Operation::ListVips, |w, c| w.list_vips(c, query))
    }

    pub(crate) async fn move_vip_impl(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        self.call(Operation::MoveVip, |w, c| w.move_vip(c, id, to))
    }

    pub(crate) async fn release_vip_impl(&self, id: &VipId) -> Result<()> {
        self.call(Operation::ReleaseVip, |w, c| w.release_vip(c, id))
    }
}

/// `Unsupported` when the settings disable VIPs.
fn vips_on(ctx: &Ctx, op: Operation) -> Result<(), Error> {
    ctx.feature(
        MemoryFeature::Vip,
        op,
        "this cloud has no movable addresses",
    )
}

impl World {
    fn my_vip<'w>(&'w self, ctx: &Ctx, id: &str, op: Operation) -> Result<&'w VipRec, Error> {
        owned(&self.vips, ctx, "vip", id, op)?.ok_or_else(|| not_found(op, "vip", id))
    }

    pub fn allocate_vip(&mut self, ctx: &Ctx, spec: &VipSpec) -> Result<Vip, Error> {
        let op = Operation::AllocateVip;
        vips_on(ctx, op)?;
        spec.validate()?;
        let token = spec.client_token(ctx.owner);
        if let Some(v) = made_before(&self.vips, ctx, "vip", &token, &spec.name, op)? {
            return Ok(convert::vip(v));
        }
        let vm = self
            .my_vm(ctx, spec.vm.as_str(), op)
            .map_err(|e| e.with_field("vm"))?;
        let net_id = match &spec.network {
            Some(n) => n.as_str(),
            None => vm
                .nics
                .iter()
                .find(|n| n.device_index == 0)
                .map_or(DEFAULT_NETWORK, |n| n.network.as_str()),
        };
        let net = self.network_for_spec(ctx, Some(&NetworkId::new(net_id)), op)?;
        if !vm.nics.iter().any(|n| n.network == net.id) {
            return Err(invalid(
                op,
                "network",
                format!("vm {} has no NIC on network {}", vm.id, net.id),
            ));
        }
        let address = self.take_address(net, spec.address, op)?;
        let public_address = if spec.public {
            let pool: IpNet = PUBLIC_POOL.parse().expect("valid CIDR");
            let used: HashSet<IpAddr> = self
                .vips
                .values()
                .filter_map(|v| v.public_address)
                .collect();
            Some(
                pool.hosts()
                    .find(|a| !used.contains(a))
                    .ok_or_else(|| fail(op, Code::AddressesExhausted, "no public address left"))?,
            )
        } else {
            None
        };
        let network = net.id.clone();
        let vm_id = vm.id.clone();
        let id = self.new_id("vip");
        let rec = VipRec {
            id: id.clone(),
            name: spec.name.clone(),
            address,
            public_address,
            vm: Some(vm_id),
            network,
            tags: stored_tags(&spec.tags, spec.ownership(ctx.owner), &spec.name),
        };
        let vip = convert::vip(&rec);
        self.vips.insert(id, rec);
        Ok(vip)
    }

    pub fn get_vip(&self, ctx: &Ctx, id: &VipId) -> Result<Vip, Error> {
        let op = Operation::GetVip;
        vips_on(ctx, op)?;
        self.my_vip(ctx, id.as_str(), op).map(convert::vip)
    }

    pub fn list_vips(&self, ctx: &Ctx, q: &VipQuery) -> Result<Vec<Vip>, Error> {
        vips_on(ctx, Operation::ListVips)?;
        Ok(self
            .vips
            .values()
            .filter(|v| owned_by(&v.tags, ctx.owner))
            .map(convert::vip)
            .filter(|v| q.matches(v))
            .collect())
    }

    pub fn move_vip(&mut self, ctx: &Ctx, id: &VipId, to: &VmId) -> Result<Vip, Error> {
        let op = Operation::MoveVip;
        vips_on(ctx, op)?;
        ctx.feature(
            MemoryFeature::VipMove,
            op,
            "this cloud's addresses stay on the VM they were made on",
        )?;
        let vip = self.my_vip(ctx, id.as_str(), op)?;
        let vm = self
            .my_vm(ctx, to.as_str(), op)
            .map_err(|e| e.with_field("to"))?;
        if !vm.nics.iter().any(|n| n.network == vip.network) {
            return Err(invalid(
                op,
                "to",
                format!(
                    "vm {to} has no NIC on network {}, where vip {id} lives",
                    vip.network
                ),
            ));
        }
        let rec = self.vips.get_mut(id.as_str()).expect("checked");
        rec.vm = Some(to.as_str().to_owned());
        Ok(convert::vip(rec))
    }

    pub fn release_vip(&mut self, ctx: &Ctx, id: &VipId) -> Result<(), Error> {
        let op = Operation::ReleaseVip;
        vips_on(ctx, op)?;
        if owned(&self.vips, ctx, "vip", id.as_str(), op)?.is_some() {
            self.vips.remove(id.as_str());
        }
        Ok(())
    }
}
