//! Networks and NICs: the networks a group's SEs may join, found or created once
//! ([`Controller::resolve_networks`]), what each SE is on, and the phase that joins an SE to
//! the networks of the virtual services placed on it (hot-attach where the cloud can) and
//! detaches what no service needs any more.
//!
//! An SE's NICs are in its record (`SeRecord::nics`), synced from the cloud's read of its VM
//! every pass ([`super::observe`]): a NIC attached by a process that died before recording
//! it is found there again, and the attach itself is idempotent (its client token is the VM
//! and the spec), so it is never made twice. NICs go with the VM: deleting an SE leaves none.

use super::pass::{GroupPass, SeHealth};
use super::{Controller, SePhase, SeRecord, State};
use crate::error::{ControllerError, Result};
use crate::model::{SeGroup, SeNetwork, VirtualService};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use strato_agent::protocol::InterfaceRef;
use strato_core::{Capabilities, CloudConnector, NetworkId, NetworkQuery, NetworkSpec, NicSpec};

/// What the cloud lets the controller do with NICs.
#[derive(Clone, Copy, Debug)]
pub(super) struct NicRoom {
    /// NICs can be added to a running SE (and removed) without stopping it or replacing it.
    pub hot: bool,
    /// New SEs can be made with their extra NICs.
    pub at_create: bool,
    /// Most NICs of one SE, the primary included.
    pub max: usize,
}

impl NicRoom {
    pub fn of(caps: &Capabilities) -> Self {
        Self {
            hot: caps.hot_nic_attach && caps.nic_attach && !caps.nic_attach_replaces_vm,
            at_create: caps.nics_at_create,
            max: caps.max_nics_per_vm.max(1) as usize,
        }
    }
}

/// The networks one SE is on (counting the attaches a placement plans), and its NIC count.
#[derive(Clone, Debug, Default)]
pub(super) struct SeNets {
    pub have: BTreeSet<NetworkId>,
    pub count: usize,
}

impl SeNets {
    /// What the record says: its NICs, or before its VM was seen, what it was created with.
    pub fn of(rec: &SeRecord) -> Self {
        if rec.nics.is_empty() {
            let have = rec
                .spec
                .network
                .iter()
                .chain(&rec.spec.extra_networks)
                .cloned()
                .collect();
            return Self {
                have,
                count: 1 + rec.spec.extra_networks.len(),
            };
        }
        Self {
            have: rec.nics.iter().map(|n| n.network.clone()).collect(),
            count: rec.nics.len(),
        }
    }

    /// How many of `needs` it is not on.
    pub fn missing(&self, needs: &[NetworkId]) -> usize {
        needs.iter().filter(|n| !self.have.contains(*n)).count()
    }

    /// On all of `needs` already, or able to get the missing NICs by hot attach.
    pub fn can_take(&self, needs: &[NetworkId], room: NicRoom) -> bool {
        let m = self.missing(needs);
        m == 0 || (room.hot && self.count + m <= room.max)
    }

    /// Counts the NICs a placement on it will attach.
    pub fn reserve(&mut self, needs: &[NetworkId]) {
        for n in needs {
            if self.have.insert(n.clone()) {
                self.count += 1;
            }
        }
    }
}

