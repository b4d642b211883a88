//! The SE group reconcile: observe the SEs, judge their health, size the group, choose what
//! drains, create, place the virtual services and bind their VIPs, delete what was drained,
//! and publish the SEs' configurations. Each phase is in a file of its name and hands what the
//! next ones need through the [`GroupPass`].
//!
//! Order inside one pass is the safety argument: VIPs leave an SE (placement) before the SE
//! is deleted; a replacement is created before the failed SE is deleted; a rolling upgrade
//! adds one SE of the new template and deletes an old one only once the new one is healthy.

use super::pass::{GroupPass, SeHealth};
use super::{Controller, SePhase, keys};
use crate::error::{ControllerError, Result};
use crate::runtime::Action;

impl Controller {
    pub(crate) async fn reconcile_group(&self, name: &str) -> Result<Action> {
        let Some(g) = self.state().groups.get(name).cloned() else {
            // A group whose record was moved aside is held, not torn down.
            if let Some(e) = self.quarantine_hold(keys::SEGROUP, name) {
                return Err(e);
            }
            return self.teardown_group(name).await;
        };
        let conn = self.inner.clouds.get(&g.cloud).cloned().ok_or_else(|| {
            ControllerError::Config(format!("cloud profile {:?} is not configured", g.cloud))
        })?;
        let view = self.view(&g.cloud).await?;
        let mut p = GroupPass::new(g, conn, &self.inner.opts, &view);
        self.observe(&mut p).await?;
        self.resolve_networks(&mut p).await;
        self.judge_ses(&mut p);
        self.size_group(&mut p).await;
        self.choose_drains(&mut p).await?;
        self.create_ses(&mut p).await?;
        self.place_services(&mut p).await?;
        self.detach_unneeded(&mut p).await?;
        self.delete_drained(&mut p).await?;
        self.publish(&p);
        outcome(p)
    }
}

/// The first error of the pass, or when to come back: soon while anything is in motion.
fn outcome(p: GroupPass<'_>) -> Result<Action> {
    if let Some(e) = p.errors.into_iter().next() {
        return Err(e);
    }
    if p.budget_spent {
        // Back in the next pass, which follows at once: every other due object goes first.
        return Ok(Action::Requeue(std::time::Duration::ZERO));
    }
    let busy = p.created > 0
        || p.deleted > 0
        || p.ses
            .iter()
            .any(|s| s.rec.phase != SePhase::Active || s.health != SeHealth::Healthy);
    Ok(Action::Requeue(if busy {
        p.opts.resync.min(p.opts.report_interval) / 2
    } else {
        p.opts.resync
    }))
}
