//! The virtual service reconcile: give it an address (its fixed VIP or one from the IPAM pool
//! of its group's network) and release everything when it is deleted. Binding the address to
//! an SE is the group reconcile's job, since it depends on the SEs' health.
//!
//! The address claims (`ipam/POOL/ADDR`) and releases of one reconcile commit in one store
//! transaction with the service's runtime record (`vsrt/VS`), which says which address it
//! holds: a crash between a claim and the record would otherwise leave the address claimed by
//! a service that does not know it, and the service would claim another one after the
//! restart, leaking the first for good.

use super::{Controller, State, VsRuntime, keys};
use crate::error::{ControllerError, Result};
use crate::model::IpamPool;
use crate::runtime::{Action, ObjectRef};
use crate::store::{Precondition, StateStoreExt, Txn};
use std::net::{IpAddr, Ipv4Addr};
use strato_core::VipSupport;

impl Controller {
    pub(crate) async fn reconcile_vs(&self, name: &str) -> Result<Action> {
        let (vs, rt, group) = {
            let st = self.state();
            // Steady state (the common case in a pass): nothing to clone, nothing to do.
            if let Some(v) = st.vss.get(name)
                && let Some(g) = st.groups.get(&v.se_group)
                && let Some(rt) = st.vsrt.get(name)
                && (v.vip.is_some() || on_its_network(&st, rt, v.vip_network(g)))
                && rt.address.is_some()
                && v.vip.is_none_or(|f| rt.address == Some(f))
                && (v.vip.is_some() || rt.pool.is_some() || rt.vip_id.is_some())
                && rt.dns_name.as_deref().is_none_or(|d| d == v.fqdn)
                && !st.unheld_claims.contains_key(name)
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
            // A service whose record was moved aside is held: its address stays.
            if let Some(e) = self.quarantine_hold(keys::VS, name) {
                return Err(e);
            }
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
        let mut tx = IpamTxn::new(name);
        let support = self
            .inner
            .clouds
            .get(&group.cloud)
            .map(|c| c.capabilities().vip);

        match vs.vip {
            Some(fixed) if rt.address != Some(fixed) => {
                tx.release(&mut rt);
                if let Some(pool) = self.pool_containing(fixed) {
                    self.claim(&pool, fixed, &mut tx).await?;
                    rt.pool = Some(pool.name);
                }
                rt.address = Some(fixed);
            }
            None if rt.address.is_some() && rt.pool.is_none() && rt.vip_id.is_none() => {
                // The fixed VIP was removed: start over from the pool.
                rt.address = None;
                rt.bound_to = None;
            }
            None if !on_its_network(&self.state(), &rt, vs.vip_network(&group)) => {
                // The service moved to another network: an address of that network's pool,
                // and the cloud's VIP (on the old network) goes.
                if let Some(id) = rt.vip_id.clone()
                    && let Some(conn) = self.inner.clouds.get(&group.cloud)
                {
                    match conn.release_vip(&id).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e.into()),
                    }
                    rt.vip_id = None;
                }
                tx.release(&mut rt);
                rt.bound_to = None;
            }
            _ => {}
        }
        if rt.address.is_none() {
            match self.pool_for_network(vs.vip_network(&group)) {
                Some(pool) => {
                    let addr = match self.unheld_claim(&pool, name) {
                        // The address it held before its record was lost.
                        Some(a) => {
                            self.claim(&pool, a, &mut tx).await?;
                            a
                        }
                        None => self.allocate(&pool, &mut tx).await?,
                    };
                    rt.address = Some(addr);
                    rt.pool = Some(pool.name);
                }
                // Clouds that route VIPs pick an address themselves.
                None if support == Some(VipSupport::Cloud) => {}
                None => {
                    return Err(ControllerError::invalid(
                        "se_group",
                        format!(
                            "network {:?} of virtual service {} (se group {}) has no IPAM pool and its cloud does not assign VIP addresses",
                            vs.vip_network(&group),
                            vs.name,
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
        // Other claims of this service that no record holds were left by a crash between a
        // claim and the record (before both were one transaction): nothing uses them.
        let leftovers: Vec<(String, IpAddr)> = self
            .state()
            .unheld_claims
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(p, a)| rt.pool.as_ref() != Some(p) || rt.address != Some(*a))
            .cloned()
            .collect();
        for (pool, addr) in leftovers {
            tx.release_claim(pool, addr);
        }
        if rt != before || !tx.txn.is_empty() {
            tx.txn.put_json(format!("{}{name}", keys::VSRT), &rt)?;
            self.inner.store.txn(&tx.txn).await?;
            let mut st = self.state();
            tx.applied(&mut st);
            st.vsrt.insert(name.to_owned(), rt);
            st.dirty.insert(group.name.clone());
            drop(st);
            self.trigger(ObjectRef::SeGroup(group.name));
        }
        Ok(Action::AwaitChange)
    }

    async fn teardown_vs(&self, name: &str, rt: Option<VsRuntime>) -> Result<Action> {
        let unheld = self
            .state()
            .unheld_claims
            .get(name)
            .cloned()
            .unwrap_or_default();
        if rt.is_none() && unheld.is_empty() {
            return Ok(Action::AwaitChange);
        }
        let mut rt = rt.unwrap_or_else(|| VsRuntime {
            name: name.to_owned(),
            ..Default::default()
        });
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
        let mut tx = IpamTxn::new(name);
        tx.release(&mut rt);
        for (pool, addr) in unheld {
            tx.release_claim(pool, addr);
        }
        tx.txn.delete(format!("{}{name}", keys::VSRT));
        // What it learned goes with it: a new service of the same name starts afresh.
        tx.txn.delete(format!("{}{name}", keys::FORECAST));
        self.inner.store.txn(&tx.txn).await?;
        let mut st = self.state();
        tx.applied(&mut st);
        st.vsrt.remove(name);
        st.vs_errors.remove(name);
        st.vs_scale.remove(name);
        st.status
            .remove(&ObjectRef::VirtualService(name.to_owned()));
        Ok(Action::AwaitChange)
    }

    /// An address of `pool` the service claimed and no runtime record holds.
    fn unheld_claim(&self, pool: &IpamPool, vs: &str) -> Option<IpAddr> {
        self.state()
            .unheld_claims
            .get(vs)?
            .iter()
            .find(|(p, a)| *p == pool.name && pool.usable(*a))
            .map(|(_, a)| *a)
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

    /// Claims a specific address for the transaction's service: a compare on its key, so two
    /// claims cannot both win, and an address this service already holds is kept.
    async fn claim(&self, pool: &IpamPool, addr: IpAddr, tx: &mut IpamTxn) -> Result<()> {
        let key = format!("{}{}/{addr}", keys::IPAM, pool.name);
        match self.inner.store.get_json::<String>(&key).await? {
            None => {
                tx.txn
                    .compare(key.as_str(), Precondition::Absent)
                    .put_json(key, &tx.vs)?;
            }
            Some((owner, rev)) if owner == tx.vs => {
                tx.txn.compare(key, Precondition::Revision(rev));
            }
            Some((owner, _)) => {
                return Err(ControllerError::invalid(
                    "vip",
                    format!("address {addr} is allocated to {owner}"),
                ));
            }
        }
        tx.claimed.push((pool.name.clone(), addr));
        Ok(())
    }

    /// The lowest free usable address of a pool.
    async fn allocate(&self, pool: &IpamPool, tx: &mut IpamTxn) -> Result<IpAddr> {
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
            match self.claim(pool, addr, tx).await {
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

/// False when the address `rt` holds came from the pool of another network than `network`
/// (the service moved networks); a fixed VIP or a cloud's address is where it is.
fn on_its_network(st: &State, rt: &VsRuntime, network: &str) -> bool {
    rt.pool
        .as_ref()
        .and_then(|p| st.pools.get(p))
        .is_none_or(|p| p.network == network)
}

/// The address claims and releases of one reconcile of one service, to commit in one
/// transaction with its runtime record, and to apply to the in-memory IPAM only once they
/// are committed (a failed commit leaves memory as the store is).
struct IpamTxn {
    vs: String,
    txn: Txn,
    claimed: Vec<(String, IpAddr)>,
    released: Vec<(String, IpAddr)>,
}

impl IpamTxn {
    fn new(vs: &str) -> Self {
        Self {
            vs: vs.to_owned(),
            txn: Txn::new(),
            claimed: Vec::new(),
            released: Vec::new(),
        }
    }

    /// Releases the address the runtime holds from its pool (a fixed VIP outside every pool
    /// holds no claim).
    fn release(&mut self, rt: &mut VsRuntime) {
        if let (Some(pool), Some(addr)) = (rt.pool.take(), rt.address) {
            self.release_claim(pool, addr);
        }
        rt.address = None;
    }

    /// Releases one claim of the service.
    fn release_claim(&mut self, pool: String, addr: IpAddr) {
        let key = format!("{}{pool}/{addr}", keys::IPAM);
        if !self.txn.ops.iter().any(|op| op.key() == key) {
            self.txn.delete(key);
            self.released.push((pool, addr));
        }
    }

    /// Applies the committed claims and releases to the in-memory IPAM; a claim no record
    /// held is held again (claimed) or gone (released).
    fn applied(self, st: &mut State) {
        for (pool, addr) in self.released.iter().chain(&self.claimed) {
            if let Some(u) = st.unheld_claims.get_mut(&self.vs) {
                u.retain(|(p, a)| (p, a) != (pool, addr));
                if u.is_empty() {
                    st.unheld_claims.remove(&self.vs);
                }
            }
        }
        for (pool, addr) in self.released {
            if let Some(m) = st.ipam.get_mut(&pool) {
                m.remove(&addr);
            }
        }
        for (pool, addr) in self.claimed {
            st.ipam
                .entry(pool)
                .or_default()
                .insert(addr, self.vs.clone());
        }
    }
}
