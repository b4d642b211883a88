//! Events: what the controller did or ran into (a scale-out, a failover, a VIP move, an
//! upgrade step, an error), each with its time, its object and its reason, in a bounded log.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Events kept (the oldest go first).
pub const MAX_EVENTS: usize = 2000;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// More SEs wanted (a group's size or a service's span).
    ScaleOut,
    /// Fewer SEs wanted.
    ScaleIn,
    /// A VIP left an SE that failed.
    Failover,
    /// A VIP moved between serving SEs (rebalancing, draining).
    VipMove,
    /// A rolling upgrade moved on (or says why it waits).
    UpgradeStep,
    /// A reconcile or a VIP binding failed.
    Error,
}

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix seconds (the controller's clock: a replay's virtual time in the demo).
    pub time: i64,
    /// What happened.
    pub kind: EventKind,
    /// The object: `virtual_service/NAME`, `se_group/NAME` or `se/NAME`.
    pub object: String,
    /// Why, in words.
    pub reason: String,
}

/// The bounded log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EventLog {
    events: VecDeque<Event>,
}

impl EventLog {
    /// Appends an event, dropping the oldest past [`MAX_EVENTS`]. Events later than it are
    /// dropped too: the controller's clock was set back (a replay sets it to its trace's
    /// start), and what they say happened in a future that did not.
    pub fn push(&mut self, e: Event) {
        while self.events.back().is_some_and(|b| b.time > e.time) {
            self.events.pop_back();
        }
        self.events.push_back(e);
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    /// The newest `limit` events (newest first) about `object` when given (an object or a
    /// prefix of one: `se_group/web` also matches nothing else, `se/` every SE), at or after
    /// `since`.
    pub fn list(&self, object: Option<&str>, since: Option<i64>, limit: usize) -> Vec<Event> {
        self.events
            .iter()
            .rev()
            .filter(|e| {
                object
                    .is_none_or(|o| e.object == o || (o.ends_with('/') && e.object.starts_with(o)))
            })
            .filter(|e| since.is_none_or(|s| e.time >= s))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time: i64, object: &str) -> Event {
        Event {
            time,
            kind: EventKind::ScaleOut,
            object: object.into(),
            reason: "load".into(),
        }
    }

    #[test]
    fn the_log_is_bounded_and_lists_newest_first_by_object() {
        let mut log = EventLog::default();
        for i in 0..(MAX_EVENTS as i64 + 10) {
            log.push(ev(i, if i % 2 == 0 { "se_group/a" } else { "se/a-1" }));
        }
        assert_eq!(log.len(), MAX_EVENTS);
        let l = log.list(Some("se_group/a"), None, 3);
        assert_eq!(
            l.iter().map(|e| e.time).collect::<Vec<_>>(),
            [2008, 2006, 2004]
        );
        assert!(
            log.list(Some("se/"), Some(2005), 100)
                .iter()
                .all(|e| e.object == "se/a-1")
        );
        assert_eq!(log.list(None, Some(2005), 100).len(), 5);
        assert_eq!(log.list(None, None, 100).last().unwrap().time, 1910);
        // The clock set back: what was logged after the new time goes.
        log.push(ev(2000, "se/b-1"));
        assert_eq!(log.list(None, None, 1)[0].object, "se/b-1");
        assert!(log.list(None, Some(2001), 100).is_empty());
    }
}