/// The networks `vs` needs its SEs on besides the group's template network (its VIP's and its
/// servers'), as cloud ids; or why it cannot be placed.
pub(super) fn needs_of(
    g: &SeGroup,
    vs: &VirtualService,
    ids: &BTreeMap<String, NetworkId>,
) -> std::result::Result<Vec<NetworkId>, String> {
    g.check_networks_of(vs).map_err(|e| e.to_string())?;
    let keys = std::iter::once(vs.vip_network(g)).chain(vs.server_networks.iter().map(|s| &**s));
    let mut out: Vec<NetworkId> = Vec::new();
    for key in keys.filter(|k| *k != g.network_key()) {
        let id = ids.get(key).ok_or_else(|| {
            format!(
                "network {key:?} of se group {} is not found in the cloud yet",
                g.name
            )
        })?;
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// The interface of the SE `rec` that carries the VIP of `vs`: `None` for the template
/// network (the primary), else its NIC on the service's network.
pub(super) fn interface_of(
    g: &SeGroup,
    vs: &VirtualService,
    rec: &SeRecord,
    ids: &BTreeMap<String, NetworkId>,
) -> Option<InterfaceRef> {
    let key = vs.vip_network(g);
    if key == g.network_key() {
        return None;
    }
    let id = ids.get(key)?;
    rec.nics
        .iter()
        .find(|n| n.network == *id)
        .map(|n| InterfaceRef {
            device_index: n.device_index,
            mac: n.mac.clone(),
        })
}

/// The resolved networks of group `g` on its cloud (key to cloud id), as far as known.
pub(super) fn known_networks(st: &State, g: &SeGroup) -> BTreeMap<String, NetworkId> {
    g.networks
        .iter()
        .filter_map(|n| {
            st.net_ids
                .get(&(g.cloud.clone(), n.network.clone()))
                .map(|id| (n.network.clone(), id.clone()))
        })
        .collect()
}

/// Finds a network by id, then by name; creates it when `create` says so.
async fn resolve(conn: &dyn CloudConnector, n: &SeNetwork) -> Result<NetworkId> {
    match conn.get_network(&NetworkId::new(n.network.clone())).await {
        Ok(net) => return Ok(net.id),
        // Not an id this cloud knows (or not one at all): try it as a name.
        Err(e) if !e.is_retryable() => {}
        Err(e) => return Err(e.into()),
    }
    let query = NetworkQuery {
        name: Some(n.network.clone()),
        include_unowned: true,
        ..NetworkQuery::default()
    };
    if let Some(net) = conn.list_networks(&query).await?.items.into_iter().next() {
        return Ok(net.id);
    }
    if !n.create {
        return Err(ControllerError::invalid(
            "networks",
            format!(
                "network {:?} is neither the id nor the name of a network of the cloud, and \
                 the group does not say to create it (create = true)",
                n.network
            ),
        ));
    }
    // Idempotent by its client token: a retry after a crash finds the network it made.
    let spec = NetworkSpec::new(n.network.clone(), n.cidr);
    let net = conn.create_network(&spec).await?;
    tracing::info!(network = %n.network, id = %net.id, "created network");
    Ok(net.id)
}

/// Detaches every NIC of an SE but its primary, before its VM is deleted: a cloud that keeps
/// a NIC past its VM (an ENI whose delete-on-termination was lost, or an emulator that ignores
/// it) would otherwise keep it for good, and the detach deletes what strato made. Failures
/// are logged, never a reason to keep the VM: the VM's delete takes its NICs on every cloud
/// that honours it.
pub(super) async fn detach_all(conn: &dyn CloudConnector, rec: &SeRecord, vm: &strato_core::VmId) {
    if !NicRoom::of(&conn.capabilities()).hot {
        return;
    }
    for nic in rec.nics.iter().filter(|n| n.device_index > 0) {
        match conn.detach_nic(vm, &nic.id).await {
            Ok(()) => {
                metrics::counter!("strato_controller_nic_detaches_total").increment(1);
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                tracing::warn!(se = %rec.name, nic = %nic.id, error = %e,
                    "detaching a NIC before deleting the SE failed; the delete takes it");
            }
        }
    }
}

impl Controller {
    /// Finds (or creates) the group's networks not resolved yet; a failure is the pass's error
    /// and leaves the services on that network unplaced.
    pub(super) async fn resolve_networks(&self, p: &mut GroupPass<'_>) {
        for n in p.g.networks.clone() {
            let key = (p.g.cloud.clone(), n.network.clone());
            let known = self.state().net_ids.get(&key).cloned();
            let id = match known {
                Some(id) => id,
                None => match resolve(&*p.conn, &n).await {
                    Ok(id) => {
                        self.state().net_ids.insert(key, id.clone());
                        id
                    }
                    Err(e) => {
                        p.errors.push(e);
                        continue;
                    }
                },
            };
            p.nets.insert(n.network, id);
        }
    }

    /// SEs the group needs on top of `p.target` so that every service has its span of SEs
    /// that are on its networks or can join them, and the networks new SEs are made on. On a
    /// cloud that cannot hot-attach, or when every SE is at its NIC limit, only new SEs help.
    pub(super) fn network_deficit(&self, p: &GroupPass<'_>) -> (u32, Vec<NetworkId>) {
        let room = NicRoom::of(&p.conn.capabilities());
        if !room.hot && !room.at_create {
            return (0, Vec::new());
        }
        let cands: Vec<SeNets> = p
            .ses
            .iter()
            .filter(|s| s.live() && !p.draining(&s.rec.name))
            .map(|s| SeNets::of(&s.rec))
            .collect();
        let st = self.state();
        let mut deficit = 0;
        let mut nets: Vec<NetworkId> = Vec::new();
        for vs in st.vss_of_group(&p.g.name) {
            let Ok(needs) = needs_of(&p.g, vs, &p.nets) else {
                continue;
            };
            if needs.is_empty() {
                continue;
            }
            let span = st
                .vs_scale
                .get(&vs.name)
                .map_or_else(|| super::scaling::span_bounds(&p.g, vs, 0).0, |s| s.desired)
                as usize;
            let capable = cands.iter().filter(|c| c.can_take(&needs, room)).count();
            if capable < span {
                deficit = deficit.max(span - capable);
                for n in needs {
                    if !nets.contains(&n) {
                        nets.push(n);
                    }
                }
            }
        }
        nets.truncate(room.max.saturating_sub(1));
        (deficit as u32, nets)
    }

    /// The SEs that carry a service whose networks too few SEs are on: a scale-in must not
    /// take them (it would only make the group create another).
    pub(super) fn network_essential(&self, p: &GroupPass<'_>) -> BTreeSet<String> {
        let nets: HashMap<&str, SeNets> = p
            .ses
            .iter()
            .filter(|s| s.live())
            .map(|s| (s.rec.name.as_str(), SeNets::of(&s.rec)))
            .collect();
        let st = self.state();
        let mut out = BTreeSet::new();
        for vs in st.vss_of_group(&p.g.name) {
            let Ok(needs) = needs_of(&p.g, vs, &p.nets) else {
                continue;
            };
            let Some(rt) = st.vsrt.get(&vs.name) else {
                continue;
            };
            if needs.is_empty() {
                continue;
            }
            let on = nets.values().filter(|n| n.missing(&needs) == 0).count();
            let span = st.vs_scale.get(&vs.name).map_or(1, |s| s.desired) as usize;
            if on <= span {
                out.extend(
                    rt.placement
                        .iter()
                        .filter(|s| nets.get(s.as_str()).is_some_and(|n| n.missing(&needs) == 0))
                        .cloned(),
                );
            }
        }
        out
    }

    /// Joins the SE `se` to every network of `needs` it is not on: hot-attaches the NICs (each
    /// idempotent by its client token) and records them.
    pub(super) async fn join_networks(
        &self,
        p: &GroupPass<'_>,
        se: &str,
        needs: &[NetworkId],
    ) -> Result<()> {
        let Some(rec) = self
            .state()
            .ses
            .get(&p.g.name)
            .and_then(|m| m.get(se))
            .cloned()
        else {
            return Err(ControllerError::Unknown(format!("SE {se} has no record")));
        };
        let have = SeNets::of(&rec);
        let missing: Vec<&NetworkId> = needs.iter().filter(|n| !have.have.contains(*n)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let vm = rec
            .vm_id
            .clone()
            .ok_or_else(|| ControllerError::Unknown(format!("SE {se} has no VM id yet")))?;
        let mut rec = SeRecord::clone(&rec);
        if rec.nics.is_empty()
            && let Some(v) = p.vms.get(se)
        {
            rec.nics = v.nics.clone();
        }
        for net in missing {
            let spec = NicSpec {
                network: net.clone(),
                address: None,
            };
            let nic = p.conn.attach_nic(&vm, &spec).await?;
            metrics::counter!("strato_controller_nic_attaches_total").increment(1);
            tracing::info!(se, network = %net, nic = %nic.id, index = nic.device_index,
                "attached NIC");
            if !rec.nics.iter().any(|n| n.id == nic.id) {
                rec.nics.push(nic);
            }
        }
        rec.nics.sort_by_key(|n| n.device_index);
        self.invalidate_view(&p.g.cloud);
        self.save_se(&rec).await
    }

    /// Detaches the NICs on the group's networks of serving SEs that no service placed on
    /// them needs any more (their VIPs have moved: placement ran first). Only on clouds that detach without a stop, and
    /// only when every service's networks are known (an unknown is never a reason to detach).
    pub(super) async fn detach_unneeded(&self, p: &mut GroupPass<'_>) -> Result<()> {
        if !NicRoom::of(&p.conn.capabilities()).hot {
            return Ok(());
        }
        let needed: Option<HashMap<String, BTreeSet<NetworkId>>> = {
            let st = self.state();
            let mut needed: HashMap<String, BTreeSet<NetworkId>> = HashMap::new();
            let mut known = true;
            for vs in st.vss_of_group(&p.g.name) {
                let Ok(needs) = needs_of(&p.g, vs, &p.nets) else {
                    known = false;
                    break;
                };
                let Some(rt) = st.vsrt.get(&vs.name) else {
                    continue;
                };
                for se in rt.placement.iter().chain(&rt.bound_to) {
                    needed
                        .entry(se.clone())
                        .or_default()
                        .extend(needs.iter().cloned());
                }
            }
            known.then_some(needed)
        };
        let Some(needed) = needed else {
            return Ok(());
        };
        let none = BTreeSet::new();
        let listed: BTreeSet<NetworkId> = p.nets.values().cloned().collect();
        let serving: Vec<String> = p
            .ses
            .iter()
            .filter(|s| s.rec.phase == SePhase::Active && s.health == SeHealth::Healthy)
            .map(|s| s.rec.name.clone())
            .collect();
        for se in serving {
            let Some(rec) = self
                .state()
                .ses
                .get(&p.g.name)
                .and_then(|m| m.get(&se))
                .cloned()
            else {
                continue;
            };
            let Some(vm) = rec.vm_id.clone() else {
                continue;
            };
            let want = needed.get(&se).unwrap_or(&none);
            // Only NICs on the group's listed networks, the ones strato joins: a NIC the
            // template itself has (a VM cloned with two) is the template's business.
            let spare: Vec<_> = rec
                .nics
                .iter()
                .filter(|n| {
                    n.device_index > 0 && listed.contains(&n.network) && !want.contains(&n.network)
                })
                .cloned()
                .collect();
            if spare.is_empty() {
                continue;
            }
            let mut rec = SeRecord::clone(&rec);
            for nic in spare {
                match p.conn.detach_nic(&vm, &nic.id).await {
                    Ok(()) => {
                        metrics::counter!("strato_controller_nic_detaches_total").increment(1);
                        tracing::info!(se = %se, network = %nic.network, nic = %nic.id,
                            "detached NIC no virtual service needs");
                        rec.nics.retain(|n| n.id != nic.id);
                    }
                    Err(e) => p.errors.push(e.into()),
                }
            }
            self.invalidate_view(&p.g.cloud);
            self.save_se(&rec).await?;
        }
        Ok(())
    }
}
