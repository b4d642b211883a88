//! The `CloudConnector` trait: the one abstraction every cloud sits behind.

use crate::capability::Capabilities;
use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use std::fmt::Debug;

/// Who a connector is: its kind, its profile, and the owner whose resources it manages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudInfo {
    /// Connector kind: `memory`, `aws`, `vsphere`, `kubernetes`, ...
    pub kind: &'static str,
    /// Account, subscription, project or vCenter the connector talks to ("" when none).
    pub account: String,
    /// Region, location, datacenter or namespace ("" when none).
    pub region: String,
    /// The owner whose resources this connector manages.
    pub owner: OwnerId,
}

/// A cloud. Every method is required, so a wrapper can never silently drop a cloud's native
/// implementation; conveniences live in [`crate::CloudConnectorExt`].
///
/// Semantics every implementation keeps (the conformance suite checks them):
/// - Everything created carries the ownership tags of [`CloudInfo::owner`]; lists return only
///   owned resources; get, change and delete of a resource owned by someone else is `NotFound`.
/// - Creates are idempotent: the same spec twice gives the same resource (found by its client
///   token), a different spec under an existing name is `AlreadyExists`.
/// - Deletes of something already gone succeed.
/// - Calls return once the cloud accepted the change; they do not wait for a VM to boot.
/// - An operation the cloud cannot do returns `Unsupported` naming it and the cloud.
#[async_trait]
pub trait CloudConnector: Send + Sync + Debug + 'static {
    /// Who this connector is.
    fn info(&self) -> &CloudInfo;
    /// What the cloud does natively.
    fn capabilities(&self) -> Capabilities;

    /// Creates a VM, or returns the one an identical earlier request made.
    async fn create_vm(&self, spec: &VmSpec) -> Result<Vm>;
    /// Reads a VM.
    async fn get_vm(&self, id: &VmId) -> Result<Vm>;
    /// Lists owned VMs, one page at a time.
    async fn list_vms(&self, query: &VmQuery) -> Result<Page<Vm>>;
    /// Deletes a VM (and the NICs and VIPs strato attached to it).
    async fn delete_vm(&self, id: &VmId) -> Result<()>;
    /// Starts a stopped VM.
    async fn start_vm(&self, id: &VmId) -> Result<Vm>;
    /// Stops a running VM.
    async fn stop_vm(&self, id: &VmId) -> Result<Vm>;

    /// Creates a network, or returns the one an identical earlier request made.
    async fn create_network(&self, spec: &NetworkSpec) -> Result<Network>;
    /// Reads a network (owned or not: VMs may join networks strato did not create).
    async fn get_network(&self, id: &NetworkId) -> Result<Network>;
    /// Lists networks, one page at a time.
    async fn list_networks(&self, query: &NetworkQuery) -> Result<Page<Network>>;
    /// Deletes an owned network.
    async fn delete_network(&self, id: &NetworkId) -> Result<()>;

    /// Joins a VM to a network with a new NIC. On clouds where this replaces the VM
    /// (`nic_attach_replaces_vm`), read the VM again by name afterwards.
    async fn attach_nic(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic>;
    /// Removes a NIC that strato attached.
    async fn detach_nic(&self, vm: &VmId, nic: &NicId) -> Result<()>;

    /// Allocates a VIP and binds it to `spec.vm`.
    async fn allocate_vip(&self, spec: &VipSpec) -> Result<Vip>;
    /// Reads a VIP.
    async fn get_vip(&self, id: &VipId) -> Result<Vip>;
    /// Lists owned VIPs.
    async fn list_vips(&self, query: &VipQuery) -> Result<Vec<Vip>>;
    /// Re-binds a VIP to another VM.
    async fn move_vip(&self, id: &VipId, to: &VmId) -> Result<Vip>;
    /// Releases a VIP.
    async fn release_vip(&self, id: &VipId) -> Result<()>;

    /// Makes the group have exactly `size` members of `spec`, in as few calls as the cloud
    /// allows. Scale-down removes members of an older template first, then the highest ordinals.
    /// Returns at once with the members as they are (new ones may still be pending).
    async fn scale_group(&self, spec: &GroupSpec, size: u32) -> Result<Group>;
    /// Reads a group; a group with no members is an empty group, not an error.
    async fn get_group(&self, name: &str) -> Result<Group>;

    /// The hosts VMs can be pinned to (`Unsupported` where the cloud does not show hosts;
    /// see `Capabilities::host_pinning`). Hosts are not owned: this lists them all.
    async fn list_hosts(&self) -> Result<Vec<Host>>;

    /// Ends the connector's session with the cloud (a vCenter login, which vCenter counts
    /// against a limit until it times out). Clouds without sessions do nothing. Call it once the
    /// connector is no longer needed; closing twice is not an error.
    async fn close(&self) -> Result<()>;
}

