//! The SE group reconcile: observe the SEs, judge their health, autoscale, replace and roll,
//! place the virtual services, bind and move their VIPs, then delete what was drained.
//!
//! Order inside one pass is the safety argument: VIPs leave an SE (placement) before the SE
//! is deleted; a replacement is created before the failed SE is deleted; a rolling upgrade
//! adds one SE of the new template and deletes an old one only once the new one is healthy.

use super::{Controller, EngineRuntime, SePhase, SeRecord, State, VsRuntime, keys};
use crate::autoscale::Recommendation;
use crate::engines::{EngineHealth, EngineVs, Role};
use crate::error::{ControllerError, Result};
use crate::model::{HaMode, PlacementStrategy, SeGroup};
use crate::runtime::{Action, ObjectRef};
use crate::store::{Precondition, StateStoreExt};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use strato_core::{
    CloudConnector, HostId, NetworkId, Tags, VipBinding, VipSpec, VipSupport, Vm, VmId, VmSpec,
    VmState, member_ordinal,
};
use tokio::time::Instant;

/// User tag carrying the hash of the SE template a VM was made from.
pub const TEMPLATE_TAG: &str = "se-template";

/// Health of an SE as the controller judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeHealth {
    /// Create recorded, VM not seen yet.
    Creating,
    /// VM seen, no report yet.
    Booting,
    /// Reporting and up.
    Healthy,
    /// Failed in the cloud, gone, reporting down, or silent for too long.
    Unhealthy,
}

/// In-memory status of a group.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupStatusInner {
    pub desired: Option<u32>,
    pub recommendation: Option<Recommendation>,
    /// Eligible SEs at the last placement, to skip placement when nothing changed.
    pub placed_on: Vec<String>,
    /// When each in-flight create was last issued by this process.
    pub issued: HashMap<String, Instant>,
    /// When each VM was first seen, for the boot timeout.
    pub first_seen: HashMap<String, Instant>,
    /// Health reasons by SE.
    pub reasons: HashMap<String, String>,
    /// Progress of a rolling upgrade, or why it waits.
    pub upgrade: Option<String>,
    /// The last rebalancing move, and why.
    pub rebalanced: Option<String>,
}

/// The hash of a template: changes exactly when the SEs must be replaced.
pub fn template_hash(g: &SeGroup, owner: &strato_core::OwnerId) -> String {
    let mut t = strato_core::client_token(owner, "se-template", &g.template);
    t.truncate(16);
    t
}

/// The VM spec of SE number `serial` (pinned to `host` in a group with one SE per host).
pub fn se_spec(g: &SeGroup, serial: u64, template: &str, host: Option<HostId>) -> VmSpec {
    let mut tags = Tags::new();
    tags.insert(TEMPLATE_TAG.to_owned(), template.to_owned());
    VmSpec {
        name: format!("{}-{serial}", g.name),
        size: g.template.size.clone(),
        image: g.template.image.clone(),
        network: g.template.network.clone().map(NetworkId::new),
        tags,
        group: Some(g.name.clone()),
        host,
    }
}

pub(crate) fn judge(
    rec: &SeRecord,
    vm: Option<&Vm>,
    rt: Option<&EngineRuntime>,
    first_seen: Option<Instant>,
    now: Instant,
    opts: &super::ControllerOptions,
) -> (SeHealth, Option<String>) {
    let limit = opts.report_interval * opts.missed_reports;
    let Some(vm) = vm else {
        return match rec.phase {
            SePhase::Creating => (SeHealth::Creating, None),
            _ => (
                SeHealth::Unhealthy,
                Some("vm is gone from the cloud".into()),
            ),
        };
    };
    match vm.state {
        VmState::Running => {}
        VmState::Pending | VmState::Unknown => {
            if first_seen.is_some_and(|t| now.duration_since(t) > opts.boot_timeout) {
                return (
                    SeHealth::Unhealthy,
                    Some(format!(
                        "vm still {} after {:?}",
                        vm.state, opts.boot_timeout
                    )),
                );
            }
            return (SeHealth::Booting, None);
        }
        other => {
            return (
                SeHealth::Unhealthy,
                Some(format!("vm is {other} in the cloud")),
            );
        }
    }
    match rt.and_then(|r| r.last_report.as_ref()) {
        Some((_, r)) if r.health == EngineHealth::Down => {
            (SeHealth::Unhealthy, Some("agent reports down".into()))
        }
        Some((t, _)) if now.duration_since(*t) > limit => (
            SeHealth::Unhealthy,
            Some(format!(
                "missed {} reports ({:?} without one)",
                opts.missed_reports,
                now.duration_since(*t)
            )),
        ),
        Some(_) => (SeHealth::Healthy, None),
        None => {
            let since = rt.and_then(|r| r.running_since).unwrap_or(now);
            if now.duration_since(since) > limit {
                (
                    SeHealth::Unhealthy,
                    Some(format!("no report within {limit:?} of boot")),
                )
            } else {
                (SeHealth::Booting, None)
            }
        }
    }
}

