//! VIPs as secondary ipConfigurations (`vip-NAME`) on a VM's NIC in the VIP's subnet.
//!
//! ipConfigurations carry no tags, so the NIC records each VIP: `strato-vip.NAME = TOKEN`. A move
//! is two NIC PUTs, each followed to the end: the configuration is removed from the old NIC, then
//! added to the new one as a static address (Azure refuses one address on two NICs). Between the
//! two the address is on no NIC: a move costs about two NIC updates (seconds on Azure), plus the
//! reads that find the NICs, and the guest of the new VM must configure the secondary address.

use crate::client::AzureConnector;
use crate::convert::{self, VIP_TAG_PREFIX, VM_TAG, tags_of, vip_config_name};
use crate::error::{already_exists, not_found};
use serde_json::{Value, json};
use strato_core::{
    Error, NetworkId, Operation, OwnerId, Ownership, Result, Vip, VipBinding, VipId, VipQuery,
    VipSpec, VmId,
};

fn record_key(name: &str) -> String {
    format!("{VIP_TAG_PREFIX}{name}")
}

/// The VIPs recorded on a NIC body owned by `owner`.
fn vips_of(nic: &Value, owner: &OwnerId) -> Vec<Vip> {
    let tags = tags_of(nic);
    let vm = tags.get(VM_TAG).map(VmId::new);
    tags.iter()
        .filter_map(|(k, token)| {
            let name = k.strip_prefix(VIP_TAG_PREFIX)?;
            let cfg = convert::ip_configs(nic)
                .into_iter()
                .find(|c| c["name"].as_str() == Some(vip_config_name(name).as_str()))?;
            Some(Vip {
                id: VipId::new(name),
                name: name.to_owned(),
                address: cfg["properties"]["privateIPAddress"]
                    .as_str()?
                    .parse()
                    .ok()?,
                public_address: None,
                vm: vm.clone(),
                network: NetworkId::new(convert::subnet_of(&cfg)?),
                binding: VipBinding::Cloud,
                ownership: Ownership {
                    owner: owner.clone(),
                    group: None,
                    token: token.clone(),
                },
            })
        })
        .collect()
}

/// `nic` with the VIP's configuration and record added (or, `add: None`, removed).
fn with_vip(nic: &Value, name: &str, add: Option<(&str, &str, Option<String>)>) -> Value {
    let mut b = nic.clone();
    let cname = vip_config_name(name);
    if let Some(cs) = b["properties"]["ipConfigurations"].as_array_mut() {
        cs.retain(|c| c["name"].as_str() != Some(cname.as_str()));
        if let Some((_, subnet_id, address)) = &add {
            cs.push(crate::vms::ip_config(
                &cname,
                subnet_id,
                address.clone(),
                false,
            ));
        }
    }
    if !b["tags"].is_object() {
        b["tags"] = json!({});
    }
    let tags = b["tags"].as_object_mut().expect("object");
    match add {
        Some((token, _, _)) => tags.insert(record_key(name), json!(token)),
        None => tags.remove(&record_key(name)),
    };
    b
}

impl AzureConnector {
    /// Every NIC of the resource group, and the VIPs on this owner's.
    async fn all_vips(&self, op: Operation) -> Result<(Vec<Value>, Vec<(Vip, Value)>)> {
        let nics = self.list_nic_bodies(op).await?;
        let mut vips = Vec::new();
        for n in nics.iter().filter(|n| self.is_mine(n)) {
            vips.extend(vips_of(n, self.owner()).into_iter().map(|v| (v, n.clone())));
        }
        Ok((nics, vips))
    }

    async fn owned_vip(&self, id: &VipId, op: Operation) -> Result<(Vip, Value)> {
        let (_, vips) = self.all_vips(op).await?;
        vips.into_iter()
            .find(|(v, _)| v.id == *id)
            .ok_or_else(|| not_found(op, "vip", id.as_str()))
    }

    /// The NIC of an owned VM in `network` (its primary NIC when `None`).
    async fn vm_nic(&self, vm: &VmId, network: Option<&NetworkId>, op: Operation) -> Result<Value> {
        let body = self.owned_vm_body(vm, op).await?;
        for (id, primary) in convert::nic_refs(&body) {
            let Some(nic) = self.nic_body(convert::last(&id), op).await? else {
                continue;
            };
            let subnet = convert::primary_config(&nic).and_then(|c| convert::subnet_of(&c));
            let fits = match network {
                Some(n) => subnet.as_deref() == Some(n.as_str()),
                None => primary,
            };
            if fits {
                return Ok(nic);
            }
        }
        Err(Error::invalid_spec(
            "network",
            format!(
                "vm {vm} has no NIC in network {}",
                network.map_or("(primary)", |n| n.as_str())
            ),
        )
        .with_operation(op)
        .with_cloud(crate::CLOUD))
    }

