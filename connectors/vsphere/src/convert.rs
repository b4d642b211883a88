//! vim25 objects <-> strato's model: reading VMs, NICs and networks out of property-collector
//! results, and writing the device and clone specs strato sends.

use crate::soap::{Element, MoRef, Request};
use crate::vim::ObjectContent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use strato_core::{
    GROUP_TAG, Host, HostId, NAME_TAG, NetworkId, Nic, NicId, OWNER_TAG, OwnerId, Ownership, Size,
    TOKEN_TAG, Tags, Vip, VipBinding, VipId, Vm, VmId, VmState,
};

/// Custom attribute holding the spec details strato reads back (image, user tags, creation time).
pub const SPEC_ATTR: &str = "strato-spec";
/// Custom attribute holding the VIPs bound to a VM (JSON).
pub const VIPS_ATTR: &str = "strato-vips";
/// Custom attribute holding the NICs strato attached to a VM, by client token (JSON).
pub const NICS_ATTR: &str = "strato-nics";
/// Custom attribute holding the CIDR of a network strato created (its VIP pool).
pub const CIDR_ATTR: &str = "strato-cidr";
/// Every custom attribute strato uses; all are defined at connect time.
pub const ATTRS: [&str; 8] = [
    OWNER_TAG, TOKEN_TAG, NAME_TAG, GROUP_TAG, SPEC_ATTR, VIPS_ATTR, NICS_ATTR, CIDR_ATTR,
];
/// extraConfig key set atomically by the clone, so a VM whose tagging was interrupted is still
/// recognisable as the result of its request.
pub const EXTRA_TOKEN_KEY: &str = "guestinfo.strato.token";
/// extraConfig key of the bootstrap document (cloud-init's VMware datasource reads it), base64
/// as [`USERDATA_ENCODING_KEY`] says.
pub const USERDATA_KEY: &str = "guestinfo.userdata";
/// extraConfig key naming the encoding of [`USERDATA_KEY`].
pub const USERDATA_ENCODING_KEY: &str = "guestinfo.userdata.encoding";

/// Properties read to list VMs cheaply (ownership filter).
pub const VM_BRIEF: &[&str] = &["name", "customValue"];
/// Properties read for owned VMs.
pub const VM_DETAIL: &[&str] = &[
    "name",
    "customValue",
    "runtime.powerState",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.createDate",
    "guest.net",
    "runtime.host",
];

/// Properties read for hosts (`parent` is the cluster or standalone compute resource).
pub const HOST_PROPS: &[&str] = &[
    "name",
    "parent",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "runtime.powerState",
];

/// Device types that are network cards.
const NIC_TYPES: &[&str] = &[
    "VirtualVmxnet3",
    "VirtualVmxnet3Vrdma",
    "VirtualVmxnet2",
    "VirtualVmxnet",
    "VirtualE1000",
    "VirtualE1000e",
    "VirtualPCNet32",
    "VirtualSriovEthernetCard",
];

/// What strato keeps in [`SPEC_ATTR`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpecMeta {
    /// Image as asked.
    #[serde(default)]
    pub image: String,
    /// User tags.
    #[serde(default)]
    pub tags: Tags,
    /// When strato created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
}

/// One VIP bound to a VM, as kept in [`VIPS_ATTR`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipRecord {
    /// VIP name.
    pub name: String,
    /// Address from the pool.
    pub address: IpAddr,
    /// Network id.
    pub network: String,
    /// Client token of the allocate.
    pub token: String,
    /// Milliseconds since the epoch of the last bind: after an interrupted move the newest wins.
    pub seq: i64,
}

/// The NetworkId of a VIP: `NETWORK/ADDRESS`.
pub fn vip_id(network: &str, address: IpAddr) -> String {
    format!("{network}/{address}")
}

/// Splits a VIP id.
pub fn parse_vip_id(id: &str) -> Option<(&str, IpAddr)> {
    let (net, addr) = id.rsplit_once('/')?;
    Some((net, addr.parse().ok()?))
}

