//! VMs as `Microsoft.Compute/virtualMachines`, each with a primary NIC strato makes first.
//!
//! A VM's ARM name is its strato name plus 8 characters of the request's client token
//! ([`convert::vm_arm_name`]), so a PUT retried after a timeout or a crash lands on the same VM.
//! The NIC and the OS disk are created with `deleteOption: Delete`, so deleting the VM deletes
//! them too (nothing leaks, and no NIC is deleted by a second call that a crash could skip).

use crate::client::AzureConnector;
use crate::convert::{self, IMAGE_TAG, SIZE_TAG, TEMPLATE_TAG, VM_TAG, json, owned_tags};
use crate::error::{already_exists, map_error, missing_network, not_found};
use crate::lro::started;
use crate::sizes;
use azure_mgmt_compute::models::{VirtualMachine, VirtualMachineListResult};
use azure_mgmt_network::models::NetworkInterfaceListResult;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::StreamExt;
use serde_json::{Value, json};
use strato_core::{
    Error, ErrorKind, GroupSpec, NAME_TAG, OWNER_TAG, Operation, Page, Result, Vm, VmId, VmQuery,
    VmSpec, VmState,
};

/// Largest strato page (lists are read whole from ARM, then paged).
pub(crate) const MAX_PAGE: u32 = 1000;

