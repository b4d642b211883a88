//! Moving a virtual service off an overloaded SE.
//!
//! Spans follow each service's own load, and the group's size its total load, but neither
//! moves a service: two services at 60 % of an SE each, placed on one SE, leave it at 120 %
//! while their spans see nothing to do and the SE the group added for them stays idle.
//! Rebalancing moves one service per step from the hottest SE to the coolest one that does
//! not carry it yet, judged only from the agents' reports.
//!
//! It is built not to flap. A move happens only when every serving SE has a fresh report
//! about its current configuration, and a move changes two SEs' configurations, so the next
//! move waits for their next reports: one move per report interval at most. A move must
//! lower the hotter of the two SEs by at least the autoscaler's tolerance band, so the sum of
//! squared utilisations falls with every move and a steady load settles.

use super::pass::Se;
use super::{Controller, scaling};
use crate::model::{HaMode, SeGroup};
use crate::se_protocol::SeReport;
use std::collections::HashMap;
use tokio::time::Instant;

/// One service moved from one SE to another.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Move {
    pub vs: String,
    pub from: String,
    pub to: String,
    /// Why, for the log and the group's status.
    pub why: String,
}

impl Controller {
    /// The move that relieves the hottest serving SE most, if one is due.
    pub(super) fn rebalance_move(&self, g: &SeGroup, ses: &[Se], now: Instant) -> Option<Move> {
        if !g.placement.rebalance || !matches!(g.ha, HaMode::Elastic { .. }) {
            return None;
        }
        let st = self.state();
        let serving: Vec<&str> = ses
            .iter()
            .filter(|s| s.serving())
            .map(|s| s.rec.name.as_str())
            .collect();
        if serving.len() < 2 {
            return None;
        }
        // Utilisation and report of each serving SE; any stale report and nothing moves.
        let mut util: HashMap<&str, f64> = HashMap::with_capacity(serving.len());
        let mut reports: HashMap<&str, &SeReport> = HashMap::with_capacity(serving.len());
        for se in &serving {
            let r = self.fresh_report(&st, se, now)?;
            util.insert(se, scaling::utilisation(g, 1, r.rps, r.connections));
            reports.insert(se, r);
        }
        let (&hot, &hot_util) = util
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))?;
        let band = g.autoscale.target_utilisation * g.autoscale.tolerance;
        if hot_util <= g.autoscale.target_utilisation + band {
            return None;
        }
        let report = reports[hot];
        let cap = g.placement.max_vs_per_se as usize;
        // (moves the VIP, hotter SE after the move, candidate): the best is the smallest.
        let mut best: Option<(bool, f64, Move)> = None;
        for (vs, part) in &report.virtual_services {
            let share = scaling::utilisation(g, 1, part.rps, part.connections);
            let Some(rt) = st.vsrt.get(vs) else { continue };
            if share <= 0.0 || !rt.placement.iter().any(|p| p == hot) {
                continue;
            }
            let Some((&to, &to_util)) = util
                .iter()
                .filter(|(se, _)| !rt.placement.iter().any(|p| p == **se))
                .filter(|(se, _)| cap == 0 || reports[**se].virtual_services.len() < cap)
                .min_by(|a, b| a.1.total_cmp(b.1).then_with(|| a.0.cmp(b.0)))
            else {
                continue;
            };
            let after = (hot_util - share).max(to_util + share);
            if after > hot_util - band {
                continue;
            }
            let moves_vip = rt.bound_to.as_deref() == Some(hot);
            let better = best
                .as_ref()
                .is_none_or(|(v, a, _)| (moves_vip, after) < (*v, *a));
            if better {
                let why = format!(
                    "SE {hot} at {:.0} % of capacity: {vs} ({:.0} %) moved to SE {to} (at {:.0} %)",
                    hot_util * 100.0,
                    share * 100.0,
                    to_util * 100.0
                );
                best = Some((
                    moves_vip,
                    after,
                    Move {
                        vs: vs.clone(),
                        from: hot.to_owned(),
                        to: to.to_owned(),
                        why,
                    },
                ));
            }
        }
        best.map(|(_, _, m)| m)
    }
}
