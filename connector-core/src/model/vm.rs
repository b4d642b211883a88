//! VMs: what to create and what the cloud reports.

use super::{
    Bootstrap, HostId, NetworkId, Nic, OwnerId, Ownership, Size, Tags, VmId, client_token,
    validate_label, validate_user_tags,
};
use crate::Capabilities;
use crate::error::{Error, Operation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The longest VM name every cloud accepts (GCP and Kubernetes: 63).
pub const MAX_NAME_LEN: usize = 63;

/// What a VM should look like. Names are unique per owner: creating a second VM with the name
/// of an existing one and a different spec is `AlreadyExists`, while repeating the same spec
/// returns the existing VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSpec {
    /// The VM's name: a label (`a-z`, `0-9`, `-`, at most 63 characters).
    pub name: String,
    /// Size as a shape or a native type.
    pub size: Size,
    /// Image (AMI, template VM, container image, ...).
    pub image: String,
    /// Network of the primary NIC; the cloud's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkId>,
    /// User tags (keys starting with `strato-` are reserved).
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// Group the VM belongs to, for group members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Pin the VM to this host (clouds with `Capabilities::host_pinning`; elsewhere the
    /// create fails as unsupported). The cloud places it when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostId>,
    /// Networks of further NICs made with the VM, in order after the primary. Clouds whose NICs
    /// are fixed at creation (GCP) or need the VM stopped (Azure) get them here; see
    /// [`Capabilities::nics_at_create`](crate::Capabilities::nics_at_create).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_networks: Vec<NetworkId>,
    /// The document the guest reads at first boot. Never serialised: two requests that differ
    /// only here have the same client token (a retried create with a reissued credential finds
    /// the VM of the first attempt), and no stored or logged spec holds the secret.
    #[serde(default, skip_serializing)]
    pub bootstrap: Option<Bootstrap>,
}

impl VmSpec {
    /// A spec with no network, tags or group.
    pub fn new(name: impl Into<String>, size: Size, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            size,
            image: image.into(),
            network: None,
            tags: Tags::new(),
            group: None,
            host: None,
            extra_networks: Vec::new(),
            bootstrap: None,
        }
    }

    /// Adds a NIC on `network`, after the primary and any added before.
    pub fn with_extra_network(mut self, network: impl Into<NetworkId>) -> Self {
        self.extra_networks.push(network.into());
        self
    }

    /// Sets the first-boot document.
    pub fn with_bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = Some(bootstrap);
        self
    }

    /// Checks what `caps` allow: the bootstrap's size and the NICs made with the VM. Every
    /// connector calls it before creating, so the refusal reads the same on every cloud.
    pub fn validate_for(&self, caps: &Capabilities, cloud: &str) -> Result<(), Error> {
        if let Some(b) = &self.bootstrap {
            if caps.bootstrap_max_bytes == 0 {
                return Err(Error::unsupported(
                    Operation::CreateVm,
                    cloud,
                    "it takes no bootstrap data",
                ));
            }
            if b.len() > caps.bootstrap_max_bytes as usize {
                return Err(Error::invalid_spec(
                    "bootstrap",
                    format!(
                        "bootstrap data is {} bytes, more than the {} the {cloud} cloud accepts",
                        b.len(),
                        caps.bootstrap_max_bytes
                    ),
                ));
            }
        }
        if !self.extra_networks.is_empty() {
            if !caps.nics_at_create {
                return Err(Error::unsupported(
                    Operation::CreateVm,
                    cloud,
                    "a VM is made with one NIC only",
                ));
            }
            let nics = 1 + self.extra_networks.len();
            if nics > caps.max_nics_per_vm as usize {
                return Err(Error::invalid_spec(
                    "extra_networks",
                    format!(
                        "{nics} NICs asked for, more than the {} a VM of the {cloud} cloud can have",
                        caps.max_nics_per_vm
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Sets the primary network.
    pub fn with_network(mut self, network: impl Into<NetworkId>) -> Self {
        self.network = Some(network.into());
        self
    }

    /// Adds a user tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Checks what every cloud requires; connectors add their own rules on top.
    pub fn validate(&self) -> Result<(), Error> {
        validate_label("name", &self.name, MAX_NAME_LEN)?;
        if self.image.trim().is_empty() {
            return Err(Error::invalid_spec("image", "image must not be empty"));
        }
        if let Some(g) = &self.group {
            validate_label("group", g, MAX_NAME_LEN)?;
        }
        validate_user_tags(&self.tags)
    }

    /// The client token of this request for `owner`.
    pub fn client_token(&self, owner: &OwnerId) -> String {
        client_token(owner, "vm", self)
    }

    /// The ownership tags a VM made from this spec carries.
    pub fn ownership(&self, owner: &OwnerId) -> Ownership {
        Ownership {
            owner: owner.clone(),
            group: self.group.clone(),
            token: self.client_token(owner),
        }
    }
}

/// Lifecycle state of a VM, normalised across clouds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VmState {
    /// Being created or booting.
    Pending,
    /// Up.
    Running,
    /// Shutting down.
    Stopping,
    /// Powered off; can be started again.
    Stopped,
    /// Being deleted.
    Deleting,
    /// Gone (clouds like EC2 keep terminated instances visible for a while).
    Deleted,
    /// Failed to create or crashed; will not become running by itself.
    Failed,
    /// The cloud reported something strato does not know.
    Unknown,
}

impl VmState {
    /// True once the VM will not change state again by itself.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            VmState::Running | VmState::Stopped | VmState::Deleted | VmState::Failed
        )
    }

    /// True for states that still count as an existing VM (not deleted or being deleted).
    pub fn is_live(self) -> bool {
        !matches!(self, VmState::Deleting | VmState::Deleted)
    }
}

impl fmt::Display for VmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            VmState::Pending => "pending",
            VmState::Running => "running",
            VmState::Stopping => "stopping",
            VmState::Stopped => "stopped",
            VmState::Deleting => "deleting",
            VmState::Deleted => "deleted",
            VmState::Failed => "failed",
            VmState::Unknown => "unknown",
        };
        f.write_str(s)
    }
}