impl AzureConnector {
    /// A VM's body with its instance view, `None` when it does not exist.
    pub(crate) async fn vm_body(&self, arm: &str, op: Operation) -> Result<Option<Value>> {
        let r = self
            .compute
            .virtual_machines_client()
            .get(self.rg(), arm, self.sub())
            .expand("instanceView")
            .send()
            .await;
        match r {
            Ok(r) => Ok(Some(json(
                &r.into_body().await.map_err(|e| map_error(e, op))?,
            ))),
            Err(e) => match map_error(e, op) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    /// A VM's body when it exists and is this owner's; `NotFound` otherwise.
    pub(crate) async fn owned_vm_body(&self, id: &VmId, op: Operation) -> Result<Value> {
        match self.vm_body(id.as_str(), op).await? {
            Some(b) if self.is_mine(&b) => Ok(b),
            _ => Err(not_found(op, "vm", id.as_str())),
        }
    }

    pub(crate) fn is_mine(&self, body: &Value) -> bool {
        body["tags"][OWNER_TAG].as_str() == Some(self.owner().as_str())
    }

    /// A NIC's body, `None` when it does not exist.
    pub(crate) async fn nic_body(&self, name: &str, op: Operation) -> Result<Option<Value>> {
        let r = self
            .network
            .network_interfaces_client()
            .get(self.rg(), name, self.sub())
            .send()
            .await;
        match r {
            Ok(r) => Ok(Some(json(
                &r.into_body().await.map_err(|e| map_error(e, op))?,
            ))),
            Err(e) => match map_error(e, op) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    /// A VM body into the model, reading its NICs.
    pub(crate) async fn vm_from_body(&self, body: &Value, op: Operation) -> Result<Vm> {
        let mut nics = Vec::new();
        for (id, _) in convert::nic_refs(body) {
            if let Some(n) = self.nic_body(convert::last(&id), op).await? {
                nics.push(n);
            }
        }
        convert::vm_of(body, &nics)
            .ok_or_else(|| not_found(op, "vm", body["name"].as_str().unwrap_or("")))
    }

    /// Every VM of the resource group, with its power state (`statusOnly=true` over the
    /// subscription, the one list that carries instance views).
    pub(crate) async fn list_vm_bodies(&self, op: Operation) -> Result<Vec<Value>> {
        let mut pages = self
            .compute
            .virtual_machines_client()
            .list_all(self.sub())
            .status_only("true")
            .into_stream();
        let marker = format!("/resourcegroups/{}/", self.rg().to_lowercase());
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page: VirtualMachineListResult = page.map_err(|e| map_error(e, op))?;
            out.extend(page.value.iter().map(json).filter(|v| {
                v["id"]
                    .as_str()
                    .is_some_and(|id| id.to_lowercase().contains(&marker))
            }));
        }
        Ok(out)
    }

    /// Every NIC of the resource group.
    pub(crate) async fn list_nic_bodies(&self, op: Operation) -> Result<Vec<Value>> {
        let mut pages = self
            .network
            .network_interfaces_client()
            .list(self.rg(), self.sub())
            .into_stream();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page: NetworkInterfaceListResult = page.map_err(|e| map_error(e, op))?;
            out.extend(page.value.iter().map(json));
        }
        Ok(out)
    }

    /// This owner's VMs (two list calls: VMs, NICs).
    pub(crate) async fn owned_vms(&self, op: Operation) -> Result<Vec<Vm>> {
        let vms = self.list_vm_bodies(op).await?;
        let mine: Vec<&Value> = vms.iter().filter(|v| self.is_mine(v)).collect();
        if mine.is_empty() {
            return Ok(Vec::new());
        }
        let nics = self.list_nic_bodies(op).await?;
        Ok(mine
            .into_iter()
            .filter_map(|v| convert::vm_of(v, &nics))
            .collect())
    }

    /// The group template a member spec belongs to.
    pub(crate) fn template_of(&self, spec: &VmSpec) -> Option<String> {
        let g = GroupSpec {
            name: spec.group.clone()?,
            size: spec.size.clone(),
            image: spec.image.clone(),
            network: spec.network.clone(),
            tags: spec.tags.clone(),
        };
        Some(g.template_token(self.owner()))
    }

    /// Puts a VM's primary NIC and then the VM, without looking for an earlier VM of the name
    /// (the caller did). Returns once Azure accepted the VM.
    pub(crate) async fn put_vm(&self, spec: &VmSpec, op: Operation) -> Result<Vm> {
        let fail = |e: Error| e.with_operation(op).with_cloud(crate::CLOUD);
        let vm_size = sizes::resolve(&spec.size).map_err(fail)?;
        let image = sizes::image_reference(&spec.image).map_err(fail)?;
        let ownership = spec.ownership(self.owner());
        let arm = convert::vm_arm_name(&spec.name, &ownership.token);
        let subnet = spec
            .network
            .as_ref()
            .map_or(self.config.default_subnet.as_str(), |n| n.as_str());
        let mut extra = vec![
            (NAME_TAG, spec.name.clone()),
            (SIZE_TAG, spec.size.to_string()),
            (IMAGE_TAG, spec.image.clone()),
        ];
        if let Some(t) = self.template_of(spec) {
            extra.push((TEMPLATE_TAG, t));
        }
        let tags = owned_tags(&spec.tags, &ownership, extra);
        // Every NIC before the VM (ARM wants them to exist), `{arm}-nicN` in order, tagged as
        // owned and linked to the VM; the first is the primary.
        let nic_tags = owned_tags(&Default::default(), &ownership, [(VM_TAG, arm.clone())]);
        let mut nics = Vec::new();
        let subnets = std::iter::once((subnet, "network")).chain(
            spec.extra_networks
                .iter()
                .map(|n| (n.as_str(), "extra_networks")),
        );
        for (i, (subnet, field)) in subnets.enumerate() {
            let config = ip_config("ipconfig1", &self.subnet_id(subnet), None, true);
            match self
                .put_nic(&format!("{arm}-nic{i}"), &nic_tags, vec![config], op)
                .await
            {
                Ok(nic) => nics.push(nic),
                Err(e) => {
                    self.take_back_nics(&arm, i).await;
                    let e = missing_network(e, subnet);
                    return Err(match e.field() {
                        Some("network") => e.with_field(field),
                        _ => e,
                    });
                }
            }
        }
        let nic_refs: Vec<Value> = (0..nics.len())
            .map(|i| {
                json!({
                    "id": self.nic_id(&format!("{arm}-nic{i}")),
                    "properties": { "primary": i == 0, "deleteOption": "Delete" },
                })
            })
            .collect();
        let mut linux = json!({ "disablePasswordAuthentication": true });
        if let Some(key) = &self.config.ssh_public_key {
            linux["ssh"] = json!({"publicKeys": [{
                "path": format!("/home/{}/.ssh/authorized_keys", self.config.admin_username),
                "keyData": key,
            }]});
        }
        let mut body = json!({
            "location": self.config.location,
            "tags": tags,
            "properties": {
                "hardwareProfile": { "vmSize": vm_size },
                "storageProfile": {
                    "imageReference": image,
                    "osDisk": {
                        "name": format!("{arm}-osdisk"),
                        "createOption": "FromImage",
                        "deleteOption": "Delete",
                        "managedDisk": { "storageAccountType": self.config.os_disk_type },
                    },
                },
                "osProfile": {
                    "computerName": spec.name,
                    "adminUsername": self.config.admin_username,
                    "linuxConfiguration": linux,
                },
                "networkProfile": { "networkInterfaces": nic_refs },
            },
        });
        if let Some(doc) = &spec.bootstrap {
            // ARM takes userData base64-encoded; the guest reads it from the instance metadata
            // service (cloud-init's Azure datasource).
            body["properties"]["userData"] = json!(BASE64.encode(doc.expose()));
        }
        let model: VirtualMachine = serde_json::from_value(body).map_err(|e| {
            Error::new(ErrorKind::Internal, op, format!("VM body: {e}")).with_cloud(crate::CLOUD)
        })?;
        let sent = self
            .compute
            .virtual_machines_client()
            .create_or_update(self.rg(), &arm, model, self.sub())
            .send()
            .await;
        let rsp = match sent {
            Ok(r) => r.into_raw_response(),
            Err(e) => {
                self.take_back_nics(&arm, nics.len()).await;
                return Err(map_error(e, op));
            }
        };
        let (_, body) = started::<VirtualMachine>(rsp, op).await?;
        let body = body.unwrap_or_default();
        let mut vm = convert::vm_of(&body, &nics).ok_or_else(|| not_found(op, "vm", &arm))?;
        if vm.state == VmState::Unknown {
            vm.state = VmState::Pending;
        }
        Ok(vm)
    }

    /// Deletes the first `count` NICs made for VM `arm` whose create failed: they were made for
    /// it only (best effort; a NIC left by a crash here is found by its owner tags, and the same
    /// PUT reuses it).
    async fn take_back_nics(&self, arm: &str, count: usize) {
        for i in 0..count {
            let _ = self
                .network
                .network_interfaces_client()
                .delete(self.rg(), format!("{arm}-nic{i}"), self.sub())
                .send()
                .await;
        }
    }

    pub(crate) async fn create_vm_impl(&self, spec: &VmSpec) -> Result<Vm> {
        let op = Operation::CreateVm;
        spec.validate()
            .and_then(|()| spec.validate_for(&self.capabilities_impl(), crate::CLOUD))
            .map_err(|e| e.with_operation(op).with_cloud(crate::CLOUD))?;
        if spec.host.is_some() {
            return Err(crate::hosts::no_hosts(op).with_field("host"));
        }
        let token = spec.client_token(self.owner());
        let same: Vec<Vm> = self
            .owned_vms(op)
            .await?
            .into_iter()
            .filter(|v| v.name == spec.name && v.state.is_live())
            .collect();
        if let Some(v) = same.iter().find(|v| v.ownership.token == token) {
            return Ok(v.clone());
        }
        if !same.is_empty() {
            return Err(already_exists(op, "vm", &spec.name));
        }
        self.put_vm(spec, op).await
    }

    pub(crate) async fn get_vm_impl(&self, id: &VmId) -> Result<Vm> {
        let op = Operation::GetVm;
        let body = self.owned_vm_body(id, op).await?;
        self.vm_from_body(&body, op).await
    }

    pub(crate) async fn list_vms_impl(&self, query: &VmQuery) -> Result<Page<Vm>> {
        let op = Operation::ListVms;
        let vms: Vec<Vm> = self
            .owned_vms(op)
            .await?
            .into_iter()
            .filter(|v| query.matches(v))
            .collect();
        Page::from_keyed(
            vms,
            |v| v.id.as_str(),
            query.page_size,
            query.page_token.as_deref(),
            MAX_PAGE,
        )
        .map_err(|e| e.with_operation(op).with_cloud(crate::CLOUD))
    }

    pub(crate) async fn delete_vm_impl(&self, id: &VmId) -> Result<()> {
        let op = Operation::DeleteVm;
        let Some(body) = self.vm_body(id.as_str(), op).await? else {
            return Ok(());
        };
        if !self.is_mine(&body) {
            return Err(not_found(op, "vm", id.as_str()));
        }
        if convert::vm_state(&body) == VmState::Deleting {
            return Ok(());
        }
        self.send_delete(id, op).await
    }

    /// The DELETE of a VM known to be this owner's (a group member just listed).
    pub(crate) async fn send_delete(&self, id: &VmId, op: Operation) -> Result<()> {
        // Accepted is enough: the NICs and disk go with the VM (deleteOption), and the VM shows
        // Deleting until it is gone.
        match self
            .compute
            .virtual_machines_client()
            .delete(self.rg(), id.as_str(), self.sub())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match map_error(e, op) {
                e if e.is_not_found() => Ok(()),
                e => Err(e),
            },
        }
    }

    pub(crate) async fn start_stop_impl(&self, id: &VmId, start: bool) -> Result<Vm> {
        let op = if start {
            Operation::StartVm
        } else {
            Operation::StopVm
        };
        let body = self.owned_vm_body(id, op).await?;
        if convert::vm_state(&body) == VmState::Deleting {
            return Err(not_found(op, "vm", id.as_str()));
        }
        let c = self.compute.virtual_machines_client();
        let sent = if start {
            c.start(self.rg(), id.as_str(), self.sub())
                .send()
                .await
                .map(|_| ())
        } else {
            // Stop is deallocate: a VM that is only powered off is still billed for compute.
            c.deallocate(self.rg(), id.as_str(), self.sub())
                .send()
                .await
                .map(|_| ())
        };
        sent.map_err(|e| map_error(e, op))?;
        let mut vm = self.vm_from_body(&body, op).await?;
        vm.state = if start {
            VmState::Pending
        } else {
            VmState::Stopping
        };
        Ok(vm)
    }
}

/// An ipConfiguration: dynamic, or static at `address`.
pub(crate) fn ip_config(
    name: &str,
    subnet_id: &str,
    address: Option<String>,
    primary: bool,
) -> Value {
    let mut c = json!({
        "name": name,
        "properties": {
            "subnet": { "id": subnet_id },
            "privateIPAllocationMethod": if address.is_some() { "Static" } else { "Dynamic" },
            "primary": primary,
        }
    });
    if let Some(a) = address {
        c["properties"]["privateIPAddress"] = json!(a);
    }
    c
}