/// The strato VIP of a record bound to `vm`, owned by `owner`.
pub fn vip_from(r: &VipRecord, vm: VmId, owner: OwnerId) -> Vip {
    Vip {
        id: VipId::new(vip_id(&r.network, r.address)),
        name: r.name.clone(),
        address: r.address,
        public_address: None,
        vm: Some(vm),
        network: NetworkId::new(r.network.clone()),
        binding: VipBinding::Guest,
        ownership: Ownership {
            owner,
            group: None,
            token: r.token.clone(),
        },
    }
}

/// The managed object type of a network id (vCenter ids carry their type in the prefix).
pub fn network_ref(id: &str) -> MoRef {
    let kind = if id.starts_with("dvportgroup-") {
        "DistributedVirtualPortgroup"
    } else if id.starts_with("network-o") {
        "OpaqueNetwork"
    } else {
        "Network"
    };
    MoRef::new(kind, id)
}

/// The reference of a VM id.
pub fn vm_ref(id: &VmId) -> MoRef {
    MoRef::new("VirtualMachine", id.as_str())
}

/// The reference of a host id.
pub fn host_ref(id: &HostId) -> MoRef {
    MoRef::new("HostSystem", id.as_str())
}

/// Reads a host from its [`HOST_PROPS`]. Ready = connected, out of maintenance and, where the
/// power state is reported (vCenter 6.5+, not every ESXi), powered on: what vCenter requires to
/// place a new VM there.
pub fn host_from(o: &ObjectContent) -> Host {
    let ready = o.text("runtime.connectionState") == Some("connected")
        && o.text("runtime.inMaintenanceMode") == Some("false")
        && o.text("runtime.powerState")
            .is_none_or(|p| p == "poweredOn");
    Host {
        id: HostId::new(o.obj.value.clone()),
        name: o.text("name").unwrap_or_default().to_owned(),
        ready,
    }
}

/// The vSphere inventory name of a strato resource: owner and name, so two owners can use the
/// same strato name in one folder (vCenter names are unique per folder, at most 80 characters).
pub fn inventory_name(owner: &OwnerId, name: &str) -> String {
    let full = format!("{owner}-{name}");
    if full.len() <= 80 {
        return full;
    }
    let digest = strato_core::client_token(owner, "inventory-name", &name);
    format!("{}-{}", &full[..80 - 9], &digest[..8])
}

