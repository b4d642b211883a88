//! NICs as `Microsoft.Network/networkInterfaces`.
//!
//! Azure adds or removes a VM's NIC only while the VM is deallocated (`hot_nic_attach: false`).
//! `attach_nic` and `detach_nic` on a VM that is not deallocated refuse with `Conflict` and say
//! what to do, unless the profile sets `nic_attach_restart = true`: then they deallocate the VM,
//! change its NICs and start it again (minutes on Azure, and the VM is down meanwhile).

use crate::client::AzureConnector;
use crate::convert::{self, VM_TAG, owned_tags};
use crate::error::{map_error, missing_network, not_found};
use crate::lro::started;
use crate::vms::ip_config;
use azure_mgmt_compute::models::VirtualMachine;
use azure_mgmt_network::models::NetworkInterface;
use serde_json::{Value, json};
use strato_core::{
    Error, ErrorKind, Nic, NicId, NicSpec, Operation, Ownership, Result, Tags, VmId,
};

/// The power state of a VM body's instance view (`deallocated`, `running`...).
pub(crate) fn power_state(vm: &Value) -> Option<String> {
    vm["properties"]["instanceView"]["statuses"]
        .as_array()?
        .iter()
        .filter_map(|s| s["code"].as_str()?.strip_prefix("PowerState/"))
        .map(str::to_owned)
        .next_back()
}

/// A VM body as a PUT body: the read-only parts (instance view, state) dropped.
pub(crate) fn put_body(vm: &Value) -> Value {
    let mut b = vm.clone();
    if let Some(p) = b["properties"].as_object_mut() {
        for k in ["instanceView", "provisioningState", "vmId", "timeCreated"] {
            p.remove(k);
        }
    }
    b
}

fn internal(op: Operation, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Internal, op, format!("{what}: {e}")).with_cloud(crate::CLOUD)
}

impl AzureConnector {
    /// Puts a NIC and follows the operation; returns its body with its addresses.
    pub(crate) async fn put_nic(
        &self,
        name: &str,
        tags: &Tags,
        configs: Vec<Value>,
        op: Operation,
    ) -> Result<Value> {
        let body = json!({
            "location": self.config.location,
            "tags": tags,
            "properties": { "ipConfigurations": configs },
        });
        self.put_nic_body(name, body, op).await
    }

    /// Puts a whole NIC body and follows the operation.
    pub(crate) async fn put_nic_body(
        &self,
        name: &str,
        body: Value,
        op: Operation,
    ) -> Result<Value> {
        let model: NetworkInterface =
            serde_json::from_value(body).map_err(|e| internal(op, "NIC body", e))?;
        let rsp = self
            .network
            .network_interfaces_client()
            .create_or_update(self.rg(), name, model, self.sub())
            .send()
            .await
            .map_err(|e| map_error(e, op))?
            .into_raw_response();
        let (st, body) = started::<NetworkInterface>(rsp, op).await?;
        let done = st.provisioning_state.as_deref() == Some("Succeeded");
        self.follow(st, op).await?;
        match (done, body) {
            (true, Some(b)) => Ok(b),
            _ => self
                .nic_body(name, op)
                .await?
                .ok_or_else(|| not_found(op, "nic", name)),
        }
    }

    /// Puts a VM body (an update) and follows the operation.
    pub(crate) async fn put_vm_body(&self, arm: &str, body: Value, op: Operation) -> Result<()> {
        let model: VirtualMachine =
            serde_json::from_value(put_body(&body)).map_err(|e| internal(op, "VM body", e))?;
        let rsp = self
            .compute
            .virtual_machines_client()
            .create_or_update(self.rg(), arm, model, self.sub())
            .send()
            .await
            .map_err(|e| map_error(e, op))?
            .into_raw_response();
        let (st, _) = started::<VirtualMachine>(rsp, op).await?;
        self.follow(st, op).await
    }

    /// Makes sure the VM is deallocated before a NIC change: `Ok(true)` when this call
    /// deallocated it (and must start it again), a `Conflict` with guidance when it may not.
    async fn ensure_deallocated(&self, vm: &Value, op: Operation) -> Result<bool> {
        if power_state(vm).as_deref() == Some("deallocated") {
            return Ok(false);
        }
        if !self.config.nic_attach_restart {
            return Err(Error::new(
                ErrorKind::Conflict,
                op,
                format!(
                    "Azure adds or removes a NIC only while the VM is deallocated, and {} is {}: \
                     stop it first (stop_vm deallocates) and start it afterwards, or set \
                     nic_attach_restart = true in the azure profile to let strato deallocate, \
                     change the NICs and start it",
                    vm["name"].as_str().unwrap_or("the VM"),
                    power_state(vm).unwrap_or_else(|| "not deallocated".into())
                ),
            )
            .with_cloud(crate::CLOUD)
            .with_resource(vm["name"].as_str().unwrap_or("")));
        }
        let arm = vm["name"].as_str().unwrap_or("");
        let rsp = self
            .compute
            .virtual_machines_client()
            .deallocate(self.rg(), arm, self.sub())
            .send()
            .await
            .map_err(|e| map_error(e, op))?
            .into_raw_response();
        let (st, _) = started::<serde_json::Value>(rsp, op).await?;
        self.follow(st, op).await?;
        Ok(true)
    }

