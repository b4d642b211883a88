//! The SE template: the VM spec an SE is made from, the tag that says which template made it,
//! and the `GROUP-SERIAL` names of SEs.

use crate::model::SeGroup;
use strato_core::{HostId, NetworkId, Tags, VmSpec};

/// User tag carrying the hash of the SE template a VM was made from.
pub const TEMPLATE_TAG: &str = "se-template";

/// The hash of a template: changes exactly when the SEs must be replaced.
pub fn template_hash(g: &SeGroup, owner: &strato_core::OwnerId) -> String {
    let mut t = strato_core::client_token(owner, "se-template", &g.template);
    t.truncate(16);
    t
}

/// The VM spec of SE number `serial` (pinned to `host` in a group with one SE per host).
pub fn se_spec(g: &SeGroup, serial: u64, template: &str, host: Option<HostId>) -> VmSpec {
    let mut tags = Tags::new();
    tags.insert(TEMPLATE_TAG.to_owned(), template.to_owned());
    VmSpec {
        name: format!("{}-{serial}", g.name),
        size: g.template.size.clone(),
        image: g.template.image.clone(),
        network: g.template.network.clone().map(NetworkId::new),
        tags,
        group: Some(g.name.clone()),
        host,
        extra_networks: Vec::new(),
        bootstrap: None,
    }
}

/// The serial of the VM named `vm` when it is an SE of `group`.
pub(super) fn parse_serial(group: &str, vm: &str) -> Option<u64> {
    vm.strip_prefix(group)?.strip_prefix('-')?.parse().ok()
}

/// The serial of an SE name, for ordering (names that have none sort last).
pub(super) fn serial_of(se: &str) -> u64 {
    se.rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}
