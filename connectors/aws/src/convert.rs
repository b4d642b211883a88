//! EC2 types <-> strato's model.

use aws_sdk_ec2::types::{
    Filter, Instance, InstanceStateName, NetworkInterface, ResourceType, Subnet, Tag,
    TagSpecification,
};
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use strato_core::{
    GROUP_TAG, NAME_TAG, Network, NetworkId, Nic, NicId, OWNER_TAG, OwnerId, Ownership, Size, Tags,
    Vm, VmId, VmState,
};

/// Tag carrying the size as asked (`2x4096m`), so a shape reads back as the shape.
pub const SIZE_TAG: &str = "strato-size";
/// Tag carrying the group template token of a member.
pub const TEMPLATE_TAG: &str = "strato-template";
/// Tag of batch-launched group members: the ordinal of the member with AMI launch index 0. One
/// RunInstances call tags all its instances alike, so a member's name is derived as
/// `GROUP-(base + amiLaunchIndex)` instead of being written per instance (which would cost one
/// CreateTags call per member).
pub const ORDINAL_BASE_TAG: &str = "strato-ordinal-base";
/// Prefix of the ENI tags recording VIPs: `strato-vip.NAME = "ip=... token=... at=..."` (a dot,
/// so no VIP name can collide with [`VIP_OWNER_TAG`]).
pub const VIP_TAG_PREFIX: &str = "strato-vip.";
/// Tag on every ENI that holds VIPs of an owner, so list_vips filters server-side.
pub const VIP_OWNER_TAG: &str = "strato-vip-owner";
/// EC2's own display-name tag.
pub const EC2_NAME_TAG: &str = "Name";

/// EC2 tags into a map.
pub fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
        .collect()
}

