//! Networks (subnet, portgroup, network attachment) and the NICs that join VMs to them.

use super::{
    NetworkId, NicId, OwnerId, Ownership, Tags, VmId, client_token, validate_label,
    validate_user_tags,
};
use crate::error::Error;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What a network should look like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// Name (a label).
    pub name: String,
    /// Address range, where the cloud assigns one (required by AWS, ignored by vSphere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<IpNet>,
    /// Where the network lives: VPC id, distributed switch, namespace... The connector's default
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// User tags.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

impl NetworkSpec {
    /// A spec with a name and a CIDR.
    pub fn new(name: impl Into<String>, cidr: Option<IpNet>) -> Self {
        Self {
            name: name.into(),
            cidr,
            parent: None,
            tags: Tags::new(),
        }
    }

    /// Checks what every cloud requires.
    pub fn validate(&self) -> Result<(), Error> {
        validate_label("name", &self.name, super::MAX_NAME_LEN)?;
        validate_user_tags(&self.tags)
    }

    /// The client token of this request for `owner`.
    pub fn client_token(&self, owner: &OwnerId) -> String {
        client_token(owner, "network", self)
    }

    /// The ownership tags a network made from this spec carries.
    pub fn ownership(&self, owner: &OwnerId) -> Ownership {
        Ownership {
            owner: owner.clone(),
            group: None,
            token: self.client_token(owner),
        }
    }
}

/// A network as the cloud reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// The cloud's id.
    pub id: NetworkId,
    /// Name.
    pub name: String,
    /// Address range, when the cloud knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<IpNet>,
    /// VPC, switch or namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// All tags.
    #[serde(default)]
    pub tags: Tags,
    /// Ownership, or `None` for a network strato did not create (usable, never deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
}

/// Which networks to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkQuery {
    /// Only networks with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Also list networks strato does not own (they can be used, never deleted).
    #[serde(default)]
    pub include_unowned: bool,
    /// Page size wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Token from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

impl NetworkQuery {
    /// True when `net` passes every filter but paging, for `owner`.
    pub fn matches(&self, owner: &OwnerId, net: &Network) -> bool {
        self.name.as_ref().is_none_or(|n| *n == net.name)
            && (self.include_unowned || net.ownership.as_ref().is_some_and(|o| o.owner == *owner))
    }
}

/// A request to attach a VM to a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    /// The network to join.
    pub network: NetworkId,
    /// A fixed address, where the cloud allows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

impl NicSpec {
    /// The client token of attaching `vm` for `owner`.
    pub fn client_token(&self, owner: &OwnerId, vm: &VmId) -> String {
        client_token(owner, "nic", &(vm, self))
    }
}

/// A network interface as the cloud reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// The cloud's id (ENI id, device key, interface name...).
    pub id: NicId,
    /// Network it is on.
    pub network: NetworkId,
    /// Primary address on that network, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// MAC address, when the cloud reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Position on the VM; 0 is the primary NIC.
    pub device_index: u32,
}