/// One SE as a group reconcile sees it.
pub(super) struct Se {
    pub rec: Arc<SeRecord>,
    pub health: SeHealth,
    /// Built from the group's current template.
    pub current: bool,
}

impl Se {
    /// Active and judged healthy: carries virtual services.
    pub fn serving(&self) -> bool {
        self.rec.phase == SePhase::Active && self.health == SeHealth::Healthy
    }

    /// Counts towards the group's size (being made or active, not failed).
    pub fn live(&self) -> bool {
        matches!(self.rec.phase, SePhase::Creating | SePhase::Active)
            && self.health != SeHealth::Unhealthy
    }
}

impl Controller {
    async fn save_se(&self, rec: &SeRecord) -> Result<()> {
        self.inner
            .store
            .put_json(
                &format!("{}{}/{}", keys::SE, rec.group, rec.name),
                rec,
                Precondition::Any,
            )
            .await?;
        self.state()
            .ses
            .entry(rec.group.clone())
            .or_default()
            .insert(rec.name.clone(), Arc::new(rec.clone()));
        Ok(())
    }

    async fn forget_se(&self, group: &str, name: &str) -> Result<()> {
        self.inner
            .store
            .delete(&format!("{}{group}/{name}", keys::SE), Precondition::Any)
            .await?;
        let mut st = self.state();
        if let Some(m) = st.ses.get_mut(group) {
            m.remove(name);
        }
        st.engines.remove(name);
        if let Some(gs) = st.group_status.get_mut(group) {
            gs.issued.remove(name);
            gs.first_seen.remove(name);
            gs.reasons.remove(name);
        }
        drop(st);
        self.inner.hub.remove(name);
        Ok(())
    }

    async fn save_vsrt(&self, rt: &VsRuntime) -> Result<()> {
        self.inner
            .store
            .put_json(&format!("{}{}", keys::VSRT, rt.name), rt, Precondition::Any)
            .await?;
        self.state().vsrt.insert(rt.name.clone(), rt.clone());
        Ok(())
    }

    /// Issues (or re-issues) the create of an SE.
    async fn issue_create(&self, conn: &Arc<dyn CloudConnector>, rec: &mut SeRecord) -> Result<()> {
        self.state()
            .group_status
            .entry(rec.group.clone())
            .or_default()
            .issued
            .insert(rec.name.clone(), Instant::now());
        metrics::counter!("strato_controller_se_creates_total").increment(1);
        match conn.create_vm(&rec.spec).await {
            Ok(vm) => {
                rec.vm_id = Some(vm.id);
                self.save_se(rec).await
            }
            Err(e) if e.is_retryable() || matches!(e.kind(), strato_core::ErrorKind::Timeout) => {
                Err(e.into())
            }
            Err(e) => {
                // The cloud refused: nothing was made, so the record goes.
                self.forget_se(&rec.group, &rec.name).await?;
                Err(e.into())
            }
        }
    }

    pub(crate) async fn reconcile_group(&self, name: &str) -> Result<Action> {
        let Some(g) = self.state().groups.get(name).cloned() else {
            return self.teardown_group(name).await;
        };
        let conn = self.inner.clouds.get(&g.cloud).cloned().ok_or_else(|| {
            ControllerError::Config(format!("cloud profile {:?} is not configured", g.cloud))
        })?;
        let view = self.view(&g.cloud).await?;
        let opts = self.inner.opts.clone();
        let now = Instant::now();
        let template = template_hash(&g, &conn.info().owner);
        let vms: HashMap<&str, &Vm> = view
            .get(name)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|vm| {
                member_ordinal(name, &vm.name).is_some() || parse_serial(name, &vm.name).is_some()
            })
            .map(|vm| (vm.name.as_str(), vm))
            .collect();

