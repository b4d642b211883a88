//! VIPs are alias IP ranges (`/32`) on an instance's first NIC, in its subnetwork; Compute
//! picks the address (updateNetworkInterface), strato records the VIP in two labels of the
//! instance holding it: `strato-vip-H` = name and `strato-vipr-H` = `TOKEN_A-B-C-D` (H: a hash of
//! the name; addresses with dashes, as dots are no legal label value). Moving a VIP is: alias
//! off the old instance, alias on the new one at the same address, labels on the new one,
//! labels off the old one (four operations, each step safe to repeat after a crash). An
//! alias range no label claims (an allocation interrupted between its two steps) is adopted by
//! the next allocation on that instance instead of leaking.

use crate::CLOUD;
use crate::client::GcpConnector;
use crate::convert::VIP_LABEL_PREFIX;
use crate::error::map_gax;
use crate::operations::Scope;
use crate::vms::label_term;
use google_cloud_compute_v1::model::{AliasIpRange, Instance, InstancesSetLabelsRequest};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use strato_core::{
    Error, ErrorKind, NetworkId, OWNER_TAG, Operation, OwnerId, Ownership, Result, Vip, VipBinding,
    VipId, VipQuery, VipSpec, VmId,
};

/// Label key of a VIP's name and of its record (`TOKEN_ADDRESS`).
fn keys(name: &str) -> (String, String) {
    let h = hex::encode(&Sha256::digest(name.as_bytes())[..6]);
    (format!("{VIP_LABEL_PREFIX}{h}"), format!("strato-vipr-{h}"))
}

