//! The runner: passes over the due objects, each reconciled against one read of its cloud
//! per pass ([`super::reads`]), with the backoff and the meters of every reconcile.
//!
//! Every due object gets one reconcile per pass, and a reconcile is bounded: a group issues at
//! most `creates_per_pass` SE creates and comes back in the next pass (at once) for the rest,
//! so a group scaling to hundreds of SEs cannot keep the others waiting behind its creates.

use super::Controller;
use crate::error::ControllerError;
use crate::runtime::{Action, ObjectRef};
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PassStats {
    /// Objects reconciled.
    pub reconciled: usize,
    /// Of which failed.
    pub failed: usize,
}

impl Controller {
    /// Runs passes until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.run_pass().await;
            self.sample_analytics().await;
            let next = self.state().scheduler.next();
            let sleep = match next {
                Some(t) => tokio::time::sleep_until(t),
                None => tokio::time::sleep(Duration::from_secs(3600)),
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.inner.notify.notified() => {}
                _ = sleep => {}
            }
        }
    }

    /// Schedules every object now and runs one pass (the benchmark's unit).
    pub async fn reconcile_all(&self) -> PassStats {
        {
            let mut st = self.state();
            let now = Instant::now();
            let objs: Vec<ObjectRef> = st
                .groups
                .keys()
                .map(|g| ObjectRef::SeGroup(g.clone()))
                .chain(st.vss.keys().map(|v| ObjectRef::VirtualService(v.clone())))
                .collect();
            for o in objs {
                st.scheduler.schedule(o, now);
            }
        }
        self.run_pass().await
    }

    /// Reconciles every due object once.
    pub async fn run_pass(&self) -> PassStats {
        self.inner
            .pass
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let due = self.state().scheduler.take_due(Instant::now());
        let mut stats = PassStats::default();
        // Handles are looked up once a pass, not once per object (10,000 registry lookups
        // were a visible share of a pass).
        let meters = PassMeters::new();
        for obj in due {
            let started = std::time::Instant::now();
            let res = match &obj {
                ObjectRef::SeGroup(n) => self.reconcile_group(n).await,
                ObjectRef::VirtualService(n) => self.reconcile_vs(n).await,
            };
            stats.reconciled += 1;
            let m = meters.of(&obj);
            m.seconds.record(started.elapsed().as_secs_f64());
            let mut st = self.state();
            let next = match res {
                Ok(action) => {
                    st.backoff.as_mut().expect("backoff").success(&obj);
                    if !st.status.is_empty()
                        && let Some(s) = st.status.get_mut(&obj)
                    {
                        s.last_error = None;
                        s.failures = 0;
                    }
                    m.ok.increment(1);
                    action
                }
                Err(e) => {
                    stats.failed += 1;
                    let (n, delay) = st.backoff.as_mut().expect("backoff").failure(&obj);
                    tracing::warn!(object = %obj, error = %e, failures = n, "reconcile failed");
                    m.error.increment(1);
                    let s = st.status.entry(obj.clone()).or_default();
                    s.last_error = Some(e.to_string());
                    s.failures = n;
                    error_policy(&e, delay)
                }
            };
            let at = match next {
                Action::Requeue(d) => Some(Instant::now() + d),
                Action::AwaitChange => None,
            };
            // A trigger that arrived during the reconcile keeps its earlier time.
            if let Some(t) = at {
                st.scheduler.schedule(obj, t);
            }
        }
        if !self.state().quarantined.is_empty() {
            self.drop_superseded_quarantine().await;
        }
        stats
    }
}

/// The reconcile meters of one kind of object.
struct KindMeters {
    seconds: metrics::Histogram,
    ok: metrics::Counter,
    error: metrics::Counter,
}

impl KindMeters {
    fn new(kind: &'static str) -> Self {
        Self {
            seconds: metrics::histogram!("strato_controller_reconcile_seconds", "kind" => kind),
            ok: metrics::counter!("strato_controller_reconcile_total", "kind" => kind, "result" => "ok"),
            error: metrics::counter!("strato_controller_reconcile_total", "kind" => kind, "result" => "error"),
        }
    }
}

struct PassMeters {
    group: KindMeters,
    vs: KindMeters,
}

impl PassMeters {
    fn new() -> Self {
        Self {
            group: KindMeters::new("se_group"),
            vs: KindMeters::new("virtual_service"),
        }
    }

    fn of(&self, obj: &ObjectRef) -> &KindMeters {
        match obj {
            ObjectRef::SeGroup(_) => &self.group,
            ObjectRef::VirtualService(_) => &self.vs,
        }
    }
}

/// What to do after a failed reconcile: wait out the backoff, or longer when the cloud asked.
pub fn error_policy(e: &ControllerError, backoff: Duration) -> Action {
    match e {
        ControllerError::Cloud(c) => {
            Action::Requeue(c.retry_after().map_or(backoff, |r| r.max(backoff)))
        }
        _ => Action::Requeue(backoff),
    }
}
