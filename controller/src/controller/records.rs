//! Records the controller persists about what it made, so that a restart finds everything again.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use strato_core::{VipBinding, VipId, VmId, VmSpec};

/// Lifecycle of an SE as the controller drives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SePhase {
    /// Recorded with its client token; the create may not have reached the cloud yet.
    Creating,
    /// The VM exists.
    Active,
    /// Being emptied of virtual services before deletion (scale-in, upgrade, replacement).
    Draining,
    /// Delete issued; the record goes when the VM is gone from the cloud's list.
    Deleting,
}

/// One SE the controller created or adopted. Written before the create call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeRecord {
    /// SE name (the VM name).
    pub name: String,
    /// SE group.
    pub group: String,
    /// Serial (the number in the name).
    pub serial: u64,
    /// Client token of the create (also on the VM as the `strato-token` tag).
    pub token: String,
    /// The spec, to issue the create again with the same token.
    pub spec: VmSpec,
    /// Hash of the SE template it was made from.
    pub template: String,
    /// The VM, once the cloud accepted the create.
    pub vm_id: Option<VmId>,
    /// Phase.
    pub phase: SePhase,
    /// Why it is draining, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Found in the cloud after a restart rather than created by this record.
    #[serde(default)]
    pub adopted: bool,
}

/// What the controller keeps about one virtual service's VIP.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VsRuntime {
    /// Virtual service name.
    pub name: String,
    /// The address, once allocated (from IPAM, the fixed VIP, or the cloud).
    pub address: Option<IpAddr>,
    /// Pool the address came from.
    pub pool: Option<String>,
    /// The cloud's VIP, for clouds that route VIPs.
    pub vip_id: Option<VipId>,
    /// Who configures the address.
    pub binding: Option<VipBinding>,
    /// SE the VIP is bound to.
    pub bound_to: Option<String>,
    /// SEs serving it, primary first.
    pub placement: Vec<String>,
    /// FQDN published in DNS.
    pub dns_name: Option<String>,
}

/// Per-group counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupRuntime {
    /// Next SE serial. SE names are never reused, so a new SE never shares a client token with
    /// a deleted one.
    pub next_serial: u64,
}