        // 1. Bind records to VMs, adopt VMs without a record, drop records of deleted VMs.
        let mut changed: Vec<SeRecord> = Vec::new();
        let mut gone: Vec<String> = Vec::new();
        let mut reissue: Vec<SeRecord> = Vec::new();
        {
            let mut st = self.state();
            let issued = st
                .group_status
                .entry(name.to_owned())
                .or_default()
                .issued
                .clone();
            let recs = st.ses.entry(name.to_owned()).or_default();
            for (vm_name, vm) in &vms {
                if !recs.contains_key(*vm_name) && vm.state.is_live() {
                    changed.push(adopt(&g, vm));
                }
            }
            for rec in recs.values() {
                match vms.get(rec.name.as_str()) {
                    Some(vm) if vm.state.is_live() || rec.phase != SePhase::Deleting => {
                        if rec.vm_id.as_ref() != Some(&vm.id) || rec.phase == SePhase::Creating {
                            let mut r = SeRecord::clone(rec);
                            r.vm_id = Some(vm.id.clone());
                            if r.phase == SePhase::Creating {
                                r.phase = SePhase::Active;
                            }
                            changed.push(r);
                        }
                    }
                    Some(_) => gone.push(rec.name.clone()),
                    None => match rec.phase {
                        SePhase::Deleting => gone.push(rec.name.clone()),
                        SePhase::Creating => {
                            let due = issued
                                .get(&rec.name)
                                .is_none_or(|t| now.duration_since(*t) >= opts.inflight_grace);
                            if due {
                                reissue.push(SeRecord::clone(rec));
                            }
                        }
                        _ => {}
                    },
                }
            }
        }
        let structural = !changed.is_empty() || !gone.is_empty();
        for r in &changed {
            self.save_se(r).await?;
        }
        for n in &gone {
            self.forget_se(name, n).await?;
        }
        let mut errors: Vec<ControllerError> = Vec::new();
        for mut r in reissue {
            // Same spec, same client token: at most one VM whatever happened to the first call.
            if let Err(e) = self.issue_create(&conn, &mut r).await {
                errors.push(e);
            }
        }

        // 2. Health.
        let mut ses: Vec<Se> = {
            let mut st = self.state();
            let st = &mut *st;
            let recs: Vec<Arc<SeRecord>> = st
                .ses
                .get(name)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            let gs = st.group_status.entry(name.to_owned()).or_default();
            let mut out = Vec::with_capacity(recs.len());
            for rec in recs {
                let vm = vms.get(rec.name.as_str()).copied();
                if vm.is_some() {
                    gs.first_seen.entry(rec.name.clone()).or_insert(now);
                }
                if vm.is_some_and(|v| v.state == VmState::Running) {
                    let rt = st.engines.entry(rec.name.clone()).or_insert(EngineRuntime {
                        last_report: None,
                        running_since: None,
                    });
                    rt.running_since.get_or_insert(now);
                }
                let (health, why) = judge(
                    &rec,
                    vm,
                    st.engines.get(&rec.name),
                    gs.first_seen.get(&rec.name).copied(),
                    now,
                    &opts,
                );
                match why {
                    Some(w) => gs.reasons.insert(rec.name.clone(), w),
                    None => gs.reasons.remove(&rec.name),
                };
                let current = rec.template == template;
                out.push(Se {
                    rec,
                    health,
                    current,
                });
            }
            out.sort_by_key(|s| s.rec.serial);
            out
        };

        // 3. Autoscale: each virtual service's span of SEs from its own load, then the group
        //    from its total load and what the spans need.
        let spans = self.scale_services(&g, &ses, now);
        let (mut desired, healthy_min) = self.autoscale(&g, &ses, now, spans);
        // One SE per host: the ready hosts set the size. A host list that could not be read
        // holds the size (an unknown is never a scale-down) and creates nothing.
        let hosts: Option<Vec<HostId>> = if g.placement.se_per_host {
            match self.hosts(&g.cloud).await {
                Ok(h) => {
                    let ready: Vec<HostId> =
                        h.iter().filter(|h| h.ready).map(|h| h.id.clone()).collect();
                    desired = (ready.len() as u32).min(g.max_ses);
                    // The status tells what sets the size; the load's own number stays as a hint.
                    if let Some(rec) = self
                        .state()
                        .group_status
                        .get_mut(name)
                        .and_then(|gs| gs.recommendation.as_mut())
                    {
                        rec.reason = format!(
                            "one SE per ready host: {} ready, max_ses {} (the load alone would \
                             want {}: {})",
                            ready.len(),
                            g.max_ses,
                            rec.desired,
                            rec.reason
                        );
                        rec.desired = desired;
                    }
                    Some(ready)
                }
                Err(e) => {
                    desired = self
                        .state()
                        .group_status
                        .get(name)
                        .and_then(|gs| gs.desired)
                        .unwrap_or_else(|| ses.iter().filter(|s| s.live()).count() as u32);
                    errors.push(e);
                    None
                }
            }
        } else {
            None
        };

