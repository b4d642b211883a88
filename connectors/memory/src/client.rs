//! `MemoryConnector`: one owner's connector to a [`MemoryBackend`], and the trait impl, which
//! only forwards to the `_impl` methods of the resource files (`vms.rs`, `networks.rs`, ...).

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

    /// Runs one call on the account as this connector's owner.
    pub(crate) fn call<R>(
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
        self.create_vm_impl(spec).await
    }

    async fn get_vm(&self, id: &VmId) -> Result<Vm> {
        self.get_vm_impl(id).await
    }

    async fn list_vms(&self, query: &VmQuery) -> Result<Page<Vm>> {
        self.list_vms_impl(query).await
    }

    async fn delete_vm(&self, id: &VmId) -> Result<()> {
        self.delete_vm_impl(id).await
    }

    async fn start_vm(&self, id: &VmId) -> Result<Vm> {
        self.start_stop_impl(id, true).await
    }

    async fn stop_vm(&self, id: &VmId) -> Result<Vm> {
        self.start_stop_impl(id, false).await
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<Network> {
        self.create_network_impl(spec).await
    }

    async fn get_network(&self, id: &NetworkId) -> Result<Network> {
        self.get_network_impl(id).await
    }

    async fn list_networks(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        self.list_networks_impl(query).await
    }

    async fn delete_network(&self, id: &NetworkId) -> Result<()> {
        self.delete_network_impl(id).await
    }

    async fn attach_nic(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        self.attach_nic_impl(vm, spec).await
    }

    async fn detach_nic(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        self.detach_nic_impl(vm, nic).await
    }

    async fn allocate_vip(&self, spec: &VipSpec) -> Result<Vip> {
        self.allocate_vip_impl(spec).await
    }

    async fn get_vip(&self, id: &VipId) -> Result<Vip> {
        self.get_vip_impl(id).await
    }

    async fn list_vips(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        self.list_vips_impl(query).await
    }

    async fn move_vip(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        self.move_vip_impl(id, to).await
    }

    async fn release_vip(&self, id: &VipId) -> Result<()> {
        self.release_vip_impl(id).await
    }

    async fn scale_group(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        self.scale_group_impl(spec, size).await
    }

    async fn get_group(&self, name: &str) -> Result<Group> {
        self.get_group_impl(name).await
    }

    async fn list_hosts(&self) -> Result<Vec<Host>> {
        self.list_hosts_impl().await
    }

    // No session to end.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
