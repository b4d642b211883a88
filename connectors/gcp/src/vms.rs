//! VMs are instances: insert with labels (ownership, size) and a requestId derived from the
//! client token; get; zonal list with label filters and paging; start, stop, delete. Each
//! change waits for its zone operation.

use crate::CLOUD;
use crate::client::GcpConnector;
use crate::convert::{self, IMAGE_METADATA, SIZE_LABEL, vm_of};
use crate::error::map_gax;
use crate::hosts::no_hosts;
use crate::operations::{Scope, request_id};
use google_cloud_compute_v1::model::{
    AttachedDisk, AttachedDiskInitializeParams, Instance, Metadata, NetworkInterface, metadata,
};
use strato_core::{
    Error, ErrorKind, GROUP_TAG, OWNER_TAG, Operation, Ownership, Page, Result, Size, Tags, Vm,
    VmId, VmQuery, VmSpec,
};

/// Most items one list call returns (`maxResults`), and so the largest strato page.
pub(crate) const MAX_PAGE: u32 = 500;

/// A list filter term `(labels.KEY = "VALUE")`; keys and values are legal labels (no quotes).
pub(crate) fn label_term(k: &str, v: &str) -> String {
    format!("(labels.{k} = \"{v}\")")
}

/// What an instance insert or bulkInsert needs besides the name.
pub(crate) struct Launch {
    pub machine_type: String,
    pub subnetwork: String,
    pub labels: Tags,
    pub image: String,
    /// Subnetworks of the NICs after the primary, in order (single VMs only).
    pub extra_subnetworks: Vec<String>,
    /// The bootstrap document, metadata `user-data` (single VMs only; never logged).
    pub user_data: Option<String>,
}

/// The metadata key cloud-init reads on Compute Engine.
pub(crate) const USER_DATA_METADATA: &str = "user-data";

impl GcpConnector {
    /// Reads an instance strato owns (another owner's is `NotFound`, as if absent).
    pub(crate) async fn get_owned(&self, name: &str, op: Operation) -> Result<Instance> {
        let i = self.get_raw(name, op).await?;
        match i.labels.get(OWNER_TAG) {
            Some(o) if o == self.owner().as_str() => Ok(i),
            _ => Err(Error::not_found(op, format!("vm {name}")).with_cloud(CLOUD)),
        }
    }

    /// Reads an instance, owned or not.
    pub(crate) async fn get_raw(&self, name: &str, op: Operation) -> Result<Instance> {
        if strato_core::validate_label("vm", name, 63).is_err() {
            // Not a name Compute could have: absent, without asking.
            return Err(Error::not_found(op, format!("vm {name}")).with_cloud(CLOUD));
        }
        self.instances
            .get()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_instance(name)
            .send()
            .await
            .map_err(|e| map_gax(e, op, &format!("vm {name}")))
    }

