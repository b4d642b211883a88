//! Phase 4 of a group reconcile, drain: choose the SEs that leave. The unhealthy go, then in
//! a group of one SE per host those on hosts that are not ready (or doubled up), one old SE
//! per step of a rolling upgrade, and the excess of a scale-in. A drained SE keeps serving
//! until its VIPs have moved; it is deleted later ([`super::teardown`]).
//!
//! All of them spend one disruption budget: at most `max_unavailable` SEs drain at a time,
//! counting those still draining from earlier passes, so no pass removes more than that. A
//! failing SE the budget cannot take yet is held (it counts as live, so nothing replaces it
//! yet) and waits its turn; while the judge holds the whole group, nothing drains.

use super::pass::{GroupPass, Se, SeHealth};
use super::{Controller, SePhase};
use crate::error::Result;
use std::collections::HashSet;
use std::sync::Arc;
use strato_core::HostId;

impl Controller {
    pub(super) async fn choose_drains(&self, p: &mut GroupPass<'_>) -> Result<()> {
        let upgrading = p.ses.iter().any(|s| s.live() && !s.current);
        // A rolling upgrade adds one surge SE of the new template while the group has room
        // under max_ses; at max_ses it replaces in place (drain one old SE, then create its
        // successor), which costs one SE of capacity but never the healthy minimum.
        let surge = upgrading && p.desired < p.g.max_ses;
        p.target = p.desired + u32::from(surge);
        if p.hold.is_some() {
            p.live_count = p.ses.iter().filter(|s| s.live()).count() as u32;
            self.state()
                .group_status
                .entry(p.g.name.clone())
                .or_default()
                .upgrade = upgrading.then(|| "rolling upgrade waits: remediation is held".into());
            return Ok(());
        }
        self.drain_unhealthy(p);
        if let Some(ready) = &p.hosts {
            let off = off_hosts(&p.ses, ready);
            let room = p.budget();
            p.drain.extend(off.into_iter().take(room));
        }
        p.live_count = p
            .ses
            .iter()
            .filter(|s| s.live() && !p.draining(&s.rec.name))
            .count() as u32;
        // Services short of SEs on their networks get new ones (made on those networks).
        let (deficit, nets) = self.network_deficit(p);
        if deficit > 0 {
            p.target = p.target.max(p.live_count + deficit).min(p.g.max_ses);
        }
        p.create_nets = nets;
        let essential = self.network_essential(p);
        let upgrade = upgrading.then(|| upgrade_step(p, surge));
        self.state()
            .group_status
            .entry(p.g.name.clone())
            .or_default()
            .upgrade = upgrade;
        drain_scale_in(p, &essential);
        self.mark_draining(p).await
    }

    /// The failing SEs that are not draining yet, with the reason they were judged so, as
    /// many as the budget allows (those the cloud says failed before the unreachable ones,
    /// then by serial); the others are held until it allows more.
    fn drain_unhealthy(&self, p: &mut GroupPass<'_>) {
        let mut st = self.state();
        let gs = st.group_status.entry(p.g.name.clone()).or_default();
        let mut failing: Vec<usize> = (0..p.ses.len())
            .filter(|&i| {
                let s = &p.ses[i];
                s.health.failing()
                    && !s.held
                    && !matches!(s.rec.phase, SePhase::Deleting | SePhase::Draining)
            })
            .collect();
        failing.sort_by_key(|&i| {
            (
                p.ses[i].health == SeHealth::Unreachable,
                p.ses[i].rec.serial,
            )
        });
        for i in failing {
            let name = p.ses[i].rec.name.clone();
            if p.budget() == 0 {
                p.ses[i].held = true;
                let note = format!(
                    "waits for the disruption budget (max_unavailable {}): held",
                    p.g.max_unavailable
                );
                // The judge wrote this pass's reason; the hold is added to it.
                let why = gs.reasons.entry(name).or_default();
                if !why.is_empty() {
                    why.push_str("; ");
                }
                why.push_str(&note);
                continue;
            }
            let why = gs.reasons.get(&name).cloned();
            p.drain
                .push((name, why.unwrap_or_else(|| "unhealthy".into())));
        }
    }

    async fn mark_draining(&self, p: &mut GroupPass<'_>) -> Result<()> {
        let name = p.g.name.as_str();
        for (n, why) in &p.drain {
            if let Some(s) = p.ses.iter_mut().find(|s| s.rec.name == *n) {
                let rec = Arc::make_mut(&mut s.rec);
                rec.phase = SePhase::Draining;
                rec.reason = Some(why.clone());
                tracing::info!(group = name, se = %n, reason = %why, "draining SE");
                self.save_se(&s.rec).await?;
            }
        }
        Ok(())
    }
}

