//! VIPs as secondary private IPs (plus an Elastic IP when public).
//!
//! Design (see README "VIPs"): the VIP's address lives on an ENI of the VM as a secondary
//! private IP; the record of the VIP lives on that same ENI as a tag
//! `strato-vip.NAME = "ip=10.0.1.9 token=... at=MILLIS [eip=eipalloc-... public=1.2.3.4]"`, plus
//! `strato-vip-owner = OWNER` so list_vips is one filtered DescribeNetworkInterfaces. The record
//! moves with the address (AssignPrivateIpAddresses with AllowReassignment, then tag the new ENI,
//! then untag the old one), so after a restart list_vips reads back every VIP without local state.
//! An Elastic IP is tagged with the owner and the VIP's token, so a retried allocate reuses it.

use crate::CLOUD;
use crate::capabilities::MAX_PAGE;
use crate::client::AwsConnector;
use crate::convert::{self, EC2_NAME_TAG, VIP_OWNER_TAG, VIP_TAG_PREFIX, filter};
use crate::error::{Context, already_exists, map_sdk_error, none_if_not_found};
use crate::paging;
use aws_sdk_ec2::types::{DomainType, Filter, NetworkInterface, ResourceType, Tag};
use std::net::IpAddr;
use strato_core::{
    Error, ErrorKind, NAME_TAG, NetworkId, Operation, Ownership, Result, TOKEN_TAG, Tags, Vip,
    VipBinding, VipId, VipQuery, VipSpec, VmId,
};

/// What the ENI tag of a VIP says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipRecord {
    /// The private address.
    pub ip: IpAddr,
    /// Client token of the allocate.
    pub token: String,
    /// When the record was written (ms since the epoch): the newest wins when a crash mid-move
    /// left it on two ENIs.
    pub at: u64,
    /// Elastic IP allocation, for public VIPs.
    pub eip: Option<String>,
    /// Elastic IP address.
    pub public: Option<IpAddr>,
}

impl VipRecord {
    /// Tag value (EC2 allows letters, digits, space and `+-=._:/@`).
    pub fn encode(&self) -> String {
        let mut s = format!("ip={} token={} at={}", self.ip, self.token, self.at);
        if let Some(e) = &self.eip {
            s.push_str(&format!(" eip={e}"));
        }
        if let Some(p) = &self.public {
            s.push_str(&format!(" public={p}"));
        }
        s
    }

    /// Parses a tag value; `None` for anything strato did not write.
    pub fn parse(v: &str) -> Option<Self> {
        let mut ip = None;
        let mut token = None;
        let mut at = 0;
        let mut eip = None;
        let mut public = None;
        for part in v.split_whitespace() {
            let (k, val) = part.split_once('=')?;
            match k {
                "ip" => ip = val.parse().ok(),
                "token" => token = Some(val.to_owned()),
                "at" => at = val.parse().unwrap_or(0),
                "eip" => eip = Some(val.to_owned()),
                "public" => public = val.parse().ok(),
                _ => {}
            }
        }
        Some(Self {
            ip: ip?,
            token: token?,
            at,
            eip,
            public,
        })
    }
}

/// A VIP as found on an ENI.
#[derive(Clone, Debug)]
struct Found {
    name: String,
    record: VipRecord,
    eni: String,
    subnet: String,
    vm: Option<String>,
    /// The ENI still holds the address (a crash mid-move can leave a stale record).
    holds: bool,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn records_of(eni: &NetworkInterface) -> Vec<Found> {
    let Some(id) = eni.network_interface_id() else {
        return Vec::new();
    };
    let ips: Vec<IpAddr> = eni
        .private_ip_addresses()
        .iter()
        .filter_map(|a| a.private_ip_address()?.parse().ok())
        .collect();
    eni.tag_set()
        .iter()
        .filter_map(|t| {
            let name = t.key()?.strip_prefix(VIP_TAG_PREFIX)?;
            let record = VipRecord::parse(t.value()?)?;
            Some(Found {
                name: name.to_owned(),
                holds: ips.contains(&record.ip),
                record,
                eni: id.to_owned(),
                subnet: eni.subnet_id().unwrap_or_default().to_owned(),
                vm: eni
                    .attachment()
                    .and_then(|a| a.instance_id())
                    .map(str::to_owned),
            })
        })
        .collect()
}

impl AwsConnector {
    fn vip_of(&self, f: &Found) -> Vip {
        Vip {
            id: VipId::new(f.name.clone()),
            name: f.name.clone(),
            address: f.record.ip,
            public_address: f.record.public,
            vm: f.vm.clone().map(VmId::new),
            network: NetworkId::new(f.subnet.clone()),
            binding: VipBinding::Cloud,
            ownership: Ownership {
                owner: self.owner().clone(),
                group: None,
                token: f.record.token.clone(),
            },
        }
    }

