//! Phase 2 of a group reconcile, judge: how healthy each SE is, from what the cloud shows of
//! its VM and what its agent last reported.

use super::pass::{GroupPass, Se, SeHealth};
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
            let vm = p.vms.get(rec.name.as_str()).copied();
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
            let (health, why) = judge(
                &rec,
                vm,
                st.se_runtime.get(&rec.name),
                gs.first_seen.get(&rec.name).copied(),
                p.now,
                p.opts,
            );
            match why {
                Some(w) => gs.reasons.insert(rec.name.clone(), w),
                None => gs.reasons.remove(&rec.name),
            };
            let current = rec.template == p.template;
            ses.push(Se {
                rec,
                health,
                current,
            });
        }
        ses.sort_by_key(|s| s.rec.serial);
        p.ses = ses;
    }
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
        Some((_, r)) if r.health == ReportedHealth::Down => {
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