/// One SE per host: the live SEs on hosts that are not ready, the second SE of a host, and
/// SEs not pinned to a host.
fn off_hosts(ses: &[Se], ready: &[HostId]) -> Vec<(String, String)> {
    let mut seen: HashSet<&HostId> = HashSet::new();
    // Serving SEs first, so a duplicate that still boots is the one that goes.
    let mut on_hosts: Vec<&Se> = ses.iter().filter(|s| s.live()).collect();
    on_hosts.sort_by_key(|s| (!s.serving(), s.rec.serial));
    let mut out = Vec::new();
    for s in on_hosts {
        let why = match &s.rec.spec.host {
            Some(h) if !ready.contains(h) => Some(format!("host {h} is not ready")),
            Some(h) if s.current && !seen.insert(h) => Some(format!("a second SE on host {h}")),
            None => Some("not pinned to a host".to_owned()),
            Some(_) => None,
        };
        if let Some(why) = why {
            out.push((s.rec.name.clone(), why));
        }
    }
    out
}

/// One step of a rolling upgrade: drains an old SE once every SE serves. Returns the
/// upgrade's progress, or why it waits.
fn upgrade_step(p: &mut GroupPass<'_>, surge: bool) -> String {
    let healthy = p.ses.iter().filter(|s| s.serving()).count() as u32;
    let old_left = p.ses.iter().filter(|s| s.live() && !s.current).count() as u32;
    let progress = format!(
        "rolling upgrade: {old_left} SE(s) left on the old template ({})",
        if surge {
            "surge of one SE"
        } else {
            "in place, at max_ses"
        }
    );
    // One step at a time: every SE, the last new one included, serves before an old one goes.
    let settled = healthy >= p.target && p.live_count == healthy;
    if !settled {
        return progress;
    }
    if p.budget() == 0 {
        return format!(
            "{progress}; waits for the disruption budget (max_unavailable {})",
            p.g.max_unavailable
        );
    }
    if !surge && healthy <= p.healthy_min {
        return format!(
            "rolling upgrade waits: {healthy} SEs is both max_ses and the healthy \
             minimum; raise max_ses (room for a surge SE) or lower the minimum"
        );
    }
    if let Some(old) = next_old(p, surge) {
        p.drain.push((old, "rolling upgrade".into()));
        p.live_count -= 1;
        // That was the last old SE: no more surge.
        if old_left == 1 {
            p.target = p.desired;
        }
    }
    progress
}

/// The old SE to drain next: not serving before serving, then the oldest.
fn next_old(p: &GroupPass<'_>, surge: bool) -> Option<String> {
    // One SE per host: after a surge, the old SE of a host whose new SE serves.
    let replaced = |s: &Se| {
        !surge
            || p.hosts.is_none()
            || p.ses
                .iter()
                .any(|n| n.current && n.serving() && n.rec.spec.host == s.rec.spec.host)
    };
    p.ses
        .iter()
        .filter(|s| s.live() && !s.current)
        .filter(|s| !p.draining(&s.rec.name))
        .filter(|s| replaced(s))
        .min_by_key(|s| (s.health == SeHealth::Healthy, s.rec.serial))
        .map(|s| s.rec.name.clone())
}

/// Scale-in: the live SEs beyond the target. Old template first, then SEs not serving yet
/// (newest first), then the newest serving ones.
fn drain_scale_in(p: &mut GroupPass<'_>, essential: &std::collections::BTreeSet<String>) {
    if p.live_count <= p.target {
        return;
    }
    let mut candidates: Vec<&Se> = p
        .ses
        .iter()
        .filter(|s| s.live() && !p.draining(&s.rec.name) && !essential.contains(&s.rec.name))
        .collect();
    candidates.sort_by_key(|s| {
        (
            s.current,
            s.health == SeHealth::Healthy,
            std::cmp::Reverse(s.rec.serial),
        )
    });
    // The budget caps a scale-in too: the rest goes on later passes.
    let excess = ((p.live_count - p.target) as usize).min(p.budget());
    let names: Vec<String> = candidates
        .into_iter()
        .take(excess)
        .map(|s| s.rec.name.clone())
        .collect();
    for n in names {
        p.drain.push((n, "scale in".into()));
        p.live_count -= 1;
    }
}
