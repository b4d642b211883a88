//! ARM resources (as the SDK parsed them, read through their JSON form) to the strato model and
//! back: names derived from client tokens, ownership tags, VM state from the instance view.
//!
//! The SDK parses every answer into its model types (so the wire format is checked); the few
//! fields strato reads are then taken from the model's JSON form, which keeps the deeply optional
//! model trees out of the resource files.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::net::IpAddr;
use strato_core::{NAME_TAG, NetworkId, Nic, NicId, Ownership, Size, Tags, Vm, VmId, VmState};

/// The strato size a VM was asked with (a shape reads back as itself, not as its Azure size).
pub const SIZE_TAG: &str = "strato-size";
/// The image a VM was asked with.
pub const IMAGE_TAG: &str = "strato-image";
/// The group template token of a member (scale-down removes older templates first).
pub const TEMPLATE_TAG: &str = "strato-template";
/// On a NIC: the VM (ARM name) it was made for.
pub const VM_TAG: &str = "strato-vm";
/// On a NIC: `strato-vip.NAME = TOKEN`, one per VIP on it (ipConfigurations have no tags).
pub const VIP_TAG_PREFIX: &str = "strato-vip.";
/// On the VNet: `strato-net.SUBNET = OWNER TOKEN`, one per subnet strato made (subnets have no
/// tags).
pub const NET_TAG_PREFIX: &str = "strato-net.";
/// The ipConfiguration name of a VIP.
pub fn vip_config_name(vip: &str) -> String {
    format!("vip-{vip}")
}

/// Any SDK model as JSON.
pub fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A resource's tags.
pub fn tags_of(v: &Value) -> Tags {
    v["tags"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The tags of something strato creates: the user's, the ownership tags over them, then
/// strato's own.
pub fn owned_tags<'a>(
    user: &Tags,
    ownership: &Ownership,
    extra: impl IntoIterator<Item = (&'a str, String)>,
) -> Tags {
    let mut t = user.clone();
    ownership.apply(&mut t);
    t.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    t
}

/// The ARM name of a VM: the strato name (cut to fit Azure's 64 characters) and 8 characters of
/// the request's client token, so a retried PUT lands on the same VM and a changed request gets
/// another name.
pub fn vm_arm_name(name: &str, token: &str) -> String {
    let cut: String = name.chars().take(55).collect();
    format!("{cut}-{}", &token[..token.len().min(8)])
}

/// The last segment of an ARM id.
pub fn last(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or("")
}

/// The subnet name an ipConfiguration names.
pub fn subnet_of(config: &Value) -> Option<String> {
    config["properties"]["subnet"]["id"]
        .as_str()
        .map(|s| last(s).to_owned())
}

/// A NIC's ipConfigurations.
pub fn ip_configs(nic: &Value) -> Vec<Value> {
    nic["properties"]["ipConfigurations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A NIC's own (primary) ipConfiguration.
pub fn primary_config(nic: &Value) -> Option<Value> {
    let cs = ip_configs(nic);
    cs.iter()
        .find(|c| c["properties"]["primary"].as_bool() == Some(true))
        .or_else(|| {
            cs.iter()
                .find(|c| !c["name"].as_str().unwrap_or("").starts_with("vip-"))
        })
        .cloned()
}

fn addr(config: &Value) -> Option<IpAddr> {
    config["properties"]["privateIPAddress"]
        .as_str()?
        .parse()
        .ok()
}

/// A NIC as a strato NIC at `index` in its VM.
pub fn nic_of(nic: &Value, index: u32) -> Option<Nic> {
    let c = primary_config(nic)?;
    Some(Nic {
        id: NicId::new(nic["name"].as_str()?),
        network: NetworkId::new(subnet_of(&c)?),
        address: addr(&c),
        mac: nic["properties"]["macAddress"]
            .as_str()
            .map(|m| m.replace('-', ":").to_lowercase()),
        device_index: index,
    })
}

/// The NIC references of a VM, primary first.
pub fn nic_refs(vm: &Value) -> Vec<(String, bool)> {
    let mut refs: Vec<(String, bool)> = vm["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_owned(),
                r["properties"]["primary"].as_bool().unwrap_or(false),
            ))
        })
        .collect();
    refs.sort_by_key(|(_, p)| !p);
    refs
}

/// The state of a VM: provisioning first (Creating, Deleting, Failed), then the power state of
/// the instance view.
pub fn vm_state(vm: &Value) -> VmState {
    let prov = vm["properties"]["provisioningState"].as_str().unwrap_or("");
    match prov.to_ascii_lowercase().as_str() {
        "creating" => return VmState::Pending,
        "deleting" => return VmState::Deleting,
        "failed" => return VmState::Failed,
        _ => {}
    }
    let power = vm["properties"]["instanceView"]["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["code"].as_str()?.strip_prefix("PowerState/"))
        .next_back();
    match power {
        Some("running") => VmState::Running,
        Some("starting") => VmState::Pending,
        Some("stopping") | Some("deallocating") => VmState::Stopping,
        Some("stopped") | Some("deallocated") => VmState::Stopped,
        _ => VmState::Unknown,
    }
}

/// A VM (with the bodies of its NICs, any order) into the model; `None` when it is not strato's.
pub fn vm_of(vm: &Value, nics: &[Value]) -> Option<Vm> {
    let tags = tags_of(vm);
    let ownership = Ownership::from_tags(&tags)?;
    let arm = vm["name"].as_str()?.to_owned();
    let p = &vm["properties"];
    let mut vm_nics = Vec::new();
    for (i, (id, _)) in nic_refs(vm).iter().enumerate() {
        if let Some(n) = nics
            .iter()
            .find(|n| n["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
            .and_then(|n| nic_of(n, i as u32))
        {
            vm_nics.push(n);
        }
    }
    let size = tags
        .get(SIZE_TAG)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            Size::Native(
                p["hardwareProfile"]["vmSize"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        });
    let image = tags.get(IMAGE_TAG).cloned().unwrap_or_else(|| {
        let r = &p["storageProfile"]["imageReference"];
        let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
        r["id"].as_str().map(str::to_owned).unwrap_or_else(|| {
            format!(
                "{}:{}:{}:{}",
                s("publisher"),
                s("offer"),
                s("sku"),
                s("version")
            )
        })
    });
    let created_at = p["timeCreated"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    Some(Vm {
        id: VmId::new(&arm),
        name: tags.get(NAME_TAG).cloned().unwrap_or_else(|| arm.clone()),
        state: vm_state(vm),
        size,
        image,
        private_ip: vm_nics.first().and_then(|n| n.address),
        public_ip: None,
        nics: vm_nics,
        tags,
        ownership,
        created_at,
        host: None,
    })
}
