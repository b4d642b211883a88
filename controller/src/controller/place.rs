//! Phase 6 of a group reconcile, place: put each virtual service on as many serving SEs as
//! its span, bind its VIP to the first of them (the primary), and answer its name in DNS
//! while the VIP sits on a serving SE (or, when none serves, on an unreachable one). Services
//! stay where they are unless their SE stopped serving, their span changed, or rebalancing
//! ([`super::rebalance`]) moves one.

use super::networks::needs_of;
use super::nics::{NicRoom, SeNets};
use super::pass::{GroupPass, SeHealth};
use super::rebalance::Move;
use super::scaling::span_bounds;
use super::template::serial_of;
use super::{Controller, SePhase, VsRuntime};
use crate::error::{ControllerError, Result};
use crate::model::{PlacementStrategy, SeGroup, VirtualService};
use std::collections::{BTreeMap, HashMap, HashSet};
use strato_core::{NetworkId, VipBinding, VipSpec, VipSupport};

/// One placement of a group's services: the serving SEs, how many services each carries so
/// far, and who binds the VIPs.
struct Placing<'p> {
    eligible: HashSet<&'p str>,
    load: BTreeMap<&'p str, u32>,
    support: VipSupport,
    /// The networks of each eligible SE, counting the NICs this placement will attach.
    nets: HashMap<String, SeNets>,
    room: NicRoom,
}

/// One service's placement in the making.
struct Plan {
    vs: VirtualService,
    rt: VsRuntime,
    /// The SEs it stays on.
    placed: Vec<String>,
    /// How many SEs it should be on (its span, at most the serving SEs).
    span: usize,
    /// The networks its SEs must be on besides the template's (or why it cannot be placed).
    needs: std::result::Result<Vec<NetworkId>, String>,
}

impl Controller {
    pub(super) async fn place_services(&self, p: &mut GroupPass<'_>) -> Result<()> {
        p.eligible = p
            .ses
            .iter()
            .filter(|s| s.serving())
            .map(|s| s.rec.name.clone())
            .collect();
        if p.eligible.is_empty() {
            // No SE serves, but some only stopped reporting while their VMs run: they are the
            // best there is (a partition between the controller and its agents leaves the
            // data plane serving), so services stay on them and DNS keeps answering.
            p.eligible = p
                .ses
                .iter()
                .filter(|s| {
                    s.health == SeHealth::Unreachable
                        && matches!(s.rec.phase, SePhase::Active | SePhase::Draining)
                })
                .map(|s| s.rec.name.clone())
                .collect();
        }
        let relief = self.rebalance_move(&p.g, &p.ses, p.now);
        if let Some(m) = &relief {
            let name = p.g.name.as_str();
            tracing::info!(group = name, vs = %m.vs, from = %m.from, to = %m.to, "{}", m.why);
            metrics::counter!("strato_controller_rebalance_moves_total").increment(1);
            self.state()
                .group_status
                .entry(name.to_owned())
                .or_default()
                .rebalanced = Some(m.why.clone());
        }
        let force = p.structural || p.created > 0 || !p.drain.is_empty();
        // Placement consumes the mark a changed service left; publish still needs it.
        p.services_changed = self.state().dirty.contains(&p.g.name);
        p.placement_changed = self.place(p, relief.as_ref(), force).await?;
        Ok(())
    }

    /// Places the group's virtual services; returns true when any placement or binding changed.
    async fn place(&self, p: &GroupPass<'_>, relief: Option<&Move>, force: bool) -> Result<bool> {
        let Some(work) = self.placement_work(p, relief.is_some(), force) else {
            return Ok(false);
        };
        let nets = {
            let st = self.state();
            let recs = st.ses.get(&p.g.name);
            p.eligible
                .iter()
                .filter_map(|e| Some((e.clone(), SeNets::of(recs?.get(e)?))))
                .collect()
        };
        let mut at = Placing {
            eligible: p.eligible.iter().map(String::as_str).collect(),
            load: p.eligible.iter().map(|e| (e.as_str(), 0)).collect(),
            support: p.conn.capabilities().vip,
            nets,
            room: NicRoom::of(&p.conn.capabilities()),
        };
        // What stays where it is counts before anything new is placed, so that a new
        // placement sees every service's SEs, not only those of the services before it.
        let plans: Vec<Plan> = work
            .into_iter()
            .map(|(vs, rt, span)| {
                let needs = needs_of(&p.g, &vs, &p.nets);
                at.keep(vs, rt, span, p.eligible.len(), relief, needs)
            })
            .collect();
        let mut changed = false;
        for Plan {
            vs,
            mut rt,
            placed,
            span,
            needs,
        } in plans
        {
            let before = rt.clone();
            let needs = match needs {
                Ok(n) => n,
                Err(why) => {
                    self.state().vs_errors.insert(vs.name.clone(), why);
                    Vec::new()
                }
            };
            rt.placement = at.fill(&p.g, placed, span, &needs);
            if rt.placement.is_empty() && !needs.is_empty() && !at.room.hot && !at.room.at_create {
                self.state().vs_errors.insert(
                    vs.name.clone(),
                    format!(
                        "no SE of group {} is on the networks of virtual service {}, and cloud {} \
                         can neither attach NICs to running VMs nor create VMs with them",
                        p.g.name, vs.name, p.g.cloud
                    ),
                );
            }
            // Its SEs join its networks before its VIP is bound there; an SE that cannot
            // is left out of its placement until it can.
            let mut joined = Vec::with_capacity(rt.placement.len());
            for se in std::mem::take(&mut rt.placement) {
                match self.join_networks(p, &se, &needs).await {
                    Ok(()) => joined.push(se),
                    Err(e @ ControllerError::Store(_)) => return Err(e),
                    Err(e) => {
                        tracing::warn!(vs = %vs.name, se = %se, error = %e,
                            "joining the SE to the service's networks failed");
                        let mut st = self.state();
                        st.vs_errors.insert(vs.name.clone(), e.to_string());
                        st.dirty.insert(p.g.name.clone());
                    }
                }
            }
            rt.placement = joined;
            if self.settle(p, &at, &vs, &before, rt).await? {
                changed = true;
            }
        }
        self.state()
            .group_status
            .entry(p.g.name.clone())
            .or_default()
            .placed_on = p.eligible.clone();
        Ok(changed)
    }

