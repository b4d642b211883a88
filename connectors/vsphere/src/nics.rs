//! NICs: vmxnet3 devices added and removed with `ReconfigVM_Task` (hot when the VM runs).

use crate::CLOUD;
use crate::capabilities::capabilities;
use crate::client::VsphereConnector;
use crate::convert::{self, Backing, NicDevice};
use crate::error::{CallError, MapCall, invalid, map};
use crate::soap::Request;
use std::collections::{BTreeMap, BTreeSet};
use strato_core::{Error, ErrorKind, NetworkId, Nic, NicId, NicSpec, Operation, Result, VmId};

impl VsphereConnector {
    pub(crate) async fn attach_nic_impl(&self, vm_id: &VmId, spec: &NicSpec) -> Result<Nic> {
        let op = Operation::AttachNic;
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
        if devices.len() >= capabilities(&self.config).max_nics_per_vm as usize {
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

    pub(crate) async fn detach_nic_impl(&self, vm_id: &VmId, nic: &NicId) -> Result<()> {
        let op = Operation::DetachNic;
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

    /// How a NIC joins network `id`.
    pub(crate) async fn backing(&self, op: Operation, id: &NetworkId) -> Result<Backing> {
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
}
