//! Hosts: the machines VMs run on, for clouds that show them (Kubernetes nodes, ESXi hosts).
//! A controller that wants one VM per host (a DaemonSet's placement) lists them and pins each
//! VM to one with [`crate::VmSpec::host`].

use super::HostId;
use serde::{Deserialize, Serialize};

/// A host as the cloud reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// The cloud's id (node name, host managed object id).
    pub id: HostId,
    /// Display name.
    pub name: String,
    /// Accepts new VMs now (a Ready, schedulable node; a connected host out of maintenance).
    pub ready: bool,
}
