//! The networks a group's SEs may join: found by id or name, or created, once per process
//! ([`Controller::resolve_networks`]); what each virtual service needs of them; and how many
//! SEs the group must add so that every service has its span of SEs on its networks (on a
//! cloud that cannot hot-attach, or when SEs are at their NIC limit).

use super::nics::{NicRoom, SeNets};
use super::pass::GroupPass;
use super::{Controller, State};
use crate::error::{ControllerError, Result};
use crate::model::{SeGroup, SeNetwork, VirtualService};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use strato_core::{CloudConnector, NetworkId, NetworkQuery, NetworkSpec};

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
}
