//! The desired state: SE groups, virtual services, IPAM pools and DNS zones, checked against
//! each other and the clouds before they are stored, and the reconciles they trigger.

use super::{Controller, keys};
use crate::error::{ControllerError, Result};
use crate::model::{DesiredState, DnsZone, HaMode, IpamPool, SeGroup, VirtualService};
use crate::runtime::ObjectRef;
use crate::store::{Precondition, StateStoreExt};
use tokio::time::Instant;

impl Controller {
    /// Creates or replaces an SE group.
    pub async fn apply_se_group(&self, g: SeGroup) -> Result<()> {
        g.validate_within(self.inner.opts.max_ses_per_group)?;
        if let HaMode::Elastic { buffer } = g.ha
            && buffer >= g.max_ses
        {
            return Err(ControllerError::invalid(
                "ha.buffer",
                format!(
                    "buffer {buffer} leaves no active SE under max_ses {}",
                    g.max_ses
                ),
            ));
        }
        if g.placement.se_per_host
            && let Some(c) = self.inner.clouds.get(&g.cloud)
            && !c.capabilities().host_pinning
        {
            return Err(ControllerError::invalid(
                "placement.se_per_host",
                format!(
                    "cloud profile {:?} ({}) does not show hosts, so SEs cannot be placed one per host",
                    g.cloud,
                    c.info().kind
                ),
            ));
        }
        if !self.inner.clouds.contains_key(&g.cloud) {
            let known: Vec<&str> = self.inner.clouds.keys().map(String::as_str).collect();
            return Err(ControllerError::invalid(
                "cloud",
                format!(
                    "cloud profile {:?} is not configured (known: {})",
                    g.cloud,
                    known.join(", ")
                ),
            ));
        }
        if let Some(old) = self.state().groups.get(&g.name)
            && old.cloud != g.cloud
        {
            return Err(ControllerError::invalid(
                "cloud",
                "the cloud of an existing SE group cannot change",
            ));
        }
        self.inner
            .store
            .put_json(
                &format!("{}{}", keys::SEGROUP, g.name),
                &g,
                Precondition::Any,
            )
            .await?;
        let name = g.name.clone();
        let vss: Vec<String> = {
            let mut st = self.state();
            st.groups.insert(name.clone(), g);
            st.dirty.insert(name.clone());
            st.vss_of_group(&name).map(|v| v.name.clone()).collect()
        };
        for v in vss {
            self.trigger(ObjectRef::VirtualService(v));
        }
        self.trigger(ObjectRef::SeGroup(name));
        Ok(())
    }

    /// Deletes an SE group (its SEs are deleted by the next reconcile). Refused while
    /// virtual services use it.
    pub async fn delete_se_group(&self, name: &str) -> Result<()> {
        {
            let st = self.state();
            if !st.groups.contains_key(name) {
                return Err(ControllerError::NotFound(format!("se group {name}")));
            }
            if let Some(v) = st.vss_of_group(name).next() {
                return Err(ControllerError::Conflict(format!(
                    "se group {name} is used by virtual service {}",
                    v.name
                )));
            }
        }
        self.inner
            .store
            .delete(&format!("{}{name}", keys::SEGROUP), Precondition::Any)
            .await?;
        self.state().groups.remove(name);
        self.trigger(ObjectRef::SeGroup(name.to_owned()));
        Ok(())
    }

    /// Creates or replaces a virtual service.
    pub async fn apply_virtual_service(&self, v: VirtualService) -> Result<()> {
        v.validate()?;
        {
            let st = self.state();
            let Some(g) = st.groups.get(&v.se_group) else {
                return Err(ControllerError::invalid(
                    "se_group",
                    format!("se group {:?} does not exist", v.se_group),
                ));
            };
            g.check_networks_of(&v)?;
            if v.min_ses > g.max_ses {
                return Err(ControllerError::invalid(
                    "min_ses",
                    format!(
                        "min_ses {} is above the max_ses {} of se group {}",
                        v.min_ses, g.max_ses, g.name
                    ),
                ));
            }
            if let Some(other) = st
                .fqdns
                .get(&crate::model::normalise_fqdn(&v.fqdn))
                .filter(|o| **o != v.name)
            {
                return Err(ControllerError::invalid(
                    "fqdn",
                    format!("fqdn {} is used by virtual service {other}", v.fqdn),
                ));
            }
            if let Some(addr) = v.vip {
                if let Some(other) = st
                    .vsrt
                    .values()
                    .find(|r| r.name != v.name && r.address == Some(addr))
                {
                    return Err(ControllerError::invalid(
                        "vip",
                        format!("vip {addr} is used by virtual service {}", other.name),
                    ));
                }
                if let Some(p) = st.pools.values().find(|p| p.cidr.contains(&addr))
                    && !p.usable(addr)
                {
                    return Err(ControllerError::invalid(
                        "vip",
                        format!("vip {addr} is reserved in pool {}", p.name),
                    ));
                }
            }
        }
        self.inner
            .store
            .put_json(&format!("{}{}", keys::VS, v.name), &v, Precondition::Any)
            .await?;
        let (name, group) = (v.name.clone(), v.se_group.clone());
        {
            let mut st = self.state();
            if let Some(old) = st.insert_vs(v)
                && old.se_group != group
            {
                st.dirty.insert(old.se_group.clone());
                st.scheduler
                    .schedule(ObjectRef::SeGroup(old.se_group), Instant::now());
            }
            st.dirty.insert(group.clone());
        }
        self.trigger(ObjectRef::VirtualService(name));
        self.trigger(ObjectRef::SeGroup(group));
        Ok(())
    }