impl std::str::FromStr for VmState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "pending" => VmState::Pending,
            "running" => VmState::Running,
            "stopping" => VmState::Stopping,
            "stopped" => VmState::Stopped,
            "deleting" => VmState::Deleting,
            "deleted" => VmState::Deleted,
            "failed" => VmState::Failed,
            "unknown" => VmState::Unknown,
            other => {
                return Err(Error::invalid_spec(
                    "state",
                    format!(
                        "state {other:?} is not one of pending, running, stopping, stopped, deleting, deleted, failed, unknown"
                    ),
                ));
            }
        })
    }
}

/// A VM as the cloud reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vm {
    /// The cloud's id.
    pub id: VmId,
    /// The strato name.
    pub name: String,
    /// Current state.
    pub state: VmState,
    /// Size as created.
    pub size: Size,
    /// Image as created.
    pub image: String,
    /// Primary private address, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<IpAddr>,
    /// Public address, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<IpAddr>,
    /// Network interfaces, primary first.
    #[serde(default)]
    pub nics: Vec<Nic>,
    /// All tags, ownership tags included.
    #[serde(default)]
    pub tags: Tags,
    /// Ownership read from the tags.
    pub ownership: Ownership,
    /// When the cloud created it.
    pub created_at: DateTime<Utc>,
    /// The host it runs on, for clouds that show hosts (once placed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostId>,
}

impl Vm {
    /// The group the VM belongs to.
    pub fn group(&self) -> Option<&str> {
        self.ownership.group.as_deref()
    }
}

/// Which VMs to list. Listing is always restricted to the connector's owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmQuery {
    /// Only VMs with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only VMs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VmState>,
    /// Only members of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Only VMs carrying all of these user tags.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// Include deleted VMs that the cloud still shows (default: live ones only).
    #[serde(default)]
    pub include_deleted: bool,
    /// Page size wanted; the connector may return fewer (never more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Token from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

impl VmQuery {
    /// True when `vm` passes every filter but paging (for connectors that filter client-side).
    pub fn matches(&self, vm: &Vm) -> bool {
        self.name.as_ref().is_none_or(|n| *n == vm.name)
            && self.state.is_none_or(|s| s == vm.state)
            && (self.include_deleted || self.state.is_some() || vm.state.is_live())
            && self.group.as_deref().is_none_or(|g| vm.group() == Some(g))
            && self.tags.iter().all(|(k, v)| vm.tags.get(k) == Some(v))
    }
}
