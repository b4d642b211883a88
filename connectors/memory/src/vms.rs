//! VMs: create (idempotent by client token, under the VM quota), read, list by keyset pages,
//! delete, and stop/start with a boot latency.

use crate::capabilities::capabilities;
use crate::client::MemoryConnector;
use crate::config::MemoryFeature;
use crate::convert;
use crate::error::{Code, fail, not_found, not_yet_visible};
use crate::world::{
    Ctx, MAX_PAGE, Power, VmRec, World, made_before, owned, owned_by, owner_of, page_start,
    stored_tags,
};
use strato_core::{Error, GROUP_TAG, Operation, Page, Result, Vm, VmId, VmQuery, VmSpec};

impl MemoryConnector {
    pub(crate) async fn create_vm_impl(&self, spec: &VmSpec) -> Result<Vm> {
        self.call(Operation::CreateVm, |w, c| w.create_vm(c, spec))
    }

    pub(crate) async fn get_vm_impl(&self, id: &VmId) -> Result<Vm> {
        self.call(Operation::GetVm, |w, c| w.get_vm(c, id))
    }

    pub(crate) async fn list_vms_impl(&self, query: &VmQuery) -> Result<Page<Vm>> {
        self.call(Operation::ListVms, |w, c| w.list_vms(c, query))
    }

    pub(crate) async fn delete_vm_impl(&self, id: &VmId) -> Result<()> {
        self.call(Operation::DeleteVm, |w, c| w.delete_vm(c, id))
    }

    pub(crate) async fn start_stop_impl(&self, id: &VmId, start: bool) -> Result<Vm> {
        self.call(start_stop_op(start), |w, c| w.start_stop(c, id, start))
    }
}

fn start_stop_op(start: bool) -> Operation {
    if start {
        Operation::StartVm
    } else {
        Operation::StopVm
    }
}

/// Whether a VM is old enough to be read (the simulated eventual consistency).
pub(crate) fn visible(ctx: &Ctx, vm: &VmRec) -> bool {
    ctx.now >= vm.created_at + ctx.settings.visibility_delay
}