/// Custom attribute values by attribute name (`customValue` of a managed entity).
pub fn custom_values(val: Option<&Element>, names: &BTreeMap<i32, String>) -> Tags {
    let mut out = Tags::new();
    let Some(val) = val else { return out };
    for cv in &val.children {
        let Some(key) = cv.text_of("key").and_then(|k| k.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(name) = names.get(&key) {
            let v = cv.text_of("value").unwrap_or_default();
            if !v.is_empty() {
                out.insert(name.clone(), v.to_owned());
            }
        }
    }
    out
}

/// Ownership from custom attributes.
pub fn ownership(attrs: &Tags) -> Option<Ownership> {
    Ownership::from_tags(attrs)
}

/// Parses a JSON attribute, treating a missing or damaged value as empty.
pub fn json_attr<T: for<'de> Deserialize<'de> + Default>(attrs: &Tags, key: &str) -> T {
    attrs
        .get(key)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// A NIC device of a VM.
#[derive(Clone, Debug, PartialEq)]
pub struct NicDevice {
    /// Device key.
    pub key: i32,
    /// Device type (`VirtualVmxnet3`).
    pub kind: String,
    /// Network id, when the backing names one.
    pub network: Option<String>,
    /// MAC address.
    pub mac: Option<String>,
}

/// The NICs among a VM's devices, in device order.
pub fn nic_devices(devices: Option<&Element>) -> Vec<NicDevice> {
    let Some(devices) = devices else {
        return Vec::new();
    };
    devices
        .children
        .iter()
        .filter(|d| {
            d.xsi_type
                .as_deref()
                .is_some_and(|t| NIC_TYPES.contains(&t))
        })
        .filter_map(|d| {
            let key = d.text_of("key")?.parse().ok()?;
            let backing = d.child("backing");
            let network = backing.and_then(|b| match b.xsi_type.as_deref() {
                Some("VirtualEthernetCardNetworkBackingInfo") => {
                    b.child("network").map(|n| n.text.clone())
                }
                Some("VirtualEthernetCardDistributedVirtualPortBackingInfo") => {
                    b.path(&["port", "portgroupKey"]).map(|k| k.text.clone())
                }
                Some("VirtualEthernetCardOpaqueNetworkBackingInfo") => {
                    b.text_of("opaqueNetworkId").map(str::to_owned)
                }
                _ => None,
            });
            Some(NicDevice {
                key,
                kind: d.type_name().to_owned(),
                network,
                mac: d
                    .text_of("macAddress")
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            })
        })
        .collect()
}

/// Guest addresses by NIC device key (`guest.net[].deviceConfigId`), IPv4 first.
fn guest_addresses(net: Option<&Element>) -> BTreeMap<i32, IpAddr> {
    let mut out = BTreeMap::new();
    let Some(net) = net else { return out };
    for g in &net.children {
        let Some(key) = g.text_of("deviceConfigId").and_then(|k| k.parse().ok()) else {
            continue;
        };
        let addrs: Vec<IpAddr> = g
            .all("ipAddress")
            .filter_map(|a| a.text.parse().ok())
            .collect();
        if let Some(a) = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) {
            out.insert(key, *a);
        }
    }
    out
}

/// Reads a VM from its [`VM_DETAIL`] properties and custom attributes.
pub fn vm_from(o: &ObjectContent, attrs: &Tags) -> Option<Vm> {
    let own = ownership(attrs)?;
    let meta: SpecMeta = json_attr(attrs, SPEC_ATTR);
    let state = match o.text("runtime.powerState") {
        Some("poweredOn") => VmState::Running,
        Some("poweredOff") | Some("suspended") => VmState::Stopped,
        None => VmState::Pending,
        Some(_) => VmState::Unknown,
    };
    let cpus = o
        .text("config.hardware.numCPU")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mem = o
        .text("config.hardware.memoryMB")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let addrs = guest_addresses(o.props.get("guest.net"));
    let nics: Vec<Nic> = nic_devices(o.props.get("config.hardware.device"))
        .into_iter()
        .enumerate()
        .map(|(i, d)| Nic {
            id: NicId::new(d.key.to_string()),
            network: NetworkId::new(d.network.unwrap_or_default()),
            address: addrs.get(&d.key).copied(),
            mac: d.mac,
            device_index: i as u32,
        })
        .collect();
    let created_at = meta
        .created
        .or_else(|| o.text("config.createDate").and_then(|s| s.parse().ok()))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut tags = meta.tags.clone();
    own.apply(&mut tags);
    if let Some(n) = attrs.get(NAME_TAG) {
        tags.insert(NAME_TAG.into(), n.clone());
    }
    Some(Vm {
        id: VmId::new(o.obj.value.clone()),
        name: attrs
            .get(NAME_TAG)
            .cloned()
            .unwrap_or_else(|| o.text("name").unwrap_or_default().to_owned()),
        state,
        size: Size::shape(cpus, mem),
        image: meta.image,
        private_ip: nics.first().and_then(|n| n.address),
        public_ip: None,
        nics,
        tags,
        ownership: own,
        created_at,
        host: o
            .props
            .get("runtime.host")
            .and_then(Element::as_moref)
            .map(|h| HostId::new(h.value)),
    })
}

/// How a NIC joins a network.
#[derive(Clone, Debug, PartialEq)]
pub enum Backing {
    /// A standard (host) portgroup.
    Standard {
        /// Network reference.
        network: MoRef,
        /// Portgroup name.
        name: String,
    },
    /// A distributed portgroup.
    Distributed {
        /// The switch's uuid.
        switch_uuid: String,
        /// The portgroup key.
        portgroup_key: String,
    },
}

fn write_backing(r: &mut Request, b: &Backing) {
    match b {
        Backing::Standard { network, name } => {
            r.open_typed("backing", "VirtualEthernetCardNetworkBackingInfo")
                .text("deviceName", name)
                .text("useAutoDetect", false)
                .moref("network", network)
                .close();
        }
        Backing::Distributed {
            switch_uuid,
            portgroup_key,
        } => {
            r.open_typed(
                "backing",
                "VirtualEthernetCardDistributedVirtualPortBackingInfo",
            )
            .open("port")
            .text("switchUuid", switch_uuid)
            .text("portgroupKey", portgroup_key)
            .close()
            .close();
        }
    }
}

fn write_connectable(r: &mut Request, connected: bool) {
    r.open("connectable")
        .text("startConnected", true)
        .text("allowGuestControl", true)
        .text("connected", connected)
        .close();
}

/// `deviceChange` adding a vmxnet3 NIC (element name is `deviceChange`).
pub fn write_add_nic(r: &mut Request, b: &Backing, connected: bool) {
    r.open_typed("deviceChange", "VirtualDeviceConfigSpec")
        .text("operation", "add")
        .open_typed("device", "VirtualVmxnet3")
        .text("key", -100);
    write_backing(r, b);
    write_connectable(r, connected);
    r.text("addressType", "generated");
    r.close().close();
}

/// `deviceChange` moving an existing NIC to another network.
pub fn write_edit_nic(r: &mut Request, nic: &NicDevice, b: &Backing) {
    r.open_typed("deviceChange", "VirtualDeviceConfigSpec")
        .text("operation", "edit")
        .open_typed("device", &nic.kind)
        .text("key", nic.key);
    // vCenter keeps the label; vcsim dereferences deviceInfo on edit, so send it (govc does too).
    r.open("deviceInfo")
        .text("label", "Network adapter 1")
        .text("summary", "strato")
        .close();
    write_backing(r, b);
    write_connectable(r, false);
    r.text("addressType", "generated");
    r.close().close();
}

/// `deviceChange` removing a NIC.
pub fn write_remove_nic(r: &mut Request, nic: &NicDevice) {
    r.open_typed("deviceChange", "VirtualDeviceConfigSpec")
        .text("operation", "remove")
        .open_typed("device", &nic.kind)
        .text("key", nic.key)
        .close()
        .close();
}

/// Where a clone goes.
#[derive(Clone, Debug)]
pub struct CloneTarget<'a> {
    /// VM folder.
    pub folder: &'a MoRef,
    /// Inventory name.
    pub name: &'a str,
    /// Datastore, when not the template's.
    pub datastore: Option<&'a MoRef>,
    /// Resource pool.
    pub resource_pool: Option<&'a MoRef>,
    /// Host to run on (a host of the resource pool's cluster or the standalone host of the
    /// resource pool).
    pub host: Option<&'a MoRef>,
    /// vCPUs and memory.
    pub cpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Primary NIC change, when a network was asked for.
    pub nic: Option<(Option<&'a NicDevice>, &'a Backing)>,
    /// Further vmxnet3 NICs added by the clone, in order after the template's.
    pub extra_nics: &'a [Backing],
    /// extraConfig entries.
    pub extra: &'a [(&'a str, &'a str)],
}