        // 4. Choose what drains: the unhealthy, one old SE per step of a rolling upgrade,
        //    and the excess of a scale-in.
        let live = |s: &Se| s.live();
        let upgrading = ses.iter().any(|s| live(s) && !s.current);
        // A rolling upgrade adds one surge SE of the new template while the group has room
        // under max_ses; at max_ses it replaces in place (drain one old SE, then create its
        // successor), which costs one SE of capacity but never the healthy minimum.
        let surge = upgrading && desired < g.max_ses;
        let mut target = desired + u32::from(surge);
        let healthy = ses.iter().filter(|s| s.serving()).count() as u32;
        let mut drain: Vec<(String, String)> = Vec::new();
        for s in ses
            .iter()
            .filter(|s| s.health == SeHealth::Unhealthy && s.rec.phase != SePhase::Deleting)
        {
            if s.rec.phase != SePhase::Draining {
                let why = self
                    .state()
                    .group_status
                    .get(name)
                    .and_then(|gs| gs.reasons.get(&s.rec.name).cloned());
                drain.push((
                    s.rec.name.clone(),
                    why.unwrap_or_else(|| "unhealthy".into()),
                ));
            }
        }
        if let Some(ready) = &hosts {
            let mut seen: HashSet<&HostId> = HashSet::new();
            // Serving SEs first, so a duplicate that still boots is the one that goes.
            let mut on_hosts: Vec<&Se> = ses.iter().filter(|s| live(s)).collect();
            on_hosts.sort_by_key(|s| (!s.serving(), s.rec.serial));
            for s in on_hosts {
                let why = match &s.rec.spec.host {
                    Some(h) if !ready.contains(h) => Some(format!("host {h} is not ready")),
                    Some(h) if s.current && !seen.insert(h) => {
                        Some(format!("a second SE on host {h}"))
                    }
                    None => Some("not pinned to a host".to_owned()),
                    Some(_) => None,
                };
                if let Some(why) = why {
                    drain.push((s.rec.name.clone(), why));
                }
            }
        }
        let mut live_count = ses
            .iter()
            .filter(|s| live(s) && !drain.iter().any(|(n, _)| *n == s.rec.name))
            .count() as u32;
        let old_left = ses.iter().filter(|s| live(s) && !s.current).count() as u32;
        let mut upgrade_note = upgrading.then(|| {
            format!(
                "rolling upgrade: {old_left} SE(s) left on the old template ({})",
                if surge {
                    "surge of one SE"
                } else {
                    "in place, at max_ses"
                }
            )
        });
        // One step at a time: every SE, the last new one included, serves before an old one goes.
        let settled = healthy >= target && live_count == healthy;
        if upgrading && settled {
            if surge || healthy > healthy_min {
                // One SE per host: after a surge, the old SE of a host whose new SE serves.
                let replaced = |s: &Se| {
                    !surge
                        || hosts.is_none()
                        || ses
                            .iter()
                            .any(|n| n.current && n.serving() && n.rec.spec.host == s.rec.spec.host)
                };
                if let Some(old) = ses
                    .iter()
                    .filter(|s| live(s) && !s.current)
                    .filter(|s| !drain.iter().any(|(n, _)| *n == s.rec.name))
                    .filter(|s| replaced(s))
                    .min_by_key(|s| (s.health == SeHealth::Healthy, s.rec.serial))
                {
                    drain.push((old.rec.name.clone(), "rolling upgrade".into()));
                    live_count -= 1;
                    // That was the last old SE: no more surge.
                    if old_left == 1 {
                        target = desired;
                    }
                }
            } else {
                upgrade_note = Some(format!(
                    "rolling upgrade waits: {healthy} SEs is both max_ses and the healthy \
                     minimum; raise max_ses (room for a surge SE) or lower the minimum"
                ));
            }
        }
        self.state()
            .group_status
            .entry(name.to_owned())
            .or_default()
            .upgrade = upgrade_note;
        if live_count > target {
            let mut candidates: Vec<&Se> = ses
                .iter()
                .filter(|s| live(s) && !drain.iter().any(|(n, _)| *n == s.rec.name))
                .collect();
            // Old template first, then SEs not serving yet (newest first), then the newest
            // serving ones.
            candidates.sort_by_key(|s| {
                (
                    s.current,
                    s.health == SeHealth::Healthy,
                    std::cmp::Reverse(s.rec.serial),
                )
            });
            for s in candidates.into_iter().take((live_count - target) as usize) {
                drain.push((s.rec.name.clone(), "scale in".into()));
                live_count -= 1;
            }
        }
        for (n, why) in &drain {
            if let Some(s) = ses.iter_mut().find(|s| s.rec.name == *n) {
                let rec = Arc::make_mut(&mut s.rec);
                rec.phase = SePhase::Draining;
                rec.reason = Some(why.clone());
                tracing::info!(group = name, se = %n, reason = %why, "draining SE");
                self.save_se(&s.rec).await?;
            }
        }