    /// Deletes a virtual service (its VIP and address are released by the next reconcile).
    pub async fn delete_virtual_service(&self, name: &str) -> Result<()> {
        let group = self
            .state()
            .vss
            .get(name)
            .map(|v| v.se_group.clone())
            .ok_or_else(|| ControllerError::NotFound(format!("virtual service {name}")))?;
        self.inner
            .store
            .delete(&format!("{}{name}", keys::VS), Precondition::Any)
            .await?;
        {
            let mut st = self.state();
            st.remove_vs(name);
            st.dirty.insert(group.clone());
        }
        self.trigger(ObjectRef::VirtualService(name.to_owned()));
        self.trigger(ObjectRef::SeGroup(group));
        Ok(())
    }

    /// Creates or replaces an IPAM pool.
    pub async fn apply_ipam_pool(&self, p: IpamPool) -> Result<()> {
        p.validate()?;
        {
            let st = self.state();
            if let Some(o) = st
                .pools
                .values()
                .find(|o| o.name != p.name && o.network == p.network)
            {
                return Err(ControllerError::invalid(
                    "network",
                    format!("network {} already has pool {}", p.network, o.name),
                ));
            }
            if let Some(allocs) = st.ipam.get(&p.name)
                && let Some((a, vs)) = allocs.iter().find(|(a, _)| !p.usable(**a))
            {
                return Err(ControllerError::invalid(
                    "cidr",
                    format!("address {a} of virtual service {vs} would fall outside the pool"),
                ));
            }
        }
        self.inner
            .store
            .put_json(&format!("{}{}", keys::POOL, p.name), &p, Precondition::Any)
            .await?;
        let vss: Vec<String> = {
            let mut st = self.state();
            st.pools.insert(p.name.clone(), p);
            st.vss.keys().cloned().collect()
        };
        for v in vss {
            self.trigger(ObjectRef::VirtualService(v));
        }
        Ok(())
    }

    /// Deletes an IPAM pool; refused while addresses of it are allocated.
    pub async fn delete_ipam_pool(&self, name: &str) -> Result<()> {
        {
            let st = self.state();
            if !st.pools.contains_key(name) {
                return Err(ControllerError::NotFound(format!("ipam pool {name}")));
            }
            if let Some((a, vs)) = st.ipam.get(name).and_then(|m| m.iter().next()) {
                return Err(ControllerError::Conflict(format!(
                    "pool {name} has address {a} allocated to {vs}"
                )));
            }
        }
        self.inner
            .store
            .delete(&format!("{}{name}", keys::POOL), Precondition::Any)
            .await?;
        self.state().pools.remove(name);
        Ok(())
    }

    /// Creates or replaces a DNS zone.
    pub async fn apply_dns_zone(&self, z: DnsZone) -> Result<()> {
        z.validate()?;
        self.inner
            .store
            .put_json(&format!("{}{}", keys::ZONE, z.key()), &z, Precondition::Any)
            .await?;
        self.inner.dns.set_zone(&z.name, z.ttl);
        self.state().zones.insert(z.key(), z);
        Ok(())
    }

    /// Deletes a DNS zone.
    pub async fn delete_dns_zone(&self, name: &str) -> Result<()> {
        let key = crate::model::normalise_fqdn(name);
        if !self.state().zones.contains_key(&key) {
            return Err(ControllerError::NotFound(format!("dns zone {name}")));
        }
        self.inner
            .store
            .delete(&format!("{}{key}", keys::ZONE), Precondition::Any)
            .await?;
        self.inner.dns.remove_zone(&key);
        self.state().zones.remove(&key);
        Ok(())
    }

    /// Applies a whole desired state (a bootstrap file): pools and zones first, then groups,
    /// then services.
    pub async fn apply_desired(&self, d: &DesiredState) -> Result<()> {
        for p in &d.ipam_pools {
            self.apply_ipam_pool(p.clone())
                .await
                .map_err(|e| prefix(e, &format!("ipam_pools[{}]", p.name)))?;
        }
        for z in &d.dns_zones {
            self.apply_dns_zone(z.clone())
                .await
                .map_err(|e| prefix(e, &format!("dns_zones[{}]", z.name)))?;
        }
        for g in &d.se_groups {
            self.apply_se_group(g.clone())
                .await
                .map_err(|e| prefix(e, &format!("se_groups[{}]", g.name)))?;
        }
        for v in &d.virtual_services {
            self.apply_virtual_service(v.clone())
                .await
                .map_err(|e| prefix(e, &format!("virtual_services[{}]", v.name)))?;
        }
        Ok(())
    }

    /// The desired state as stored.
    pub fn desired(&self) -> DesiredState {
        let st = self.state();
        DesiredState {
            se_groups: st.groups.values().cloned().collect(),
            virtual_services: {
                let mut v: Vec<VirtualService> = st.vss.values().cloned().collect();
                v.sort_by(|a, b| a.name.cmp(&b.name));
                v
            },
            ipam_pools: st.pools.values().cloned().collect(),
            dns_zones: st.zones.values().cloned().collect(),
        }
    }
}

fn prefix(e: ControllerError, at: &str) -> ControllerError {
    match e {
        ControllerError::Invalid { field, message } => ControllerError::Invalid {
            field: format!("{at}.{field}"),
            message,
        },
        other => other,
    }
}
