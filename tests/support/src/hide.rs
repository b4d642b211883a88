//! EC2's eventual consistency on demand, as a connector wrapping another (a layer cannot
//! filter what a call returns).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use strato_core::{CloudConnector, CloudInfo, Operation, Vip, VipQuery, Vm, VmQuery};

/// EC2's eventual consistency, on demand: the named VMs are missing from lists and
/// `NotYetVisible` to reads while the test says so (DescribeInstances can lag RunInstances).
/// With `lists_only` on, reads find them: only lists miss them (a page lost to a concurrent
/// change, a partial answer). Everything else is forwarded unchanged.
#[derive(Debug)]
pub struct Hide {
    inner: Arc<dyn CloudConnector>,
    /// Names of the VMs to hide.
    pub names: Arc<Mutex<HashSet<String>>>,
    /// Hide them from lists only; `get_vm` finds them.
    pub lists_only: Arc<AtomicBool>,
}

impl Hide {
    /// Forwards to `inner`, hiding nothing yet.
    pub fn new(inner: Arc<dyn CloudConnector>) -> Self {
        Self {
            inner,
            names: Arc::default(),
            lists_only: Arc::default(),
        }
    }

    fn hidden(&self, vm: &Vm) -> bool {
        self.names.lock().expect("hide").contains(&vm.name)
    }
}

#[async_trait::async_trait]
impl CloudConnector for Hide {
    fn info(&self) -> &CloudInfo {
        self.inner.info()
    }
    fn capabilities(&self) -> strato_core::Capabilities {
        self.inner.capabilities()
    }
    async fn create_vm(&self, spec: &strato_core::VmSpec) -> strato_core::Result<Vm> {
        self.inner.create_vm(spec).await
    }
    async fn get_vm(&self, id: &strato_core::VmId) -> strato_core::Result<Vm> {
        let vm = self.inner.get_vm(id).await?;
        if self.hidden(&vm) && !self.lists_only.load(Ordering::Relaxed) {
            return Err(strato_core::Error::new(
                strato_core::ErrorKind::NotYetVisible,
                Operation::GetVm,
                format!("test: vm {id} is not visible yet"),
            ));
        }
        Ok(vm)
    }
    async fn list_vms(&self, query: &VmQuery) -> strato_core::Result<strato_core::Page<Vm>> {
        let mut page = self.inner.list_vms(query).await?;
        page.items.retain(|vm| !self.hidden(vm));
        Ok(page)
    }
    async fn delete_vm(&self, id: &strato_core::VmId) -> strato_core::Result<()> {
        self.inner.delete_vm(id).await
    }
    async fn start_vm(&self, id: &strato_core::VmId) -> strato_core::Result<Vm> {
        self.inner.start_vm(id).await
    }
    async fn stop_vm(&self, id: &strato_core::VmId) -> strato_core::Result<Vm> {
        self.inner.stop_vm(id).await
    }
    async fn create_network(
        &self,
        spec: &strato_core::NetworkSpec,
    ) -> strato_core::Result<strato_core::Network> {
        self.inner.create_network(spec).await
    }
    async fn get_network(
        &self,
        id: &strato_core::NetworkId,
    ) -> strato_core::Result<strato_core::Network> {
        self.inner.get_network(id).await
    }
    async fn list_networks(
        &self,
        query: &strato_core::NetworkQuery,
    ) -> strato_core::Result<strato_core::Page<strato_core::Network>> {
        self.inner.list_networks(query).await
    }
    async fn delete_network(&self, id: &strato_core::NetworkId) -> strato_core::Result<()> {
        self.inner.delete_network(id).await
    }
    async fn attach_nic(
        &self,
        vm: &strato_core::VmId,
        spec: &strato_core::NicSpec,
    ) -> strato_core::Result<strato_core::Nic> {
        self.inner.attach_nic(vm, spec).await
    }
    async fn detach_nic(
        &self,
        vm: &strato_core::VmId,
        nic: &strato_core::NicId,
    ) -> strato_core::Result<()> {
        self.inner.detach_nic(vm, nic).await
    }
    async fn allocate_vip(&self, spec: &strato_core::VipSpec) -> strato_core::Result<Vip> {
        self.inner.allocate_vip(spec).await
    }
    async fn get_vip(&self, id: &strato_core::VipId) -> strato_core::Result<Vip> {
        self.inner.get_vip(id).await
    }
    async fn list_vips(&self, query: &VipQuery) -> strato_core::Result<Vec<Vip>> {
        self.inner.list_vips(query).await
    }
    async fn move_vip(
        &self,
        id: &strato_core::VipId,
        to: &strato_core::VmId,
    ) -> strato_core::Result<Vip> {
        self.inner.move_vip(id, to).await
    }
    async fn release_vip(&self, id: &strato_core::VipId) -> strato_core::Result<()> {
        self.inner.release_vip(id).await
    }
    async fn scale_group(
        &self,
        spec: &strato_core::GroupSpec,
        size: u32,
    ) -> strato_core::Result<strato_core::Group> {
        self.inner.scale_group(spec, size).await
    }
    async fn get_group(&self, name: &str) -> strato_core::Result<strato_core::Group> {
        self.inner.get_group(name).await
    }
    async fn list_hosts(&self) -> strato_core::Result<Vec<strato_core::Host>> {
        self.inner.list_hosts().await
    }
    async fn close(&self) -> strato_core::Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unique_owner;
    use strato_core::{ErrorKind, Size, VmSpec};
    use strato_memory::{MemoryConfig, MemoryConnector};

    #[tokio::test]
    async fn hidden_vms_are_missing_from_lists_and_not_yet_visible_to_reads() {
        let owner = unique_owner("hide");
        let mem = MemoryConnector::from_settings(MemoryConfig::default(), owner).unwrap();
        let hide = Hide::new(Arc::new(mem));
        let spec = |n: &str| VmSpec::new(n, Size::shape(1, 512), "img");
        let a = hide.create_vm(&spec("a")).await.unwrap();
        hide.create_vm(&spec("b")).await.unwrap();
        hide.names.lock().unwrap().insert("a".into());

        let listed = hide.list_vms(&VmQuery::default()).await.unwrap().items;
        let names: Vec<&str> = listed.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["b"]);
        let err = hide.get_vm(&a.id).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotYetVisible, "{err:?}");

        hide.lists_only.store(true, Ordering::Relaxed);
        assert_eq!(hide.get_vm(&a.id).await.unwrap().name, "a", "reads find it");
        let listed = hide.list_vms(&VmQuery::default()).await.unwrap().items;
        assert_eq!(listed.len(), 1, "lists still miss it");

        hide.names.lock().unwrap().clear();
        assert_eq!(hide.get_vm(&a.id).await.unwrap().name, "a");
        assert_eq!(
            hide.list_vms(&VmQuery::default())
                .await
                .unwrap()
                .items
                .len(),
            2
        );
    }
}