    pub(crate) async fn allocate_vip_impl(&self, spec: &VipSpec) -> Result<Vip> {
        let op = Operation::AllocateVip;
        let fail = |e: Error| e.with_operation(op).with_cloud(crate::CLOUD);
        spec.validate().map_err(fail)?;
        if spec.public {
            return Err(fail(Error::invalid_spec(
                "public",
                "the azure connector gives VIPs private addresses only (vip_public: false)",
            )));
        }
        let token = spec.client_token(self.owner());
        let (_, vips) = self.all_vips(op).await?;
        if let Some((v, _)) = vips.iter().find(|(v, _)| v.name == spec.name) {
            return if v.ownership.token == token {
                Ok(v.clone())
            } else {
                Err(already_exists(op, "vip", &spec.name))
            };
        }
        let nic = self.vm_nic(&spec.vm, spec.network.as_ref(), op).await?;
        let subnet_id = convert::primary_config(&nic)
            .and_then(|c| c["properties"]["subnet"]["id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let name = nic["name"].as_str().unwrap_or("").to_owned();
        let body = with_vip(
            &nic,
            &spec.name,
            Some((&token, &subnet_id, spec.address.map(|a| a.to_string()))),
        );
        let after = self.put_nic_body(&name, body, op).await?;
        vips_of(&after, self.owner())
            .into_iter()
            .find(|v| v.name == spec.name)
            .ok_or_else(|| not_found(op, "vip", &spec.name))
    }

    pub(crate) async fn get_vip_impl(&self, id: &VipId) -> Result<Vip> {
        Ok(self.owned_vip(id, Operation::GetVip).await?.0)
    }

    pub(crate) async fn list_vips_impl(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        let (_, vips) = self.all_vips(Operation::ListVips).await?;
        Ok(vips
            .into_iter()
            .map(|(v, _)| v)
            .filter(|v| query.matches(v))
            .collect())
    }

    pub(crate) async fn move_vip_impl(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        let op = Operation::MoveVip;
        let (vip, from_nic) = self.owned_vip(id, op).await?;
        if vip.vm.as_ref() == Some(to) {
            return Ok(vip);
        }
        let to_nic = self.vm_nic(to, Some(&vip.network), op).await?;
        let subnet_id = self.subnet_id(vip.network.as_str());
        let from_name = from_nic["name"].as_str().unwrap_or("").to_owned();
        let to_name = to_nic["name"].as_str().unwrap_or("").to_owned();
        let token = vip.ownership.token.clone();
        let address = Some(vip.address.to_string());
        self.put_nic_body(&from_name, with_vip(&from_nic, &vip.name, None), op)
            .await?;
        let added = self
            .put_nic_body(
                &to_name,
                with_vip(
                    &to_nic,
                    &vip.name,
                    Some((&token, &subnet_id, address.clone())),
                ),
                op,
            )
            .await;
        let after = match added {
            Ok(a) => a,
            Err(e) => {
                // Put it back where it was, so a failed move does not lose the address.
                let _ = self
                    .put_nic_body(
                        &from_name,
                        with_vip(&from_nic, &vip.name, Some((&token, &subnet_id, address))),
                        op,
                    )
                    .await;
                return Err(e);
            }
        };
        vips_of(&after, self.owner())
            .into_iter()
            .find(|v| v.name == vip.name)
            .ok_or_else(|| not_found(op, "vip", id.as_str()))
    }

    pub(crate) async fn release_vip_impl(&self, id: &VipId) -> Result<()> {
        let op = Operation::ReleaseVip;
        let (nics, vips) = self.all_vips(op).await?;
        let Some((vip, nic)) = vips.into_iter().find(|(v, _)| v.id == *id) else {
            // Gone is fine; another owner's is not ours to release.
            let foreign = nics
                .iter()
                .any(|n| !self.is_mine(n) && n["tags"].get(record_key(id.as_str())).is_some());
            return if foreign {
                Err(not_found(op, "vip", id.as_str()))
            } else {
                Ok(())
            };
        };
        let name = nic["name"].as_str().unwrap_or("").to_owned();
        self.put_nic_body(&name, with_vip(&nic, &vip.name, None), op)
            .await?;
        Ok(())
    }
}
