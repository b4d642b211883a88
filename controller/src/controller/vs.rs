//! The virtual service reconcile: give it an address (its fixed VIP or one from the IPAM pool
//! of its group's network) and release everything when it is deleted. Binding the address to
//! an SE is the group reconcile's job, since it depends on the SEs' health.

use super::{Controller, VsRuntime, keys};
use crate::error::{ControllerError, Result};
use crate::model::IpamPool;
use crate::runtime::{Action, ObjectRef};
use crate::store::{Precondition, StateStoreExt};
use std::net::{IpAddr, Ipv4Addr};
use strato_core::VipSupport;

impl Controller {
    pub(crate) async fn reconcile_vs(&self, name: &str) -> Result<Action> {
        let (vs, rt, group) = {
            let st = self.state();
            // Steady state (the common case in a pass): nothing to clone, nothing to do.
            if let Some(v) = st.vss.get(name)
                && st.groups.contains_key(&v.se_group)
                && let Some(rt) = st.vsrt.get(name)
                && rt.address.is_some()
                && v.vip.is_none_or(|f| rt.address == Some(f))
                && (v.vip.is_some() || rt.pool.is_some() || rt.vip_id.is_some())
                && rt.dns_name.as_deref().is_none_or(|d| d == v.fqdn)
            {
                return Ok(Action::AwaitChange);
            }
            let vs = st.vss.get(name).cloned();
            let group = vs
                .as_ref()
                .and_then(|v| st.groups.get(&v.se_group).cloned());
            (vs, st.vsrt.get(name).cloned(), group)
        };
        let Some(vs) = vs else {
            return self.teardown_vs(name, rt).await;
        };
        let Some(group) = group else {
            return Err(ControllerError::invalid(
                "se_group",
                format!("se group {:?} does not exist", vs.se_group),
            ));
        };
        let mut rt = rt.unwrap_or_else(|| VsRuntime {
            name: name.to_owned(),
            ..Default::default()
        });
        let before = rt.clone();
        let support = self
            .inner
            .clouds
            .get(&group.cloud)
            .map(|c| c.capabilities().vip);

        match vs.vip {
            Some(fixed) if rt.address != Some(fixed) => {
                self.release_address(&mut rt).await?;
                if let Some(pool) = self.pool_containing(fixed) {
                    self.claim(&pool, fixed, name).await?;
                    rt.pool = Some(pool.name);
                }
                rt.address = Some(fixed);
            }
            None if rt.address.is_some() && rt.pool.is_none() && rt.vip_id.is_none() => {
                // The fixed VIP was removed: start over from the pool.
                rt.address = None;
                rt.bound_to = None;
            }
            _ => {}
        }
        if rt.address.is_none() {
            match self.pool_for_network(group.network_key()) {
                Some(pool) => {
                    let addr = self.allocate(&pool, name).await?;
                    rt.address = Some(addr);
                    rt.pool = Some(pool.name);
                }
                // Clouds that route VIPs pick an address themselves.
                None if support == Some(VipSupport::Cloud) => {}
                None => {
                    return Err(ControllerError::invalid(
                        "se_group",
                        format!(
                            "network {:?} of se group {} has no IPAM pool and its cloud does not assign VIP addresses",
                            group.network_key(),
                            group.name
                        ),
                    ));
                }
            }
        }
        // A renamed FQDN must stop answering under the old name.
        if let Some(old) = &rt.dns_name
            && crate::model::normalise_fqdn(old) != crate::model::normalise_fqdn(&vs.fqdn)
        {
            self.inner.dns.set(old, None);
            rt.dns_name = None;
        }
        if rt != before {
            self.inner
                .store
                .put_json(&format!("{}{name}", keys::VSRT), &rt, Precondition::Any)
                .await?;
            let mut st = self.state();
            st.vsrt.insert(name.to_owned(), rt);
            st.dirty.insert(group.name.clone());
            drop(st);
            self.trigger(ObjectRef::SeGroup(group.name));
        }
        Ok(Action::AwaitChange)
    }