        // 5. Create up to the target (replacements and scale-out), recorded before the call.
        //    A drained SE that still serves (an upgrade's or a scale-in's, waiting for its VIPs
        //    to move) is a VM like any other: together they stay within max_ses. A failed SE is
        //    not counted, so its replacement is never held back by it.
        let draining = ses
            .iter()
            .filter(|s| s.rec.phase == SePhase::Draining && s.health != SeHealth::Unhealthy)
            .count() as u32;
        let mut created = 0u32;
        while live_count < target && live_count + draining < g.max_ses {
            let host = match &hosts {
                Some(ready) => {
                    let taken: HashSet<&HostId> = ses
                        .iter()
                        .filter(|s| s.live() && s.current)
                        .filter_map(|s| s.rec.spec.host.as_ref())
                        .collect();
                    let has_old = |h: &HostId| {
                        ses.iter()
                            .any(|s| s.live() && !s.current && s.rec.spec.host.as_ref() == Some(h))
                    };
                    // A host whose old SE this one replaces first (a surge step of an upgrade).
                    match ready
                        .iter()
                        .filter(|h| !taken.contains(h))
                        .min_by_key(|h| !has_old(h))
                    {
                        Some(h) => Some(h.clone()),
                        None => break,
                    }
                }
                None if g.placement.se_per_host => break,
                None => None,
            };
            let serial = self.next_serial(name).await?;
            let spec = se_spec(&g, serial, &template, host);
            let mut rec = SeRecord {
                name: spec.name.clone(),
                group: name.to_owned(),
                serial,
                token: spec.client_token(&conn.info().owner),
                spec,
                template: template.clone(),
                vm_id: None,
                phase: SePhase::Creating,
                reason: None,
                adopted: false,
            };
            self.save_se(&rec).await?;
            tracing::info!(group = name, se = %rec.name, "creating SE");
            let res = self.issue_create(&conn, &mut rec).await;
            live_count += 1;
            match res {
                Ok(()) => {
                    created += 1;
                    ses.push(Se {
                        rec: Arc::new(rec),
                        health: SeHealth::Creating,
                        current: true,
                    });
                }
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        if created > 0 {
            self.invalidate_view(&g.cloud);
        }

        // 6. Place the virtual services on serving SEs and bind the VIPs to the primaries.
        let eligible: Vec<String> = ses
            .iter()
            .filter(|s| s.rec.phase == SePhase::Active && s.health == SeHealth::Healthy)
            .map(|s| s.rec.name.clone())
            .collect();
        let vm_ids: HashMap<String, VmId> = ses
            .iter()
            .filter_map(|s| Some((s.rec.name.clone(), s.rec.vm_id.clone()?)))
            .collect();
        let relief = self.rebalance_move(&g, &ses, now);
        if let Some(m) = &relief {
            tracing::info!(group = name, vs = %m.vs, from = %m.from, to = %m.to, "{}", m.why);
            metrics::counter!("strato_controller_rebalance_moves_total").increment(1);
            self.state()
                .group_status
                .entry(name.to_owned())
                .or_default()
                .rebalanced = Some(m.why.clone());
        }
        let placement_changed = self
            .place(
                &g,
                &conn,
                &eligible,
                &vm_ids,
                relief.as_ref(),
                structural || created > 0 || !drain.is_empty(),
            )
            .await?;

        // 7. Delete drained SEs that hold no VIP, once their replacements exist.
        let bound: HashSet<String> = {
            let st = self.state();
            st.vss_of_group(name)
                .filter_map(|v| st.vsrt.get(&v.name)?.bound_to.clone())
                .collect()
        };
        let mut deleted = 0;
        for s in ses.iter_mut().filter(|s| s.rec.phase == SePhase::Draining) {
            if bound.contains(&s.rec.name) && !eligible.is_empty() {
                continue;
            }
            if s.health == SeHealth::Unhealthy && live_count < target {
                continue;
            }
            match s.rec.vm_id.clone() {
                Some(id) => match conn.delete_vm(&id).await {
                    Ok(()) => {
                        tracing::info!(group = name, se = %s.rec.name, "deleted SE");
                        metrics::counter!("strato_controller_se_deletes_total").increment(1);
                        Arc::make_mut(&mut s.rec).phase = SePhase::Deleting;
                        self.save_se(&s.rec).await?;
                        deleted += 1;
                    }
                    Err(e) if e.is_not_found() => {
                        self.forget_se(name, &s.rec.name).await?;
                        deleted += 1;
                    }
                    Err(e) => errors.push(e.into()),
                },
                None => {
                    // Never seen in the cloud: forget it once its create had time to show.
                    let issued = self
                        .state()
                        .group_status
                        .get(name)
                        .and_then(|gs| gs.issued.get(&s.rec.name).copied());
                    if issued.is_none_or(|t| now.duration_since(t) >= opts.inflight_grace) {
                        self.forget_se(name, &s.rec.name).await?;
                    }
                }
            }
        }
        if deleted > 0 {
            self.invalidate_view(&g.cloud);
        }

        // 8. Publish the SE configurations.
        let unpublished = ses
            .iter()
            .any(|s| s.rec.phase != SePhase::Deleting && !self.inner.hub.contains(&s.rec.name));
        if placement_changed
            || structural
            || created > 0
            || deleted > 0
            || !drain.is_empty()
            || unpublished
        {
            self.publish_configs(&g, conn.capabilities().vip);
        }
        {
            let mut st = self.state();
            let gs = st.group_status.entry(name.to_owned()).or_default();
            gs.desired = Some(desired);
            let total = st.ses.get(name).map_or(0, |m| m.len());
            metrics::gauge!("strato_controller_ses", "group" => name.to_owned()).set(total as f64);
            metrics::gauge!("strato_controller_ses_healthy", "group" => name.to_owned())
                .set(eligible.len() as f64);
            metrics::gauge!("strato_controller_ses_desired", "group" => name.to_owned())
                .set(f64::from(desired));
        }
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        let busy = created > 0
            || deleted > 0
            || ses
                .iter()
                .any(|s| s.rec.phase != SePhase::Active || s.health != SeHealth::Healthy);
        Ok(Action::Requeue(if busy {
            opts.resync.min(opts.report_interval) / 2
        } else {
            opts.resync
        }))
    }

    async fn next_serial(&self, group: &str) -> Result<u64> {
        let mut rt = {
            let st = self.state();
            let mut rt = st.group_rt.get(group).cloned().unwrap_or_default();
            let max_rec = st
                .ses
                .get(group)
                .and_then(|m| m.values().map(|r| r.serial).max())
                .map_or(0, |m| m + 1);
            rt.next_serial = rt.next_serial.max(max_rec).max(1);
            rt
        };
        let serial = rt.next_serial;
        rt.next_serial += 1;
        self.inner
            .store
            .put_json(&format!("{}{group}", keys::SEGRT), &rt, Precondition::Any)
            .await?;
        self.state().group_rt.insert(group.to_owned(), rt);
        Ok(serial)
    }

    /// Places the group's virtual services; returns true when any placement or binding changed.
    async fn place(
        &self,
        g: &SeGroup,
        conn: &Arc<dyn CloudConnector>,
        eligible: &[String],
        vm_ids: &HashMap<String, VmId>,
        relief: Option<&super::rebalance::Move>,
        force: bool,
    ) -> Result<bool> {
        let work: Vec<(crate::model::VirtualService, VsRuntime, u32)> = {
            let mut st = self.state();
            let dirty = st.dirty.remove(&g.name);
            let gs = st.group_status.entry(g.name.clone()).or_default();
            let same = gs.placed_on == eligible;
            let st = &*st;
            let unbound = st.vss_of_group(&g.name).any(|v| {
                st.vsrt
                    .get(&v.name)
                    .is_none_or(|r| r.bound_to.is_none() || r.placement.is_empty())
            });
            let must = dirty || force || relief.is_some() || (unbound && !eligible.is_empty());
            if same && !must {
                return Ok(false);
            }
            st.vss_of_group(&g.name)
                .map(|v| {
                    let span = st
                        .vs_scale
                        .get(&v.name)
                        .map_or_else(|| super::scaling::span_bounds(g, v, 0).0, |s| s.desired);
                    (
                        v.clone(),
                        st.vsrt.get(&v.name).cloned().unwrap_or_else(|| VsRuntime {
                            name: v.name.clone(),
                            ..Default::default()
                        }),
                        span,
                    )
                })
                .collect()
        };
        let eligible_set: HashSet<&str> = eligible.iter().map(String::as_str).collect();
        let mut load: BTreeMap<&str, u32> = eligible.iter().map(|e| (e.as_str(), 0)).collect();
        let vip_support = conn.capabilities().vip;
        let mut changed = false;
        // What stays where it is counts before anything new is placed, so that a new
        // placement sees every service's SEs, not only those of the services before it.
        let mut plans = Vec::with_capacity(work.len());
        for (vs, rt, span) in work {
            let n = (span as usize).min(eligible.len());
            let mut placed: Vec<String> = rt
                .placement
                .iter()
                .filter(|s| eligible_set.contains(s.as_str()))
                .cloned()
                .collect();
            if let Some(m) = relief.filter(|m| m.vs == vs.name)
                && eligible_set.contains(m.to.as_str())
            {
                // Off the hot SE; the remaining SEs keep their order, so the VIP stays where
                // it is unless it sat on the hot SE.
                placed.retain(|s| *s != m.from);
                if !placed.contains(&m.to) {
                    placed.push(m.to.clone());
                }
            }
            placed.truncate(n);
            for s in &placed {
                if let Some(c) = load.get_mut(s.as_str()) {
                    *c += 1;
                }
            }
            plans.push((vs, rt, placed, n));
        }
        for (vs, mut rt, mut placed, n) in plans {
            let before = rt.clone();
            while placed.len() < n {
                let cap = g.placement.max_vs_per_se;
                let pick = load
                    .iter()
                    .filter(|(s, c)| !placed.iter().any(|p| p == *s) && (cap == 0 || **c < cap))
                    .min_by_key(|(s, c)| match g.placement.strategy {
                        PlacementStrategy::Spread => (**c as i64, serial_of(s)),
                        PlacementStrategy::Pack => (-(**c as i64), serial_of(s)),
                    })
                    .map(|(s, _)| (*s).to_owned());
                match pick {
                    Some(s) => {
                        if let Some(c) = load.get_mut(s.as_str()) {
                            *c += 1;
                        }
                        placed.push(s);
                    }
                    None => break,
                }
            }
            rt.placement = placed;
            let primary = rt.placement.first().cloned();
            if let Some(p) = &primary
                && rt.bound_to.as_ref() != Some(p)
            {
                match self
                    .bind_vip(g, conn, vip_support, &vs, &mut rt, p, vm_ids)
                    .await
                {
                    Ok(()) => {
                        if let Some(old) = &before.bound_to {
                            tracing::info!(vs = %vs.name, from = %old, to = %p, "moved VIP");
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
                .is_some_and(|b| eligible_set.contains(b.as_str()));
            let v4 = match rt.address {
                Some(std::net::IpAddr::V4(a)) if serving => Some(a),
                _ => None,
            };
            self.inner.dns.set(&vs.fqdn, v4);
            rt.dns_name = Some(vs.fqdn.clone());
            if rt != before {
                changed = true;
                self.save_vsrt(&rt).await?;
            }
        }
        self.state()
            .group_status
            .entry(g.name.clone())
            .or_default()
            .placed_on = eligible.to_vec();
        Ok(changed)
    }

    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    async fn bind_vip(
        &self,
        g: &SeGroup,
        conn: &Arc<dyn CloudConnector>,
        support: VipSupport,
        vs: &crate::model::VirtualService,
        rt: &mut VsRuntime,
        primary: &str,
        vm_ids: &HashMap<String, VmId>,
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
        let vm = vm_ids
            .get(primary)
            .cloned()
            .ok_or_else(|| ControllerError::Unknown(format!("SE {primary} has no VM id yet")))?;
        if let Some(id) = rt.vip_id.clone() {
            match conn.move_vip(&id, &vm).await {
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
        spec.network = g.template.network.clone().map(NetworkId::new);
        spec.address = rt.address;
        let mut vip = conn.allocate_vip(&spec).await?;
        // An allocate that found the VIP of an earlier process (by its client token, after a
        // lost store) returns it where that process left it: put it on this primary.
        if vip.vm.as_ref() != Some(&spec.vm) {
            vip = conn.move_vip(&vip.id, &spec.vm).await?;
        }
        rt.vip_id = Some(vip.id);
        rt.address = Some(vip.address);
        rt.binding = Some(vip.binding);
        rt.bound_to = Some(primary.to_owned());
        Ok(())
    }

    /// Rebuilds every SE's configuration of the group; the hub bumps versions only on change.
    fn publish_configs(&self, g: &SeGroup, support: VipSupport) {
        let st = self.state();
        let Some(recs) = st.ses.get(&g.name) else {
            return;
        };
        let mut per_se: HashMap<&str, Vec<EngineVs>> = recs
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
                if let Some(list) = per_se.get_mut(se.as_str()) {
                    list.push(EngineVs {
                        name: vs.name.clone(),
                        fqdn: vs.fqdn.clone(),
                        vip: rt.address,
                        configure_vip: role == Role::Primary && support != VipSupport::Cloud,
                        role,
                        serving,
                        ports: vs.ports.clone(),
                        members: vs.members.clone(),
                    });
                }
            }
        }
        for (se, vss) in per_se {
            self.inner.hub.publish(se, &g.name, vss);
        }
    }

    async fn teardown_group(&self, name: &str) -> Result<Action> {
        let recs: Vec<Arc<SeRecord>> = self
            .state()
            .ses
            .get(name)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        if recs.is_empty() {
            let mut st = self.state();
            st.ses.remove(name);
            st.group_status.remove(name);
            st.autoscalers.remove(name);
            st.dirty.remove(name);
            return Ok(Action::AwaitChange);
        }
        // Which cloud: the profile is gone with the group, so find the SE in any cloud.
        let mut errors = Vec::new();
        for rec in recs {
            let Some(id) = rec.vm_id.clone() else {
                self.forget_se(name, &rec.name).await?;
                continue;
            };
            let mut done = false;
            for conn in self.inner.clouds.values() {
                match conn.get_vm(&id).await {
                    Ok(vm) if vm.group() == Some(name) && vm.name == rec.name => {
                        match conn.delete_vm(&id).await {
                            Ok(()) => done = true,
                            Err(e) if e.is_not_found() => done = true,
                            Err(e) => errors.push(ControllerError::from(e)),
                        }
                        break;
                    }
                    _ => {}
                }
            }
            if done || errors.is_empty() {
                self.forget_se(name, &rec.name).await?;
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => {
                self.trigger(ObjectRef::SeGroup(name.to_owned()));
                Ok(Action::AwaitChange)
            }
        }
    }
}

fn parse_serial(group: &str, vm: &str) -> Option<u64> {
    vm.strip_prefix(group)?.strip_prefix('-')?.parse().ok()
}

fn serial_of(se: &str) -> u64 {
    se.rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A record for a VM of ours that has none (made before a crash, or by an earlier process).
fn adopt(g: &SeGroup, vm: &Vm) -> SeRecord {
    let serial = parse_serial(&g.name, &vm.name).unwrap_or(0);
    let template = vm.tags.get(TEMPLATE_TAG).cloned().unwrap_or_default();
    let mut tags = Tags::new();
    tags.insert(TEMPLATE_TAG.to_owned(), template.clone());
    tracing::info!(group = %g.name, se = %vm.name, "adopting SE found in the cloud");
    SeRecord {
        name: vm.name.clone(),
        group: g.name.clone(),
        serial,
        token: vm.ownership.token.clone(),
        spec: VmSpec {
            name: vm.name.clone(),
            size: vm.size.clone(),
            image: vm.image.clone(),
            network: vm.nics.first().map(|n| n.network.clone()),
            tags,
            group: Some(g.name.clone()),
            // An adopted SE stays where it is; pinning it keeps a re-issued create there too.
            host: vm.host.clone(),
        },
        template,
        vm_id: Some(vm.id.clone()),
        phase: SePhase::Active,
        reason: None,
        adopted: true,
    }
}

pub(crate) fn group_status(
    st: &State,
    name: &str,
    now: Instant,
    opts: &super::ControllerOptions,
) -> super::GroupStatus {
    let g = st.groups.get(name);
    let gs = st.group_status.get(name);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for rt in st.vss_of_group(name).filter_map(|v| st.vsrt.get(&v.name)) {
        for se in &rt.placement {
            *counts.entry(se.as_str()).or_default() += 1;
        }
    }
    let ses: Vec<super::SeStatus> = st
        .ses
        .get(name)
        .map(|m| {
            m.values()
                .map(|r| {
                    let rt = st.engines.get(&r.name);
                    let health = match (&r.phase, rt) {
                        (SePhase::Creating, _) => SeHealth::Creating,
                        (_, Some(rt)) => match &rt.last_report {
                            Some((_, rep)) if rep.health == EngineHealth::Down => {
                                SeHealth::Unhealthy
                            }
                            Some((t, _))
                                if now.duration_since(*t)
                                    > opts.report_interval * opts.missed_reports =>
                            {
                                SeHealth::Unhealthy
                            }
                            Some(_) => SeHealth::Healthy,
                            None => SeHealth::Booting,
                        },
                        (_, None) => SeHealth::Booting,
                    };
                    let health = if gs.is_some_and(|gs| gs.reasons.contains_key(&r.name)) {
                        SeHealth::Unhealthy
                    } else {
                        health
                    };
                    super::SeStatus {
                        name: r.name.clone(),
                        vm_id: r.vm_id.as_ref().map(|v| v.to_string()),
                        phase: r.phase.clone(),
                        health,
                        current_template: g.is_some_and(|g| {
                            r.spec.image == g.template.image && r.spec.size == g.template.size
                        }),
                        image: r.spec.image.clone(),
                        host: r.spec.host.as_ref().map(ToString::to_string),
                        rps: rt
                            .and_then(|rt| rt.last_report.as_ref())
                            .map(|(_, rep)| rep.rps),
                        virtual_services: counts.get(r.name.as_str()).copied().unwrap_or(0),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    super::GroupStatus {
        name: name.to_owned(),
        exists: g.is_some(),
        desired: gs.and_then(|g| g.desired),
        healthy: ses
            .iter()
            .filter(|s| s.health == SeHealth::Healthy && s.phase == SePhase::Active)
            .count(),
        current: ses.len(),
        recommendation: gs.and_then(|g| g.recommendation.clone()),
        upgrade: gs.and_then(|g| g.upgrade.clone()),
        rebalanced: gs.and_then(|g| g.rebalanced.clone()),
        ses,
        last_error: st
            .status
            .get(&ObjectRef::SeGroup(name.to_owned()))
            .and_then(|s| s.last_error.clone()),
        failures: st
            .status
            .get(&ObjectRef::SeGroup(name.to_owned()))
            .map_or(0, |s| s.failures),
    }
}
