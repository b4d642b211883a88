//! The vSphere connector and its `CloudConnector` implementation.

use crate::CLOUD;
use crate::capabilities::capabilities;
use crate::config::VsphereConfig;
use crate::convert::{self, Backing, CloneTarget, NicDevice, SpecMeta, VipRecord};
use crate::error::{CallError, MapCall, map};
use crate::soap::{MoRef, Request};
use crate::vim::{ObjectContent, Vim};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use strato_core::{
    Capabilities, CloudConnector, CloudInfo, Error, ErrorKind, GROUP_TAG, Group, GroupSpec, Host,
    HostId, NAME_TAG, Network, NetworkId, NetworkQuery, NetworkSpec, Nic, NicId, NicSpec,
    OWNER_TAG, Operation, OwnerId, Ownership, Page, Result, Size, TOKEN_TAG, Tags, Vip, VipBinding,
    VipId, VipQuery, VipSpec, Vm, VmId, VmQuery, VmSpec, async_trait, member_ordinal,
};
use tokio::sync::Mutex;

/// The datacenter-level objects the connector works in, resolved once at connect.
#[derive(Clone, Debug)]
struct Inventory {
    datacenter: MoRef,
    datacenter_name: String,
    vm_folder: MoRef,
    resource_pool: Option<MoRef>,
    // The cluster or standalone compute resource of the configured resource pool: VMs can only run on
    // its hosts. None: every host of the datacenter (the resource pool follows the host).
    compute: Option<MoRef>,
    datastore: Option<MoRef>,
}

/// A connector to one vCenter datacenter, for one owner.
pub struct VsphereConnector {
    info: CloudInfo,
    cfg: VsphereConfig,
    vim: Vim,
    inv: Inventory,
    // Custom attribute keys by name and names by key (strato's attributes only).
    field_keys: BTreeMap<String, i32>,
    field_names: BTreeMap<i32, String>,
    // In-process locks keyed by VM name or id: vcsim (unlike vCenter) accepts duplicate names,
    // and JSON attributes are read-modify-write.
    locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl std::fmt::Debug for VsphereConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VsphereConnector")
            .field("info", &self.info)
            .field("cfg", &self.cfg)
            .field("datacenter", &self.inv.datacenter_name)
            .finish_non_exhaustive()
    }
}

/// A VM as the brief listing sees it: reference, inventory name and strato attributes.
#[derive(Clone, Debug)]
struct Brief {
    obj: MoRef,
    name: String,
    attrs: Tags,
}

fn conf(msg: impl Into<String>, field: &str) -> Error {
    Error::new(ErrorKind::InvalidSpec, Operation::Configure, msg)
        .with_field(field)
        .with_cloud(CLOUD)
}

fn invalid(op: Operation, field: &str, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidSpec, op, msg)
        .with_field(field)
        .with_cloud(CLOUD)
}

