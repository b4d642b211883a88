//! Virtual IPs: an address that belongs to a service rather than a VM and can move between VMs.

use super::{
    NetworkId, OwnerId, Ownership, Tags, VipId, VmId, client_token, validate_label,
    validate_user_tags,
};
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What a VIP should be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipSpec {
    /// Name (a label).
    pub name: String,
    /// The VM to bind it to first.
    pub vm: VmId,
    /// Network of the NIC to put it on; the VM's primary network when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkId>,
    /// A fixed address; the cloud (or strato's IPAM) picks one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// Also give it a public address (Elastic IP, public IP resource...).
    #[serde(default)]
    pub public: bool,
    /// User tags.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

impl VipSpec {
    /// A private VIP on `vm`'s primary network.
    pub fn new(name: impl Into<String>, vm: impl Into<VmId>) -> Self {
        Self {
            name: name.into(),
            vm: vm.into(),
            network: None,
            address: None,
            public: false,
            tags: Tags::new(),
        }
    }

    /// Checks what every cloud requires.
    pub fn validate(&self) -> Result<(), Error> {
        validate_label("name", &self.name, super::MAX_NAME_LEN)?;
        validate_user_tags(&self.tags)
    }

    /// The client token of this request for `owner`. The target VM is left out: a VIP is the
    /// same VIP wherever it is bound, so a retried allocate after a move finds it.
    pub fn client_token(&self, owner: &OwnerId) -> String {
        client_token(
            owner,
            "vip",
            &(
                &self.name,
                &self.network,
                &self.address,
                self.public,
                &self.tags,
            ),
        )
    }

    /// The ownership tags a VIP made from this spec carries.
    pub fn ownership(&self, owner: &OwnerId) -> Ownership {
        Ownership {
            owner: owner.clone(),
            group: None,
            token: self.client_token(owner),
        }
    }
}

/// Where a VIP's address is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VipBinding {
    /// The cloud routes it to the VM (secondary IP, service, alias range).
    Cloud,
    /// strato's IPAM assigned it and the SE agent must configure it in the guest.
    Guest,
}

/// A VIP as the cloud reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vip {
    /// The id (for example the address, or a cloud object id).
    pub id: VipId,
    /// Name.
    pub name: String,
    /// The private address.
    pub address: IpAddr,
    /// The public address, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_address: Option<IpAddr>,
    /// The VM it is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmId>,
    /// The network it is on.
    pub network: NetworkId,
    /// Who configures the address.
    pub binding: VipBinding,
    /// Ownership.
    pub ownership: Ownership,
}

/// Which VIPs to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipQuery {
    /// Only VIPs with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only VIPs bound to this VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmId>,
}

impl VipQuery {
    /// True when `vip` passes every filter.
    pub fn matches(&self, vip: &Vip) -> bool {
        self.name.as_ref().is_none_or(|n| *n == vip.name)
            && self.vm.as_ref().is_none_or(|v| vip.vm.as_ref() == Some(v))
    }
}

/// Checks a VIP name on its own (for move and release by name in the CLI).
pub fn validate_vip_name(name: &str) -> Result<(), Error> {
    validate_label("name", name, super::MAX_NAME_LEN)
}
