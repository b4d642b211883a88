//! Phase 3 of a group reconcile, size: how many SEs the group wants. The load sets it (each
//! service's span, then the group, in [`super::scaling`]); in a group of one SE per host the
//! ready hosts do.

use super::Controller;
use super::pass::GroupPass;
use strato_core::HostId;

impl Controller {
    pub(super) async fn size_group(&self, p: &mut GroupPass<'_>) {
        let spans = self.scale_services(&p.g, &p.ses, p.now);
        (p.desired, p.healthy_min) = self.autoscale(&p.g, &p.ses, p.now, spans);
        self.save_forecasts().await;
        if p.g.placement.se_per_host {
            p.hosts = self.size_by_hosts(p).await;
        }
    }

    /// One SE per host: the ready hosts set the size. A host list that could not be read
    /// holds the size (an unknown is never a scale-down) and creates nothing; so does a list
    /// in which no host is ready, which says more about the path to the cloud's control plane
    /// (a partition, a failed node controller) than about the hosts, and would otherwise
    /// delete every SE at once.
    async fn size_by_hosts(&self, p: &mut GroupPass<'_>) -> Option<Vec<HostId>> {
        match self.hosts(&p.g.cloud).await {
            Ok(h) => {
                let ready: Vec<HostId> =
                    h.iter().filter(|h| h.ready).map(|h| h.id.clone()).collect();
                if ready.is_empty() {
                    p.desired = self.held_size(p);
                    let why = format!(
                        "size held at {}: none of the cloud's {} hosts reads as ready, \
                         likelier a partition or a control-plane fault than every host failing \
                         at once; no SE is drained for its host until one is ready again",
                        p.desired,
                        h.len()
                    );
                    tracing::warn!(group = %p.g.name, "{why}");
                    self.state()
                        .group_status
                        .entry(p.g.name.clone())
                        .or_default()
                        .held = Some(match &p.hold {
                        Some(h) => format!("{why}; {h}"),
                        None => why,
                    });
                    return None;
                }
                p.desired = (ready.len() as u32).min(p.g.max_ses);
                self.explain_host_size(p, ready.len());
                Some(ready)
            }
            Err(e) => {
                p.desired = self.held_size(p);
                p.errors.push(e);
                None
            }
        }
    }

    /// The size a group holds while the hosts cannot tell it: what it wanted last, or (after
    /// a restart) what it has.
    fn held_size(&self, p: &GroupPass<'_>) -> u32 {
        self.state()
            .group_status
            .get(&p.g.name)
            .and_then(|gs| gs.desired)
            .unwrap_or_else(|| p.ses.iter().filter(|s| s.live()).count() as u32)
    }

    /// The status tells what sets the size; the load's own number stays as a hint.
    fn explain_host_size(&self, p: &GroupPass<'_>, ready: usize) {
        if let Some(rec) = self
            .state()
            .group_status
            .get_mut(&p.g.name)
            .and_then(|gs| gs.recommendation.as_mut())
        {
            rec.reason = format!(
                "one SE per ready host: {} ready, max_ses {} (the load alone would \
                 want {}: {})",
                ready, p.g.max_ses, rec.desired, rec.reason
            );
            rec.desired = p.desired;
        }
    }
}