/// A `CloneVM_Task` request, elements in WSDL order (VirtualMachineCloneSpec: location,
/// template, config, customization, powerOn; RelocateSpec: folder, datastore, diskMoveType,
/// pool, host, disk, transform, deviceChange; ConfigSpec: numCPUs, memoryMB, deviceChange,
/// extraConfig).
pub fn clone_request(template: &MoRef, t: &CloneTarget<'_>) -> Request {
    let mut r = Request::new("CloneVM_Task", template);
    r.moref("folder", t.folder).text("name", t.name);
    r.open("spec").open("location");
    if let Some(ds) = t.datastore {
        r.moref("datastore", ds);
    }
    if let Some(resource_pool) = t.resource_pool {
        r.moref("pool", resource_pool);
    }
    if let Some(host) = t.host {
        r.moref("host", host);
    }
    match t.nic {
        Some((Some(existing), b)) => write_edit_nic(&mut r, existing, b),
        Some((None, b)) => write_add_nic(&mut r, b, false),
        None => {}
    }
    for b in t.extra_nics {
        write_add_nic(&mut r, b, false);
    }
    r.close();
    r.text("template", false);
    r.open("config")
        .text("numCPUs", t.cpus)
        .text("memoryMB", t.memory_mib);
    for (k, v) in t.extra {
        r.open_typed("extraConfig", "OptionValue")
            .text("key", k)
            .any_string("value", v)
            .close();
    }
    r.close();
    r.text("powerOn", false);
    r.close();
    r
}

