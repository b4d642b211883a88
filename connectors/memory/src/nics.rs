//! NICs: attach (idempotent by client token, at the lowest free device index) and detach
//! (never the primary, nor the last NIC on a network that still carries the VM's VIPs).

use crate::client::MemoryConnector;
use crate::config::MemoryFeature;
use crate::convert;
use crate::error::{Code, fail, invalid};
use crate::world::{Ctx, World, owned};
use strato_core::{Error, Nic, NicId, NicSpec, Operation, Result, VmId};

const ONE_NIC: &str = "this cloud's VMs have one fixed NIC";

impl MemoryConnector {
    pub(crate) async fn attach_nic_impl(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        self.call(Operation::AttachNic, |w, c| w.attach_nic(c, vm, spec))
    }

    pub(crate) async fn detach_nic_impl(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        self.call(Operation::DetachNic, |w, c| w.detach_nic(c, vm, nic))
    }
}

impl World {
    pub fn attach_nic(&mut self, ctx: &Ctx, vm_id: &VmId, spec: &NicSpec) -> Result<Nic, Error> {
        let op = Operation::AttachNic;
        ctx.feature(MemoryFeature::NicAttach, op, ONE_NIC)?;
        let vm = self.my_vm(ctx, vm_id.as_str(), op)?;
        let token = spec.client_token(ctx.owner, vm_id);
        if let Some(n) = vm.nics.iter().find(|n| n.token.as_deref() == Some(&token)) {
            return Ok(convert::nic(n));
        }
        let max = crate::capabilities::capabilities(ctx.settings).max_nics_per_vm;
        if vm.nics.len() >= max as usize {
            return Err(fail(
                op,
                Code::InvalidState,
                format!("vm {vm_id} already has {max} NICs, the most it can have"),
            )
            .with_resource(vm_id));
        }
        let index = (1..)
            .find(|i| vm.nics.iter().all(|n| n.device_index != *i))
            .expect("free index");
        let net = self.network_for_spec(ctx, Some(&spec.network), op)?;
        let address = self.take_address(net, spec.address, op)?;
        let net_id = net.id.clone();
        let nic = self.new_nic(&net_id, address, index, Some(token));
        let out = convert::nic(&nic);
        self.vms
            .get_mut(vm_id.as_str())
            .expect("checked")
            .nics
            .push(nic);
        Ok(out)
    }

    pub fn detach_nic(&mut self, ctx: &Ctx, vm_id: &VmId, nic_id: &NicId) -> Result<(), Error> {
        let op = Operation::DetachNic;
        ctx.feature(MemoryFeature::NicAttach, op, ONE_NIC)?;
        if owned(&self.vms, ctx, "vm", vm_id.as_str(), op)?.is_none() {
            return Ok(()); // the VM, and so the NIC, is gone
        }
        let vm = self.my_vm(ctx, vm_id.as_str(), op)?;
        let Some(nic) = vm.nics.iter().find(|n| n.id == nic_id.as_str()) else {
            return Ok(());
        };
        if nic.device_index == 0 {
            return Err(invalid(
                op,
                "nic",
                format!("nic {nic_id} is the primary NIC of vm {vm_id}; it goes only with the VM"),
            ));
        }
        let same_net = vm.nics.iter().filter(|n| n.network == nic.network).count();
        let vips: Vec<&str> = self
            .vips
            .values()
            .filter(|v| v.vm.as_deref() == Some(vm_id.as_str()) && v.network == nic.network)
            .map(|v| v.id.as_str())
            .collect();
        if same_net == 1 && !vips.is_empty() {
            return Err(fail(
                op,
                Code::DependencyViolation,
                format!(
                    "nic {nic_id} carries VIPs {}; move or release them first",
                    vips.join(", ")
                ),
            )
            .with_resource(nic_id));
        }
        self.vms
            .get_mut(vm_id.as_str())
            .expect("checked")
            .nics
            .retain(|n| n.id != nic_id.as_str());
        Ok(())
    }
}
