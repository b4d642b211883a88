//! Deleting SEs: phase 7 of a group reconcile deletes the drained SEs once their VIPs have
//! moved and their replacements exist; a deleted group's SEs all go ([`Controller::teardown_group`]).

use super::pass::{GroupPass, Se, SeHealth};
use super::{Controller, SePhase, SeRecord};
use crate::error::{ControllerError, Result};
use crate::runtime::{Action, ObjectRef};
use std::collections::HashSet;
use std::sync::Arc;

impl Controller {
    pub(super) async fn delete_drained(&self, p: &mut GroupPass<'_>) -> Result<()> {
        // Too many SEs look unhealthy to trust what this pass sees: delete nothing.
        if p.hold.is_some() {
            return Ok(());
        }
        let bound = self.bound_ses(&p.g.name);
        // An unreachable SE may still serve: it goes only once its replacement does, that is
        // once the group has its size again and no SE of it is still being made or booting.
        let replaced = p.live_count >= p.target
            && !p.ses.iter().any(|s| {
                matches!(s.health, SeHealth::Creating | SeHealth::Booting)
                    && s.live()
                    && !p.draining(&s.rec.name)
            });
        for i in 0..p.ses.len() {
            let s = &p.ses[i];
            if s.rec.phase != SePhase::Draining
                || (bound.contains(&s.rec.name) && !p.eligible.is_empty())
                || (s.health == SeHealth::Unhealthy && p.live_count < p.target)
                || (s.health == SeHealth::Unreachable && !replaced)
            {
                continue;
            }
            self.delete_se(p, i).await?;
        }
        if p.deleted > 0 {
            self.invalidate_view(&p.g.cloud);
        }
        Ok(())
    }

    /// The SEs of a group that hold a VIP.
    fn bound_ses(&self, group: &str) -> HashSet<String> {
        let st = self.state();
        st.vss_of_group(group)
            .filter_map(|v| st.vsrt.get(&v.name)?.bound_to.clone())
            .collect()
    }

    /// Deletes the drained SE `p.ses[i]`; a delete the cloud refuses is the pass's error.
    async fn delete_se(&self, p: &mut GroupPass<'_>, i: usize) -> Result<()> {
        let name = p.g.name.as_str();
        let s: &mut Se = &mut p.ses[i];
        match s.rec.vm_id.clone() {
            Some(id) => {
                // Its NICs as last recorded (an attach of this pass included).
                let rec = self
                    .state()
                    .ses
                    .get(name)
                    .and_then(|m| m.get(&s.rec.name))
                    .cloned()
                    .unwrap_or_else(|| s.rec.clone());
                super::nics::detach_all(&*p.conn, &rec, &id).await;
                match p.conn.delete_vm(&id).await {
                    Ok(()) => {
                        tracing::info!(group = name, se = %s.rec.name, "deleted SE");
                        metrics::counter!("strato_controller_se_deletes_total").increment(1);
                        Arc::make_mut(&mut s.rec).phase = SePhase::Deleting;
                        self.save_se(&s.rec).await?;
                        p.deleted += 1;
                    }
                    Err(e) if e.is_not_found() => {
                        self.forget_se(name, &s.rec.name).await?;
                        p.deleted += 1;
                    }
                    Err(e) => p.errors.push(e.into()),
                }
            }
            None => {
                // Never seen in the cloud: forget it once its create had time to show.
                let issued = self
                    .state()
                    .group_status
                    .get(name)
                    .and_then(|gs| gs.issued.get(&s.rec.name).copied());
                if issued.is_none_or(|t| p.now.duration_since(t) >= p.opts.inflight_grace) {
                    self.forget_se(name, &s.rec.name).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes the SEs of a group that no longer exists, then forgets the group.
    pub(super) async fn teardown_group(&self, name: &str) -> Result<Action> {
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
        // Which cloud: the profile is gone with the group, so find the SE in any cloud. A
        // record is forgotten only once its VM is deleted, or every cloud answered that it
        // has no such VM: any other answer (a timeout, a throttle) keeps it for the next try,
        // or the VM would be left running with nothing left to remember it.
        let mut errors = Vec::new();
        for rec in recs {
            let Some(id) = rec.vm_id.clone() else {
                self.forget_se(name, &rec.name).await?;
                continue;
            };
            let mut done = false;
            let mut unsure = false;
            for conn in self.inner.clouds.values() {
                match conn.get_vm(&id).await {
                    Ok(vm) if vm.group() == Some(name) && vm.name == rec.name => {
                        super::nics::detach_all(&**conn, &rec, &id).await;
                        match conn.delete_vm(&id).await {
                            Ok(()) => done = true,
                            Err(e) if e.is_not_found() => done = true,
                            Err(e) => {
                                unsure = true;
                                errors.push(ControllerError::from(e));
                            }
                        }
                        break;
                    }
                    // Another VM under that id: not this cloud's SE.
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        unsure = true;
                        errors.push(ControllerError::from(e));
                    }
                }
            }
            if done || !unsure {
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
