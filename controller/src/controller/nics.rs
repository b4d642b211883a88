//! NICs: what each SE is on, joining an SE to the networks of the virtual services placed on
//! it (hot-attach where the cloud can; [`super::networks`] finds the networks), and detaching
//! what no service needs any more.
//!
//! An SE's NICs are in its record (`SeRecord::nics`), synced from the cloud's read of its VM
//! every pass ([`super::observe`]): a NIC attached by a process that died before recording
//! it is found there again, and the attach itself is idempotent (its client token is the VM
//! and the spec), so it is never made twice. NICs go with the VM: deleting an SE leaves none.

use super::networks::needs_of;
use super::pass::{GroupPass, SeHealth};
use super::{Controller, SePhase, SeRecord};
use crate::error::{ControllerError, Result};
use crate::model::{SeGroup, VirtualService};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use strato_agent::protocol::InterfaceRef;
use strato_core::{Capabilities, CloudConnector, NetworkId, NicSpec};

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