    /// This owner's VIP records matching extra filters, one per name.
    async fn find_vips(&self, extra: Vec<Filter>, op: Operation) -> Result<Vec<Found>> {
        let mut filters = vec![filter(
            &format!("tag:{VIP_OWNER_TAG}"),
            self.owner().as_str(),
        )];
        filters.extend(extra);
        let mut all: Vec<Found> = paging::all(|token| {
            let filters = filters.clone();
            async move {
                let out = self
                    .ec2
                    .describe_network_interfaces()
                    .set_filters(Some(filters))
                    .max_results(MAX_PAGE as i32)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(self.sdk_err(op, Context::READING))?;
                let found = out.network_interfaces().iter().flat_map(records_of);
                Ok((found.collect(), out.next_token().map(str::to_owned)))
            }
        })
        .await?;
        // One per name: the ENI that holds the address, newest record first.
        all.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(b.holds.cmp(&a.holds))
                .then(b.record.at.cmp(&a.record.at))
        });
        all.dedup_by(|a, b| a.name == b.name);
        Ok(all)
    }

    async fn find_vip(&self, name: &str, op: Operation) -> Result<Option<Found>> {
        let f = vec![filter("tag-key", format!("{VIP_TAG_PREFIX}{name}"))];
        Ok(self
            .find_vips(f, op)
            .await?
            .into_iter()
            .find(|v| v.name == name))
    }

    /// True when any owner has a VIP of this name.
    async fn vip_exists_for_anyone(&self, name: &str, op: Operation) -> Result<bool> {
        let out = self
            .ec2
            .describe_network_interfaces()
            .filters(filter("tag-key", format!("{VIP_TAG_PREFIX}{name}")))
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        Ok(!out.network_interfaces().is_empty())
    }

    /// The ENI of `vm` on `network` (its primary ENI when `None`).
    async fn eni_for(
        &self,
        vm: &VmId,
        network: Option<&NetworkId>,
        op: Operation,
    ) -> Result<(String, String, Vec<IpAddr>)> {
        let (inst, _) = self.owned_instance(vm, op).await?;
        let eni = inst.network_interfaces().iter().find(|n| match network {
            Some(net) => n.subnet_id() == Some(net.as_str()),
            None => n.attachment().and_then(|a| a.device_index()) == Some(0),
        });
        let Some(eni) = eni.and_then(|e| Some((e, e.network_interface_id()?))) else {
            let msg = match network {
                Some(n) => format!("vm {vm} has no NIC on network {n}; attach one first"),
                None => format!("vm {vm} has no primary NIC"),
            };
            return Err(Error::invalid_spec("network", msg)
                .with_operation(op)
                .with_cloud(CLOUD));
        };
        let ips = eni
            .0
            .private_ip_addresses()
            .iter()
            .filter_map(|a| a.private_ip_address()?.parse().ok())
            .collect();
        Ok((
            eni.1.to_owned(),
            eni.0.subnet_id().unwrap_or_default().to_owned(),
            ips,
        ))
    }

    async fn write_record(
        &self,
        eni: &str,
        name: &str,
        record: &VipRecord,
        op: Operation,
    ) -> Result<()> {
        self.ec2
            .create_tags()
            .resources(eni)
            .tags(
                Tag::builder()
                    .key(VIP_OWNER_TAG)
                    .value(self.owner().as_str())
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key(format!("{VIP_TAG_PREFIX}{name}"))
                    .value(record.encode())
                    .build(),
            )
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        Ok(())
    }

    async fn delete_record(&self, eni: &str, name: &str, op: Operation) -> Result<()> {
        let res = self
            .ec2
            .delete_tags()
            .resources(eni)
            .tags(
                Tag::builder()
                    .key(format!("{VIP_TAG_PREFIX}{name}"))
                    .build(),
            )
            .send()
            .await;
        none_if_not_found(res, op, Context::READING)?;
        Ok(())
    }

    pub(crate) async fn allocate_vip_impl(&self, spec: &VipSpec) -> Result<Vip> {
        let op = Operation::AllocateVip;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let token = spec.client_token(self.owner());
        if let Some(found) = self.find_vip(&spec.name, op).await? {
            if found.record.token == token {
                return Ok(self.vip_of(&found));
            }
            return Err(already_exists(
                op,
                "vip",
                &spec.name,
                found.record.ip,
                &spec.name,
            ));
        }
        let (eni, subnet, before) = self.eni_for(&spec.vm, spec.network.as_ref(), op).await?;
        let mut req = self
            .ec2
            .assign_private_ip_addresses()
            .network_interface_id(&eni);
        req = match spec.address {
            Some(a) => req.private_ip_addresses(a.to_string()),
            None => req.secondary_private_ip_address_count(1),
        };
        let out = req
            .send()
            .await
            .map_err(self.sdk_err(op, Context::naming(self.is_recent(spec.vm.as_str()))))?;
        // EC2 lists only the new address; moto lists the primary too: take the one that is new.
        let ip = match spec.address {
            Some(a) => a,
            None => out
                .assigned_private_ip_addresses()
                .iter()
                .filter_map(|a| a.private_ip_address()?.parse::<IpAddr>().ok())
                .find(|a| !before.contains(a))
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Internal,
                        op,
                        "AssignPrivateIpAddresses answered no new address",
                    )
                    .with_cloud(CLOUD)
                })?,
        };
        let mut record = VipRecord {
            ip,
            token: token.clone(),
            at: now_ms(),
            eip: None,
            public: None,
        };
        if spec.public {
            let (alloc, public) = self.eip_for(spec, &token, op).await?;
            self.associate_eip(&alloc, &eni, ip, op).await?;
            record.eip = Some(alloc);
            record.public = public;
        }
        self.write_record(&eni, &spec.name, &record, op).await?;
        Ok(self.vip_of(&Found {
            name: spec.name.clone(),
            record,
            eni,
            subnet,
            vm: Some(spec.vm.to_string()),
            holds: true,
        }))
    }

    /// The Elastic IP of a public VIP: the one an earlier attempt allocated, or a new one.
    async fn eip_for(
        &self,
        spec: &VipSpec,
        token: &str,
        op: Operation,
    ) -> Result<(String, Option<IpAddr>)> {
        let out = self
            .ec2
            .describe_addresses()
            .filters(convert::owner_filter(self.owner()))
            .filters(filter(&format!("tag:{TOKEN_TAG}"), token))
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        if let Some(a) = out.addresses().first()
            && let Some(id) = a.allocation_id()
        {
            return Ok((id.to_owned(), a.public_ip().and_then(|p| p.parse().ok())));
        }
        let (_, tag_spec) = convert::owned_tag_spec(
            ResourceType::ElasticIp,
            &Tags::new(),
            &spec.ownership(self.owner()),
            [
                (NAME_TAG, spec.name.clone()),
                (EC2_NAME_TAG, format!("strato-vip-{}", spec.name)),
            ],
        );
        let out = self
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        let id = out.allocation_id().ok_or_else(|| {
            Error::new(ErrorKind::Internal, op, "AllocateAddress answered no id").with_cloud(CLOUD)
        })?;
        Ok((id.to_owned(), out.public_ip().and_then(|p| p.parse().ok())))
    }

    async fn associate_eip(&self, alloc: &str, eni: &str, ip: IpAddr, op: Operation) -> Result<()> {
        self.ec2
            .associate_address()
            .allocation_id(alloc)
            .network_interface_id(eni)
            .private_ip_address(ip.to_string())
            .allow_reassociation(true)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        Ok(())
    }

    /// Disassociates and releases an Elastic IP; one already gone is fine.
    async fn release_eip(&self, alloc: &str, op: Operation) -> Result<()> {
        let res = self
            .ec2
            .describe_addresses()
            .allocation_ids(alloc)
            .send()
            .await;
        let Some(out) = none_if_not_found(res, op, Context::READING)? else {
            return Ok(());
        };
        for a in out.addresses() {
            if let Some(assoc) = a.association_id() {
                let r = self
                    .ec2
                    .disassociate_address()
                    .association_id(assoc)
                    .send()
                    .await;
                none_if_not_found(r, op, Context::READING)?;
            }
        }
        let res = self.ec2.release_address().allocation_id(alloc).send().await;
        none_if_not_found(res, op, Context::READING)?;
        Ok(())
    }

    /// Releases the Elastic IPs of this owner associated with any of the ENIs `enis` (before
    /// their instances are terminated, so no public address leaks). By ENI, not instance id:
    /// an address associated with an ENI's private IP does not always report the instance.
    pub(crate) async fn release_eips_of(&self, enis: &[String], op: Operation) -> Result<()> {
        if enis.is_empty() {
            return Ok(());
        }
        let out = self
            .ec2
            .describe_addresses()
            .filters(convert::owner_filter(self.owner()))
            .filters(convert::filter_any(
                "network-interface-id",
                enis.iter().cloned(),
            ))
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        for a in out.addresses() {
            if let Some(id) = a.allocation_id() {
                self.release_eip(id, op).await?;
            }
        }
        Ok(())
    }

    /// Releases the Elastic IPs of the VIPs recorded on an ENI about to be deleted.
    pub(crate) async fn release_vips_on_eni(
        &self,
        eni: &NetworkInterface,
        op: Operation,
    ) -> Result<()> {
        for f in records_of(eni) {
            if let Some(alloc) = &f.record.eip {
                self.release_eip(alloc, op).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn get_vip_impl(&self, id: &VipId) -> Result<Vip> {
        let op = Operation::GetVip;
        self.find_vip(id.as_str(), op)
            .await?
            .map(|f| self.vip_of(&f))
            .ok_or_else(|| Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))
    }

    pub(crate) async fn list_vips_impl(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        let op = Operation::ListVips;
        let mut extra = Vec::new();
        if let Some(vm) = &query.vm {
            extra.push(filter("attachment.instance-id", vm.as_str()));
        }
        if let Some(n) = &query.name {
            extra.push(filter("tag-key", format!("{VIP_TAG_PREFIX}{n}")));
        }
        Ok(self
            .find_vips(extra, op)
            .await?
            .iter()
            .map(|f| self.vip_of(f))
            .filter(|v| query.matches(v))
            .collect())
    }

    pub(crate) async fn move_vip_impl(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        let op = Operation::MoveVip;
        let Some(found) = self.find_vip(id.as_str(), op).await? else {
            return Err(Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD));
        };
        if found.vm.as_deref() == Some(to.as_str()) && found.holds {
            // Still verify the target is ours: a foreign VM is NotFound even for a no-op.
            self.owned_instance(to, op).await?;
            return Ok(self.vip_of(&found));
        }
        let network = NetworkId::new(found.subnet.clone());
        let (eni, subnet, _) = self.eni_for(to, Some(&network), op).await?;
        self.ec2
            .assign_private_ip_addresses()
            .network_interface_id(&eni)
            .private_ip_addresses(found.record.ip.to_string())
            .allow_reassignment(true)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::naming(self.is_recent(to.as_str()))))?;
        if let Some(alloc) = &found.record.eip {
            self.associate_eip(alloc, &eni, found.record.ip, op).await?;
        }
        let record = VipRecord {
            at: now_ms(),
            ..found.record.clone()
        };
        // New record first, then drop the old: a crash in between leaves two records, and the
        // newest one that holds the address wins on read.
        self.write_record(&eni, &found.name, &record, op).await?;
        if found.eni != eni {
            // EC2 takes the address off the old ENI with AllowReassignment; moto leaves it
            // there too, and so might any EC2-compatible endpoint: a release of the moved VIP
            // would then leave the address behind. Taking it off is a no-op where it is gone.
            if found.holds {
                self.unassign(&found.eni, found.record.ip, op).await?;
            }
            self.delete_record(&found.eni, &found.name, op).await?;
        }
        Ok(self.vip_of(&Found {
            name: found.name,
            record,
            eni,
            subnet,
            vm: Some(to.to_string()),
            holds: true,
        }))
    }

    pub(crate) async fn release_vip_impl(&self, id: &VipId) -> Result<()> {
        let op = Operation::ReleaseVip;
        let Some(found) = self.find_vip(id.as_str(), op).await? else {
            // Gone is fine; another owner's VIP of that name is not ours to release.
            return if self.vip_exists_for_anyone(id.as_str(), op).await? {
                Err(Error::not_found(op, format!("vip {id}")).with_cloud(CLOUD))
            } else {
                Ok(())
            };
        };
        if let Some(alloc) = &found.record.eip {
            self.release_eip(alloc, op).await?;
        }
        if found.holds {
            self.unassign(&found.eni, found.record.ip, op).await?;
        }
        self.delete_record(&found.eni, &found.name, op).await
    }

    /// Takes the address off an ENI; an address already gone from it (moved away, or released
    /// by an earlier attempt) is fine.
    async fn unassign(&self, eni: &str, ip: IpAddr, op: Operation) -> Result<()> {
        let r = self
            .ec2
            .unassign_private_ip_addresses()
            .network_interface_id(eni)
            .private_ip_addresses(ip.to_string())
            .send()
            .await;
        match r {
            Err(e) => {
                let e = map_sdk_error(e, op, Context::READING);
                if e.is_not_found() || *e.kind() == ErrorKind::InvalidSpec {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Ok(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let r = VipRecord {
            ip: "10.0.1.9".parse().unwrap(),
            token: "abc".into(),
            at: 42,
            eip: Some("eipalloc-1".into()),
            public: Some("3.3.3.3".parse().unwrap()),
        };
        assert_eq!(VipRecord::parse(&r.encode()), Some(r.clone()));
        let private = VipRecord {
            eip: None,
            public: None,
            ..r
        };
        assert_eq!(VipRecord::parse(&private.encode()), Some(private));
        assert_eq!(VipRecord::parse("garbage"), None);
        assert_eq!(VipRecord::parse("ip=10.0.0.1"), None);
    }
}