    async fn restart(&self, arm: &str, op: Operation) -> Result<()> {
        self.compute
            .virtual_machines_client()
            .start(self.rg(), arm, self.sub())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_error(e, op))
    }

    pub(crate) async fn attach_nic_impl(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        let op = Operation::AttachNic;
        let body = self.owned_vm_body(vm, op).await?;
        let token = spec.client_token(self.owner(), vm);
        let nic_name = format!("{}-n{}", vm.as_str(), &token[..8]);
        let refs = convert::nic_refs(&body);
        if let Some(i) = refs
            .iter()
            .position(|(id, _)| convert::last(id).eq_ignore_ascii_case(&nic_name))
        {
            let nic = self
                .nic_body(&nic_name, op)
                .await?
                .ok_or_else(|| not_found(op, "nic", &nic_name))?;
            return convert::nic_of(&nic, i as u32).ok_or_else(|| not_found(op, "nic", &nic_name));
        }
        let restarted = self.ensure_deallocated(&body, op).await?;
        let ownership = Ownership {
            owner: self.owner().clone(),
            group: None,
            token,
        };
        let tags = owned_tags(&Tags::new(), &ownership, [(VM_TAG, vm.as_str().to_owned())]);
        let subnet = spec.network.as_str();
        let config = ip_config(
            "ipconfig1",
            &self.subnet_id(subnet),
            spec.address.map(|a| a.to_string()),
            true,
        );
        let nic = self
            .put_nic(&nic_name, &tags, vec![config], op)
            .await
            .map_err(|e| missing_network(e, subnet))?;
        let mut update = body.clone();
        let list = update["properties"]["networkProfile"]["networkInterfaces"]
            .as_array_mut()
            .ok_or_else(|| internal(op, "VM body", "no networkInterfaces"))?;
        list.push(json!({"id": self.nic_id(&nic_name), "properties": {"primary": false, "deleteOption": "Delete"}}));
        if let Err(e) = self.put_vm_body(vm.as_str(), update, op).await {
            let _ = self
                .network
                .network_interfaces_client()
                .delete(self.rg(), &nic_name, self.sub())
                .send()
                .await;
            if restarted {
                let _ = self.restart(vm.as_str(), op).await;
            }
            return Err(e);
        }
        if restarted {
            self.restart(vm.as_str(), op).await?;
        }
        convert::nic_of(&nic, refs.len() as u32).ok_or_else(|| not_found(op, "nic", &nic_name))
    }

    pub(crate) async fn detach_nic_impl(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        let op = Operation::DetachNic;
        let body = self.owned_vm_body(vm, op).await?;
        let refs = convert::nic_refs(&body);
        let Some((_, primary)) = refs
            .iter()
            .find(|(id, _)| convert::last(id).eq_ignore_ascii_case(nic.as_str()))
        else {
            return Err(not_found(op, "nic", nic.as_str()));
        };
        if *primary {
            return Err(Error::invalid_spec(
                "nic",
                format!("{nic} is the VM's primary NIC: it goes with the VM"),
            )
            .with_operation(op)
            .with_cloud(crate::CLOUD));
        }
        let nic_body = self
            .nic_body(nic.as_str(), op)
            .await?
            .ok_or_else(|| not_found(op, "nic", nic.as_str()))?;
        if !self.is_mine(&nic_body) {
            return Err(not_found(op, "nic", nic.as_str()));
        }
        let restarted = self.ensure_deallocated(&body, op).await?;
        let mut update = body.clone();
        if let Some(list) =
            update["properties"]["networkProfile"]["networkInterfaces"].as_array_mut()
        {
            list.retain(|r| {
                !r["id"]
                    .as_str()
                    .is_some_and(|id| convert::last(id).eq_ignore_ascii_case(nic.as_str()))
            });
        }
        self.put_vm_body(vm.as_str(), update, op).await?;
        let deleted = self
            .network
            .network_interfaces_client()
            .delete(self.rg(), nic.as_str(), self.sub())
            .send()
            .await;
        if let Err(e) = deleted {
            let e = map_error(e, op);
            if !e.is_not_found() {
                return Err(e);
            }
        }
        if restarted {
            self.restart(vm.as_str(), op).await?;
        }
        Ok(())
    }
}
