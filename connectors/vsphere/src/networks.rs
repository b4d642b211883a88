//! Networks: standard and distributed portgroups; strato creates and deletes distributed ones.

use crate::CLOUD;
use crate::capabilities::capabilities;
use crate::client::VsphereConnector;
use crate::convert::{self, SpecMeta};
use crate::error::{CallError, MapCall, invalid, map};
use crate::soap::{MoRef, Request};
use crate::vim::ObjectContent;
use std::collections::BTreeMap;
use strato_core::{
    Error, ErrorKind, NAME_TAG, Network, NetworkId, NetworkQuery, NetworkSpec, OWNER_TAG,
    Operation, Ownership, Page, Result, TOKEN_TAG,
};

impl VsphereConnector {
    pub(crate) async fn create_network_impl(&self, spec: &NetworkSpec) -> Result<Network> {
        let op = Operation::CreateNetwork;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let own = spec.ownership(self.owner());
        let inv_name = convert::inventory_name(self.owner(), &spec.name);
        let guard = self.lock(format!("net-name:{inv_name}"));
        let _g = guard.lock().await;
        let existing = self.networks(op).await?;
        if let Some(n) = self.earlier_network(op, &existing, spec, &own.token)? {
            return Ok(n);
        }
        let dvs = self.dvs(op, spec.parent.as_deref()).await?;
        let pg = match self
            .interrupted_portgroup(op, &existing, spec, &inv_name, &own.token)
            .await?
        {
            Some(pg) => pg,
            None => self.add_portgroup(op, &dvs, &inv_name, &own.token).await?,
        };
        self.tag_network(op, &pg, spec, &own).await?;
        self.network_by_id(op, &NetworkId::new(pg.value.clone()))
            .await?
            .ok_or_else(|| Error::not_found(op, format!("network {}", pg.value)).with_cloud(CLOUD))
    }

    /// The network an earlier identical request made, or `AlreadyExists` when the name is taken
    /// by a different request; `None` when the name is free.
    fn earlier_network(
        &self,
        op: Operation,
        existing: &[Network],
        spec: &NetworkSpec,
        token: &str,
    ) -> Result<Option<Network>> {
        for n in existing {
            let Some(o) = &n.ownership else {
                continue;
            };
            if o.token == token {
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
    }

    /// An untagged portgroup with our name: this request's, interrupted before tagging (its
    /// description is the token), or `AlreadyExists` for a name taken outside strato.
    async fn interrupted_portgroup(
        &self,
        op: Operation,
        existing: &[Network],
        spec: &NetworkSpec,
        inv_name: &str,
        token: &str,
    ) -> Result<Option<MoRef>> {
        let Some(pg) = existing
            .iter()
            .find(|n| {
                n.ownership.is_none()
                    && n.name == inv_name
                    && n.id.as_str().starts_with("dvportgroup-")
            })
            .map(|n| convert::network_ref(n.id.as_str()))
        else {
            return Ok(None);
        };
        let o = self.vim.props(&pg, &["config.description"]).await.op(op)?;
        if o.text("config.description") != Some(token) {
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
        Ok(Some(pg))
    }

    /// Adds a distributed portgroup named `inv_name` to `dvs`, the token in its description.
    async fn add_portgroup(
        &self,
        op: Operation,
        dvs: &MoRef,
        inv_name: &str,
        token: &str,
    ) -> Result<MoRef> {
        let mut r = Request::new("AddDVPortgroup_Task", dvs);
        r.open("spec")
            .text("name", inv_name)
            .text("numPorts", 8)
            .text("description", token)
            .text("type", "earlyBinding")
            .text("autoExpand", true)
            .close();
        self.vim.run_task(r).await.op(op)?;
        // Through the container view: reading the switch's portgroups one by one fails
        // when another client deletes one meanwhile.
        self.networks(op)
            .await?
            .into_iter()
            .find(|n| n.ownership.is_none() && n.name == inv_name)
            .map(|n| convert::network_ref(n.id.as_str()))
            .ok_or_else(|| {
                map(
                    op,
                    CallError::Parse(format!("portgroup {inv_name} not found after its creation")),
                )
            })
    }

    /// Writes strato's attributes (ownership, name, CIDR, spec) to a new portgroup.
    async fn tag_network(
        &self,
        op: Operation,
        pg: &MoRef,
        spec: &NetworkSpec,
        own: &Ownership,
    ) -> Result<()> {
        self.set_attr(pg, TOKEN_TAG, &own.token).await.op(op)?;
        self.set_attr(pg, OWNER_TAG, own.owner.as_str())
            .await
            .op(op)?;
        self.set_attr(pg, NAME_TAG, &spec.name).await.op(op)?;
        if let Some(c) = &spec.cidr {
            self.set_attr(pg, convert::CIDR_ATTR, &c.to_string())
                .await
                .op(op)?;
        }
        let meta = SpecMeta {
            image: String::new(),
            tags: spec.tags.clone(),
            created: Some(chrono::Utc::now()),
        };
        self.set_attr(
            pg,
            convert::SPEC_ATTR,
            &serde_json::to_string(&meta).expect("json"),
        )
        .await
        .op(op)
    }

    pub(crate) async fn get_network_impl(&self, id: &NetworkId) -> Result<Network> {
        let op = Operation::GetNetwork;
        self.network_by_id(op, id)
            .await?
            .ok_or_else(|| Error::not_found(op, format!("network {id}")).with_cloud(CLOUD))
    }

    pub(crate) async fn list_networks_impl(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        let op = Operation::ListNetworks;
        let nets: Vec<Network> = self
            .networks(op)
            .await?
            .into_iter()
            .filter(|n| query.matches(self.owner(), n))
            .collect();
        // By managed object id, not offset (see list_vms_impl).
        Page::from_keyed(
            nets,
            |n| n.id.as_str(),
            query.page_size,
            query.page_token.as_deref(),
            capabilities(&self.config).max_page_size,
        )
        .map_err(|e| e.with_operation(op).with_cloud(CLOUD))
    }

    pub(crate) async fn delete_network_impl(&self, id: &NetworkId) -> Result<()> {
        let op = Operation::DeleteNetwork;
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
                self.config
                    .vip_pools
                    .get(&o.obj.value)
                    .or(self.config.vip_pools.get(&vname))
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

    pub(crate) async fn network_by_id(
        &self,
        op: Operation,
        id: &NetworkId,
    ) -> Result<Option<Network>> {
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
        let want = parent.or(self.config.dvs.as_deref());
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
}