/// vCPUs and memory of a size; vSphere has no instance types.
fn shape(op: Operation, size: &Size) -> Result<(u32, u64)> {
    let (cpus, mem) = match size {
        Size::Shape { vcpus, memory_mib } => (*vcpus, *memory_mib),
        Size::Native(n) => {
            return Err(invalid(
                op,
                "size",
                format!("size {n:?}: vSphere has no instance types; give a shape like 2x4g"),
            ));
        }
    };
    if cpus == 0 || mem % 4 != 0 {
        return Err(invalid(
            op,
            "size",
            format!("size {size}: vSphere needs at least 1 vCPU and memory in multiples of 4 MiB"),
        ));
    }
    Ok((cpus, mem))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl VsphereConnector {
    /// Connects, logs in, resolves the profile's inventory paths and makes sure strato's custom
    /// attributes are defined.
    pub async fn connect(cfg: VsphereConfig, owner: OwnerId) -> Result<Self> {
        cfg.validate()?;
        let creds = cfg.credentials()?;
        let vim = Vim::connect(&cfg, creds).await.op(Operation::Configure)?;
        let inv = Self::resolve_inventory(&vim, &cfg).await?;
        let mut field_keys = vim.custom_fields().await.op(Operation::Configure)?;
        for name in convert::ATTRS {
            if field_keys.contains_key(name) {
                continue;
            }
            match vim.add_custom_field(name).await {
                Ok(key) => {
                    field_keys.insert(name.to_owned(), key);
                }
                // Another strato process defined it meanwhile.
                Err(e) if e.is_duplicate_name() => {
                    field_keys = vim.custom_fields().await.op(Operation::Configure)?;
                }
                Err(e) => return Err(map(Operation::Configure, e)),
            }
        }
        field_keys.retain(|k, _| convert::ATTRS.contains(&k.as_str()));
        let field_names = field_keys.iter().map(|(k, v)| (*v, k.clone())).collect();
        let account = vim.sc().instance_uuid.clone();
        Ok(Self {
            info: CloudInfo {
                kind: CLOUD,
                account,
                region: inv.datacenter_name.clone(),
                owner,
            },
            cfg,
            vim,
            inv,
            field_keys,
            field_names,
            locks: Default::default(),
        })
    }

    /// Ends the vCenter session.
    pub async fn logout(&self) -> Result<()> {
        self.vim.logout().await.op(Operation::Configure)
    }

    /// The vim25 client, for diagnostics.
    pub fn vim(&self) -> &Vim {
        &self.vim
    }

    async fn resolve_inventory(vim: &Vim, cfg: &VsphereConfig) -> Result<Inventory> {
        let op = Operation::Configure;
        let dcs = vim
            .list(
                &vim.sc().root_folder,
                &[("Datacenter", &["name", "vmFolder"])],
            )
            .await
            .op(op)?;
        let names: Vec<&str> = dcs.iter().filter_map(|d| d.text("name")).collect();
        let dc = match &cfg.datacenter {
            Some(want) => dcs
                .iter()
                .find(|d| d.text("name") == Some(want))
                .ok_or_else(|| {
                    conf(
                        format!(
                            "datacenter {want:?} not found (there are: {})",
                            names.join(", ")
                        ),
                        "datacenter",
                    )
                })?,
            None if dcs.len() == 1 => &dcs[0],
            None => {
                return Err(conf(
                    format!(
                        "set `datacenter`: this vCenter has {} ({})",
                        dcs.len(),
                        names.join(", ")
                    ),
                    "datacenter",
                ));
            }
        };
        let dc_name = dc.text("name").unwrap_or_default().to_owned();
        let root_vm_folder = dc
            .props
            .get("vmFolder")
            .and_then(|e| e.as_moref())
            .ok_or_else(|| conf("datacenter has no vmFolder", "datacenter"))?;
        let find = |field: &'static str, path: String| async move {
            vim.find_by_path(&path).await.op(op)?.ok_or_else(|| {
                conf(
                    format!("{field} {path:?} not found in the inventory"),
                    field,
                )
            })
        };
        let vm_folder = match &cfg.folder {
            Some(f) => find("folder", format!("{dc_name}/{}", f.trim_matches('/'))).await?,
            None => root_vm_folder,
        };
        let (resource_pool, compute) = match &cfg.resource_pool {
            Some(p) => {
                let obj = find(
                    "resource_pool",
                    format!("{dc_name}/{}", p.trim_matches('/')),
                )
                .await?;
                let is_resource_pool = matches!(obj.kind.as_str(), "ResourcePool" | "VirtualApp");
                let (prop, what) = if is_resource_pool {
                    ("owner", "compute resource")
                } else {
                    // A cluster or standalone host: its root pool.
                    ("resourcePool", "resource pool")
                };
                let o = vim.props(&obj, &[prop]).await.op(op)?;
                let other = o
                    .props
                    .get(prop)
                    .and_then(|e| e.as_moref())
                    .ok_or_else(|| {
                        conf(
                            format!("resource_pool {p:?} is a {} without a {what}", obj.kind),
                            "resource_pool",
                        )
                    })?;
                if is_resource_pool {
                    (Some(obj), Some(other))
                } else {
                    (Some(other), Some(obj))
                }
            }
            None => (None, None),
        };
        let datastore = match &cfg.datastore {
            Some(d) => Some(find("datastore", format!("{dc_name}/datastore/{d}")).await?),
            None => None,
        };
        Ok(Inventory {
            datacenter: dc.obj.clone(),
            datacenter_name: dc_name,
            vm_folder,
            resource_pool,
            compute,
            datastore,
        })
    }

    fn lock(&self, key: String) -> Arc<Mutex<()>> {
        let mut m = self.locks.lock().expect("lock map poisoned");
        m.entry(key).or_default().clone()
    }

    fn attrs(&self, o: &ObjectContent) -> Tags {
        convert::custom_values(o.props.get("customValue"), &self.field_names)
    }

    fn owner(&self) -> &OwnerId {
        &self.info.owner
    }

    fn is_mine(&self, attrs: &Tags) -> bool {
        attrs.get(OWNER_TAG).map(String::as_str) == Some(self.owner().as_str())
    }

    async fn set_attr(
        &self,
        obj: &MoRef,
        name: &str,
        value: &str,
    ) -> std::result::Result<(), CallError> {
        let key = self.field_keys[name];
        self.vim.set_field(obj, key, value).await
    }

    // ---------------------------------------------------------------- VMs

    /// Every VM of the datacenter with its inventory name and strato attributes.
    async fn briefs(&self) -> std::result::Result<Vec<Brief>, CallError> {
        let all = self
            .vim
            .list(
                &self.inv.datacenter,
                &[("VirtualMachine", convert::VM_BRIEF)],
            )
            .await?;
        Ok(all
            .into_iter()
            .map(|o| Brief {
                name: o.text("name").unwrap_or_default().to_owned(),
                attrs: self.attrs(&o),
                obj: o.obj,
            })
            .collect())
    }

    /// Owned VMs whose brief passes `keep`, read in detail.
    async fn owned_vms(
        &self,
        op: Operation,
        keep: impl Fn(&Brief) -> bool,
    ) -> Result<Vec<(Vm, Tags)>> {
        // A VM deleted between the two reads fails the second one: read again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let briefs = self.briefs().await.op(op)?;
            let refs: Vec<MoRef> = briefs
                .iter()
                .filter(|b| self.is_mine(&b.attrs) && keep(b))
                .map(|b| b.obj.clone())
                .collect();
            match self.vim.props_of(&refs, convert::VM_DETAIL).await {
                Ok(details) => {
                    let mut out: Vec<(Vm, Tags)> = details
                        .iter()
                        .filter_map(|o| {
                            let a = self.attrs(o);
                            convert::vm_from(o, &a).map(|vm| (vm, a))
                        })
                        .filter(|(_, a)| self.is_mine(a))
                        .collect();
                    out.sort_by(|a, b| (&a.0.name, &a.0.id).cmp(&(&b.0.name, &b.0.id)));
                    return Ok(out);
                }
                Err(e) if e.is_gone() && attempt < 4 => continue,
                Err(e) => return Err(map(op, e)),
            }
        }
    }

    /// One owned VM in detail; `NotFound` when it is gone or someone else's.
    async fn owned_vm(&self, op: Operation, id: &VmId) -> Result<(Vm, Tags, ObjectContent)> {
        let o = match self
            .vim
            .props(&convert::vm_ref(id), convert::VM_DETAIL)
            .await
        {
            Ok(o) => o,
            Err(e) if e.is_gone() => {
                return Err(Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD));
            }
            Err(e) => return Err(map(op, e)),
        };
        let attrs = self.attrs(&o);
        if !self.is_mine(&attrs) {
            return Err(Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD));
        }
        let vm = convert::vm_from(&o, &attrs)
            .ok_or_else(|| Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD))?;
        Ok((vm, attrs, o))
    }

    async fn get_vm_as(&self, op: Operation, id: &VmId) -> Result<Vm> {
        self.owned_vm(op, id).await.map(|(vm, _, _)| vm)
    }

    /// The VM an earlier identical request made, or `AlreadyExists` when the name is taken by a
    /// different request; `None` when the name is free.
    async fn find_existing(
        &self,
        op: Operation,
        briefs: &[Brief],
        spec: &VmSpec,
        token: &str,
        inv_name: &str,
    ) -> Result<Option<MoRef>> {
        if let Some(b) = briefs
            .iter()
            .find(|b| b.attrs.get(TOKEN_TAG).map(String::as_str) == Some(token))
        {
            return Ok(Some(b.obj.clone()));
        }
        let taken = |msg: String| {
            Error::new(ErrorKind::AlreadyExists, op, msg)
                .with_resource(&spec.name)
                .with_cloud(CLOUD)
        };
        if let Some(b) = briefs
            .iter()
            .find(|b| self.is_mine(&b.attrs) && b.attrs.get(NAME_TAG) == Some(&spec.name))
        {
            return Err(taken(format!(
                "vm {:?} already exists ({}) and was made from a different spec",
                spec.name, b.obj.value
            )));
        }
        if let Some(b) = briefs.iter().find(|b| b.name == inv_name) {
            // A clone whose tagging was interrupted carries the token in its extraConfig.
            let o = self.vim.props(&b.obj, &["config.extraConfig"]).await;
            let adopted = o.ok().is_some_and(|o| {
                o.props.get("config.extraConfig").is_some_and(|ec| {
                    ec.children.iter().any(|kv| {
                        kv.text_of("key") == Some(convert::EXTRA_TOKEN_KEY)
                            && kv.text_of("value") == Some(token)
                    })
                })
            });
            if adopted {
                return Ok(Some(b.obj.clone()));
            }
            return Err(taken(format!(
                "a VM named {inv_name:?} ({}) exists in vCenter and is not this request's",
                b.obj.value
            )));
        }
        Ok(None)
    }

    /// The clone source: an inventory path under the datacenter (`vm/templates/se`) or a VM or
    /// template name.
    async fn template(&self, op: Operation, briefs: &[Brief], image: &str) -> Result<MoRef> {
        let bad = |why: String| invalid(op, "image", format!("image {image:?} {why}"));
        if image.contains('/') {
            let path = format!("{}/{}", self.inv.datacenter_name, image.trim_matches('/'));
            return match self.vim.find_by_path(&path).await.op(op)? {
                Some(r) if r.kind == "VirtualMachine" => Ok(r),
                Some(r) => Err(bad(format!("is a {}, not a VM or template", r.kind))),
                None => Err(bad(format!("is not in the inventory (looked up {path:?})"))),
            };
        }
        let matches: Vec<MoRef> = briefs
            .iter()
            .filter(|b| b.name == image)
            .map(|b| b.obj.clone())
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(bad(format!(
                "is not a VM or template in datacenter {:?}",
                self.inv.datacenter_name
            ))),
            many => Err(bad(format!(
                "names {} VMs; give its inventory path, like vm/FOLDER/{image}",
                many.len()
            ))),
        }
    }

    /// The resource pool a clone of `template` goes to.
    async fn resource_pool_for(
        &self,
        op: Operation,
        template: &ObjectContent,
    ) -> Result<Option<MoRef>> {
        if let Some(p) = &self.inv.resource_pool {
            return Ok(Some(p.clone()));
        }
        if let Some(p) = template
            .props
            .get("resourcePool")
            .and_then(|e| e.as_moref())
        {
            return Ok(Some(p));
        }
        // A template has no pool: use its host's cluster (or standalone host) root pool.
        let Some(host) = template
            .props
            .get("runtime.host")
            .and_then(|e| e.as_moref())
        else {
            return Ok(None);
        };
        let h = self.vim.props(&host, &["parent"]).await.op(op)?;
        let Some(cr) = h.props.get("parent").and_then(|e| e.as_moref()) else {
            return Ok(None);
        };
        let c = self.vim.props(&cr, &["resourcePool"]).await.op(op)?;
        Ok(c.props.get("resourcePool").and_then(|e| e.as_moref()))
    }

    // ---------------------------------------------------------------- hosts

    /// The HostSystems VMs can run on (those of the configured pool's compute resource, else of
    /// the datacenter), each with its compute resource, sorted by name.
    async fn hosts(&self, op: Operation) -> Result<Vec<(Host, Option<MoRef>)>> {
        let all = self
            .vim
            .list(&self.inv.datacenter, &[("HostSystem", convert::HOST_PROPS)])
            .await
            .op(op)?;
        let mut out: Vec<(Host, Option<MoRef>)> = all
            .iter()
            .map(|o| {
                let parent = o.props.get("parent").and_then(|e| e.as_moref());
                (convert::host_from(o), parent)
            })
            .filter(|(_, parent)| {
                self.inv
                    .compute
                    .as_ref()
                    .is_none_or(|c| parent.as_ref() == Some(c))
            })
            .collect();
        out.sort_by(|a, b| (&a.0.name, &a.0.id).cmp(&(&b.0.name, &b.0.id)));
        Ok(out)
    }

    /// The host a spec pins to, checked against [`Self::hosts`], with its compute resource.
    async fn pinned_host(&self, op: Operation, id: &HostId) -> Result<(MoRef, Option<MoRef>)> {
        let hosts = self.hosts(op).await?;
        if let Some((h, parent)) = hosts.iter().find(|(h, _)| h.id == *id) {
            return Ok((convert::host_ref(&h.id), parent.clone()));
        }
        let scope = match (&self.cfg.resource_pool, &self.inv.compute) {
            (Some(p), Some(c)) => format!("the resource_pool {p:?} ({})", c.value),
            _ => format!("datacenter {:?}", self.inv.datacenter_name),
        };
        const SHOWN: usize = 8;
        let mut known: Vec<String> = hosts
            .iter()
            .take(SHOWN)
            .map(|(h, _)| format!("{} ({})", h.id, h.name))
            .collect();
        if hosts.len() > SHOWN {
            known.push(format!("{} more", hosts.len() - SHOWN));
        }
        Err(invalid(
            op,
            "host",
            format!(
                "host {:?} is not a host VMs can run on in {scope}; give a HostSystem id from list_hosts (there are: {})",
                id.as_str(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ))
    }

    /// The resource pool of a VM pinned to `host`: the configured pool (whose compute resource
    /// the host belongs to), else the root pool of the host's cluster or standalone host.
    async fn resource_pool_for_host(
        &self,
        op: Operation,
        host: &MoRef,
        compute: Option<MoRef>,
    ) -> Result<Option<MoRef>> {
        if let Some(p) = &self.inv.resource_pool {
            return Ok(Some(p.clone()));
        }
        let compute = match compute {
            Some(c) => c,
            None => {
                let h = self.vim.props(host, &["parent"]).await.op(op)?;
                match h.props.get("parent").and_then(|e| e.as_moref()) {
                    Some(c) => c,
                    None => return Ok(None),
                }
            }
        };
        let c = self.vim.props(&compute, &["resourcePool"]).await.op(op)?;
        Ok(c.props.get("resourcePool").and_then(|e| e.as_moref()))
    }

    /// How a NIC joins network `id`.
    async fn backing(&self, op: Operation, id: &NetworkId) -> Result<Backing> {
        let r = convert::network_ref(id.as_str());
        let not_found = || invalid(op, "network", format!("network {id} not found"));
        match r.kind.as_str() {
            "DistributedVirtualPortgroup" => {
                let o = match self
                    .vim
                    .props(&r, &["key", "config.distributedVirtualSwitch"])
                    .await
                {
                    Ok(o) => o,
                    Err(e) if e.is_gone() => return Err(not_found()),
                    Err(e) => return Err(map(op, e)),
                };
                let dvs = o
                    .props
                    .get("config.distributedVirtualSwitch")
                    .and_then(|e| e.as_moref())
                    .ok_or_else(not_found)?;
                let s = self.vim.props(&dvs, &["uuid"]).await.op(op)?;
                Ok(Backing::Distributed {
                    switch_uuid: s.text("uuid").unwrap_or_default().to_owned(),
                    portgroup_key: o.text("key").unwrap_or(id.as_str()).to_owned(),
                })
            }
            "Network" => {
                let o = match self.vim.props(&r, &["name"]).await {
                    Ok(o) => o,
                    Err(e) if e.is_gone() => return Err(not_found()),
                    Err(e) => return Err(map(op, e)),
                };
                Ok(Backing::Standard {
                    name: o.text("name").unwrap_or_default().to_owned(),
                    network: r,
                })
            }
            other => Err(Error::unsupported(
                op,
                CLOUD,
                &format!("NICs on {other} networks (NSX) are not supported"),
            )),
        }
    }

    async fn tag_new_vm(
        &self,
        vm: &MoRef,
        spec: &VmSpec,
        own: &Ownership,
    ) -> std::result::Result<(), CallError> {
        // Token first: a VM with the token is recognised by a retried create even when the
        // crash came before the owner was written.
        self.set_attr(vm, TOKEN_TAG, &own.token).await?;
        self.set_attr(vm, OWNER_TAG, own.owner.as_str()).await?;
        self.set_attr(vm, NAME_TAG, &spec.name).await?;
        if let Some(g) = &own.group {
            self.set_attr(vm, GROUP_TAG, g).await?;
        }
        let meta = SpecMeta {
            image: spec.image.clone(),
            tags: spec.tags.clone(),
            created: Some(chrono::Utc::now()),
        };
        self.set_attr(
            vm,
            convert::SPEC_ATTR,
            &serde_json::to_string(&meta).expect("json"),
        )
        .await
    }

    /// Finishes a VM that exists with our token: attributes, size, power. Each step is skipped
    /// when already done, so a retried create converges.
    async fn finish_vm(
        &self,
        op: Operation,
        vm: &MoRef,
        spec: &VmSpec,
        cpus: u32,
        mem: u64,
    ) -> Result<Vm> {
        let own = spec.ownership(self.owner());
        let o = self.vim.props(vm, convert::VM_DETAIL).await.op(op)?;
        let attrs = self.attrs(&o);
        // Untagged: this request's own clone (just made, or interrupted before tagging).
        let fresh = !self.is_mine(&attrs) || !attrs.contains_key(convert::SPEC_ATTR);
        if fresh {
            self.tag_new_vm(vm, spec, &own).await.op(op)?;
        }
        // vCenter places a clone on RelocateSpec.host; govmomi's simulator keeps the template's
        // host, and an adopted clone may predate the pin. Only a fresh VM is moved: a finished
        // one that DRS or HA moved since is left where vCenter put it.
        if let Some(want) = spec.host.as_ref().filter(|_| fresh) {
            let on = o
                .props
                .get("runtime.host")
                .and_then(|e| e.as_moref())
                .map(|h| h.value);
            if on.as_deref() != Some(want.as_str()) {
                let host = convert::host_ref(want);
                let resource_pool = self.resource_pool_for_host(op, &host, None).await?;
                tracing::info!(vm = %spec.name, host = %want, "vsphere: moving the clone to its pinned host");
                self.vim
                    .run_task(convert::relocate_request(vm, resource_pool.as_ref(), &host))
                    .await
                    .op(op)?;
            }
        }
        let have_cpu: u32 = o
            .text("config.hardware.numCPU")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let have_mem: u64 = o
            .text("config.hardware.memoryMB")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut on = o.text("runtime.powerState") == Some("poweredOn");
        // vCenter applies the clone spec's size; vcsim copies the template's, so check.
        if (have_cpu, have_mem) != (cpus, mem) {
            if on {
                self.vim
                    .run_task(Request::new("PowerOffVM_Task", vm))
                    .await
                    .op(op)?;
                on = false;
            }
            self.vim
                .run_task(convert::resize_request(vm, cpus, mem))
                .await
                .op(op)?;
        }
        if !on {
            match self.vim.run_task(Request::new("PowerOnVM_Task", vm)).await {
                Ok(_) => {}
                Err(e) if e.is_invalid_power_state() => {}
                Err(e) => return Err(map(op, e)),
            }
        }
        self.get_vm_as(op, &VmId::new(vm.value.clone())).await
    }

    async fn create_vm_as(&self, op: Operation, spec: &VmSpec) -> Result<Vm> {
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let (cpus, mem) = shape(op, &spec.size)?;
        let own = spec.ownership(self.owner());
        let inv_name = convert::inventory_name(self.owner(), &spec.name);
        let guard = self.lock(format!("vm-name:{inv_name}"));
        let _g = guard.lock().await;

        let briefs = self.briefs().await.op(op)?;
        if let Some(vm) = self
            .find_existing(op, &briefs, spec, &own.token, &inv_name)
            .await?
        {
            return self.finish_vm(op, &vm, spec, cpus, mem).await;
        }
        let template = self.template(op, &briefs, &spec.image).await?;
        let pin = match &spec.host {
            Some(id) => Some(self.pinned_host(op, id).await?),
            None => None,
        };
        let t = self
            .vim
            .props(
                &template,
                &["resourcePool", "runtime.host", "config.hardware.device"],
            )
            .await
            .op(op)?;
        let resource_pool = match &pin {
            Some((host, compute)) => {
                self.resource_pool_for_host(op, host, compute.clone())
                    .await?
            }
            None => self.resource_pool_for(op, &t).await?,
        };
        let backing = match &spec.network {
            Some(n) => Some(self.backing(op, n).await?),
            None => None,
        };
        let first_nic = convert::nic_devices(t.props.get("config.hardware.device"))
            .into_iter()
            .next();
        let extra = [(convert::EXTRA_TOKEN_KEY, own.token.as_str())];
        let target = CloneTarget {
            folder: &self.inv.vm_folder,
            name: &inv_name,
            datastore: self.inv.datastore.as_ref(),
            resource_pool: resource_pool.as_ref(),
            host: pin.as_ref().map(|(h, _)| h),
            cpus,
            memory_mib: mem,
            nic: backing.as_ref().map(|b| (first_nic.as_ref(), b)),
            extra: &extra,
        };
        tracing::info!(vm = %spec.name, template = %template.value, "vsphere: cloning");
        let result = self
            .vim
            .run_task(convert::clone_request(&template, &target))
            .await;
        let vm = match result {
            Ok(Some(r)) => r
                .as_moref()
                .ok_or_else(|| map(op, CallError::Parse("CloneVM_Task returned no VM".into())))?,
            Ok(None) => {
                return Err(map(
                    op,
                    CallError::Parse("CloneVM_Task returned no VM".into()),
                ));
            }
            // Someone else (another strato process) cloned the same name meanwhile.
            Err(e) if e.is_duplicate_name() => {
                let briefs = self.briefs().await.op(op)?;
                match self
                    .find_existing(op, &briefs, spec, &own.token, &inv_name)
                    .await?
                {
                    Some(vm) => vm,
                    None => return Err(map(op, e)),
                }
            }
            Err(e) => return Err(map(op, e)),
        };
        self.finish_vm(op, &vm, spec, cpus, mem).await
    }

    async fn delete_vm_as(&self, op: Operation, id: &VmId) -> Result<()> {
        let vm = match self.owned_vm(op, id).await {
            Ok((vm, _, _)) => vm,
            Err(e) if e.is_not_found() => {
                // Gone is fine; someone else's is NotFound.
                return match self.vim.props(&convert::vm_ref(id), &["name"]).await {
                    Err(e) if e.is_gone() => Ok(()),
                    Err(e) => Err(map(op, e)),
                    Ok(_) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let r = convert::vm_ref(&vm.id);
        if vm.state == strato_core::VmState::Running {
            match self.vim.run_task(Request::new("PowerOffVM_Task", &r)).await {
                Ok(_) => {}
                Err(e) if e.is_gone() => return Ok(()),
                Err(e) if e.is_invalid_power_state() => {}
                Err(e) => return Err(map(op, e)),
            }
        }
        match self.vim.run_task(Request::new("Destroy_Task", &r)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_gone() => Ok(()),
            Err(e) => Err(map(op, e)),
        }
    }

    async fn power(&self, op: Operation, id: &VmId, on: bool) -> Result<Vm> {
        let (vm, _, _) = self.owned_vm(op, id).await?;
        let running = vm.state == strato_core::VmState::Running;
        if running == on {
            return Ok(vm);
        }
        let method = if on {
            "PowerOnVM_Task"
        } else {
            "PowerOffVM_Task"
        };
        match self
            .vim
            .run_task(Request::new(method, &convert::vm_ref(id)))
            .await
        {
            Ok(_) => {}
            // Changed meanwhile to what was asked.
            Err(e) if e.is_invalid_power_state() => {}
            Err(e) if e.is_gone() => {
                return Err(Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD));
            }
            Err(e) => return Err(map(op, e)),
        }
        self.get_vm_as(op, id).await
    }

    // ---------------------------------------------------------------- networks

    async fn networks(&self, op: Operation) -> Result<Vec<Network>> {
        let all = self
            .vim
            .list(
                &self.inv.datacenter,
                &[
                    ("Network", &["name", "customValue"]),
                    (
                        "DistributedVirtualPortgroup",
                        &["name", "customValue", "config.distributedVirtualSwitch"],
                    ),
                    ("DistributedVirtualSwitch", &["name"]),
                ],
            )
            .await
            .op(op)?;
        let switches: BTreeMap<MoRef, String> = all
            .iter()
            .filter(|o| {
                o.obj.kind.contains("DistributedVirtualSwitch")
                    || o.obj.kind == "VmwareDistributedVirtualSwitch"
            })
            .map(|o| (o.obj.clone(), o.text("name").unwrap_or_default().to_owned()))
            .collect();
        let mut out: Vec<Network> = all
            .iter()
            .filter(|o| !switches.contains_key(&o.obj))
            .map(|o| self.network_from(o, &switches))
            .collect();
        out.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(out)
    }

    fn network_from(&self, o: &ObjectContent, switches: &BTreeMap<MoRef, String>) -> Network {
        let attrs = self.attrs(o);
        let own = convert::ownership(&attrs);
        let meta: SpecMeta = convert::json_attr(&attrs, convert::SPEC_ATTR);
        let vname = o.text("name").unwrap_or_default().to_owned();
        let name = match (&own, attrs.get(NAME_TAG)) {
            (Some(_), Some(n)) => n.clone(),
            _ => vname.clone(),
        };
        let cidr = attrs
            .get(convert::CIDR_ATTR)
            .and_then(|c| c.parse().ok())
            .or_else(|| {
                self.cfg
                    .vip_pools
                    .get(&o.obj.value)
                    .or(self.cfg.vip_pools.get(&vname))
                    .copied()
            });
        let parent = o
            .props
            .get("config.distributedVirtualSwitch")
            .and_then(|e| e.as_moref())
            .map(|s| switches.get(&s).cloned().unwrap_or(s.value));
        let mut tags = meta.tags;
        if let Some(own) = &own {
            own.apply(&mut tags);
            tags.insert(NAME_TAG.into(), name.clone());
        }
        Network {
            id: NetworkId::new(o.obj.value.clone()),
            name,
            cidr,
            parent,
            tags,
            ownership: own,
        }
    }

    async fn network_by_id(&self, op: Operation, id: &NetworkId) -> Result<Option<Network>> {
        let r = convert::network_ref(id.as_str());
        let mut paths = vec!["name", "customValue"];
        if r.kind == "DistributedVirtualPortgroup" {
            paths.push("config.distributedVirtualSwitch");
        }
        let o = match self.vim.props(&r, &paths).await {
            Ok(o) => o,
            Err(e) if e.is_gone() => return Ok(None),
            Err(e) => return Err(map(op, e)),
        };
        let mut switches = BTreeMap::new();
        if let Some(s) = o
            .props
            .get("config.distributedVirtualSwitch")
            .and_then(|e| e.as_moref())
        {
            let so = self.vim.props(&s, &["name"]).await.op(op)?;
            switches.insert(s, so.text("name").unwrap_or_default().to_owned());
        }
        Ok(Some(self.network_from(&o, &switches)))
    }

    /// The distributed switch new portgroups go on.
    async fn dvs(&self, op: Operation, parent: Option<&str>) -> Result<MoRef> {
        let all = self
            .vim
            .list(
                &self.inv.datacenter,
                &[("DistributedVirtualSwitch", &["name"])],
            )
            .await
            .op(op)?;
        let want = parent.or(self.cfg.dvs.as_deref());
        match want {
            Some(w) => all
                .iter()
                .find(|o| o.text("name") == Some(w) || o.obj.value == w)
                .map(|o| o.obj.clone())
                .ok_or_else(|| {
                    invalid(op, "parent", format!("distributed switch {w:?} not found"))
                }),
            None => match all.as_slice() {
                [one] => Ok(one.obj.clone()),
                [] => Err(Error::unsupported(
                    op,
                    CLOUD,
                    "creating networks needs a distributed switch and this datacenter has none",
                )),
                _ => Err(invalid(
                    op,
                    "parent",
                    "this datacenter has several distributed switches: set `parent` or the profile's `dvs`",
                )),
            },
        }
    }

    async fn create_network_as(&self, op: Operation, spec: &NetworkSpec) -> Result<Network> {
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let own = spec.ownership(self.owner());
        let inv_name = convert::inventory_name(self.owner(), &spec.name);
        let guard = self.lock(format!("net-name:{inv_name}"));
        let _g = guard.lock().await;
        let existing = self.networks(op).await?;
        let find = |nets: &[Network]| -> Result<Option<Network>> {
            for n in nets {
                let Some(o) = &n.ownership else {
                    continue;
                };
                if o.token == own.token {
                    return Ok(Some(n.clone()));
                }
                if o.owner == *self.owner() && n.name == spec.name {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        op,
                        format!(
                            "network {:?} already exists ({}) and was made from a different spec",
                            spec.name, n.id
                        ),
                    )
                    .with_resource(&spec.name)
                    .with_cloud(CLOUD));
                }
            }
            Ok(None)
        };
        if let Some(n) = find(&existing)? {
            return Ok(n);
        }
        let dvs = self.dvs(op, spec.parent.as_deref()).await?;
        // An untagged portgroup with our name: a create interrupted before tagging, or a name
        // taken outside strato.
        let mut pg = existing
            .iter()
            .find(|n| {
                n.ownership.is_none()
                    && n.name == inv_name
                    && n.id.as_str().starts_with("dvportgroup-")
            })
            .map(|n| convert::network_ref(n.id.as_str()));
        if let Some(p) = &pg {
            let o = self.vim.props(p, &["config.description"]).await.op(op)?;
            if o.text("config.description") != Some(&own.token) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    op,
                    format!(
                        "a portgroup named {inv_name:?} exists in vCenter and is not this request's"
                    ),
                )
                .with_resource(&spec.name)
                .with_cloud(CLOUD));
            }
        }
        if pg.is_none() {
            let mut r = Request::new("AddDVPortgroup_Task", &dvs);
            r.open("spec")
                .text("name", &inv_name)
                .text("numPorts", 8)
                .text("description", &own.token)
                .text("type", "earlyBinding")
                .text("autoExpand", true)
                .close();
            self.vim.run_task(r).await.op(op)?;
            // Through the container view: reading the switch's portgroups one by one fails
            // when another client deletes one meanwhile.
            pg = self
                .networks(op)
                .await?
                .into_iter()
                .find(|n| n.ownership.is_none() && n.name == inv_name)
                .map(|n| convert::network_ref(n.id.as_str()));
        }
        let pg = pg.ok_or_else(|| {
            map(
                op,
                CallError::Parse(format!("portgroup {inv_name} not found after its creation")),
            )
        })?;
        self.set_attr(&pg, TOKEN_TAG, &own.token).await.op(op)?;
        self.set_attr(&pg, OWNER_TAG, own.owner.as_str())
            .await
            .op(op)?;
        self.set_attr(&pg, NAME_TAG, &spec.name).await.op(op)?;
        if let Some(c) = &spec.cidr {
            self.set_attr(&pg, convert::CIDR_ATTR, &c.to_string())
                .await
                .op(op)?;
        }
        let meta = SpecMeta {
            image: String::new(),
            tags: spec.tags.clone(),
            created: Some(chrono::Utc::now()),
        };
        self.set_attr(
            &pg,
            convert::SPEC_ATTR,
            &serde_json::to_string(&meta).expect("json"),
        )
        .await
        .op(op)?;
        self.network_by_id(op, &NetworkId::new(pg.value.clone()))
            .await?
            .ok_or_else(|| Error::not_found(op, format!("network {}", pg.value)).with_cloud(CLOUD))
    }

    async fn delete_network_as(&self, op: Operation, id: &NetworkId) -> Result<()> {
        let Some(n) = self.network_by_id(op, id).await? else {
            return Ok(());
        };
        if n.ownership
            .as_ref()
            .is_none_or(|o| o.owner != *self.owner())
        {
            return Err(Error::not_found(op, format!("network {id}")).with_cloud(CLOUD));
        }
        match self
            .vim
            .run_task(Request::new(
                "Destroy_Task",
                &convert::network_ref(id.as_str()),
            ))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_gone() => Ok(()),
            Err(e) => Err(map(op, e)),
        }
    }

    // ---------------------------------------------------------------- NICs

    async fn attach_nic_as(&self, op: Operation, vm_id: &VmId, spec: &NicSpec) -> Result<Nic> {
        if spec.address.is_some() {
            return Err(Error::unsupported(
                op,
                CLOUD,
                "vSphere cannot set a NIC's address; the guest configures it (leave address empty)",
            ));
        }
        let guard = self.lock(format!("vm:{vm_id}"));
        let _g = guard.lock().await;
        let (vm, attrs, o) = self.owned_vm(op, vm_id).await?;
        let token = spec.client_token(self.owner(), vm_id);
        let mut attached: BTreeMap<String, i32> = convert::json_attr(&attrs, convert::NICS_ATTR);
        let devices = convert::nic_devices(o.props.get("config.hardware.device"));
        if let Some(key) = attached.get(&token)
            && let Some(nic) = vm.nics.iter().find(|n| n.id.as_str() == key.to_string())
        {
            return Ok(nic.clone());
        }
        if devices.len() >= capabilities(&self.cfg).max_nics_per_vm as usize {
            return Err(Error::new(
                ErrorKind::Conflict,
                op,
                format!(
                    "vm {vm_id} already has {} NICs, the most vSphere allows",
                    devices.len()
                ),
            )
            .with_cloud(CLOUD));
        }
        let backing = self.backing(op, &spec.network).await?;
        let r = convert::vm_ref(vm_id);
        let mut req = Request::new("ReconfigVM_Task", &r);
        req.open("spec");
        convert::write_add_nic(
            &mut req,
            &backing,
            vm.state == strato_core::VmState::Running,
        );
        req.close();
        match self.vim.run_task(req).await {
            Ok(_) => {}
            Err(e) if e.is_gone() => {
                return Err(Error::not_found(op, format!("vm {vm_id}")).with_cloud(CLOUD));
            }
            Err(e) => return Err(map(op, e)),
        }
        let before: BTreeSet<i32> = devices.iter().map(|d| d.key).collect();
        let (vm, _, _) = self.owned_vm(op, vm_id).await?;
        let nic = vm
            .nics
            .iter()
            .find(|n| {
                n.id.as_str()
                    .parse()
                    .is_ok_and(|k: i32| !before.contains(&k))
            })
            .cloned()
            .ok_or_else(|| {
                map(
                    op,
                    CallError::Parse("the new NIC is not among the VM's devices".into()),
                )
            })?;
        let live: BTreeSet<String> = vm.nics.iter().map(|n| n.id.to_string()).collect();
        attached.retain(|_, k| live.contains(&k.to_string()));
        attached.insert(token, nic.id.as_str().parse().unwrap_or_default());
        self.set_attr(
            &r,
            convert::NICS_ATTR,
            &serde_json::to_string(&attached).expect("json"),
        )
        .await
        .op(op)?;
        Ok(nic)
    }

    async fn detach_nic_as(&self, op: Operation, vm_id: &VmId, nic: &NicId) -> Result<()> {
        let guard = self.lock(format!("vm:{vm_id}"));
        let _g = guard.lock().await;
        let (_, attrs, o) = self.owned_vm(op, vm_id).await?;
        let devices = convert::nic_devices(o.props.get("config.hardware.device"));
        let Some(dev): Option<&NicDevice> =
            devices.iter().find(|d| d.key.to_string() == nic.as_str())
        else {
            return Ok(());
        };
        let r = convert::vm_ref(vm_id);
        let mut req = Request::new("ReconfigVM_Task", &r);
        req.open("spec");
        convert::write_remove_nic(&mut req, dev);
        req.close();
        self.vim.run_task(req).await.op(op)?;
        let mut attached: BTreeMap<String, i32> = convert::json_attr(&attrs, convert::NICS_ATTR);
        let before = attached.len();
        attached.retain(|_, k| *k != dev.key);
        if attached.len() != before {
            self.set_attr(
                &r,
                convert::NICS_ATTR,
                &serde_json::to_string(&attached).expect("json"),
            )
            .await
            .op(op)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- VIPs

    /// Every VIP record in the datacenter (all owners: the pools are shared), newest bind per
    /// token, with the VM it is on and that VM's attributes.
    async fn vip_records(&self, op: Operation) -> Result<Vec<(VipRecord, Brief)>> {
        let briefs = self.briefs().await.op(op)?;
        let mut by_token: BTreeMap<(String, String), (VipRecord, Brief)> = BTreeMap::new();
        for b in briefs {
            let recs: Vec<VipRecord> = convert::json_attr(&b.attrs, convert::VIPS_ATTR);
            let owner = b.attrs.get(OWNER_TAG).cloned().unwrap_or_default();
            for r in recs {
                let k = (owner.clone(), r.token.clone());
                if by_token.get(&k).is_none_or(|(old, _)| old.seq < r.seq) {
                    by_token.insert(k, (r, b.clone()));
                }
            }
        }
        Ok(by_token.into_values().collect())
    }

    fn vip_of(&self, r: &VipRecord, on: &Brief) -> Option<Vip> {
        let own = convert::ownership(&on.attrs)?;
        Some(Vip {
            id: VipId::new(convert::vip_id(&r.network, r.address)),
            name: r.name.clone(),
            address: r.address,
            public_address: None,
            vm: Some(VmId::new(on.obj.value.clone())),
            network: NetworkId::new(r.network.clone()),
            binding: VipBinding::Guest,
            ownership: Ownership {
                owner: own.owner,
                group: None,
                token: r.token.clone(),
            },
        })
    }

    async fn write_vips(&self, op: Operation, vm: &MoRef, recs: &[VipRecord]) -> Result<()> {
        self.set_attr(
            vm,
            convert::VIPS_ATTR,
            &serde_json::to_string(recs).expect("json"),
        )
        .await
        .op(op)
    }

    /// Re-reads a VM's VIP records (under the VIP lock) and writes them back changed by `f`.
    async fn edit_vips(
        &self,
        op: Operation,
        vm: &MoRef,
        f: impl FnOnce(&mut Vec<VipRecord>),
    ) -> Result<()> {
        let o = match self.vim.props(vm, &["customValue"]).await {
            Ok(o) => o,
            Err(e) if e.is_gone() => {
                return Err(Error::not_found(op, format!("vm {}", vm.value)).with_cloud(CLOUD));
            }
            Err(e) => return Err(map(op, e)),
        };
        let mut recs: Vec<VipRecord> = convert::json_attr(&self.attrs(&o), convert::VIPS_ATTR);
        f(&mut recs);
        self.write_vips(op, vm, &recs).await
    }

    /// The VIP pool of a network: the profile's `vip_pools` (by id or name), else the CIDR of a
    /// network strato created.
    async fn pool_of(&self, op: Operation, network: &NetworkId) -> Result<ipnet::IpNet> {
        if let Some(p) = self.cfg.vip_pools.get(network.as_str()) {
            return Ok(*p);
        }
        let n = self
            .network_by_id(op, network)
            .await?
            .ok_or_else(|| invalid(op, "network", format!("network {network} not found")))?;
        n.cidr.ok_or_else(|| {
            invalid(
                op,
                "network",
                format!(
                    "network {:?} ({network}) has no VIP pool: add vip_pools.\"{}\" = \"CIDR\" to the profile",
                    n.name, n.name
                ),
            )
        })
    }

    async fn allocate_vip_as(&self, op: Operation, spec: &VipSpec) -> Result<Vip> {
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if spec.public {
            return Err(Error::unsupported(
                op,
                CLOUD,
                "vSphere has no public addresses",
            ));
        }
        let token = spec.client_token(self.owner());
        let guard = self.lock("vips".into());
        let _g = guard.lock().await;
        let records = self.vip_records(op).await?;
        for (r, on) in &records {
            if !self.is_mine(&on.attrs) {
                continue;
            }
            if r.token == token {
                return self
                    .vip_of(r, on)
                    .ok_or_else(|| Error::not_found(op, "vip").with_cloud(CLOUD));
            }
            if r.name == spec.name {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    op,
                    format!(
                        "vip {:?} already exists ({}) and was made from a different spec",
                        spec.name, r.address
                    ),
                )
                .with_resource(&spec.name)
                .with_cloud(CLOUD));
            }
        }
        let (vm, _, _) = self.owned_vm(op, &spec.vm).await?;
        let network = match &spec.network {
            Some(n) => n.clone(),
            None => vm
                .nics
                .first()
                .map(|n| n.network.clone())
                .filter(|n| !n.as_str().is_empty())
                .ok_or_else(|| {
                    invalid(
                        op,
                        "network",
                        format!("vm {} has no NIC: name the VIP's network", spec.vm),
                    )
                })?,
        };
        if spec.network.is_some() && !vm.nics.iter().any(|n| n.network == network) {
            return Err(invalid(
                op,
                "network",
                format!("vm {} has no NIC on network {network}", spec.vm),
            ));
        }
        let pool = self.pool_of(op, &network).await?;
        let mut used: BTreeSet<IpAddr> = records
            .iter()
            .filter(|(r, _)| r.network == network.as_str())
            .map(|(r, _)| r.address)
            .collect();
        let r = convert::vm_ref(&spec.vm);
        // The pool is shared with every strato process using this vCenter and there is no
        // compare-and-swap on attributes: write, read back, and keep the address only when ours
        // is its sole record. Of two racing writers, the one reading last always sees both and
        // gives up; both may give up, then they retry on different addresses.
        for attempt in 0..8 {
            let address = match spec.address {
                Some(a) if !pool.contains(&a) => {
                    return Err(invalid(
                        op,
                        "address",
                        format!("address {a} is outside the VIP pool {pool} of {network}"),
                    ));
                }
                Some(a) if used.contains(&a) => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        op,
                        format!("address {a} on {network} is already a VIP"),
                    )
                    .with_field("address")
                    .with_cloud(CLOUD));
                }
                Some(a) => a,
                None => {
                    // First try the lowest free address; after a collision, a random one of the
                    // next free ones, so two colliding allocators do not collide again.
                    let free: Vec<IpAddr> = pool
                        .hosts()
                        .filter(|a| !used.contains(a))
                        .take(64)
                        .collect();
                    let pick = if attempt == 0 || free.is_empty() {
                        0
                    } else {
                        let nanos = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.subsec_nanos() as usize)
                            .unwrap_or(0);
                        (nanos ^ token.len().wrapping_mul(attempt)) % free.len()
                    };
                    *free.get(pick).ok_or_else(|| {
                        Error::new(
                            ErrorKind::NoCapacity,
                            op,
                            format!("the VIP pool {pool} of {network} is exhausted"),
                        )
                        .with_cloud(CLOUD)
                    })?
                }
            };
            let rec = VipRecord {
                name: spec.name.clone(),
                address,
                network: network.to_string(),
                token: token.clone(),
                seq: now_ms(),
            };
            let added = rec.clone();
            self.edit_vips(op, &r, move |v| {
                v.retain(|x| x.token != added.token);
                v.push(added);
            })
            .await?;
            let holders: Vec<VipRecord> = self
                .vip_records(op)
                .await?
                .into_iter()
                .map(|(x, _)| x)
                .filter(|x| x.network == rec.network && x.address == address)
                .collect();
            let ours_kept = holders.iter().any(|x| x.token == rec.token);
            match holders.as_slice() {
                [only] if only.token == rec.token => {
                    return Ok(Vip {
                        id: VipId::new(convert::vip_id(&rec.network, rec.address)),
                        name: rec.name,
                        address,
                        public_address: None,
                        vm: Some(spec.vm.clone()),
                        network,
                        binding: VipBinding::Guest,
                        ownership: Ownership {
                            owner: self.owner().clone(),
                            group: None,
                            token: rec.token,
                        },
                    });
                }
                // Another writer of this VM's attribute overwrote ours: write again.
                _ if !ours_kept => {
                    tracing::debug!(%address, "vsphere: VIP record lost to a concurrent write, retrying");
                }
                _ => {
                    tracing::debug!(%address, "vsphere: VIP address taken concurrently, picking another");
                    let tok = rec.token.clone();
                    self.edit_vips(op, &r, move |v| v.retain(|x| x.token != tok))
                        .await?;
                    used.insert(address);
                }
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            op,
            format!(
                "VIP {:?}: allocation kept colliding with concurrent allocations",
                spec.name
            ),
        )
        .with_cloud(CLOUD))
    }

    /// The owned VIP record with this id and the VM it is on.
    async fn owned_vip(&self, op: Operation, id: &VipId) -> Result<Option<(VipRecord, Brief)>> {
        let Some((net, addr)) = convert::parse_vip_id(id.as_str()) else {
            return Ok(None);
        };
        Ok(self
            .vip_records(op)
            .await?
            .into_iter()
            .find(|(r, on)| self.is_mine(&on.attrs) && r.network == net && r.address == addr))
    }

    async fn move_vip_as(&self, op: Operation, id: &VipId, to: &VmId) -> Result<Vip> {
        let guard = self.lock("vips".into());
        let _g = guard.lock().await;
        let (rec, from) = self
            .owned_vip(op, id)
            .await?
            .ok_or_else(|| Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))?;
        let (target, _, _) = self.owned_vm(op, to).await?;
        if !target
            .nics
            .iter()
            .any(|n| n.network.as_str() == rec.network)
        {
            return Err(invalid(
                op,
                "to",
                format!("vm {to} has no NIC on the VIP's network {}", rec.network),
            ));
        }
        if from.obj.value != to.as_str() {
            // Bind on the new VM first, then unbind: an interrupted move leaves two records of
            // one token and the newer one wins, never none.
            let mut moved = rec.clone();
            moved.seq = now_ms().max(rec.seq + 1);
            let token = rec.token.clone();
            self.edit_vips(op, &convert::vm_ref(to), move |v| {
                v.retain(|r| r.token != moved.token);
                v.push(moved);
            })
            .await?;
            match self
                .edit_vips(op, &from.obj, |v| v.retain(|r| r.token != token))
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        self.owned_vip(op, id)
            .await?
            .and_then(|(r, on)| self.vip_of(&r, &on))
            .ok_or_else(|| Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))
    }

    async fn release_vip_as(&self, op: Operation, id: &VipId) -> Result<()> {
        let guard = self.lock("vips".into());
        let _g = guard.lock().await;
        // Every record of this address (an interrupted move may have left two).
        let Some((net, addr)) = convert::parse_vip_id(id.as_str()) else {
            return Ok(());
        };
        let briefs = self.briefs().await.op(op)?;
        let holds = |b: &Brief| {
            let recs: Vec<VipRecord> = convert::json_attr(&b.attrs, convert::VIPS_ATTR);
            recs.iter().any(|r| r.network == net && r.address == addr)
        };
        let mine: Vec<&Brief> = briefs
            .iter()
            .filter(|b| self.is_mine(&b.attrs) && holds(b))
            .collect();
        if mine.is_empty() && briefs.iter().any(holds) {
            // Someone else's VIP: not ours to release.
            return Err(Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD));
        }
        for b in mine {
            {
                match self
                    .edit_vips(op, &b.obj, |v| {
                        v.retain(|r| !(r.network == net && r.address == addr))
                    })
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- groups

    async fn group_members(&self, op: Operation, name: &str) -> Result<Vec<Vm>> {
        Ok(self
            .owned_vms(op, |b| {
                b.attrs.get(GROUP_TAG).map(String::as_str) == Some(name)
            })
            .await?
            .into_iter()
            .map(|(vm, _)| vm)
            .filter(|vm| vm.group() == Some(name))
            .collect())
    }

    async fn scale_group_as(&self, op: Operation, spec: &GroupSpec, size: u32) -> Result<Group> {
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        // Unknown is not zero: a failed read ends here, before any delete.
        let members = self.group_members(op, &spec.name).await?;
        let current_token = |vm: &Vm| {
            member_ordinal(&spec.name, &vm.name)
                .map(|o| spec.member_spec(o).client_token(self.owner()))
                .is_some_and(|t| t == vm.ownership.token)
        };
        let n = members.len();
        let want = size as usize;
        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        if n > want {
            // Older template first, then the highest ordinals.
            let mut victims: Vec<&Vm> = members.iter().collect();
            victims.sort_by_key(|vm| {
                (
                    current_token(vm),
                    std::cmp::Reverse(member_ordinal(&spec.name, &vm.name).unwrap_or(u32::MAX)),
                )
            });
            victims.truncate(n - want);
            let ids: Vec<VmId> = victims.iter().map(|vm| vm.id.clone()).collect();
            let results: Vec<(VmId, Result<()>)> =
                futures::stream::iter(ids.into_iter().map(|id| async move {
                    let r = self.delete_vm_as(op, &id).await;
                    (id, r)
                }))
                .buffer_unordered(self.cfg.max_parallel_tasks)
                .collect()
                .await;
            for (id, r) in results {
                match r {
                    Ok(()) => succeeded.push(id.to_string()),
                    Err(e) => failed.push(e),
                }
            }
        } else if n < want {
            // A spec every member would fail on is one error, not a Partial of N.
            shape(op, &spec.size)?;
            let briefs = self.briefs().await.op(op)?;
            self.template(op, &briefs, &spec.image).await?;
            let used: BTreeSet<u32> = members
                .iter()
                .filter_map(|m| member_ordinal(&spec.name, &m.name))
                .collect();
            let ordinals: Vec<u32> = (0u32..)
                .filter(|o| !used.contains(o))
                .take(want - n)
                .collect();
            let results: Vec<Result<Vm>> = futures::stream::iter(ordinals.into_iter().map(|o| {
                let member = spec.member_spec(o);
                async move { self.create_vm_as(op, &member).await }
            }))
            .buffer_unordered(self.cfg.max_parallel_tasks)
            .collect()
            .await;
            for r in results {
                match r {
                    Ok(vm) => succeeded.push(vm.id.to_string()),
                    Err(e) => failed.push(e),
                }
            }
        }
        if !failed.is_empty() {
            let msg = format!(
                "group {}: {} of {} changes failed",
                spec.name,
                failed.len(),
                failed.len() + succeeded.len()
            );
            return Err(
                Error::new(ErrorKind::Partial { succeeded, failed }, op, msg).with_cloud(CLOUD),
            );
        }
        let members = self.group_members(op, &spec.name).await?;
        Ok(Group::new(spec.name.clone(), size, members))
    }
}

#[async_trait]
impl CloudConnector for VsphereConnector {
    fn info(&self) -> &CloudInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(&self.cfg)
    }

    async fn create_vm(&self, spec: &VmSpec) -> Result<Vm> {
        self.create_vm_as(Operation::CreateVm, spec).await
    }

    async fn get_vm(&self, id: &VmId) -> Result<Vm> {
        self.get_vm_as(Operation::GetVm, id).await
    }

    async fn list_vms(&self, query: &VmQuery) -> Result<Page<Vm>> {
        let op = Operation::ListVms;
        let name = query.name.clone();
        let group = query.group.clone();
        let vms: Vec<Vm> = self
            .owned_vms(op, |b| {
                name.as_ref()
                    .is_none_or(|n| b.attrs.get(NAME_TAG) == Some(n))
                    && group
                        .as_ref()
                        .is_none_or(|g| b.attrs.get(GROUP_TAG) == Some(g))
            })
            .await?
            .into_iter()
            .map(|(vm, _)| vm)
            .filter(|vm| query.matches(vm))
            .collect();
        Page::from_offset(
            vms,
            query.page_size,
            query.page_token.as_deref(),
            capabilities(&self.cfg).max_page_size,
        )
        .map_err(|e| e.with_operation(op).with_cloud(CLOUD))
    }

    async fn delete_vm(&self, id: &VmId) -> Result<()> {
        self.delete_vm_as(Operation::DeleteVm, id).await
    }

    async fn start_vm(&self, id: &VmId) -> Result<Vm> {
        self.power(Operation::StartVm, id, true).await
    }

    async fn stop_vm(&self, id: &VmId) -> Result<Vm> {
        self.power(Operation::StopVm, id, false).await
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<Network> {
        self.create_network_as(Operation::CreateNetwork, spec).await
    }

    async fn get_network(&self, id: &NetworkId) -> Result<Network> {
        let op = Operation::GetNetwork;
        self.network_by_id(op, id)
            .await?
            .ok_or_else(|| Error::not_found(op, format!("network {id}")).with_cloud(CLOUD))
    }

    async fn list_networks(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        let op = Operation::ListNetworks;
        let nets: Vec<Network> = self
            .networks(op)
            .await?
            .into_iter()
            .filter(|n| query.matches(self.owner(), n))
            .collect();
        Page::from_offset(
            nets,
            query.page_size,
            query.page_token.as_deref(),
            capabilities(&self.cfg).max_page_size,
        )
        .map_err(|e| e.with_operation(op).with_cloud(CLOUD))
    }

    async fn delete_network(&self, id: &NetworkId) -> Result<()> {
        self.delete_network_as(Operation::DeleteNetwork, id).await
    }

    async fn attach_nic(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        self.attach_nic_as(Operation::AttachNic, vm, spec).await
    }

    async fn detach_nic(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        self.detach_nic_as(Operation::DetachNic, vm, nic).await
    }

    async fn allocate_vip(&self, spec: &VipSpec) -> Result<Vip> {
        self.allocate_vip_as(Operation::AllocateVip, spec).await
    }

    async fn get_vip(&self, id: &VipId) -> Result<Vip> {
        let op = Operation::GetVip;
        self.owned_vip(op, id)
            .await?
            .and_then(|(r, on)| self.vip_of(&r, &on))
            .ok_or_else(|| Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))
    }

    async fn list_vips(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        let op = Operation::ListVips;
        let mut out: Vec<Vip> = self
            .vip_records(op)
            .await?
            .iter()
            .filter(|(_, on)| self.is_mine(&on.attrs))
            .filter_map(|(r, on)| self.vip_of(r, on))
            .filter(|v| query.matches(v))
            .collect();
        out.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(out)
    }

    async fn move_vip(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        self.move_vip_as(Operation::MoveVip, id, to).await
    }

    async fn release_vip(&self, id: &VipId) -> Result<()> {
        self.release_vip_as(Operation::ReleaseVip, id).await
    }

    async fn scale_group(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        self.scale_group_as(Operation::ScaleGroup, spec, size).await
    }

    async fn get_group(&self, name: &str) -> Result<Group> {
        let op = Operation::GetGroup;
        let members = self.group_members(op, name).await?;
        let n = members.len() as u32;
        Ok(Group::new(name, n, members))
    }

    async fn list_hosts(&self) -> Result<Vec<Host>> {
        Ok(self
            .hosts(Operation::ListHosts)
            .await?
            .into_iter()
            .map(|(h, _)| h)
            .collect())
    }

    async fn close(&self) -> Result<()> {
        match self.vim.logout().await {
            Ok(()) => Ok(()),
            // Already logged out (closed twice, or the session timed out): nothing to end.
            Err(e) if e.is_not_authenticated() => Ok(()),
            Err(e) => Err(e).op(Operation::Configure),
        }
    }
}
