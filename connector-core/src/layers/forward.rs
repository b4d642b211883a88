//! Forwarding written once: a layer implements [`Around`] (what to do around one call) and
//! [`Layered`] turns it into a full `CloudConnector` that forwards every method. No layer can
//! forget a method, and a new trait method is added here once for all layers.

use crate::capability::Capabilities;
use crate::connector::{CloudConnector, CloudInfo};
use crate::error::{Operation, Result};
use crate::model::*;
use async_trait::async_trait;
use futures::future::BoxFuture;
use std::fmt::Debug;
use std::sync::Arc;

/// One call of the wrapped connector; calling it again repeats the call (for retries).
pub type Call<'a, T> = &'a (dyn Fn() -> BoxFuture<'a, Result<T>> + Send + Sync);

/// What a layer does around each call.
pub trait Around: Send + Sync + Debug + 'static {
    /// Runs `call` (zero, one or several times) for operation `op` of the cloud `info`.
    fn around<'a, T: Send + 'a>(
        &'a self,
        info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>>;
}

/// A connector wrapped in one layer.
#[derive(Debug)]
pub struct Layered<A> {
    inner: Arc<dyn CloudConnector>,
    layer: A,
}

impl<A: Around> Layered<A> {
    /// Wraps `inner` in `layer`.
    pub fn wrap(inner: Arc<dyn CloudConnector>, layer: A) -> Arc<dyn CloudConnector> {
        Arc::new(Self { inner, layer })
    }

    /// The layer.
    pub fn layer(&self) -> &A {
        &self.layer
    }
}

macro_rules! around {
    ($self:ident, $op:ident, $method:ident ( $($arg:ident),* )) => {
        $self
            .layer
            .around($self.inner.info(), Operation::$op, &|| $self.inner.$method($($arg),*))
            .await
    };
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<A: Around> CloudConnector for Layered<A> {
    fn info(&self) -> &CloudInfo {
        self.inner.info()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn create_vm(&self, spec: &VmSpec) -> Result<Vm> {
        around!(self, CreateVm, create_vm(spec))
    }
    async fn get_vm(&self, id: &VmId) -> Result<Vm> {
        around!(self, GetVm, get_vm(id))
    }
    async fn list_vms(&self, query: &VmQuery) -> Result<Page<Vm>> {
        around!(self, ListVms, list_vms(query))
    }
    async fn delete_vm(&self, id: &VmId) -> Result<()> {
        around!(self, DeleteVm, delete_vm(id))
    }
    async fn start_vm(&self, id: &VmId) -> Result<Vm> {
        around!(self, StartVm, start_vm(id))
    }
    async fn stop_vm(&self, id: &VmId) -> Result<Vm> {
        around!(self, StopVm, stop_vm(id))
    }
    async fn create_network(&self, spec: &NetworkSpec) -> Result<Network> {
        around!(self, CreateNetwork, create_network(spec))
    }
    async fn get_network(&self, id: &NetworkId) -> Result<Network> {
        around!(self, GetNetwork, get_network(id))
    }
    async fn list_networks(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        around!(self, ListNetworks, list_networks(query))
    }
    async fn delete_network(&self, id: &NetworkId) -> Result<()> {
        around!(self, DeleteNetwork, delete_network(id))
    }
    async fn attach_nic(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        around!(self, AttachNic, attach_nic(vm, spec))
    }
    async fn detach_nic(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        around!(self, DetachNic, detach_nic(vm, nic))
    }
    async fn allocate_vip(&self, spec: &VipSpec) -> Result<Vip> {
        around!(self, AllocateVip, allocate_vip(spec))
    }
    async fn get_vip(&self, id: &VipId) -> Result<Vip> {
        around!(self, GetVip, get_vip(id))
    }
    async fn list_vips(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        around!(self, ListVips, list_vips(query))
    }
    async fn move_vip(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        around!(self, MoveVip, move_vip(id, to))
    }
    async fn release_vip(&self, id: &VipId) -> Result<()> {
        around!(self, ReleaseVip, release_vip(id))
    }
    async fn scale_group(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        around!(self, ScaleGroup, scale_group(spec, size))
    }
    async fn get_group(&self, name: &str) -> Result<Group> {
        around!(self, GetGroup, get_group(name))
    }

    async fn list_hosts(&self) -> Result<Vec<Host>> {
        around!(self, ListHosts, list_hosts())
    }

    // Not a cloud operation: no retry, no rate limit, no fault.
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}
