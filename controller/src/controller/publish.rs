//! Phase 8 of a group reconcile, publish: every SE's configuration (its virtual services and
//! its role in each) to the hub its agent long-polls, and the group's size to the metrics.

use super::pass::GroupPass;
use super::{Controller, SePhase};
use crate::model::{HaMode, SeGroup};
use crate::se_protocol::{Role, SeVsConfig};
use std::collections::HashMap;
use strato_core::VipSupport;

impl Controller {
    pub(super) fn publish(&self, p: &GroupPass<'_>) {
        let unpublished = p
            .ses
            .iter()
            .any(|s| s.rec.phase != SePhase::Deleting && !self.inner.hub.contains(&s.rec.name));
        if p.placement_changed
            || p.services_changed
            || p.structural
            || p.created > 0
            || p.deleted > 0
            || !p.drain.is_empty()
            || unpublished
        {
            self.publish_configs(&p.g, p.conn.capabilities().vip, &p.nets);
        }
        let name = p.g.name.as_str();
        let mut st = self.state();
        let gs = st.group_status.entry(name.to_owned()).or_default();
        gs.desired = Some(p.desired);
        let total = st.ses.get(name).map_or(0, |m| m.len());
        metrics::gauge!("strato_controller_ses", "group" => name.to_owned()).set(total as f64);
        metrics::gauge!("strato_controller_ses_healthy", "group" => name.to_owned())
            .set(p.ses.iter().filter(|s| s.serving()).count() as f64);
        metrics::gauge!("strato_controller_ses_desired", "group" => name.to_owned())
            .set(f64::from(p.desired));
    }

    /// Rebuilds every SE's configuration of the group; the hub bumps versions only on change.
    fn publish_configs(
        &self,
        g: &SeGroup,
        support: VipSupport,
        nets: &std::collections::BTreeMap<String, strato_core::NetworkId>,
    ) {
        let st = self.state();
        let Some(recs) = st.ses.get(&g.name) else {
            return;
        };
        let mut per_se: HashMap<&str, Vec<SeVsConfig>> = recs
            .values()
            .filter(|r| r.phase != SePhase::Deleting)
            .map(|r| (r.name.as_str(), Vec::new()))
            .collect();
        for vs in st.vss_of_group(&g.name) {
            let Some(rt) = st.vsrt.get(&vs.name) else {
                continue;
            };
            let serving = match g.ha {
                HaMode::ActiveStandby => 1,
                HaMode::Elastic { .. } => rt.placement.len() as u32,
            };
            for (i, se) in rt.placement.iter().enumerate() {
                let role = match (i, g.ha) {
                    (0, _) => Role::Primary,
                    (_, HaMode::ActiveStandby) => Role::Standby,
                    _ => Role::Secondary,
                };
                let interface = recs
                    .get(se)
                    .and_then(|r| super::nics::interface_of(g, vs, r, nets));
                if let Some(list) = per_se.get_mut(se.as_str()) {
                    list.push(SeVsConfig {
                        name: vs.name.clone(),
                        fqdn: vs.fqdn.clone(),
                        vip: rt.address,
                        configure_vip: role == Role::Primary && support != VipSupport::Cloud,
                        role,
                        serving,
                        ports: vs.ports.clone(),
                        servers: vs.servers.clone(),
                        algorithm: vs.algorithm,
                        interface,
                    });
                }
            }
        }
        for (se, vss) in per_se {
            self.inner.hub.publish(se, &g.name, vss);
        }
    }
}
