//! What a cloud does natively. Each connector declares one `Capabilities` value; callers, the
//! conformance suite and the controller read it instead of matching on the cloud's name.

use serde::Serialize;

/// How a cloud gives a VM an extra, movable address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VipSupport {
    /// No VIPs: `allocate_vip` and friends return `Unsupported`.
    None,
    /// The cloud routes the address (secondary IP, Service, alias IP range).
    Cloud,
    /// strato's own IPAM assigns the address from a per-network pool and the guest configures it
    /// (vSphere).
    Guest,
}

/// How a cloud runs a group of identical VMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSupport {
    /// No groups.
    None,
    /// A tag-defined fleet scaled with (batched) creates and deletes.
    Tagged,
    /// A native group object that the cloud keeps at size (ASG, Deployment, VMSS, MIG).
    Native,
}

/// Documented API rate limits, used as the default token buckets of the rate-limit layer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RateLimits {
    /// Sustained mutating calls per second.
    pub mutating_per_sec: f64,
    /// Burst of mutating calls.
    pub mutating_burst: u32,
    /// Sustained read calls per second.
    pub read_per_sec: f64,
    /// Burst of read calls.
    pub read_burst: u32,
    /// VMs created per second (EC2's RunInstances resource rate), 0 for no separate limit.
    pub vm_creates_per_sec: f64,
    /// Burst of VMs created.
    pub vm_create_burst: u32,
}

impl RateLimits {
    /// No limits (simulated clouds).
    pub const UNLIMITED: RateLimits = RateLimits {
        mutating_per_sec: 0.0,
        mutating_burst: 0,
        read_per_sec: 0.0,
        read_burst: 0,
        vm_creates_per_sec: 0.0,
        vm_create_burst: 0,
    };
}

/// Everything a caller may ask about a cloud before calling it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Capabilities {
    /// VMs can be stopped and started again (a pod cannot).
    pub vm_stop_start: bool,
    /// Sizes as vCPUs + memory are accepted (mapped to the nearest offering).
    pub size_shape: bool,
    /// Cloud-native size names are accepted.
    pub size_native: bool,
    /// Networks can be created and deleted (not only listed).
    pub network_create: bool,
    /// A NIC can be attached to a running VM without a restart.
    pub hot_nic_attach: bool,
    /// NICs can be attached and detached at all.
    pub nic_attach: bool,
    /// Attaching or detaching replaces the VM (Kubernetes pods): the VM id changes.
    pub nic_attach_replaces_vm: bool,
    /// Most NICs a VM can have, the primary included.
    pub max_nics_per_vm: u32,
    /// A VM can be created with several NICs (`VmSpec::extra_networks`).
    pub nics_at_create: bool,
    /// Largest bootstrap document (`VmSpec::bootstrap`) the cloud takes, in bytes; 0 when it
    /// takes none.
    pub bootstrap_max_bytes: u32,
    /// How VIPs work.
    pub vip: VipSupport,
    /// A VIP can move to another VM.
    pub vip_move: bool,
    /// A VIP can have a public address.
    pub vip_public: bool,
    /// How groups work.
    pub group: GroupSupport,
    /// Most VMs one create call can make (1 when the cloud has no batch create).
    pub max_batch_create: u32,
    /// Most VMs one delete call can remove.
    pub max_batch_delete: u32,
    /// The cloud itself deduplicates creates by client token (else the connector looks the
    /// token up by tag before creating).
    pub native_client_token: bool,
    /// A new resource may be briefly invisible to reads.
    pub eventually_consistent: bool,
    /// Largest page a list returns.
    pub max_page_size: u32,
    /// Hosts are listed (`list_hosts`) and a VM can be pinned to one (`VmSpec::host`).
    pub host_pinning: bool,
    /// Documented rate limits.
    pub rate_limits: RateLimits,
}