    /// The services to place with their runtime and span, or `None` when nothing changed
    /// since the last placement.
    fn placement_work(
        &self,
        p: &GroupPass<'_>,
        relief: bool,
        force: bool,
    ) -> Option<Vec<(VirtualService, VsRuntime, u32)>> {
        let g = &p.g;
        let mut st = self.state();
        let dirty = st.dirty.remove(&g.name);
        let gs = st.group_status.entry(g.name.clone()).or_default();
        let same = gs.placed_on == p.eligible;
        let st = &*st;
        let unbound = st.vss_of_group(&g.name).any(|v| {
            st.vsrt
                .get(&v.name)
                .is_none_or(|r| r.bound_to.is_none() || r.placement.is_empty())
        });
        let must = dirty || force || relief || (unbound && !p.eligible.is_empty());
        if same && !must {
            return None;
        }
        let work = st
            .vss_of_group(&g.name)
            .map(|v| {
                let span = st
                    .vs_scale
                    .get(&v.name)
                    .map_or_else(|| span_bounds(g, v, 0).0, |s| s.desired);
                (
                    v.clone(),
                    st.vsrt.get(&v.name).cloned().unwrap_or_else(|| VsRuntime {
                        name: v.name.clone(),
                        ..Default::default()
                    }),
                    span,
                )
            })
            .collect();
        Some(work)
    }

    /// Binds the VIP of a placed service to its primary and sets its DNS answer; saves its
    /// runtime and returns true when it changed.
    async fn settle(
        &self,
        p: &GroupPass<'_>,
        at: &Placing<'_>,
        vs: &VirtualService,
        before: &VsRuntime,
        mut rt: VsRuntime,
    ) -> Result<bool> {
        if let Some(primary) = rt.placement.first().cloned()
            && rt.bound_to.as_ref() != Some(&primary)
        {
            match self.bind_vip(p, at.support, vs, &mut rt, &primary).await {
                Ok(()) => {
                    if let Some(old) = &before.bound_to {
                        tracing::info!(vs = %vs.name, from = %old, to = %primary, "moved VIP");
                        metrics::counter!("strato_controller_vip_moves_total").increment(1);
                    }
                    self.state().vs_errors.remove(&vs.name);
                }
                Err(e) => {
                    tracing::warn!(vs = %vs.name, error = %e, "binding the VIP failed");
                    self.state()
                        .vs_errors
                        .insert(vs.name.clone(), e.to_string());
                }
            }
        }
        // DNS answers only while the VIP sits on a serving SE.
        let serving = rt
            .bound_to
            .as_ref()
            .is_some_and(|b| at.eligible.contains(b.as_str()));
        let v4 = match rt.address {
            Some(std::net::IpAddr::V4(a)) if serving => Some(a),
            _ => None,
        };
        self.inner.dns.set(&vs.fqdn, v4);
        rt.dns_name = Some(vs.fqdn.clone());
        if rt == *before {
            return Ok(false);
        }
        self.save_vsrt(&rt).await?;
        Ok(true)
    }

