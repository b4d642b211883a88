//! VMs: clones of a template VM, tagged with strato's custom attributes.

use crate::CLOUD;
use crate::capabilities::capabilities;
use crate::client::VsphereConnector;
use crate::convert::{self, CloneTarget, SpecMeta};
use crate::error::{CallError, MapCall, invalid, map};
use crate::inventory::Brief;
use crate::soap::{MoRef, Request};
use crate::vim::ObjectContent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use strato_core::{
    Error, ErrorKind, GROUP_TAG, NAME_TAG, OWNER_TAG, Operation, Ownership, Page, Result, Size,
    TOKEN_TAG, Tags, Vm, VmId, VmQuery, VmSpec,
};

/// vCPUs and memory of a size; vSphere has no instance types.
pub(crate) fn shape(op: Operation, size: &Size) -> Result<(u32, u64)> {
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

impl VsphereConnector {
    pub(crate) async fn create_vm_impl(&self, spec: &VmSpec) -> Result<Vm> {
        self.create_vm_as(Operation::CreateVm, spec).await
    }

    pub(crate) async fn get_vm_impl(&self, id: &VmId) -> Result<Vm> {
        self.get_vm_as(Operation::GetVm, id).await
    }

    pub(crate) async fn list_vms_impl(&self, query: &VmQuery) -> Result<Page<Vm>> {
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
        // By managed object id, not offset: a delete between two page calls must not shift a
        // later item onto a page already returned.
        Page::from_keyed(
            vms,
            |vm| vm.id.as_str(),
            query.page_size,
            query.page_token.as_deref(),
            capabilities(&self.config).max_page_size,
        )
        .map_err(|e| e.with_operation(op).with_cloud(CLOUD))
    }

    pub(crate) async fn delete_vm_impl(&self, id: &VmId) -> Result<()> {
        self.delete_vm_as(Operation::DeleteVm, id).await
    }

    pub(crate) async fn start_stop_impl(&self, id: &VmId, on: bool) -> Result<Vm> {
        let op = if on {
            Operation::StartVm
        } else {
            Operation::StopVm
        };
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

    /// Owned VMs whose brief passes `keep`, read in detail.
    pub(crate) async fn owned_vms(
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
    pub(crate) async fn owned_vm(
        &self,
        op: Operation,
        id: &VmId,
    ) -> Result<(Vm, Tags, ObjectContent)> {
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

    /// `get_vm` as part of `op` (a create, a start or stop).
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
    pub(crate) async fn template(
        &self,
        op: Operation,
        briefs: &[Brief],
        image: &str,
    ) -> Result<MoRef> {
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

    /// `create_vm` as part of `op` (a group scale creates its members with it).
    pub(crate) async fn create_vm_as(&self, op: Operation, spec: &VmSpec) -> Result<Vm> {
        spec.validate()
            .and_then(|()| spec.validate_for(&capabilities(&self.config), CLOUD))
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
        let mut extra_nics = Vec::new();
        for n in &spec.extra_networks {
            let b = self.backing(op, n).await.map_err(|e| match e.field() {
                Some("network") => e.with_field("extra_networks"),
                _ => e,
            })?;
            extra_nics.push(b);
        }
        // The bootstrap document goes in with the clone, where cloud-init's VMware datasource
        // (and the SE agent) read it: guestinfo.userdata, base64.
        let user_data = spec.bootstrap.as_ref().map(|b| BASE64.encode(b.expose()));
        let mut extra = vec![(convert::EXTRA_TOKEN_KEY, own.token.as_str())];
        if let Some(doc) = &user_data {
            extra.push((convert::USERDATA_KEY, doc));
            extra.push((convert::USERDATA_ENCODING_KEY, "base64"));
        }
        let target = CloneTarget {
            folder: &self.inv.vm_folder,
            name: &inv_name,
            datastore: self.inv.datastore.as_ref(),
            resource_pool: resource_pool.as_ref(),
            host: pin.as_ref().map(|(h, _)| h),
            cpus,
            memory_mib: mem,
            nic: backing.as_ref().map(|b| (first_nic.as_ref(), b)),
            extra_nics: &extra_nics,
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

    /// `delete_vm` as part of `op` (a group scale deletes its members with it).
    pub(crate) async fn delete_vm_as(&self, op: Operation, id: &VmId) -> Result<()> {
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
}
