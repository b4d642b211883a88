//! The simulated cloud's state and the semantics of every call on it.
//!
//! Everything here is synchronous and runs under the backend's lock, so a call is atomic. Time
//! enters only as the `now` of the call: states that change over time (pending -> running,
//! invisible -> visible) are computed from stored timestamps rather than by timers, so they also
//! advance across processes sharing a state file.

use crate::config::{MemoryConfig, MemoryFeature};
use crate::convert;
use crate::error::{Code, fail, invalid, not_found, unsupported};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::ops::Bound;
use strato_core::{
    Error, ErrorKind, GROUP_TAG, Group, GroupSpec, Host, HostId, NAME_TAG, Network, NetworkId,
    NetworkQuery, NetworkSpec, Nic, NicId, NicSpec, OWNER_TAG, Operation, OwnerId, Ownership, Page,
    Size, TOKEN_TAG, Tags, Vip, VipId, VipQuery, VipSpec, Vm, VmId, VmQuery, VmSpec,
    member_ordinal, validate_label,
};

/// Id and name of the network every account starts with (not owned by anyone).
pub const DEFAULT_NETWORK: &str = "default";
/// Largest page a list returns.
pub const MAX_PAGE: u32 = 100;
/// Most NICs a VM can have, the primary included.
pub const MAX_NICS: u32 = 8;
/// Most VMs one scale call creates at once.
pub const MAX_BATCH: u32 = 100;
const DEFAULT_CIDR: &str = "10.0.0.0/16";
// TEST-NET-3: documentation addresses, never routed, so a "public" VIP cannot leak anywhere.
const PUBLIC_POOL: &str = "203.0.113.0/24";

/// What a call sees: who calls, when, and how the cloud is configured.
pub(crate) struct Ctx<'a> {
    pub owner: &'a OwnerId,
    pub now: DateTime<Utc>,
    pub settings: &'a MemoryConfig,
}

impl Ctx<'_> {
    fn feature(&self, f: MemoryFeature, op: Operation, why: &str) -> Result<(), Error> {
        if self.settings.has(f) {
            Ok(())
        } else {
            Err(unsupported(op, why))
        }
    }
}