impl World {
    /// The caller's VM, or `NotFound` (also for another owner's), or `NotYetVisible`.
    pub fn my_vm<'w>(&'w self, ctx: &Ctx, id: &str, op: Operation) -> Result<&'w VmRec, Error> {
        let vm = owned(&self.vms, ctx, "vm", id, op)?.ok_or_else(|| not_found(op, "vm", id))?;
        if !visible(ctx, vm) {
            return Err(not_yet_visible(op, "vm", id));
        }
        Ok(vm)
    }

    fn my_vm_mut<'w>(
        &'w mut self,
        ctx: &Ctx,
        id: &str,
        op: Operation,
    ) -> Result<&'w mut VmRec, Error> {
        self.my_vm(ctx, id, op)?;
        Ok(self.vms.get_mut(id).expect("checked above"))
    }

    fn live_strato_vms(&self) -> usize {
        self.vms
            .values()
            .filter(|v| owner_of(&v.tags).is_some())
            .count()
    }

    /// How many more VMs the quota allows.
    pub fn vm_room(&self, ctx: &Ctx) -> u32 {
        match ctx.settings.quota_vms {
            None => u32::MAX,
            Some(q) => q.saturating_sub(self.live_strato_vms() as u32),
        }
    }

    pub fn quota_error(ctx: &Ctx, op: Operation, name: &str) -> Error {
        fail(
            op,
            Code::QuotaExceeded,
            format!(
                "cannot create vm {name:?}: the account allows {} vms",
                ctx.settings.quota_vms.unwrap_or(0)
            ),
        )
        .with_resource(name)
    }

    pub fn create_vm(&mut self, ctx: &Ctx, spec: &VmSpec) -> Result<Vm, Error> {
        let op = Operation::CreateVm;
        spec.validate()?;
        let token = spec.client_token(ctx.owner);
        if let Some(v) = made_before(&self.vms, ctx, "vm", &token, &spec.name, op)? {
            return Ok(convert::vm(ctx, v));
        }
        spec.validate_for(&capabilities(ctx.settings), crate::CLOUD)?;
        let network = self
            .network_for_spec(ctx, spec.network.as_ref(), op)?
            .id
            .clone();
        for extra in &spec.extra_networks {
            self.network_for_spec(ctx, Some(extra), op)?;
        }
        if self.vm_room(ctx) == 0 {
            return Err(Self::quota_error(ctx, op, &spec.name));
        }
        let id = self.insert_vm(ctx, spec, &network, op)?;
        Ok(convert::vm(ctx, &self.vms[&id]))
    }

    /// Creates a VM whose checks have passed.
    pub fn insert_vm(
        &mut self,
        ctx: &Ctx,
        spec: &VmSpec,
        network: &str,
        op: Operation,
    ) -> Result<String, Error> {
        let host = self.place(ctx, spec.host.as_ref(), op)?;
        let address = self.take_address(&self.networks[network], None, op)?;
        let id = self.new_id("vm");
        let mut nics = vec![self.new_nic(network, address, 0, None)];
        for (i, extra) in spec.extra_networks.iter().enumerate() {
            let net = self.networks[extra.as_str()].clone();
            let address = self.take_address(&net, None, op)?;
            nics.push(self.new_nic(&net.id, address, i as u32 + 1, None));
        }
        let tags = stored_tags(&spec.tags, spec.ownership(ctx.owner), &spec.name);
        self.vms.insert(
            id.clone(),
            VmRec {
                id: id.clone(),
                name: spec.name.clone(),
                size: spec.size.clone(),
                image: spec.image.clone(),
                tags,
                created_at: ctx.now,
                power: Power::On { since: ctx.now },
                nics,
                host,
                bootstrap: spec.bootstrap.clone(),
            },
        );
        Ok(id)
    }

    pub fn get_vm(&self, ctx: &Ctx, id: &VmId) -> Result<Vm, Error> {
        Ok(convert::vm(
            ctx,
            self.my_vm(ctx, id.as_str(), Operation::GetVm)?,
        ))
    }

    pub fn list_vms(&self, ctx: &Ctx, q: &VmQuery) -> Result<Page<Vm>, Error> {
        // Keyset pages: the token is the last id of the previous page and a page walks the
        // id-ordered records from there, so a full listing is linear in the number of VMs
        // (offset pages re-filtered every record for every page: quadratic).
        let start = page_start(q.page_token.as_deref(), "vm", Operation::ListVms)?;
        let size = q.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE) as usize;
        let matches = |v: &VmRec| {
            owned_by(&v.tags, ctx.owner)
                && visible(ctx, v)
                && q.name.as_ref().is_none_or(|n| *n == v.name)
                && q.group
                    .as_ref()
                    .is_none_or(|g| v.tags.get(GROUP_TAG) == Some(g))
                && q.tags.iter().all(|(k, val)| v.tags.get(k) == Some(val))
                && q.state.is_none_or(|s| s == convert::vm_state(ctx, v))
        };
        let mut items = Vec::with_capacity(size.min(self.vms.len()));
        let mut next = None;
        for (id, v) in self
            .vms
            .range::<String, _>((start, std::ops::Bound::Unbounded))
            .filter(|(_, v)| matches(v))
        {
            if items.len() == size {
                next = items.last().map(|vm: &Vm| vm.id.to_string());
                break;
            }
            debug_assert_eq!(id.as_str(), v.id.as_str());
            items.push(convert::vm(ctx, v));
        }
        Ok(Page { items, next })
    }

    pub fn delete_vm(&mut self, ctx: &Ctx, id: &VmId) -> Result<(), Error> {
        if owned(&self.vms, ctx, "vm", id.as_str(), Operation::DeleteVm)?.is_none() {
            return Ok(()); // already gone
        }
        self.vms.remove(id.as_str());
        // Its NICs go with it; so do the VIPs bound to it.
        self.vips
            .retain(|_, v| v.vm.as_deref() != Some(id.as_str()));
        Ok(())
    }

    /// Starts (`start`) or stops a VM; either is a no-op on a VM already there.
    pub fn start_stop(&mut self, ctx: &Ctx, id: &VmId, start: bool) -> Result<Vm, Error> {
        let op = start_stop_op(start);
        ctx.feature(
            MemoryFeature::StopStart,
            op,
            "this cloud's VMs cannot be stopped and started",
        )?;
        let boot = ctx.settings.boot_of(id.as_str());
        let vm = self.my_vm_mut(ctx, id.as_str(), op)?;
        match vm.power {
            Power::Off if start => vm.power = Power::On { since: ctx.now },
            // Like EC2's IncorrectInstanceState: a VM still booting cannot be stopped.
            Power::On { since } if !start && ctx.now < since + boot => {
                return Err(fail(
                    op,
                    Code::InvalidState,
                    format!("vm {id} is pending; wait until it runs to stop it"),
                )
                .with_resource(id));
            }
            Power::On { .. } if !start => vm.power = Power::Off,
            _ => {}
        }
        Ok(convert::vm(ctx, self.my_vm(ctx, id.as_str(), op)?))
    }
}
