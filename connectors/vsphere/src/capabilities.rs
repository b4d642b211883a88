//! What vCenter does natively, as strato's capability checklist.

use crate::config::VsphereConfig;
use strato_core::{Capabilities, GroupSupport, RateLimits, VipSupport};

/// vSphere's capabilities. No profile setting changes them: a datacenter without a distributed
/// switch still declares `network_create` (creating one is `Unsupported` there, naming why).
pub fn capabilities(_config: &VsphereConfig) -> Capabilities {
    CAPABILITIES
}

const CAPABILITIES: Capabilities = Capabilities {
    vm_stop_start: true,
    size_shape: true,
    // vSphere has no instance types: a VM's size is its CPU and memory.
    size_native: false,
    // Distributed portgroups only (standard portgroups live on each host).
    network_create: true,
    hot_nic_attach: true,
    nic_attach: true,
    nic_attach_replaces_vm: false,
    // A VM has at most 10 virtual NICs (vSphere configuration maximums, 6.5 to 8.0).
    max_nics_per_vm: 10,
    // The clone adds vmxnet3 NICs on the extra networks.
    nics_at_create: true,
    // guestinfo.userdata has no documented limit of its own; the whole .vmx stays small, and
    // 64 KiB of document (about 87 KiB of base64) covers a cloud-init document with a CA.
    bootstrap_max_bytes: 64 * 1024,
    // No cloud IPAM: strato's pool per network, configured by the SE agent in the guest.
    vip: VipSupport::Guest,
    vip_move: true,
    vip_public: false,
    group: GroupSupport::Tagged,
    // One CloneVM_Task per VM; the connector runs several at once (max_parallel_tasks).
    max_batch_create: 1,
    max_batch_delete: 1,
    native_client_token: false,
    // vCenter's inventory is read-your-writes once a task has succeeded.
    eventually_consistent: false,
    max_page_size: 100,
    // HostSystems are listed and a clone's RelocateSpec names the host (one SE per ESXi host).
    host_pinning: true,
    // VMware documents no API rate limit; vpxd queues tasks instead. These keep one strato
    // installation from flooding the task queue and the property collector.
    rate_limits: RateLimits {
        mutating_per_sec: 10.0,
        mutating_burst: 20,
        read_per_sec: 50.0,
        read_burst: 100,
        vm_creates_per_sec: 0.0,
        vm_create_burst: 0,
    },
};
