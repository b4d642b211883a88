//! Compute types to the strato model and back: labels carry the ownership tags, instance
//! metadata the image (an image URL is no legal label value), subnetwork descriptions the
//! ownership of networks (subnetworks have no labels).

use google_cloud_compute_v1::model::{Instance, Subnetwork};
use std::net::IpAddr;
use strato_core::{
    HostId, Network, NetworkId, Nic, NicId, Ownership, Size, Tags, Vm, VmId, VmState,
};

/// Label: the size as asked (`2x4g`), so a VM reads back with the size of its spec.
pub const SIZE_LABEL: &str = "strato-size";
/// Label: the group template token of a group member (scale-down removes older ones first).
pub const TEMPLATE_LABEL: &str = "strato-template";
/// Label prefix of VIP records on the instance holding the VIP (see `vips.rs`).
pub const VIP_LABEL_PREFIX: &str = "strato-vip-";
/// Metadata key: the image a VM was made from.
pub const IMAGE_METADATA: &str = "strato-image";

/// The last segment of a Compute URL (`.../subnetworks/x` -> `x`).
pub fn last(link: &str) -> &str {
    link.rsplit('/').next().unwrap_or(link)
}

/// A size label value: sizes are `2x4096m` or a machine type, legal label values once
/// anything else is replaced.
pub fn size_label(s: &Size) -> String {
    s.to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Maps an instance status.
pub fn state_of(status: Option<&str>) -> VmState {
    match status {
        Some("PROVISIONING" | "STAGING" | "PENDING" | "REPAIRING") => VmState::Pending,
        Some("RUNNING") => VmState::Running,
        Some("STOPPING" | "SUSPENDING" | "PENDING_STOP" | "DEPROVISIONING") => VmState::Stopping,
        Some("TERMINATED" | "STOPPED" | "SUSPENDED") => VmState::Stopped,
        _ => VmState::Unknown,
    }
}

/// The VM of an instance, or `None` when it carries no valid ownership labels.
pub fn vm_of(i: &Instance) -> Option<Vm> {
    let labels: Tags = i
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ownership = Ownership::from_tags(&labels)?;
    let name = i.name.clone()?;
    let machine = last(i.machine_type.as_deref().unwrap_or("")).to_owned();
    let size = labels
        .get(SIZE_LABEL)
        .and_then(|s| s.parse::<Size>().ok())
        .unwrap_or(Size::Native(machine));
    let image = i
        .metadata
        .as_ref()
        .and_then(|m| {
            m.items
                .iter()
                .find(|it| it.key.as_deref() == Some(IMAGE_METADATA))
        })
        .and_then(|it| it.value.clone())
        .unwrap_or_default();
    let nics: Vec<Nic> = i
        .network_interfaces
        .iter()
        .enumerate()
        .map(|(n, nic)| Nic {
            id: NicId::new(nic.name.clone().unwrap_or_else(|| format!("nic{n}"))),
            network: NetworkId::new(last(nic.subnetwork.as_deref().unwrap_or(""))),
            address: nic
                .network_ip
                .as_deref()
                .and_then(|a| a.parse::<IpAddr>().ok()),
            mac: None,
            device_index: n as u32,
        })
        .collect();
    let public_ip = i
        .network_interfaces
        .iter()
        .flat_map(|n| n.access_configs.iter())
        .find_map(|a| a.nat_ip.as_deref().and_then(|ip| ip.parse().ok()));
    let created_at = i
        .creation_timestamp
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    let tags = labels
        .into_iter()
        .filter(|(k, _)| !k.starts_with(VIP_LABEL_PREFIX))
        .collect();
    Some(Vm {
        id: VmId::new(name.clone()),
        name,
        state: state_of(i.status.as_ref().and_then(|s| s.name())),
        size,
        image,
        private_ip: nics.first().and_then(|n| n.address),
        public_ip,
        nics,
        tags,
        ownership,
        created_at,
        host: None::<HostId>,
    })
}

/// Ownership of a subnetwork, written into its description as `strato-owner=o strato-token=t`.
pub fn network_description(o: &Ownership) -> String {
    format!("strato-owner={} strato-token={}", o.owner, o.token)
}

/// The network of a subnetwork (its ownership read from the description).
pub fn network_of(s: &Subnetwork) -> Network {
    let mut tags = Tags::new();
    for word in s.description.as_deref().unwrap_or("").split_whitespace() {
        if let Some((k, v)) = word.split_once('=')
            && k.starts_with("strato-")
        {
            tags.insert(k.to_owned(), v.to_owned());
        }
    }
    let name = s.name.clone().unwrap_or_default();
    Network {
        id: NetworkId::new(name.clone()),
        name,
        cidr: s.ip_cidr_range.as_deref().and_then(|c| c.parse().ok()),
        parent: s.network.as_deref().map(|n| last(n).to_owned()),
        ownership: Ownership::from_tags(&tags),
        tags,
    }
}

/// The smallest general-purpose (E2) machine type with at least this many vCPUs and this much
/// memory: (name, vCPUs, MiB).
const MACHINE_TYPES: &[(&str, u32, u64)] = &[
    ("e2-micro", 2, 1024),
    ("e2-small", 2, 2048),
    ("e2-medium", 2, 4096),
    ("e2-standard-2", 2, 8192),
    ("e2-highmem-2", 2, 16384),
    ("e2-standard-4", 4, 16384),
    ("e2-highmem-4", 4, 32768),
    ("e2-standard-8", 8, 32768),
    ("e2-highmem-8", 8, 65536),
    ("e2-standard-16", 16, 65536),
    ("e2-highmem-16", 16, 131072),
    ("e2-standard-32", 32, 131072),
];

/// The machine type of a size, or `None` when no E2 type is that large.
pub fn machine_type(s: &Size) -> Option<String> {
    match s {
        Size::Native(n) => Some(n.clone()),
        Size::Shape { vcpus, memory_mib } => MACHINE_TYPES
            .iter()
            .find(|(_, c, m)| c >= vcpus && m >= memory_mib)
            .map(|(n, _, _)| (*n).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_get_the_smallest_fitting_type_and_labels_stay_legal() {
        assert_eq!(
            machine_type(&Size::shape(1, 512)).as_deref(),
            Some("e2-micro")
        );
        assert_eq!(
            machine_type(&Size::shape(2, 4096)).as_deref(),
            Some("e2-medium")
        );
        assert_eq!(
            machine_type(&Size::shape(3, 1024)).as_deref(),
            Some("e2-standard-4")
        );
        assert_eq!(machine_type(&Size::shape(64, 1024)), None);
        assert_eq!(size_label(&Size::shape(2, 4096)), "2x4096m");
        assert_eq!(state_of(Some("TERMINATED")), VmState::Stopped);
        assert_eq!(state_of(Some("STAGING")), VmState::Pending);
    }
}