/// A map into EC2 tags.
pub fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// A TagSpecification for one resource type.
pub fn tag_spec(resource: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

/// The tags of a resource strato creates, and its TagSpecification for `resource`: the caller's
/// `user` tags, the ownership tags over them, then strato's own `extra` tags (names, size,
/// template...) over both. The tags are returned too: a create's answer may omit them.
pub fn owned_tag_spec<'a>(
    resource: ResourceType,
    user: &Tags,
    ownership: &Ownership,
    extra: impl IntoIterator<Item = (&'a str, String)>,
) -> (Tags, TagSpecification) {
    let mut tags = user.clone();
    ownership.apply(&mut tags);
    tags.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let spec = tag_spec(resource, &tags);
    (tags, spec)
}

/// The name tags of a resource strato names: `strato-name` and EC2's display `Name`, both `name`.
pub fn name_tags(name: &str) -> [(&'static str, String); 2] {
    [(NAME_TAG, name.to_owned()), (EC2_NAME_TAG, name.to_owned())]
}

/// A filter with one value.
pub fn filter(name: &str, value: impl Into<String>) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// A filter with several values (OR-ed by EC2).
pub fn filter_any(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

/// The owner filter every list uses, so foreign resources never leave EC2.
pub fn owner_filter(owner: &OwnerId) -> Filter {
    filter(&format!("tag:{OWNER_TAG}"), owner.as_str())
}

/// EC2 state names into strato's.
pub fn vm_state(s: Option<&InstanceStateName>) -> VmState {
    match s {
        Some(InstanceStateName::Pending) => VmState::Pending,
        Some(InstanceStateName::Running) => VmState::Running,
        Some(InstanceStateName::Stopping) => VmState::Stopping,
        Some(InstanceStateName::Stopped) => VmState::Stopped,
        Some(InstanceStateName::ShuttingDown) => VmState::Deleting,
        Some(InstanceStateName::Terminated) => VmState::Deleted,
        _ => VmState::Unknown,
    }
}

/// strato states into the EC2 state names a DescribeInstances filter takes.
pub fn ec2_states(s: VmState) -> &'static [&'static str] {
    match s {
        VmState::Pending => &["pending"],
        VmState::Running => &["running"],
        VmState::Stopping => &["stopping"],
        VmState::Stopped => &["stopped"],
        VmState::Deleting => &["shutting-down"],
        VmState::Deleted => &["terminated"],
        VmState::Failed | VmState::Unknown => &[],
        _ => &[],
    }
}

/// EC2 states that count as a live instance.
pub const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

fn ip(s: Option<&str>) -> Option<IpAddr> {
    s.and_then(|s| s.parse().ok())
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// The strato name of an instance: its `strato-name` tag, else (batch-launched group member)
/// `GROUP-(base + launch index)`, else its EC2 `Name`, else its id.
pub fn vm_name(tags: &Tags, launch_index: Option<i32>, id: &str) -> String {
    if let Some(n) = tags.get(NAME_TAG) {
        return n.clone();
    }
    if let (Some(g), Some(base), Some(i)) = (
        tags.get(GROUP_TAG),
        tags.get(ORDINAL_BASE_TAG)
            .and_then(|b| b.parse::<u32>().ok()),
        launch_index,
    ) {
        return format!("{g}-{}", base + i.max(0) as u32);
    }
    tags.get(EC2_NAME_TAG)
        .cloned()
        .unwrap_or_else(|| id.to_owned())
}

/// An instance into a VM. `known_tags` are the tags strato just applied (a RunInstances answer
/// may omit them).
pub fn vm_of(inst: &Instance, known_tags: Option<&Tags>) -> Option<Vm> {
    let id = inst.instance_id()?.to_owned();
    let mut tags = tags_of(inst.tags());
    if let Some(k) = known_tags {
        for (key, v) in k {
            tags.entry(key.clone()).or_insert_with(|| v.clone());
        }
    }
    let ownership = Ownership::from_tags(&tags)?;
    let instance_type = inst
        .instance_type()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    let size = tags
        .get(SIZE_TAG)
        .and_then(|s| s.parse::<Size>().ok())
        .unwrap_or(Size::Native(instance_type));
    let mut nics: Vec<Nic> = inst
        .network_interfaces()
        .iter()
        .filter_map(|n| {
            nic(
                n.network_interface_id(),
                n.subnet_id(),
                n.private_ip_address(),
                n.mac_address(),
                n.attachment().and_then(|a| a.device_index()),
            )
        })
        .collect();
    nics.sort_by_key(|n| n.device_index);
    Some(Vm {
        host: None,
        name: vm_name(&tags, inst.ami_launch_index(), &id),
        id: VmId::new(id),
        state: vm_state(inst.state().and_then(|s| s.name())),
        size,
        image: inst.image_id().unwrap_or_default().to_owned(),
        private_ip: ip(inst.private_ip_address()),
        public_ip: ip(inst.public_ip_address()),
        nics,
        tags,
        ownership,
        created_at: time(inst.launch_time()),
    })
}

/// A subnet into a network.
pub fn network_of(s: &Subnet) -> Option<Network> {
    let id = s.subnet_id()?.to_owned();
    let tags = tags_of(s.tags());
    let name = tags
        .get(NAME_TAG)
        .or_else(|| tags.get(EC2_NAME_TAG))
        .cloned()
        .unwrap_or_else(|| id.clone());
    Some(Network {
        id: NetworkId::new(id),
        name,
        cidr: s.cidr_block().and_then(|c| c.parse().ok()),
        parent: s.vpc_id().map(str::to_owned),
        ownership: Ownership::from_tags(&tags),
        tags,
    })
}

/// An ENI into a NIC.
pub fn nic_of(n: &NetworkInterface) -> Option<Nic> {
    nic(
        n.network_interface_id(),
        n.subnet_id(),
        n.private_ip_address(),
        n.mac_address(),
        n.attachment().and_then(|a| a.device_index()),
    )
}

/// A NIC from an ENI's fields; EC2 has one type for an ENI described on its own and another for
/// one described inside its instance, with the same fields.
fn nic(
    id: Option<&str>,
    subnet: Option<&str>,
    private_ip: Option<&str>,
    mac: Option<&str>,
    device_index: Option<i32>,
) -> Option<Nic> {
    Some(Nic {
        id: NicId::new(id?),
        network: NetworkId::new(subnet.unwrap_or_default()),
        address: ip(private_ip),
        mac: mac.map(str::to_owned),
        device_index: device_index.unwrap_or(0).max(0) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_members_are_named_from_the_launch_index() {
        let tags = Tags::from([
            (GROUP_TAG.to_owned(), "web".to_owned()),
            (ORDINAL_BASE_TAG.to_owned(), "10".to_owned()),
        ]);
        assert_eq!(vm_name(&tags, Some(3), "i-1"), "web-13");
        let named = Tags::from([(NAME_TAG.to_owned(), "db".to_owned())]);
        assert_eq!(vm_name(&named, Some(3), "i-1"), "db");
        assert_eq!(vm_name(&Tags::new(), None, "i-1"), "i-1");
    }

    #[test]
    fn owned_tags_layer_user_then_ownership_then_extra() {
        let owner = OwnerId::new("team-a").unwrap();
        let ownership = Ownership {
            owner: owner.clone(),
            group: None,
            token: "tok".into(),
        };
        let user = Tags::from([
            ("env".to_owned(), "prod".to_owned()),
            (OWNER_TAG.to_owned(), "forged".to_owned()),
            (EC2_NAME_TAG.to_owned(), "user-name".to_owned()),
        ]);
        let (tags, spec) = owned_tag_spec(
            ResourceType::Subnet,
            &user,
            &ownership,
            [(EC2_NAME_TAG, "net-1".to_owned())],
        );
        assert_eq!(tags.get("env").map(String::as_str), Some("prod"));
        assert_eq!(tags.get(OWNER_TAG).map(String::as_str), Some("team-a"));
        assert_eq!(tags.get(EC2_NAME_TAG).map(String::as_str), Some("net-1"));
        assert_eq!(Ownership::from_tags(&tags), Some(ownership));
        assert_eq!(spec.resource_type(), Some(&ResourceType::Subnet));
        assert_eq!(tags_of(spec.tags()), tags);
    }

    #[test]
    fn instances_convert_with_their_ownership() {
        let owner = OwnerId::new("team-a").unwrap();
        let mut tags = Tags::from([
            (NAME_TAG.to_owned(), "web-1".to_owned()),
            (SIZE_TAG.to_owned(), "2x4096m".to_owned()),
        ]);
        Ownership {
            owner: owner.clone(),
            group: None,
            token: "t".into(),
        }
        .apply(&mut tags);
        let inst = Instance::builder()
            .instance_id("i-123")
            .image_id("ami-1")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
            .state(
                aws_sdk_ec2::types::InstanceState::builder()
                    .name(InstanceStateName::ShuttingDown)
                    .build(),
            )
            .private_ip_address("10.0.0.5")
            .set_tags(Some(ec2_tags(&tags)))
            .build();
        let vm = vm_of(&inst, None).unwrap();
        assert_eq!((vm.name.as_str(), vm.state), ("web-1", VmState::Deleting));
        assert_eq!(vm.size, Size::shape(2, 4096));
        assert_eq!(vm.ownership.owner, owner);
        assert_eq!(vm.private_ip, Some("10.0.0.5".parse().unwrap()));
        // No ownership tags: not strato's.
        assert!(vm_of(&Instance::builder().instance_id("i-2").build(), None).is_none());
    }
}