    async fn bind_vip(
        &self,
        p: &GroupPass<'_>,
        support: VipSupport,
        vs: &VirtualService,
        rt: &mut VsRuntime,
        primary: &str,
    ) -> Result<()> {
        if support != VipSupport::Cloud {
            // The agent of the primary configures the address in the guest.
            if rt.address.is_none() {
                return Err(ControllerError::Exhausted(format!(
                    "virtual service {} has no address yet",
                    vs.name
                )));
            }
            rt.binding = Some(VipBinding::Guest);
            rt.bound_to = Some(primary.to_owned());
            return Ok(());
        }
        let vm = p
            .ses
            .iter()
            .find(|s| s.rec.name == primary)
            .and_then(|s| s.rec.vm_id.clone())
            .ok_or_else(|| ControllerError::Unknown(format!("SE {primary} has no VM id yet")))?;
        if let Some(id) = rt.vip_id.clone() {
            match p.conn.move_vip(&id, &vm).await {
                Ok(vip) => {
                    rt.address = Some(vip.address);
                    rt.binding = Some(vip.binding);
                    rt.bound_to = Some(primary.to_owned());
                    return Ok(());
                }
                // The VIP went with its VM: allocate it again below.
                Err(e) if e.is_not_found() => rt.vip_id = None,
                Err(e) => return Err(e.into()),
            }
        }
        let mut spec = VipSpec::new(vs.name.clone(), vm);
        spec.network = match p.nets.get(vs.vip_network(&p.g)) {
            Some(id) => Some(id.clone()),
            None => p.g.template.network.clone().map(NetworkId::new),
        };
        spec.address = rt.address;
        let mut vip = p.conn.allocate_vip(&spec).await?;
        // An allocate that found the VIP of an earlier process (by its client token, after a
        // lost store) returns it where that process left it: put it on this primary.
        if vip.vm.as_ref() != Some(&spec.vm) {
            vip = p.conn.move_vip(&vip.id, &spec.vm).await?;
        }
        rt.vip_id = Some(vip.id);
        rt.address = Some(vip.address);
        rt.binding = Some(vip.binding);
        rt.bound_to = Some(primary.to_owned());
        Ok(())
    }
}

impl Placing<'_> {
    /// What of a service's placement stays: its SEs that still serve, less the hot SE of a
    /// rebalancing move of it (and plus the SE it moves to), up to its span.
    fn keep(
        &mut self,
        vs: VirtualService,
        rt: VsRuntime,
        span: u32,
        serving: usize,
        relief: Option<&Move>,
        needs: std::result::Result<Vec<NetworkId>, String>,
    ) -> Plan {
        let n = (span as usize).min(serving);
        let mut placed: Vec<String> = rt
            .placement
            .iter()
            .filter(|s| self.eligible.contains(s.as_str()))
            .cloned()
            .collect();
        if let Some(m) = relief.filter(|m| m.vs == vs.name)
            && self.eligible.contains(m.to.as_str())
        {
            // Off the hot SE; the remaining SEs keep their order, so the VIP stays where
            // it is unless it sat on the hot SE.
            placed.retain(|s| *s != m.from);
            if !placed.contains(&m.to) {
                placed.push(m.to.clone());
            }
        }
        let n = if needs.is_err() { 0 } else { n };
        let want = needs.as_deref().unwrap_or_default();
        // Only SEs on its networks, or that can join them, keep it.
        placed.retain(|s| {
            self.nets
                .get(s)
                .is_some_and(|h| h.can_take(want, self.room))
        });
        placed.truncate(n);
        for s in &placed {
            if let Some(c) = self.load.get_mut(s.as_str()) {
                *c += 1;
            }
            if let Some(h) = self.nets.get_mut(s) {
                h.reserve(want);
            }
        }
        Plan {
            vs,
            rt,
            placed,
            span: n,
            needs,
        }
    }

    /// Adds SEs to a placement up to `span`: those already on its networks first, then those
    /// that can hot-attach to them (within their NIC limit); among them the least loaded
    /// (spread) or the most loaded (pack) with room under `max_vs_per_se`, the lower serial
    /// on a tie.
    fn fill(
        &mut self,
        g: &SeGroup,
        mut placed: Vec<String>,
        span: usize,
        needs: &[NetworkId],
    ) -> Vec<String> {
        let cap = g.placement.max_vs_per_se;
        while placed.len() < span {
            let nets = &self.nets;
            let room = self.room;
            let pick = self
                .load
                .iter()
                .filter(|(s, c)| !placed.iter().any(|p| p == *s) && (cap == 0 || **c < cap))
                .filter_map(|(s, c)| {
                    let h = nets.get(*s)?;
                    h.can_take(needs, room)
                        .then(|| (s, c, h.missing(needs) > 0))
                })
                .min_by_key(|(s, c, joins)| match g.placement.strategy {
                    PlacementStrategy::Spread => (*joins, **c as i64, serial_of(s)),
                    PlacementStrategy::Pack => (*joins, -(**c as i64), serial_of(s)),
                })
                .map(|(s, _, _)| (*s).to_owned());
            let Some(s) = pick else { break };
            if let Some(c) = self.load.get_mut(s.as_str()) {
                *c += 1;
            }
            if let Some(h) = self.nets.get_mut(&s) {
                h.reserve(needs);
            }
            placed.push(s);
        }
        placed
    }
}