/// A `RelocateVM_Task` moving a VM to `host` (and `resource_pool`, which must be of the host's
/// compute resource). RelocateSpec order: folder, datastore, diskMoveType, pool, host.
pub fn relocate_request(vm: &MoRef, resource_pool: Option<&MoRef>, host: &MoRef) -> Request {
    let mut r = Request::new("RelocateVM_Task", vm);
    r.open("spec");
    if let Some(resource_pool) = resource_pool {
        r.moref("pool", resource_pool);
    }
    r.moref("host", host).close();
    r
}

/// A `ReconfigVM_Task` setting CPU and memory.
pub fn resize_request(vm: &MoRef, cpus: u32, memory_mib: u64) -> Request {
    let mut r = Request::new("ReconfigVM_Task", vm);
    r.open("spec")
        .text("numCPUs", cpus)
        .text("memoryMB", memory_mib)
        .close();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap;

    #[test]
    fn clone_spec_is_in_wsdl_order() {
        let folder = MoRef::new("Folder", "group-v3");
        let resource_pool = MoRef::new("ResourcePool", "resgroup-9");
        let host = MoRef::new("HostSystem", "host-21");
        let b = Backing::Distributed {
            switch_uuid: "50 2a".into(),
            portgroup_key: "dvportgroup-11".into(),
        };
        let nic = NicDevice {
            key: 4000,
            kind: "VirtualE1000".into(),
            network: None,
            mac: None,
        };
        let t = CloneTarget {
            folder: &folder,
            name: "o-web",
            datastore: None,
            resource_pool: Some(&resource_pool),
            host: Some(&host),
            cpus: 2,
            memory_mib: 4096,
            nic: Some((Some(&nic), &b)),
            extra_nics: &[],
            extra: &[(EXTRA_TOKEN_KEY, "abc")],
        };
        let env = clone_request(&MoRef::new("VirtualMachine", "vm-1"), &t).envelope();
        let order = [
            "<folder type=\"Folder\">group-v3</folder>",
            "<name>o-web</name>",
            "<location>",
            "<pool type=\"ResourcePool\">resgroup-9</pool>",
            "<host type=\"HostSystem\">host-21</host>",
            "<deviceChange xsi:type=\"VirtualDeviceConfigSpec\"><operation>edit</operation><device xsi:type=\"VirtualE1000\"><key>4000</key>",
            "<port><switchUuid>50 2a</switchUuid><portgroupKey>dvportgroup-11</portgroupKey></port>",
            "</location><template>false</template>",
            "<config><numCPUs>2</numCPUs><memoryMB>4096</memoryMB>",
            "<extraConfig xsi:type=\"OptionValue\"><key>guestinfo.strato.token</key><value xsi:type=\"xsd:string\">abc</value></extraConfig>",
            "<powerOn>false</powerOn></spec>",
        ];
        let mut at = 0;
        for o in order {
            let i = env[at..]
                .find(o)
                .unwrap_or_else(|| panic!("{o} not after {at} in {env}"));
            at += i + o.len();
        }
        soap::parse(&env).unwrap();
    }

    #[test]
    fn reads_nics_and_custom_values() {
        let xml = r#"<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><val xsi:type="ArrayOfVirtualDevice">
          <VirtualDevice xsi:type="VirtualIDEController"><key>200</key></VirtualDevice>
          <VirtualDevice xsi:type="VirtualE1000"><key>4000</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName><network type="Network">network-7</network></backing><macAddress>00:50:56:aa:bb:cc</macAddress></VirtualDevice>
          <VirtualDevice xsi:type="VirtualVmxnet3"><key>4001</key><backing xsi:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port><switchUuid>u</switchUuid><portgroupKey>dvportgroup-11</portgroupKey></port></backing></VirtualDevice>
        </val><cv xsi:type="ArrayOfCustomFieldValue"><CustomFieldValue xsi:type="CustomFieldStringValue"><key>101</key><value>team-a</value></CustomFieldValue><CustomFieldValue xsi:type="CustomFieldStringValue"><key>999</key><value>x</value></CustomFieldValue></cv></r>"#;
        let root = soap::parse(xml).unwrap();
        let nics = nic_devices(root.child("val"));
        assert_eq!(nics.len(), 2);
        assert_eq!(nics[0].network.as_deref(), Some("network-7"));
        assert_eq!(nics[0].mac.as_deref(), Some("00:50:56:aa:bb:cc"));
        assert_eq!(nics[1].network.as_deref(), Some("dvportgroup-11"));
        let names = BTreeMap::from([(101, OWNER_TAG.to_owned())]);
        let cv = custom_values(root.child("cv"), &names);
        assert_eq!(
            cv,
            Tags::from([(OWNER_TAG.to_owned(), "team-a".to_owned())])
        );
    }

    fn host(props: &[(&str, &str)]) -> ObjectContent {
        let mut o = ObjectContent {
            obj: MoRef::new("HostSystem", "host-21"),
            ..Default::default()
        };
        for (k, v) in props {
            let xml = format!("<val>{v}</val>");
            o.props.insert((*k).to_owned(), soap::parse(&xml).unwrap());
        }
        o
    }

    #[test]
    fn a_host_is_ready_when_connected_powered_on_and_out_of_maintenance() {
        let up = [
            ("name", "esx-1.lab"),
            ("runtime.connectionState", "connected"),
            ("runtime.inMaintenanceMode", "false"),
            ("runtime.powerState", "poweredOn"),
        ];
        let h = host_from(&host(&up));
        assert_eq!(
            h,
            Host {
                id: HostId::new("host-21"),
                name: "esx-1.lab".into(),
                ready: true
            }
        );
        // An ESXi that does not report its power state is judged by the other two.
        assert!(host_from(&host(&up[..3])).ready);
        for (i, bad) in [
            "disconnected",
            "true",
            "standBy", // DPM put it to sleep
        ]
        .into_iter()
        .enumerate()
        {
            let mut p = up;
            p[i + 1].1 = bad;
            assert!(!host_from(&host(&p)).ready, "{bad}");
        }
        // Nothing known: not ready.
        assert!(!host_from(&host(&[])).ready);
    }

    #[test]
    fn relocate_spec_has_pool_before_host() {
        let env = relocate_request(
            &MoRef::new("VirtualMachine", "vm-7"),
            Some(&MoRef::new("ResourcePool", "resgroup-9")),
            &MoRef::new("HostSystem", "host-21"),
        )
        .envelope();
        assert!(
            env.contains("<spec><pool type=\"ResourcePool\">resgroup-9</pool><host type=\"HostSystem\">host-21</host></spec>"),
            "{env}"
        );
    }

    #[test]
    fn ids_and_names() {
        assert_eq!(
            network_ref("dvportgroup-11").kind,
            "DistributedVirtualPortgroup"
        );
        assert_eq!(network_ref("network-7").kind, "Network");
        let owner = OwnerId::new("team-a").unwrap();
        assert_eq!(inventory_name(&owner, "web-1"), "team-a-web-1");
        let long = inventory_name(&OwnerId::new("a".repeat(40)).unwrap(), &"b".repeat(63));
        assert_eq!(long.len(), 80);
        let id = vip_id("network-7", "10.0.0.5".parse().unwrap());
        assert_eq!(
            parse_vip_id(&id),
            Some(("network-7", "10.0.0.5".parse().unwrap()))
        );
        assert_eq!(parse_vip_id("fd00::/1").map(|x| x.1), None);
    }
}
