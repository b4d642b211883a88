//! Stored records -> strato's model. States that depend on time are computed here from the
//! call's `now`.

use crate::world::{Ctx, NetRec, NicRec, Power, VipRec, VmRec};
use strato_core::{
    HostId, Network, NetworkId, Nic, NicId, Ownership, Vip, VipBinding, VipId, Vm, VmId, VmState,
};

/// A VM as the caller sees it. Only called for the caller's own VMs, which carry ownership.
pub(crate) fn vm(ctx: &Ctx, r: &VmRec) -> Vm {
    let state = vm_state(ctx, r);
    let mut nics: Vec<Nic> = r.nics.iter().map(nic).collect();
    nics.sort_by_key(|n| n.device_index);
    Vm {
        id: VmId::new(&r.id),
        name: r.name.clone(),
        state,
        size: r.size.clone(),
        image: r.image.clone(),
        private_ip: nics.first().and_then(|n| n.address),
        public_ip: None,
        nics,
        tags: r.tags.clone(),
        ownership: Ownership::from_tags(&r.tags).expect("only owned VMs are converted"),
        created_at: r.created_at,
        host: r.host.as_deref().map(HostId::new),
    }
}

/// A VM's state at the call's `now`.
pub(crate) fn vm_state(ctx: &Ctx, r: &VmRec) -> VmState {
    match r.power {
        Power::On { since } if ctx.now < since + ctx.settings.boot_of(&r.id) => VmState::Pending,
        Power::On { .. } => VmState::Running,
        Power::Off => VmState::Stopped,
    }
}

pub(crate) fn nic(r: &NicRec) -> Nic {
    Nic {
        id: NicId::new(&r.id),
        network: NetworkId::new(&r.network),
        address: Some(r.address),
        mac: Some(r.mac.clone()),
        device_index: r.device_index,
    }
}

pub(crate) fn network(r: &NetRec) -> Network {
    Network {
        id: NetworkId::new(&r.id),
        name: r.name.clone(),
        cidr: Some(r.cidr),
        parent: r.parent.clone(),
        tags: r.tags.clone(),
        ownership: Ownership::from_tags(&r.tags),
    }
}

/// A VIP; only called for the caller's own VIPs.
pub(crate) fn vip(r: &VipRec) -> Vip {
    Vip {
        id: VipId::new(&r.id),
        name: r.name.clone(),
        address: r.address,
        public_address: r.public_address,
        vm: r.vm.as_deref().map(VmId::new),
        network: NetworkId::new(&r.network),
        binding: VipBinding::Cloud,
        ownership: Ownership::from_tags(&r.tags).expect("only owned VIPs are converted"),
    }
}
