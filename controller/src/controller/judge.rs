//! Phase 2 of a group reconcile, judge: how healthy each SE is, from what the cloud shows of
//! its VM and what its agent last reported, and whether what it sees is trustworthy enough to
//! act on: an SE whose VM a direct read did not confirm gone is held, and so is every failing
//! SE when more of the group looks unhealthy at once than `max_unhealthy` allows.

use super::pass::{Absence, GroupPass, Se, SeHealth};
use super::{Controller, ControllerOptions, SePhase, SeRecord, SeRuntime};
use crate::se_protocol::ReportedHealth;
use std::sync::Arc;
use strato_core::{Vm, VmState};
use tokio::time::Instant;

impl Controller {
    /// Judges every SE of the group into `p.ses`, keeping the reasons in the group's status.
    pub(super) fn judge_ses(&self, p: &mut GroupPass<'_>) {
        let mut st = self.state();
        let st = &mut *st;
        let recs: Vec<Arc<SeRecord>> = st
            .ses
            .get(&p.g.name)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        let gs = st.group_status.entry(p.g.name.clone()).or_default();
        let mut ses = Vec::with_capacity(recs.len());
        for rec in recs {
            let absence = p.absent.get(&rec.name);
            let vm = p.vms.get(rec.name.as_str()).copied().or(match absence {
                Some(Absence::Found(vm)) => Some(vm),
                _ => None,
            });
            if vm.is_some() {
                gs.first_seen.entry(rec.name.clone()).or_insert(p.now);
            }
            if vm.is_some_and(|v| v.state == VmState::Running) {
                let rt = st.se_runtime.entry(rec.name.clone()).or_insert(SeRuntime {
                    last_report: None,
                    running_since: None,
                });
                rt.running_since.get_or_insert(p.now);
            }
            let rt = st.se_runtime.get(&rec.name);
            let first_seen = gs.first_seen.get(&rec.name).copied();
            let (health, why, held) = match absence {
                Some(Absence::Gone) => (
                    SeHealth::Unhealthy,
                    Some("vm is gone from the cloud (confirmed by a direct read)".into()),
                    false,
                ),
                Some(Absence::Found(_)) => {
                    let (h, why) = judge(&rec, vm, rt, first_seen, p.now, p.opts);
                    let note = "vm missing from the cloud's list, but a direct read finds it: \
                                held this pass";
                    (
                        h,
                        Some(why.map_or(note.into(), |w| format!("{w}; {note}"))),
                        true,
                    )
                }
                // The cloud said nothing certain: the agent's word alone, and no action on it.
                Some(Absence::Unknown(e)) => {
                    let (h, why) = judge_agent(rt, p.now, p.opts);
                    let note = format!(
                        "vm missing from the cloud's list and a direct read did not confirm \
                         it gone ({e}): held"
                    );
                    (
                        h,
                        Some(why.map_or(note.clone(), |w| format!("{w}; {note}"))),
                        true,
                    )
                }
                None => {
                    let (h, why) = judge(&rec, vm, rt, first_seen, p.now, p.opts);
                    (h, why, false)
                }
            };
            match why {
                Some(w) => {
                    gs.reasons.insert(rec.name.clone(), w);
                    gs.health.insert(rec.name.clone(), health);
                }
                None => {
                    gs.reasons.remove(&rec.name);
                    gs.health.remove(&rec.name);
                }
            };
            let current = rec.template == p.template;
            ses.push(Se {
                rec,
                health,
                current,
                held,
            });
        }
        ses.sort_by_key(|s| s.rec.serial);
        p.hold = mass_hold(&p.g, &mut ses);
        if let Some(why) = &p.hold {
            tracing::warn!(group = %p.g.name, "{why}");
        }
        gs.held.clone_from(&p.hold);
        p.ses = ses;
    }
}

/// When more of the group looks unhealthy than `max_unhealthy` allows, holds every failing SE
/// and says why: that many failures at once is likelier a partition or a fault on this side
/// (a wrong account, an expired credential, a broken network path to the agents) than SEs
/// that all died together, and replacing them would only make it worse.
fn mass_hold(g: &crate::model::SeGroup, ses: &mut [Se]) -> Option<String> {
    let counted = |s: &&mut Se| s.rec.phase != SePhase::Deleting;
    let total = ses.iter_mut().filter(counted).count();
    let unhealthy = ses
        .iter_mut()
        .filter(counted)
        .filter(|s| s.health.failing() || s.held)
        .count();
    let allowed = g.max_unhealthy.of(total);
    if unhealthy <= allowed {
        return None;
    }
    for s in ses.iter_mut().filter(|s| s.health.failing()) {
        s.held = true;
    }
    let share = match &g.max_unhealthy {
        crate::model::Share::Percent(p) => p.clone(),
        crate::model::Share::Fraction(f) => f.to_string(),
    };
    Some(format!(
        "remediation held: {unhealthy} of {total} SEs look unhealthy at once, more than \
         max_unhealthy {share} allows ({allowed}); a partition or a fault on the controller's \
         side is likelier than that many dead SEs, so none is drained, replaced or deleted \
         until fewer look unhealthy"
    ))
}

/// The health of one SE, and why when it is not healthy.
fn judge(
    rec: &SeRecord,
    vm: Option<&Vm>,
    rt: Option<&SeRuntime>,
    first_seen: Option<Instant>,
    now: Instant,
    opts: &ControllerOptions,
) -> (SeHealth, Option<String>) {
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
        // A VM the cloud no longer calls running though its agent has reported: the cloud
        // lost track of its host (a Kubernetes pod on a NotReady node turns back to not
        // ready, a vSphere host disconnects), and the agent knows better than the cloud.
        VmState::Pending | VmState::Unknown if rt.is_some_and(|r| r.last_report.is_some()) => {}
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
    judge_agent(rt, now, opts)
}

/// The health of an SE whose VM runs (or whose VM the cloud could not tell about), from its
/// agent's reports alone. A silent agent is unreachable, not dead: a partition between the
/// controller and its agents looks exactly like this.
fn judge_agent(
    rt: Option<&SeRuntime>,
    now: Instant,
    opts: &ControllerOptions,
) -> (SeHealth, Option<String>) {
    let limit = opts.report_interval * opts.missed_reports;
    match rt.and_then(|r| r.last_report.as_ref()) {
        Some((_, r)) if r.health == ReportedHealth::Down => {
            (SeHealth::Unhealthy, Some("agent reports down".into()))
        }
        Some((t, _)) if now.duration_since(*t) > limit => (
            SeHealth::Unreachable,
            Some(format!(
                "missed {} reports ({:?} without one) while its vm runs",
                opts.missed_reports,
                now.duration_since(*t)
            )),
        ),
        Some(_) => (SeHealth::Healthy, None),
        None => {
            let since = rt.and_then(|r| r.running_since).unwrap_or(now);
            if now.duration_since(since) > limit {
                (
                    SeHealth::Unreachable,
                    Some(format!("no report within {limit:?} of boot")),
                )
            } else {
                (SeHealth::Booting, None)
            }
        }
    }
}