    async fn teardown_vs(&self, name: &str, rt: Option<VsRuntime>) -> Result<Action> {
        let Some(mut rt) = rt else {
            return Ok(Action::AwaitChange);
        };
        if let Some(id) = rt.vip_id.clone() {
            // Find the cloud that holds it: the group may be gone too.
            for conn in self.inner.clouds.values() {
                if conn.capabilities().vip != VipSupport::Cloud {
                    continue;
                }
                match conn.release_vip(&id).await {
                    Ok(()) => break,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            rt.vip_id = None;
        }
        if let Some(f) = &rt.dns_name {
            self.inner.dns.set(f, None);
        }
        self.release_address(&mut rt).await?;
        self.inner
            .store
            .delete(&format!("{}{name}", keys::VSRT), Precondition::Any)
            .await?;
        let mut st = self.state();
        st.vsrt.remove(name);
        st.vs_errors.remove(name);
        st.vs_scale.remove(name);
        st.status
            .remove(&ObjectRef::VirtualService(name.to_owned()));
        Ok(Action::AwaitChange)
    }

    fn pool_for_network(&self, network: &str) -> Option<IpamPool> {
        self.state()
            .pools
            .values()
            .find(|p| p.network == network)
            .cloned()
    }

    fn pool_containing(&self, addr: IpAddr) -> Option<IpamPool> {
        self.state()
            .pools
            .values()
            .find(|p| p.cidr.contains(&addr))
            .cloned()
    }

    async fn release_address(&self, rt: &mut VsRuntime) -> Result<()> {
        if let (Some(pool), Some(addr)) = (rt.pool.take(), rt.address) {
            self.inner
                .store
                .delete(&format!("{}{pool}/{addr}", keys::IPAM), Precondition::Any)
                .await?;
            if let Some(m) = self.state().ipam.get_mut(&pool) {
                m.remove(&addr);
            }
        }
        rt.address = None;
        Ok(())
    }

    /// Claims a specific address (compare-and-swap on its key, so two claims cannot both win).
    async fn claim(&self, pool: &IpamPool, addr: IpAddr, vs: &str) -> Result<()> {
        let key = format!("{}{}/{addr}", keys::IPAM, pool.name);
        match self
            .inner
            .store
            .put_json(&key, &vs.to_owned(), Precondition::Absent)
            .await
        {
            Ok(_) => {}
            Err(ControllerError::Conflict(_)) => {
                let owner: Option<(String, u64)> = self.inner.store.get_json(&key).await?;
                if owner.as_ref().map(|(o, _)| o.as_str()) != Some(vs) {
                    return Err(ControllerError::invalid(
                        "vip",
                        format!(
                            "address {addr} is allocated to {}",
                            owner.map(|o| o.0).unwrap_or_default()
                        ),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
        self.state()
            .ipam
            .entry(pool.name.clone())
            .or_default()
            .insert(addr, vs.to_owned());
        Ok(())
    }

    /// The lowest free usable address of a pool.
    async fn allocate(&self, pool: &IpamPool, vs: &str) -> Result<IpAddr> {
        let net = match pool.cidr {
            ipnet::IpNet::V4(n) => n,
            ipnet::IpNet::V6(_) => {
                return Err(ControllerError::invalid(
                    "cidr",
                    "only IPv4 pools are supported",
                ));
            }
        };
        let start = u32::from(net.network());
        let end = u32::from(net.broadcast());
        // Start after the highest allocated address: allocation stays linear for big pools.
        let hint: u32 = {
            let st = self.state();
            st.ipam
                .get(&pool.name)
                .and_then(|m| m.keys().next_back())
                .and_then(|a| match a {
                    IpAddr::V4(v) => Some(u32::from(*v)),
                    IpAddr::V6(_) => None,
                })
                .unwrap_or(start)
        };
        let candidates = (hint..=end).chain(start..hint);
        for a in candidates {
            let addr = IpAddr::V4(Ipv4Addr::from(a));
            if !pool.usable(addr)
                || self
                    .state()
                    .ipam
                    .get(&pool.name)
                    .is_some_and(|m| m.contains_key(&addr))
            {
                continue;
            }
            match self.claim(pool, addr, vs).await {
                Ok(()) => return Ok(addr),
                Err(ControllerError::Invalid { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ControllerError::Exhausted(format!(
            "ipam pool {} ({}) has no free address",
            pool.name, pool.cidr
        )))
    }
}