/// Power state as stored; `pending` vs `running` is derived from `since` and the boot latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "power")]
pub(crate) enum Power {
    On { since: DateTime<Utc> },
    Off,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NicRec {
    pub id: String,
    pub network: String,
    pub address: IpAddr,
    pub mac: String,
    pub device_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VmRec {
    pub id: String,
    pub name: String,
    pub size: Size,
    pub image: String,
    /// User tags plus ownership tags; none for the cloud's own VMs.
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
    pub power: Power,
    pub nics: Vec<NicRec>,
    /// The host it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NetRec {
    pub id: String,
    pub name: String,
    pub cidr: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VipRec {
    pub id: String,
    pub name: String,
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_address: Option<IpAddr>,
    pub vm: Option<String>,
    pub network: String,
    pub tags: Tags,
}

/// The whole simulated account. Maps are keyed by id; ids grow monotonically, so map order is
/// creation order and paging by offset is stable.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct World {
    next_id: u64,
    vms: BTreeMap<String, VmRec>,
    networks: BTreeMap<String, NetRec>,
    vips: BTreeMap<String, VipRec>,
    /// Hosts (of `host-1..=settings.hosts`) that accept no new VMs now.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    hosts_down: BTreeSet<String>,
}

fn owner_of(tags: &Tags) -> Option<OwnerId> {
    Ownership::from_tags(tags).map(|o| o.owner)
}

/// True when `s` has the shape of an id this world makes with `prefix` (see `new_id`).
fn is_id_of(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Runs for every record of every listed page: compares in place rather than parsing the
/// ownership tags (which cloned three strings per record).
fn owned_by(tags: &Tags, owner: &OwnerId) -> bool {
    tags.get(OWNER_TAG)
        .is_some_and(|o| o.as_str() == owner.as_str())
}

impl World {
    /// A fresh account: the default network and one VM of the cloud's own, so that ownership
    /// filtering always has something to filter out.
    pub fn seeded(now: DateTime<Utc>) -> Self {
        let mut w = World::default();
        w.networks.insert(
            DEFAULT_NETWORK.into(),
            NetRec {
                id: DEFAULT_NETWORK.into(),
                name: DEFAULT_NETWORK.into(),
                cidr: DEFAULT_CIDR.parse().expect("valid CIDR"),
                parent: Some("memory".into()),
                tags: Tags::new(),
                created_at: now,
            },
        );
        let id = w.new_id("vm");
        let nic = w.new_nic(
            DEFAULT_NETWORK,
            w.free_address(DEFAULT_NETWORK).expect("empty network"),
            0,
            None,
        );
        w.vms.insert(
            id.clone(),
            VmRec {
                id,
                name: "gateway".into(),
                size: Size::shape(1, 512),
                image: "memory-gateway".into(),
                tags: Tags::from([("role".to_owned(), "gateway".to_owned())]),
                created_at: now,
                power: Power::On { since: now },
                nics: vec![nic],
                host: None,
            },
        );
        w
    }

    pub fn inventory(&self) -> crate::Inventory {
        crate::Inventory {
            vms: self.vms.len(),
            nics: self.vms.values().map(|v| v.nics.len()).sum(),
            networks: self.networks.len(),
            vips: self.vips.len(),
        }
    }

    fn new_id(&mut self, prefix: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{prefix}-{n:08x}")
    }

    fn new_nic(
        &mut self,
        network: &str,
        address: IpAddr,
        device_index: u32,
        token: Option<String>,
    ) -> NicRec {
        let n = self.next_id;
        let id = self.new_id("nic");
        let b = n.to_be_bytes();
        NicRec {
            id,
            network: network.into(),
            address,
            mac: format!("02:00:{:02x}:{:02x}:{:02x}:{:02x}", b[4], b[5], b[6], b[7]),
            device_index,
            token,
        }
    }

    // ---- lookups -------------------------------------------------------------------------

    fn visible(ctx: &Ctx, vm: &VmRec) -> bool {
        ctx.now >= vm.created_at + ctx.settings.visibility_delay
    }

    /// The caller's VM, or `NotFound` (also for another owner's), or `NotYetVisible`.
    fn my_vm<'w>(&'w self, ctx: &Ctx, id: &str, op: Operation) -> Result<&'w VmRec, Error> {
        let vm = self
            .vms
            .get(id)
            .filter(|v| owned_by(&v.tags, ctx.owner))
            .ok_or_else(|| not_found(op, "vm", id))?;
        if !Self::visible(ctx, vm) {
            return Err(fail(
                op,
                Code::NotYetVisible,
                format!("vm {id} is not visible yet"),
            )
            .with_resource(id));
        }
        Ok(vm)
    }

    fn my_vm_mut<'w>(
        &'w mut self,
        ctx: &Ctx,
        id: &str,
        op: Operation,
    ) -> Result<&'w mut VmRec, Error> {
        self.my_vm(ctx, id, op)?;
        Ok(self.vms.get_mut(id).expect("checked above"))
    }

    /// A network the caller may use: its own or one nobody owns.
    fn usable_network(&self, ctx: &Ctx, id: &str) -> Option<&NetRec> {
        self.networks
            .get(id)
            .filter(|n| owner_of(&n.tags).is_none_or(|o| o == *ctx.owner))
    }

    fn network_for_spec(
        &self,
        ctx: &Ctx,
        id: Option<&NetworkId>,
        op: Operation,
    ) -> Result<&NetRec, Error> {
        let id = id.map_or(DEFAULT_NETWORK, |n| n.as_str());
        self.usable_network(ctx, id).ok_or_else(|| {
            invalid(
                op,
                "network",
                format!("network {id:?} does not exist; list networks to see the ids"),
            )
            .with_resource(id)
        })
    }

    fn addresses_in_use(&self, network: &str) -> HashSet<IpAddr> {
        let nics = self
            .vms
            .values()
            .flat_map(|v| &v.nics)
            .filter(|n| n.network == network)
            .map(|n| n.address);
        let vips = self
            .vips
            .values()
            .filter(|v| v.network == network)
            .map(|v| v.address);
        nics.chain(vips).collect()
    }

    /// The lowest free host address of a network, skipping the first (the gateway).
    fn free_address(&self, network: &str) -> Option<IpAddr> {
        let net = self.networks.get(network)?;
        let used = self.addresses_in_use(network);
        net.cidr.hosts().skip(1).find(|a| !used.contains(a))
    }

    /// A fixed address if it is free and inside the network, else the next free one.
    fn take_address(
        &self,
        network: &NetRec,
        fixed: Option<IpAddr>,
        op: Operation,
    ) -> Result<IpAddr, Error> {
        match fixed {
            Some(a) => {
                if !network.cidr.contains(&a)
                    || a == network.cidr.network()
                    || a == network.cidr.broadcast()
                {
                    return Err(invalid(
                        op,
                        "address",
                        format!(
                            "address {a} is not a host address of network {} ({})",
                            network.id, network.cidr
                        ),
                    ));
                }
                if self.addresses_in_use(&network.id).contains(&a) {
                    return Err(fail(
                        op,
                        Code::InvalidState,
                        format!("address {a} is already in use on network {}", network.id),
                    )
                    .with_field("address"));
                }
                Ok(a)
            }
            None => self.free_address(&network.id).ok_or_else(|| {
                fail(
                    op,
                    Code::AddressesExhausted,
                    format!(
                        "network {} ({}) has no free address",
                        network.id, network.cidr
                    ),
                )
            }),
        }
    }

    fn live_strato_vms(&self) -> usize {
        self.vms
            .values()
            .filter(|v| owner_of(&v.tags).is_some())
            .count()
    }

    /// How many more VMs the quota allows.
    fn vm_room(&self, ctx: &Ctx) -> u32 {
        match ctx.settings.quota_vms {
            None => u32::MAX,
            Some(q) => q.saturating_sub(self.live_strato_vms() as u32),
        }
    }

    fn quota_error(ctx: &Ctx, op: Operation, name: &str) -> Error {
        fail(
            op,
            Code::QuotaExceeded,
            format!(
                "cannot create vm {name:?}: the account allows {} vms",
                ctx.settings.quota_vms.unwrap_or(0)
            ),
        )
        .with_resource(name)
    }

    // ---- VMs -----------------------------------------------------------------------------

    pub fn create_vm(&mut self, ctx: &Ctx, spec: &VmSpec) -> Result<Vm, Error> {
        let op = Operation::CreateVm;
        spec.validate()?;
        let token = spec.client_token(ctx.owner);
        let mine = |v: &&VmRec| owned_by(&v.tags, ctx.owner);
        if let Some(v) = self
            .vms
            .values()
            .filter(mine)
            .find(|v| v.tags.get(TOKEN_TAG) == Some(&token))
        {
            return Ok(convert::vm(ctx, v));
        }
        if let Some(v) = self.vms.values().filter(mine).find(|v| v.name == spec.name) {
            return Err(fail(
                op,
                Code::NameTaken,
                format!(
                    "a vm named {:?} ({}) exists and was made from a different spec",
                    spec.name, v.id
                ),
            )
            .with_resource(&v.id));
        }
        let network = self
            .network_for_spec(ctx, spec.network.as_ref(), op)?
            .id
            .clone();
        if self.vm_room(ctx) == 0 {
            return Err(Self::quota_error(ctx, op, &spec.name));
        }
        let id = self.insert_vm(ctx, spec, &network, op)?;
        Ok(convert::vm(ctx, &self.vms[&id]))
    }

    /// Creates a VM whose checks have passed.
    fn insert_vm(
        &mut self,
        ctx: &Ctx,
        spec: &VmSpec,
        network: &str,
        op: Operation,
    ) -> Result<String, Error> {
        let host = self.place(ctx, spec.host.as_ref(), op)?;
        let address = self.take_address(&self.networks[network], None, op)?;
        let id = self.new_id("vm");
        let nic = self.new_nic(network, address, 0, None);
        let mut tags = spec.tags.clone();
        spec.ownership(ctx.owner).apply(&mut tags);
        tags.insert(NAME_TAG.into(), spec.name.clone());
        self.vms.insert(
            id.clone(),
            VmRec {
                id: id.clone(),
                name: spec.name.clone(),
                size: spec.size.clone(),
                image: spec.image.clone(),
                tags,
                created_at: ctx.now,
                power: Power::On { since: ctx.now },
                nics: vec![nic],
                host,
            },
        );
        Ok(id)
    }

    /// The simulated hosts, all owners' (hosts are not owned).
    pub fn list_hosts(&self, ctx: &Ctx) -> Vec<Host> {
        (1..=ctx.settings.hosts)
            .map(|i| {
                let name = format!("host-{i}");
                Host {
                    id: HostId::new(name.clone()),
                    ready: !self.hosts_down.contains(&name),
                    name,
                }
            })
            .collect()
    }

    /// Marks a host as accepting new VMs or not (a drained or failed machine).
    pub fn set_host_ready(&mut self, ctx: &Ctx, host: &str, ready: bool) -> Result<(), Error> {
        if !self.list_hosts(ctx).iter().any(|h| h.id.as_str() == host) {
            return Err(invalid(
                Operation::Configure,
                "host",
                format!("host {host:?} does not exist"),
            ));
        }
        if ready {
            self.hosts_down.remove(host);
        } else {
            self.hosts_down.insert(host.to_owned());
        }
        Ok(())
    }

    /// The host a new VM runs on: the one asked for, which must exist and be ready, or the
    /// ready host with the fewest VMs (none when the cloud shows no hosts).
    fn place(
        &self,
        ctx: &Ctx,
        wanted: Option<&HostId>,
        op: Operation,
    ) -> Result<Option<String>, Error> {
        let hosts = self.list_hosts(ctx);
        match wanted {
            Some(_) if hosts.is_empty() => Err(unsupported(
                op,
                "this memory cloud shows no hosts (settings.hosts = 0): a VM cannot be pinned",
            )
            .with_field("host")),
            Some(h) => match hosts.iter().find(|x| x.id == *h) {
                Some(x) if x.ready => Ok(Some(x.name.clone())),
                Some(_) => Err(invalid(op, "host", format!("host {h} is not ready"))),
                None => Err(invalid(op, "host", format!("host {h} does not exist"))),
            },
            None => {
                let mut load: BTreeMap<&str, usize> = BTreeMap::new();
                for v in self.vms.values() {
                    if let Some(h) = &v.host {
                        *load.entry(h.as_str()).or_default() += 1;
                    }
                }
                Ok(hosts
                    .iter()
                    .filter(|h| h.ready)
                    // The first of the least loaded, in host order.
                    .min_by_key(|h| load.get(h.name.as_str()).copied().unwrap_or(0))
                    .map(|h| h.name.clone()))
            }
        }
    }

    pub fn get_vm(&self, ctx: &Ctx, id: &VmId) -> Result<Vm, Error> {
        Ok(convert::vm(
            ctx,
            self.my_vm(ctx, id.as_str(), Operation::GetVm)?,
        ))
    }

    pub fn list_vms(&self, ctx: &Ctx, q: &VmQuery) -> Result<Page<Vm>, Error> {
        // Keyset pages: the token is the last id of the previous page and a page walks the
        // id-ordered records from there, so a full listing is linear in the number of VMs
        // (offset pages re-filtered every record for every page: quadratic).
        let start = match q.page_token.as_deref() {
            None => Bound::Unbounded,
            Some(t) if is_id_of("vm", t) => Bound::Excluded(t.to_owned()),
            Some(t) => {
                return Err(invalid(
                    Operation::ListVms,
                    "page_token",
                    format!("page token {t:?} is not one this connector issued"),
                ));
            }
        };
        let size = q.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE) as usize;
        let matches = |v: &VmRec| {
            owned_by(&v.tags, ctx.owner)
                && Self::visible(ctx, v)
                && q.name.as_ref().is_none_or(|n| *n == v.name)
                && q.group
                    .as_ref()
                    .is_none_or(|g| v.tags.get(GROUP_TAG) == Some(g))
                && q.tags.iter().all(|(k, val)| v.tags.get(k) == Some(val))
                && q.state.is_none_or(|s| s == convert::vm_state(ctx, v))
        };
        let mut items = Vec::with_capacity(size.min(self.vms.len()));
        let mut next = None;
        for (id, v) in self
            .vms
            .range::<String, _>((start, Bound::Unbounded))
            .filter(|(_, v)| matches(v))
        {
            if items.len() == size {
                next = items.last().map(|vm: &Vm| vm.id.to_string());
                break;
            }
            debug_assert_eq!(id.as_str(), v.id.as_str());
            items.push(convert::vm(ctx, v));
        }
        Ok(Page { items, next })
    }

    pub fn delete_vm(&mut self, ctx: &Ctx, id: &VmId) -> Result<(), Error> {
        let Some(vm) = self.vms.get(id.as_str()) else {
            return Ok(()); // already gone
        };
        if !owned_by(&vm.tags, ctx.owner) {
            return Err(not_found(Operation::DeleteVm, "vm", id.as_str()));
        }
        self.vms.remove(id.as_str());
        // Its NICs go with it; so do the VIPs bound to it.
        self.vips
            .retain(|_, v| v.vm.as_deref() != Some(id.as_str()));
        Ok(())
    }

    pub fn start_vm(&mut self, ctx: &Ctx, id: &VmId) -> Result<Vm, Error> {
        let op = Operation::StartVm;
        ctx.feature(
            MemoryFeature::StopStart,
            op,
            "this cloud's VMs cannot be stopped and started",
        )?;
        let vm = self.my_vm_mut(ctx, id.as_str(), op)?;
        if vm.power == Power::Off {
            vm.power = Power::On { since: ctx.now };
        }
        Ok(convert::vm(ctx, self.my_vm(ctx, id.as_str(), op)?))
    }

    pub fn stop_vm(&mut self, ctx: &Ctx, id: &VmId) -> Result<Vm, Error> {
        let op = Operation::StopVm;
        ctx.feature(
            MemoryFeature::StopStart,
            op,
            "this cloud's VMs cannot be stopped and started",
        )?;
        let boot = ctx.settings.boot_latency;
        let vm = self.my_vm_mut(ctx, id.as_str(), op)?;
        if let Power::On { since } = vm.power {
            // Like EC2's IncorrectInstanceState: a VM still booting cannot be stopped.
            if ctx.now < since + boot {
                return Err(fail(
                    op,
                    Code::InvalidState,
                    format!("vm {id} is pending; wait until it runs to stop it"),
                )
                .with_resource(id));
            }
            vm.power = Power::Off;
        }
        Ok(convert::vm(ctx, self.my_vm(ctx, id.as_str(), op)?))
    }

    // ---- networks ------------------------------------------------------------------------

    pub fn create_network(&mut self, ctx: &Ctx, spec: &NetworkSpec) -> Result<Network, Error> {
        let op = Operation::CreateNetwork;
        ctx.feature(
            MemoryFeature::NetworkCreate,
            op,
            "this cloud's networks are fixed",
        )?;
        spec.validate()?;
        let token = spec.client_token(ctx.owner);
        let mine = |n: &&NetRec| owned_by(&n.tags, ctx.owner);
        if let Some(n) = self
            .networks
            .values()
            .filter(mine)
            .find(|n| n.tags.get(TOKEN_TAG) == Some(&token))
        {
            return Ok(convert::network(n));
        }
        if let Some(n) = self
            .networks
            .values()
            .filter(mine)
            .find(|n| n.name == spec.name)
        {
            return Err(fail(
                op,
                Code::NameTaken,
                format!(
                    "a network named {:?} ({}) exists and was made from a different spec",
                    spec.name, n.id
                ),
            )
            .with_resource(&n.id));
        }
        if let Some(q) = ctx.settings.quota_networks {
            let count = self
                .networks
                .values()
                .filter(|n| owner_of(&n.tags).is_some())
                .count();
            if count >= q as usize {
                return Err(fail(
                    op,
                    Code::QuotaExceeded,
                    format!("the account allows {q} networks"),
                ));
            }
        }
        let cidr = match spec.cidr {
            Some(c) => {
                let max_prefix = if c.addr().is_ipv4() { 28 } else { 120 };
                if c.trunc() != c || c.prefix_len() > max_prefix {
                    return Err(invalid(
                        op,
                        "cidr",
                        format!(
                            "cidr {c} must be a network address with a prefix of at most /{max_prefix}"
                        ),
                    ));
                }
                c
            }
            None => self.auto_cidr().ok_or_else(|| {
                fail(
                    op,
                    Code::AddressesExhausted,
                    "no free /24 left in 10.0.0.0/8",
                )
            })?,
        };
        let id = self.new_id("net");
        let mut tags = spec.tags.clone();
        spec.ownership(ctx.owner).apply(&mut tags);
        tags.insert(NAME_TAG.into(), spec.name.clone());
        let rec = NetRec {
            id: id.clone(),
            name: spec.name.clone(),
            cidr,
            parent: Some(spec.parent.clone().unwrap_or_else(|| "memory".into())),
            tags,
            created_at: ctx.now,
        };
        let net = convert::network(&rec);
        self.networks.insert(id, rec);
        Ok(net)
    }

    /// The first 10.x.y.0/24 that overlaps no network.
    fn auto_cidr(&self) -> Option<IpNet> {
        (1u8..=255)
            .flat_map(|a| {
                (0u8..=255).map(move |b| {
                    IpNet::from(ipnet::Ipv4Net::new([10, a, b, 0].into(), 24).unwrap())
                })
            })
            .find(|c| {
                self.networks
                    .values()
                    .all(|n| !n.cidr.contains(c) && !c.contains(&n.cidr))
            })
    }

    pub fn get_network(&self, ctx: &Ctx, id: &NetworkId) -> Result<Network, Error> {
        self.usable_network(ctx, id.as_str())
            .map(convert::network)
            .ok_or_else(|| not_found(Operation::GetNetwork, "network", id.as_str()))
    }

    pub fn list_networks(&self, ctx: &Ctx, q: &NetworkQuery) -> Result<Page<Network>, Error> {
        let all: Vec<Network> = self
            .networks
            .values()
            .filter(|n| match owner_of(&n.tags) {
                Some(o) => o == *ctx.owner,
                None => q.include_unowned,
            })
            .map(convert::network)
            .filter(|n| q.matches(ctx.owner, n))
            .collect();
        Page::from_offset(all, q.page_size, q.page_token.as_deref(), MAX_PAGE)
    }

    pub fn delete_network(&mut self, ctx: &Ctx, id: &NetworkId) -> Result<(), Error> {
        let op = Operation::DeleteNetwork;
        ctx.feature(
            MemoryFeature::NetworkCreate,
            op,
            "this cloud's networks are fixed",
        )?;
        let Some(net) = self.networks.get(id.as_str()) else {
            return Ok(());
        };
        match owner_of(&net.tags) {
            Some(o) if o == *ctx.owner => {}
            Some(_) => return Err(not_found(op, "network", id.as_str())),
            None => {
                return Err(fail(
                    op,
                    Code::AccessDenied,
                    format!("network {id} was not created by strato; strato never deletes it"),
                )
                .with_resource(id));
            }
        }
        let users: BTreeSet<&str> = self
            .vms
            .values()
            .filter(|v| v.nics.iter().any(|n| n.network == id.as_str()))
            .map(|v| v.id.as_str())
            .chain(
                self.vips
                    .values()
                    .filter(|v| v.network == id.as_str())
                    .map(|v| v.id.as_str()),
            )
            .collect();
        if !users.is_empty() {
            let list: Vec<&str> = users.into_iter().collect();
            return Err(fail(
                op,
                Code::DependencyViolation,
                format!("network {id} is still used by {}", list.join(", ")),
            )
            .with_resource(id));
        }
        self.networks.remove(id.as_str());
        Ok(())
    }

    // ---- NICs ----------------------------------------------------------------------------

    pub fn attach_nic(&mut self, ctx: &Ctx, vm_id: &VmId, spec: &NicSpec) -> Result<Nic, Error> {
        let op = Operation::AttachNic;
        ctx.feature(
            MemoryFeature::NicAttach,
            op,
            "this cloud's VMs have one fixed NIC",
        )?;
        let vm = self.my_vm(ctx, vm_id.as_str(), op)?;
        let token = spec.client_token(ctx.owner, vm_id);
        if let Some(n) = vm.nics.iter().find(|n| n.token.as_deref() == Some(&token)) {
            return Ok(convert::nic(n));
        }
        if vm.nics.len() >= MAX_NICS as usize {
            return Err(fail(
                op,
                Code::InvalidState,
                format!("vm {vm_id} already has {MAX_NICS} NICs, the most it can have"),
            )
            .with_resource(vm_id));
        }
        let index = (1..)
            .find(|i| vm.nics.iter().all(|n| n.device_index != *i))
            .expect("free index");
        let net = self.network_for_spec(ctx, Some(&spec.network), op)?;
        let address = self.take_address(net, spec.address, op)?;
        let net_id = net.id.clone();
        let nic = self.new_nic(&net_id, address, index, Some(token));
        let out = convert::nic(&nic);
        self.vms
            .get_mut(vm_id.as_str())
            .expect("checked")
            .nics
            .push(nic);
        Ok(out)
    }

    pub fn detach_nic(&mut self, ctx: &Ctx, vm_id: &VmId, nic_id: &NicId) -> Result<(), Error> {
        let op = Operation::DetachNic;
        ctx.feature(
            MemoryFeature::NicAttach,
            op,
            "this cloud's VMs have one fixed NIC",
        )?;
        match self.vms.get(vm_id.as_str()) {
            None => return Ok(()), // the VM, and so the NIC, is gone
            Some(v) if !owned_by(&v.tags, ctx.owner) => {
                return Err(not_found(op, "vm", vm_id.as_str()));
            }
            Some(_) => {}
        }
        let vm = self.my_vm(ctx, vm_id.as_str(), op)?;
        let Some(nic) = vm.nics.iter().find(|n| n.id == nic_id.as_str()) else {
            return Ok(());
        };
        if nic.device_index == 0 {
            return Err(invalid(
                op,
                "nic",
                format!("nic {nic_id} is the primary NIC of vm {vm_id}; it goes only with the VM"),
            ));
        }
        let same_net = vm.nics.iter().filter(|n| n.network == nic.network).count();
        let vips: Vec<&str> = self
            .vips
            .values()
            .filter(|v| v.vm.as_deref() == Some(vm_id.as_str()) && v.network == nic.network)
            .map(|v| v.id.as_str())
            .collect();
        if same_net == 1 && !vips.is_empty() {
            return Err(fail(
                op,
                Code::DependencyViolation,
                format!(
                    "nic {nic_id} carries VIPs {}; move or release them first",
                    vips.join(", ")
                ),
            )
            .with_resource(nic_id));
        }
        self.vms
            .get_mut(vm_id.as_str())
            .expect("checked")
            .nics
            .retain(|n| n.id != nic_id.as_str());
        Ok(())
    }

    // ---- VIPs ----------------------------------------------------------------------------

    fn my_vip<'w>(&'w self, ctx: &Ctx, id: &str, op: Operation) -> Result<&'w VipRec, Error> {
        self.vips
            .get(id)
            .filter(|v| owned_by(&v.tags, ctx.owner))
            .ok_or_else(|| not_found(op, "vip", id))
    }

    pub fn allocate_vip(&mut self, ctx: &Ctx, spec: &VipSpec) -> Result<Vip, Error> {
        let op = Operation::AllocateVip;
        ctx.feature(
            MemoryFeature::Vip,
            op,
            "this cloud has no movable addresses",
        )?;
        spec.validate()?;
        let token = spec.client_token(ctx.owner);
        let mine = |v: &&VipRec| owned_by(&v.tags, ctx.owner);
        if let Some(v) = self
            .vips
            .values()
            .filter(mine)
            .find(|v| v.tags.get(TOKEN_TAG) == Some(&token))
        {
            return Ok(convert::vip(v));
        }
        if let Some(v) = self
            .vips
            .values()
            .filter(mine)
            .find(|v| v.name == spec.name)
        {
            return Err(fail(
                op,
                Code::NameTaken,
                format!(
                    "a vip named {:?} ({}) exists and was made from a different spec",
                    spec.name, v.id
                ),
            )
            .with_resource(&v.id));
        }
        let vm = self
            .my_vm(ctx, spec.vm.as_str(), op)
            .map_err(|e| e.with_field("vm"))?;
        let net_id = match &spec.network {
            Some(n) => n.as_str(),
            None => vm
                .nics
                .iter()
                .find(|n| n.device_index == 0)
                .map_or(DEFAULT_NETWORK, |n| n.network.as_str()),
        };
        let net = self.network_for_spec(ctx, Some(&NetworkId::new(net_id)), op)?;
        if !vm.nics.iter().any(|n| n.network == net.id) {
            return Err(invalid(
                op,
                "network",
                format!("vm {} has no NIC on network {}", vm.id, net.id),
            ));
        }
        let address = self.take_address(net, spec.address, op)?;
        let public_address = if spec.public {
            let pool: IpNet = PUBLIC_POOL.parse().expect("valid CIDR");
            let used: HashSet<IpAddr> = self
                .vips
                .values()
                .filter_map(|v| v.public_address)
                .collect();
            Some(
                pool.hosts()
                    .find(|a| !used.contains(a))
                    .ok_or_else(|| fail(op, Code::AddressesExhausted, "no public address left"))?,
            )
        } else {
            None
        };
        let network = net.id.clone();
        let vm_id = vm.id.clone();
        let id = self.new_id("vip");
        let mut tags = spec.tags.clone();
        spec.ownership(ctx.owner).apply(&mut tags);
        tags.insert(NAME_TAG.into(), spec.name.clone());
        let rec = VipRec {
            id: id.clone(),
            name: spec.name.clone(),
            address,
            public_address,
            vm: Some(vm_id),
            network,
            tags,
        };
        let vip = convert::vip(&rec);
        self.vips.insert(id, rec);
        Ok(vip)
    }

    pub fn get_vip(&self, ctx: &Ctx, id: &VipId) -> Result<Vip, Error> {
        let op = Operation::GetVip;
        ctx.feature(
            MemoryFeature::Vip,
            op,
            "this cloud has no movable addresses",
        )?;
        self.my_vip(ctx, id.as_str(), op).map(convert::vip)
    }

    pub fn list_vips(&self, ctx: &Ctx, q: &VipQuery) -> Result<Vec<Vip>, Error> {
        ctx.feature(
            MemoryFeature::Vip,
            Operation::ListVips,
            "this cloud has no movable addresses",
        )?;
        Ok(self
            .vips
            .values()
            .filter(|v| owned_by(&v.tags, ctx.owner))
            .map(convert::vip)
            .filter(|v| q.matches(v))
            .collect())
    }

    pub fn move_vip(&mut self, ctx: &Ctx, id: &VipId, to: &VmId) -> Result<Vip, Error> {
        let op = Operation::MoveVip;
        ctx.feature(
            MemoryFeature::Vip,
            op,
            "this cloud has no movable addresses",
        )?;
        ctx.feature(
            MemoryFeature::VipMove,
            op,
            "this cloud's addresses stay on the VM they were made on",
        )?;
        let vip = self.my_vip(ctx, id.as_str(), op)?;
        let vm = self
            .my_vm(ctx, to.as_str(), op)
            .map_err(|e| e.with_field("to"))?;
        if !vm.nics.iter().any(|n| n.network == vip.network) {
            return Err(invalid(
                op,
                "to",
                format!(
                    "vm {to} has no NIC on network {}, where vip {id} lives",
                    vip.network
                ),
            ));
        }
        let rec = self.vips.get_mut(id.as_str()).expect("checked");
        rec.vm = Some(to.as_str().to_owned());
        Ok(convert::vip(rec))
    }

    pub fn release_vip(&mut self, ctx: &Ctx, id: &VipId) -> Result<(), Error> {
        let op = Operation::ReleaseVip;
        ctx.feature(
            MemoryFeature::Vip,
            op,
            "this cloud has no movable addresses",
        )?;
        match self.vips.get(id.as_str()) {
            None => Ok(()),
            Some(v) if !owned_by(&v.tags, ctx.owner) => Err(not_found(op, "vip", id.as_str())),
            Some(_) => {
                self.vips.remove(id.as_str());
                Ok(())
            }
        }
    }

    // ---- groups --------------------------------------------------------------------------

    fn member_ids(&self, ctx: &Ctx, group: &str) -> Vec<String> {
        self.vms
            .values()
            .filter(|v| {
                owned_by(&v.tags, ctx.owner)
                    && Ownership::from_tags(&v.tags)
                        .and_then(|o| o.group)
                        .as_deref()
                        == Some(group)
            })
            .map(|v| v.id.clone())
            .collect()
    }

    pub fn scale_group(&mut self, ctx: &Ctx, spec: &GroupSpec, size: u32) -> Result<Group, Error> {
        let op = Operation::ScaleGroup;
        ctx.feature(MemoryFeature::Groups, op, "this cloud has no groups")?;
        spec.validate()?;
        let members = self.member_ids(ctx, &spec.name);
        let have = members.len() as u32;
        let mut outcome = Ok(());
        if size > have {
            outcome = self.grow(ctx, spec, size - have);
        } else if size < have {
            // Older template first, then the highest ordinals.
            let mut order: Vec<(bool, u32, String)> = members
                .iter()
                .map(|id| {
                    let v = &self.vms[id];
                    let ordinal = member_ordinal(&spec.name, &v.name).unwrap_or(u32::MAX);
                    let current = v.tags.get(TOKEN_TAG)
                        == Some(&spec.member_spec(ordinal).client_token(ctx.owner));
                    (current, u32::MAX - ordinal, id.clone())
                })
                .collect();
            order.sort();
            for (_, _, id) in order.into_iter().take((have - size) as usize) {
                self.delete_vm(ctx, &VmId::new(id))?;
            }
        }
        let group = self.group(ctx, &spec.name, false);
        outcome.map(|()| group)
    }

    /// Creates `want` members in one batch, at the lowest free ordinals, as far as the quota
    /// allows; reports every member made even when some could not be.
    fn grow(&mut self, ctx: &Ctx, spec: &GroupSpec, want: u32) -> Result<(), Error> {
        let op = Operation::ScaleGroup;
        let network = self
            .network_for_spec(ctx, spec.network.as_ref(), op)?
            .id
            .clone();
        let taken: HashSet<String> = self
            .vms
            .values()
            .filter(|v| owned_by(&v.tags, ctx.owner))
            .map(|v| v.name.clone())
            .collect();
        let ordinals: Vec<u32> = (0..)
            .filter(|o| !taken.contains(&format!("{}-{o}", spec.name)))
            .take(want as usize)
            .collect();
        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        for o in ordinals {
            let member = spec.member_spec(o);
            if self.vm_room(ctx) == 0 {
                failed.push(Self::quota_error(ctx, op, &member.name));
                continue;
            }
            match self.insert_vm(ctx, &member, &network, op) {
                Ok(id) => succeeded.push(id),
                Err(e) => failed.push(e.with_resource(&member.name)),
            }
        }
        match (succeeded.is_empty(), failed.is_empty()) {
            (_, true) => Ok(()),
            // Nothing made: the first reason is the whole story.
            (true, false) => Err(failed.remove(0)),
            (false, false) => {
                let msg = format!(
                    "group {}: made {} of {} members; {}",
                    spec.name,
                    succeeded.len(),
                    want,
                    failed[0].message()
                );
                Err(
                    Error::new(ErrorKind::Partial { succeeded, failed }, op, msg)
                        .with_cloud(crate::CLOUD),
                )
            }
        }
    }

    /// A group's members; `visible_only` hides members too new to be read.
    fn group(&self, ctx: &Ctx, name: &str, visible_only: bool) -> Group {
        let members: Vec<Vm> = self
            .member_ids(ctx, name)
            .iter()
            .map(|id| &self.vms[id])
            .filter(|v| !visible_only || Self::visible(ctx, v))
            .map(|v| convert::vm(ctx, v))
            .collect();
        Group::new(name, members.len() as u32, members)
    }

    pub fn get_group(&self, ctx: &Ctx, name: &str) -> Result<Group, Error> {
        ctx.feature(
            MemoryFeature::Groups,
            Operation::GetGroup,
            "this cloud has no groups",
        )?;
        validate_label("group", name, strato_core::MAX_GROUP_NAME_LEN)?;
        Ok(self.group(ctx, name, true))
    }
}
