//! `MemoryConnector`: one owner's connector to a [`MemoryBackend`].

use crate::backend::MemoryBackend;
use crate::config::MemoryConfig;
use crate::world::{Ctx, World};
use strato_core::{
    Capabilities, CloudConnector, CloudInfo, Error, Group, GroupSpec, Host, Network, NetworkId,
    NetworkQuery, NetworkSpec, Nic, NicId, NicSpec, Operation, OwnerId, Page, Result, Vip, VipId,
    VipQuery, VipSpec, Vm, VmId, VmQuery, VmSpec, async_trait,
};

/// The memory cloud as seen by one owner.
#[derive(Clone, Debug)]
pub struct MemoryConnector {
    backend: MemoryBackend,
    info: CloudInfo,
}

impl MemoryConnector {
    /// A connector for `owner` on a shared account.
    pub fn new(backend: MemoryBackend, owner: OwnerId) -> Self {
        let info = CloudInfo {
            kind: crate::CLOUD,
            account: backend.settings().account.clone(),
            region: backend.settings().region.clone(),
            owner,
        };
        Self { backend, info }
    }

    /// A connector on a new account of its own (or the one in `settings.state_file`).
    pub fn from_settings(settings: MemoryConfig, owner: OwnerId) -> Result<Self> {
        Ok(Self::new(MemoryBackend::new(settings)?, owner))
    }

    /// The account this connector talks to; build another owner's connector on a clone of it.
    pub fn backend(&self) -> &MemoryBackend {
        &self.backend
    }

    fn call<R>(
        &self,
        op: Operation,
        f: impl FnOnce(&mut World, &Ctx) -> Result<R, Error>,
    ) -> Result<R> {
        self.backend.call(op, &self.info.owner, f)
    }
}

#[async_trait]
impl CloudConnector for MemoryConnector {
    fn info(&self) -> &CloudInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        crate::capabilities::capabilities(self.backend.settings())
    }

    async fn create_vm(&self, spec: &VmSpec) -> Result<Vm> {
        self.call(Operation::CreateVm, |w, c| w.create_vm(c, spec))
    }

    async fn get_vm(&self, id: &VmId) -> Result<Vm> {
        self.call(Operation::GetVm, |w, c| w.get_vm(c, id))
    }

    async fn list_vms(&self, query: &VmQuery) -> Result<Page<Vm>> {
        self.call(Operation::ListVms, |w, c| w.list_vms(c, query))
    }

    async fn delete_vm(&self, id: &VmId) -> Result<()> {
        self.call(Operation::DeleteVm, |w, c| w.delete_vm(c, id))
    }

    async fn start_vm(&self, id: &VmId) -> Result<Vm> {
        self.call(Operation::StartVm, |w, c| w.start_vm(c, id))
    }

    async fn stop_vm(&self, id: &VmId) -> Result<Vm> {
        self.call(Operation::StopVm, |w, c| w.stop_vm(c, id))
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<Network> {
        self.call(Operation::CreateNetwork, |w, c| w.create_network(c, spec))
    }

    async fn get_network(&self, id: &NetworkId) -> Result<Network> {
        self.call(Operation::GetNetwork, |w, c| w.get_network(c, id))
    }

    async fn list_networks(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        self.call(Operation::ListNetworks, |w, c| w.list_networks(c, query))
    }

    async fn delete_network(&self, id: &NetworkId) -> Result<()> {
        self.call(Operation::DeleteNetwork, |w, c| w.delete_network(c, id))
    }

    async fn attach_nic(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        self.call(Operation::AttachNic, |w, c| w.attach_nic(c, vm, spec))
    }

    async fn detach_nic(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        self.call(Operation::DetachNic, |w, c| w.detach_nic(c, vm, nic))
    }

    async fn allocate_vip(&self, spec: &VipSpec) -> Result<Vip> {
        self.call(Operation::AllocateVip, |w, c| w.allocate_vip(c, spec))
    }

    async fn get_vip(&self, id: &VipId) -> Result<Vip> {
        self.call(Operation::GetVip, |w, c| w.get_vip(c, id))
    }

    async fn list_vips(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        self.call(Operation::ListVips, |w, c| w.list_vips(c, query))
    }

    async fn move_vip(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        self.call(Operation::MoveVip, |w, c| w.move_vip(c, id, to))
    }

    async fn release_vip(&self, id: &VipId) -> Result<()> {
        self.call(Operation::ReleaseVip, |w, c| w.release_vip(c, id))
    }

    async fn scale_group(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        self.call(Operation::ScaleGroup, |w, c| w.scale_group(c, spec, size))
    }

    async fn get_group(&self, name: &str) -> Result<Group> {
        self.call(Operation::GetGroup, |w, c| w.get_group(c, name))
    }

    async fn list_hosts(&self) -> Result<Vec<Host>> {
        if self.backend().settings().hosts == 0 {
            return Err(crate::error::unsupported(
                Operation::ListHosts,
                "this memory cloud shows no hosts (settings.hosts = 0)",
            ));
        }
        self.call(Operation::ListHosts, |w, c| Ok(w.list_hosts(c)))
    }

    // No session to end.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