/// Implements [`CloudConnector`] for a connector type by calling, for every trait method `m`,
/// the type's inherent `m_impl` with the same arguments (`start_vm` and `stop_vm` call
/// `start_stop_impl(id, true/false)`).
///
/// Every connector crate has one file per resource holding those `_impl` methods (`vms.rs`,
/// `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs`, `hosts.rs`) and `info_impl`,
/// `capabilities_impl` and `close_impl` in `client.rs`. The macro makes that shape a contract
/// the compiler checks, and keeps the trait's method list in one place instead of a copy per
/// crate that a new trait method would have to be added to by hand.
///
/// ```ignore
/// strato_core::impl_cloud_connector!(AwsConnector);
/// ```
#[macro_export]
macro_rules! impl_cloud_connector {
    ($connector:ty) => {
        #[$crate::async_trait]
        impl $crate::CloudConnector for $connector {
            fn info(&self) -> &$crate::CloudInfo {
                self.info_impl()
            }
            fn capabilities(&self) -> $crate::Capabilities {
                self.capabilities_impl()
            }

            async fn create_vm(&self, spec: &$crate::VmSpec) -> $crate::Result<$crate::Vm> {
                self.create_vm_impl(spec).await
            }
            async fn get_vm(&self, id: &$crate::VmId) -> $crate::Result<$crate::Vm> {
                self.get_vm_impl(id).await
            }
            async fn list_vms(
                &self,
                query: &$crate::VmQuery,
            ) -> $crate::Result<$crate::Page<$crate::Vm>> {
                self.list_vms_impl(query).await
            }
            async fn delete_vm(&self, id: &$crate::VmId) -> $crate::Result<()> {
                self.delete_vm_impl(id).await
            }
            async fn start_vm(&self, id: &$crate::VmId) -> $crate::Result<$crate::Vm> {
                self.start_stop_impl(id, true).await
            }
            async fn stop_vm(&self, id: &$crate::VmId) -> $crate::Result<$crate::Vm> {
                self.start_stop_impl(id, false).await
            }

            async fn create_network(
                &self,
                spec: &$crate::NetworkSpec,
            ) -> $crate::Result<$crate::Network> {
                self.create_network_impl(spec).await
            }
            async fn get_network(&self, id: &$crate::NetworkId) -> $crate::Result<$crate::Network> {
                self.get_network_impl(id).await
            }
            async fn list_networks(
                &self,
                query: &$crate::NetworkQuery,
            ) -> $crate::Result<$crate::Page<$crate::Network>> {
                self.list_networks_impl(query).await
            }
            async fn delete_network(&self, id: &$crate::NetworkId) -> $crate::Result<()> {
                self.delete_network_impl(id).await
            }

            async fn attach_nic(
                &self,
                vm: &$crate::VmId,
                spec: &$crate::NicSpec,
            ) -> $crate::Result<$crate::Nic> {
                self.attach_nic_impl(vm, spec).await
            }
            async fn detach_nic(
                &self,
                vm: &$crate::VmId,
                nic: &$crate::NicId,
            ) -> $crate::Result<()> {
                self.detach_nic_impl(vm, nic).await
            }

            async fn allocate_vip(&self, spec: &$crate::VipSpec) -> $crate::Result<$crate::Vip> {
                self.allocate_vip_impl(spec).await
            }
            async fn get_vip(&self, id: &$crate::VipId) -> $crate::Result<$crate::Vip> {
                self.get_vip_impl(id).await
            }
            async fn list_vips(
                &self,
                query: &$crate::VipQuery,
            ) -> $crate::Result<::std::vec::Vec<$crate::Vip>> {
                self.list_vips_impl(query).await
            }
            async fn move_vip(
                &self,
                id: &$crate::VipId,
                to: &$crate::VmId,
            ) -> $crate::Result<$crate::Vip> {
                self.move_vip_impl(id, to).await
            }
            async fn release_vip(&self, id: &$crate::VipId) -> $crate::Result<()> {
                self.release_vip_impl(id).await
            }

            async fn scale_group(
                &self,
                spec: &$crate::GroupSpec,
                size: u32,
            ) -> $crate::Result<$crate::Group> {
                self.scale_group_impl(spec, size).await
            }
            async fn get_group(&self, name: &str) -> $crate::Result<$crate::Group> {
                self.get_group_impl(name).await
            }
            async fn list_hosts(&self) -> $crate::Result<::std::vec::Vec<$crate::Host>> {
                self.list_hosts_impl().await
            }

            async fn close(&self) -> $crate::Result<()> {
                self.close_impl().await
            }
        }
    };
}