fn aliases(i: &Instance) -> Vec<IpAddr> {
    i.network_interfaces
        .first()
        .map(|n| {
            n.alias_ip_ranges
                .iter()
                .filter_map(|r| r.ip_cidr_range.as_deref()?.split('/').next()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The VIPs recorded on an instance.
fn vips_of(i: &Instance) -> Vec<Vip> {
    let Some(owner) = i
        .labels
        .get(OWNER_TAG)
        .and_then(|o| OwnerId::new(o.clone()).ok())
    else {
        return vec![];
    };
    let vm = i.name.clone().unwrap_or_default();
    let network = i
        .network_interfaces
        .first()
        .and_then(|n| n.subnetwork.as_deref())
        .map(|s| crate::convert::last(s).to_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (k, name) in &i.labels {
        let Some(h) = k.strip_prefix(VIP_LABEL_PREFIX) else {
            continue;
        };
        let Some(rec) = i.labels.get(&format!("strato-vipr-{h}")) else {
            continue;
        };
        let Some((token, addr)) = rec.split_once('_') else {
            continue;
        };
        let Ok(address) = addr.replace('-', ".").parse::<IpAddr>() else {
            continue;
        };
        out.push(Vip {
            id: VipId::new(name.clone()),
            name: name.clone(),
            address,
            public_address: None,
            vm: Some(VmId::new(vm.clone())),
            network: NetworkId::new(network.clone()),
            binding: VipBinding::Cloud,
            ownership: Ownership {
                owner: owner.clone(),
                group: None,
                token: token.to_owned(),
            },
        });
    }
    out
}

impl GcpConnector {
    /// The instance holding a VIP of this name: `Ok(Some)` when it is ours, `NotFound` when
    /// another owner's (which is the same to the caller), `Ok(None)` when no one has it.
    async fn find_vip(&self, name: &str, op: Operation) -> Result<Option<(Instance, Vip)>> {
        if strato_core::validate_vip_name(name).is_err() {
            return Ok(None);
        }
        let (k, _) = keys(name);
        let page = self
            .instances
            .list()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_filter(label_term(&k, name))
            .send()
            .await
            .map_err(|e| map_gax(e, op, &format!("vip {name}")))?;
        let mut foreign = false;
        for i in page.items {
            if let Some(v) = vips_of(&i).into_iter().find(|v| v.name == name) {
                if v.ownership.owner == *self.owner() {
                    return Ok(Some((i, v)));
                }
                foreign = true;
            }
        }
        if foreign {
            return Err(Error::not_found(op, format!("vip {name}")).with_cloud(CLOUD));
        }
        Ok(None)
    }

    /// Sets the alias ranges of an instance's first NIC and waits.
    async fn set_aliases(&self, i: &Instance, addrs: &[String], op: Operation) -> Result<()> {
        let name = i.name.clone().unwrap_or_default();
        let mut nic = i.network_interfaces.first().cloned().unwrap_or_default();
        nic.alias_ip_ranges = addrs
            .iter()
            .map(|a| {
                let mut r = AliasIpRange::default();
                r.ip_cidr_range = Some(if a.is_empty() {
                    "/32".into()
                } else {
                    format!("{a}/32")
                });
                r
            })
            .collect();
        let what = format!("vm {name}");
        let o = self
            .instances
            .update_network_interface()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_instance(&name)
            .set_network_interface(nic.name.clone().unwrap_or_else(|| "nic0".into()))
            .set_body(nic)
            .send()
            .await
            .map_err(|e| map_gax(e, op, &what))?;
        self.wait_op(o, Scope::Zone, op, &what).await.map(|_| ())
    }

    /// Adds (`record`) or removes (`None`) a VIP's labels on an instance and waits.
    async fn set_vip_labels(
        &self,
        i: &Instance,
        vip: &str,
        record: Option<String>,
        op: Operation,
    ) -> Result<()> {
        let name = i.name.clone().unwrap_or_default();
        let (k, r) = keys(vip);
        let mut labels = i.labels.clone();
        match record {
            Some(rec) => {
                labels.insert(k, vip.to_owned());
                labels.insert(r, rec);
            }
            None => {
                labels.remove(&k);
                labels.remove(&r);
            }
        }
        if labels == i.labels {
            return Ok(());
        }
        let mut body = InstancesSetLabelsRequest::default();
        body.labels = labels;
        body.label_fingerprint = i.label_fingerprint.clone();
        let what = format!("vm {name}");
        let o = self
            .instances
            .set_labels()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_instance(&name)
            .set_body(body)
            .send()
            .await
            .map_err(|e| map_gax(e, op, &what))?;
        self.wait_op(o, Scope::Zone, op, &what).await.map(|_| ())
    }

    /// Binds `address` (or a new one Compute picks, when `None`) to an instance; returns it.
    async fn bind(
        &self,
        vm: &VmId,
        address: Option<IpAddr>,
        op: Operation,
    ) -> Result<(Instance, IpAddr)> {
        let i = self.get_owned(vm.as_str(), op).await?;
        let have = aliases(&i);
        if let Some(a) = address
            && have.contains(&a)
        {
            return Ok((i, a));
        }
        let claimed: Vec<IpAddr> = vips_of(&i).iter().map(|v| v.address).collect();
        if address.is_none()
            && let Some(orphan) = have.iter().find(|a| !claimed.contains(a))
        {
            return Ok((i, *orphan));
        }
        let mut want: Vec<String> = have.iter().map(|a| a.to_string()).collect();
        want.push(address.map(|a| a.to_string()).unwrap_or_default());
        self.set_aliases(&i, &want, op).await?;
        let after = self.get_owned(vm.as_str(), op).await?;
        let new = aliases(&after)
            .into_iter()
            .find(|a| !have.contains(a))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Internal,
                    op,
                    format!("vm {vm}: Compute added no alias address"),
                )
                .with_cloud(CLOUD)
            })?;
        Ok((after, new))
    }

    async fn unbind(&self, i: &Instance, address: IpAddr, op: Operation) -> Result<Instance> {
        let have = aliases(i);
        if have.contains(&address) {
            let keep: Vec<String> = have
                .iter()
                .filter(|a| **a != address)
                .map(|a| a.to_string())
                .collect();
            self.set_aliases(i, &keep, op).await?;
        }
        self.get_owned(i.name.as_deref().unwrap_or_default(), op)
            .await
    }

    pub(crate) async fn allocate_vip_impl(&self, spec: &VipSpec) -> Result<Vip> {
        let op = Operation::AllocateVip;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if spec.public {
            return Err(Error::unsupported(
                op,
                CLOUD,
                "public VIPs (alias IP ranges are internal)",
            )
            .with_field("public"));
        }
        let token = spec.client_token(self.owner());
        if let Some((_, v)) = self.find_vip(&spec.name, op).await? {
            return if v.ownership.token == token {
                Ok(v)
            } else {
                Err(Error::new(
                    ErrorKind::AlreadyExists,
                    op,
                    format!(
                        "a vip named {} exists and was made by another request",
                        spec.name
                    ),
                )
                .with_cloud(CLOUD)
                .with_field("name"))
            };
        }
        let vm = self.get_owned(spec.vm.as_str(), op).await?;
        if let Some(n) = &spec.network {
            let on = vm
                .network_interfaces
                .first()
                .and_then(|n| n.subnetwork.as_deref())
                .map(crate::convert::last);
            if on != Some(n.as_str()) {
                return Err(Error::invalid_spec(
                    "network",
                    format!(
                        "vm {} has no NIC on network {n}: an alias IP is in its NIC's subnetwork",
                        spec.vm
                    ),
                )
                .with_operation(op)
                .with_cloud(CLOUD));
            }
        }
        let (i, address) = self.bind(&spec.vm, spec.address, op).await?;
        let rec = format!("{token}_{}", address.to_string().replace('.', "-"));
        self.set_vip_labels(&i, &spec.name, Some(rec), op).await?;
        self.get_vip_impl(&VipId::new(spec.name.clone()))
            .await
            .map_err(|e| e.with_operation(op))
    }

    pub(crate) async fn get_vip_impl(&self, id: &VipId) -> Result<Vip> {
        let op = Operation::GetVip;
        match self.find_vip(id.as_str(), op).await? {
            Some((_, v)) => Ok(v),
            None => Err(Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD)),
        }
    }

    pub(crate) async fn list_vips_impl(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        let op = Operation::ListVips;
        let mut terms = Vec::new();
        if let Some(vm) = &query.vm {
            terms.push(format!("(name = \"{vm}\")"));
        }
        let insts = self.list_all(&terms, op).await?;
        Ok(insts
            .iter()
            .flat_map(vips_of)
            .filter(|v| query.matches(v))
            .collect())
    }

    pub(crate) async fn move_vip_impl(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        let op = Operation::MoveVip;
        let Some((from, vip)) = self.find_vip(id.as_str(), op).await? else {
            return Err(Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD));
        };
        if vip.vm.as_ref() == Some(to) {
            return Ok(vip);
        }
        // The target must exist before anything is taken off the source.
        self.get_owned(to.as_str(), op).await?;
        let from = self.unbind(&from, vip.address, op).await?;
        let (target, _) = self.bind(to, Some(vip.address), op).await?;
        let rec = format!(
            "{}_{}",
            vip.ownership.token,
            vip.address.to_string().replace('.', "-")
        );
        self.set_vip_labels(&target, &vip.name, Some(rec), op)
            .await?;
        self.set_vip_labels(&from, &vip.name, None, op).await?;
        self.get_vip_impl(id)
            .await
            .map_err(|e| e.with_operation(op))
    }

    pub(crate) async fn release_vip_impl(&self, id: &VipId) -> Result<()> {
        let op = Operation::ReleaseVip;
        let Some((i, vip)) = self.find_vip(id.as_str(), op).await? else {
            return Ok(());
        };
        let i = self.unbind(&i, vip.address, op).await?;
        self.set_vip_labels(&i, &vip.name, None, op).await
    }
}