    /// One page of owned instances matching a filter (the owner's label is always added).
    pub(crate) async fn list_page(
        &self,
        terms: &[String],
        page_size: Option<u32>,
        token: Option<&str>,
        op: Operation,
    ) -> Result<(Vec<Instance>, Option<String>)> {
        let mut filter = label_term(OWNER_TAG, self.owner().as_str());
        for t in terms {
            filter.push(' ');
            filter.push_str(t);
        }
        let page = self
            .instances
            .list()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_filter(filter)
            .set_max_results(page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE))
            .set_or_clear_page_token(token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| map_gax(e, op, "vms"))?;
        let next = page.next_page_token.filter(|t| !t.is_empty());
        Ok((page.items, next))
    }

    /// Every owned instance matching a filter, all pages. A failed page is an error, never a
    /// short list.
    pub(crate) async fn list_all(&self, terms: &[String], op: Operation) -> Result<Vec<Instance>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let (items, next) = self.list_page(terms, None, token.as_deref(), op).await?;
            out.extend(items);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The machine type, subnetwork and labels of a new instance; checks the subnetwork exists,
    /// so a missing network is `InvalidSpec` naming it, before anything is made.
    pub(crate) async fn launch(
        &self,
        size: &Size,
        image: &str,
        network: Option<&strato_core::NetworkId>,
        user_tags: &Tags,
        ownership: &Ownership,
        op: Operation,
    ) -> Result<Launch> {
        let machine_type = convert::machine_type(size).ok_or_else(|| {
            Error::invalid_spec(
                "size",
                format!("size {size} is larger than any E2 machine type"),
            )
            .with_operation(op)
            .with_cloud(CLOUD)
        })?;
        let subnetwork = network
            .map_or(self.config.subnetwork(), |n| n.as_str())
            .to_owned();
        match self.get_subnetwork(&subnetwork, op).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Err(Error::invalid_spec(
                    "network",
                    format!(
                        "network {subnetwork:?} does not exist in region {}",
                        self.region()
                    ),
                )
                .with_operation(op)
                .with_cloud(CLOUD));
            }
            Err(e) => return Err(e),
        }
        let mut labels = user_tags.clone();
        ownership.apply(&mut labels);
        labels.insert(SIZE_LABEL.into(), convert::size_label(size));
        Ok(Launch {
            machine_type,
            subnetwork,
            labels,
            image: image.to_owned(),
            extra_subnetworks: Vec::new(),
            user_data: None,
        })
    }

    /// The instance body of a launch (bulkInsert copies the same fields).
    pub(crate) fn instance_body(&self, name: &str, l: &Launch) -> Instance {
        let mut init = AttachedDiskInitializeParams::default();
        init.source_image = Some(l.image.clone());
        let mut disk = AttachedDisk::default();
        disk.boot = Some(true);
        disk.auto_delete = Some(true);
        disk.initialize_params = Some(init);
        let nics = std::iter::once(&l.subnetwork)
            .chain(&l.extra_subnetworks)
            .map(|subnetwork| {
                let mut nic = NetworkInterface::default();
                nic.subnetwork = Some(format!(
                    "projects/{}/regions/{}/subnetworks/{subnetwork}",
                    self.project(),
                    self.region(),
                ));
                nic
            })
            .collect();
        let item = |key: &str, value: &str| {
            let mut item = metadata::Items::default();
            item.key = Some(key.into());
            item.value = Some(value.into());
            item
        };
        let mut md = Metadata::default();
        md.items = vec![item(IMAGE_METADATA, &l.image)];
        md.items.extend(
            l.user_data
                .as_deref()
                .map(|doc| item(USER_DATA_METADATA, doc)),
        );
        let mut i = Instance::default();
        i.name = Some(name.to_owned());
        i.machine_type = Some(format!(
            "zones/{}/machineTypes/{}",
            self.zone(),
            l.machine_type
        ));
        i.labels = l.labels.clone().into_iter().collect();
        i.disks = vec![disk];
        i.network_interfaces = nics;
        i.metadata = Some(md);
        i
    }

    /// The VM already made by this request, `AlreadyExists` if the name holds another, or
    /// `None` when the name is free.
    async fn existing(&self, spec: &VmSpec, token: &str, op: Operation) -> Result<Option<Vm>> {
        match self.get_raw(&spec.name, op).await {
            Ok(i) => match vm_of(&i) {
                Some(vm) if vm.ownership.owner == *self.owner() && vm.ownership.token == token => {
                    Ok(Some(vm))
                }
                _ => Err(Error::new(
                    ErrorKind::AlreadyExists,
                    op,
                    format!(
                        "a vm named {} exists and was made by another request",
                        spec.name
                    ),
                )
                .with_cloud(CLOUD)
                .with_field("name")),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn create_vm_impl(&self, spec: &VmSpec) -> Result<Vm> {
        let op = Operation::CreateVm;
        spec.validate()
            .and_then(|()| spec.validate_for(&self.capabilities_impl(), CLOUD))
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if spec.host.is_some() {
            return Err(no_hosts(op).with_field("host"));
        }
        let ownership = spec.ownership(self.owner());
        if let Some(vm) = self.existing(spec, &ownership.token, op).await? {
            return Ok(vm);
        }
        let mut l = self
            .launch(
                &spec.size,
                &spec.image,
                spec.network.as_ref(),
                &spec.tags,
                &ownership,
                op,
            )
            .await?;
        for extra in &spec.extra_networks {
            match self.get_subnetwork(extra.as_str(), op).await {
                Ok(_) => l.extra_subnetworks.push(extra.to_string()),
                Err(e) if e.is_not_found() => {
                    return Err(Error::invalid_spec(
                        "extra_networks",
                        format!(
                            "network {extra:?} does not exist in region {}",
                            self.region()
                        ),
                    )
                    .with_operation(op)
                    .with_cloud(CLOUD));
                }
                Err(e) => return Err(e),
            }
        }
        l.user_data = spec.bootstrap.as_ref().map(|b| b.expose().to_owned());
        let first = self
            .instances
            .insert()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_request_id(request_id(&ownership.token))
            .set_body(self.instance_body(&spec.name, &l))
            .send()
            .await
            .map_err(|e| map_gax(e, op, &format!("vm {}", spec.name)));
        match first {
            Ok(o) => {
                self.wait_op(o, Scope::Zone, op, &format!("vm {}", spec.name))
                    .await?;
            }
            // Another attempt won the race for the name: it is ours if its token is.
            Err(e) if e.kind() == &ErrorKind::AlreadyExists => {
                return self.existing(spec, &ownership.token, op).await?.ok_or(e);
            }
            Err(e) => return Err(e),
        }
        let i = self.get_owned(&spec.name, op).await?;
        vm_of(&i).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                format!("vm {} lost its labels", spec.name),
            )
            .with_cloud(CLOUD)
        })
    }

    pub(crate) async fn get_vm_impl(&self, id: &VmId) -> Result<Vm> {
        let op = Operation::GetVm;
        let i = self.get_owned(id.as_str(), op).await?;
        vm_of(&i).ok_or_else(|| Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD))
    }

    pub(crate) async fn list_vms_impl(&self, query: &VmQuery) -> Result<Page<Vm>> {
        let op = Operation::ListVms;
        let mut terms = Vec::new();
        if let Some(n) = &query.name {
            terms.push(format!("(name = \"{n}\")"));
        }
        if let Some(g) = &query.group {
            terms.push(label_term(GROUP_TAG, g));
        }
        for (k, v) in &query.tags {
            terms.push(label_term(k, v));
        }
        let (items, next) = self
            .list_page(&terms, query.page_size, query.page_token.as_deref(), op)
            .await?;
        // The state is filtered here (one strato state is several Compute statuses), so a page
        // may hold fewer than asked; the token still goes on.
        let items = items
            .iter()
            .filter_map(vm_of)
            .filter(|v| query.matches(v))
            .collect();
        Ok(Page { items, next })
    }

    pub(crate) async fn delete_vm_impl(&self, id: &VmId) -> Result<()> {
        let op = Operation::DeleteVm;
        let name = id.as_str();
        match self.get_raw(name, op).await {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
            Ok(i) if i.labels.get(OWNER_TAG).map(String::as_str) != Some(self.owner().as_str()) => {
                return Err(Error::not_found(op, format!("vm {name}")).with_cloud(CLOUD));
            }
            Ok(_) => {}
        }
        self.delete_instance(name, op).await
    }

    /// Deletes an instance already known to be ours (a group member just listed) and waits;
    /// gone already is done.
    pub(crate) async fn delete_instance(&self, name: &str, op: Operation) -> Result<()> {
        let r = self
            .instances
            .delete()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_instance(name)
            .send()
            .await
            .map_err(|e| map_gax(e, op, &format!("vm {name}")));
        match r {
            // Its alias IP ranges (VIPs) go with it.
            Ok(o) => self
                .wait_op(o, Scope::Zone, op, &format!("vm {name}"))
                .await
                .map(|_| ()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn start_stop_impl(&self, id: &VmId, run: bool) -> Result<Vm> {
        let op = if run {
            Operation::StartVm
        } else {
            Operation::StopVm
        };
        let name = id.as_str();
        self.get_owned(name, op).await?;
        let what = format!("vm {name}");
        let first = if run {
            self.instances
                .start()
                .set_project(self.project())
                .set_zone(self.zone())
                .set_instance(name)
                .send()
                .await
        } else {
            self.instances
                .stop()
                .set_project(self.project())
                .set_zone(self.zone())
                .set_instance(name)
                .send()
                .await
        }
        .map_err(|e| map_gax(e, op, &what))?;
        self.wait_op(first, Scope::Zone, op, &what).await?;
        let i = self.get_owned(name, op).await?;
        vm_of(&i).ok_or_else(|| Error::not_found(op, what).with_cloud(CLOUD))
    }
}
