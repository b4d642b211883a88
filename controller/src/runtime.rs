//! The kube-rs style machinery: object references, the action a reconcile returns, the
//! per-object error backoff (which, unlike kube-runtime's, is reset by a success), and the
//! scheduler of due reconciles.

use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// An object the controller reconciles.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum ObjectRef {
    /// A virtual service: its address (IPAM) and DNS name. Ordered first so that a pass
    /// allocates addresses before the groups bind them.
    VirtualService(String),
    /// An SE group: its SEs, health, scaling, placement and VIP bindings.
    SeGroup(String),
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectRef::VirtualService(n) => write!(f, "virtual service {n}"),
            ObjectRef::SeGroup(n) => write!(f, "se group {n}"),
        }
    }
}

/// What to do after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Reconcile again after this long (even without a change).
    Requeue(Duration),
    /// Reconcile again only when something changes.
    AwaitChange,
}

/// Exponential per-object backoff: `base * 2^(failures-1)` up to `max`. The runner calls
/// [`Backoff::success`] after every successful reconcile, so one success after a string of
/// errors brings the next error back to `base` (kube-rs issues #297, #1916).
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: HashMap<ObjectRef, u32>,
}

impl Backoff {
    /// A backoff starting at `base`, capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: HashMap::new(),
        }
    }

    /// Records a failure; returns the consecutive failure count and the delay to wait.
    pub fn failure(&mut self, obj: &ObjectRef) -> (u32, Duration) {
        let n = self.failures.entry(obj.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let exp = (*n - 1).min(30);
        let delay = self.base.saturating_mul(1u32 << exp).min(self.max);
        (*n, delay)
    }

    /// Records a success: the object's backoff starts over.
    pub fn success(&mut self, obj: &ObjectRef) {
        if !self.failures.is_empty() {
            self.failures.remove(obj);
        }
    }

    /// Consecutive failures of an object.
    pub fn failures(&self, obj: &ObjectRef) -> u32 {
        self.failures.get(obj).copied().unwrap_or(0)
    }
}

/// When each object is due next. An object is in at most once; scheduling it again keeps the
/// earlier time, so a change notification is never delayed by a long requeue.
#[derive(Clone, Debug, Default)]
pub struct Scheduler {
    due: HashMap<ObjectRef, Instant>,
}

impl Scheduler {
    /// Schedules `obj` at `at` unless it is already due earlier.
    pub fn schedule(&mut self, obj: ObjectRef, at: Instant) {
        self.due
            .entry(obj)
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }

    /// Replaces the time of `obj` (after a reconcile decided its next run).
    pub fn set(&mut self, obj: ObjectRef, at: Option<Instant>) {
        match at {
            Some(t) => {
                self.due.insert(obj, t);
            }
            None => {
                self.due.remove(&obj);
            }
        }
    }

    /// Removes and returns every object due at `now`, in order (virtual services first).
    pub fn take_due(&mut self, now: Instant) -> Vec<ObjectRef> {
        let mut out: Vec<ObjectRef> = self
            .due
            .extract_if(|_, t| *t <= now)
            .map(|(o, _)| o)
            .collect();
        out.sort_unstable();
        out
    }

    /// The earliest due time.
    pub fn next(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// Number of scheduled objects.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_resets_on_success() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let o = ObjectRef::SeGroup("g".into());
        assert_eq!(b.failure(&o), (1, Duration::from_secs(1)));
        assert_eq!(b.failure(&o), (2, Duration::from_secs(2)));
        assert_eq!(b.failure(&o), (3, Duration::from_secs(4)));
        assert_eq!(b.failure(&o).1, Duration::from_secs(8));
        assert_eq!(b.failure(&o).1, Duration::from_secs(10), "capped");
        b.success(&o);
        assert_eq!(b.failures(&o), 0);
        assert_eq!(
            b.failure(&o),
            (1, Duration::from_secs(1)),
            "a success starts the backoff over"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn scheduler_keeps_the_earliest_time_and_orders_vs_first() {
        let mut s = Scheduler::default();
        let now = Instant::now();
        s.schedule(
            ObjectRef::SeGroup("g".into()),
            now + Duration::from_secs(10),
        );
        s.schedule(ObjectRef::SeGroup("g".into()), now);
        s.schedule(ObjectRef::VirtualService("v".into()), now);
        s.schedule(
            ObjectRef::VirtualService("later".into()),
            now + Duration::from_secs(5),
        );
        assert_eq!(
            s.take_due(now),
            vec![
                ObjectRef::VirtualService("v".into()),
                ObjectRef::SeGroup("g".into())
            ]
        );
        assert_eq!(s.next(), Some(now + Duration::from_secs(5)));
    }
}
