//! The typed model: specs (what to create) and observed resources (what the cloud reports).

mod bootstrap;
mod group;
mod host;
mod ids;
mod network;
mod page;
mod size;
mod tags;
mod token;
mod vip;
mod vm;

pub use bootstrap::Bootstrap;
pub use group::{Group, GroupSpec, GroupState, MAX_GROUP_NAME_LEN, member_ordinal};
pub use host::Host;
pub use ids::{HostId, NetworkId, NicId, VipId, VmId};
pub use network::{Network, NetworkQuery, NetworkSpec, Nic, NicSpec};
pub use page::Page;
pub use size::Size;
pub use tags::{
    GROUP_TAG, NAME_TAG, OWNER_TAG, OwnerId, Ownership, TOKEN_TAG, Tags, is_reserved_tag,
    validate_label, validate_user_tags,
};
pub use token::{TOKEN_LEN, client_token};
pub use vip::{Vip, VipBinding, VipQuery, VipSpec, validate_vip_name};
pub use vm::{MAX_NAME_LEN, Vm, VmQuery, VmSpec, VmState};
