//! The hub that hands SE configurations to long-polling agents. The protocol's types live in
//! `strato_agent::protocol`, shared with the agent; they are re-exported here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
pub use strato_agent::protocol::{
    InvalidField, ReportedHealth, Role, SeConfig, SeReport, SeVsConfig, VsLoad,
};
use tokio::sync::watch;

/// Hands SE configurations to their agents. Versions start from the process start time so
/// that an agent polling with a version from before a controller restart never matches by
/// accident.
#[derive(Debug)]
pub struct SeHub {
    channels: Mutex<HashMap<String, watch::Sender<std::sync::Arc<SeConfig>>>>,
    next_version: std::sync::atomic::AtomicU64,
    report_interval: Duration,
}

impl SeHub {
    /// An empty hub.
    pub fn new(report_interval: Duration) -> Self {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self {
            channels: Mutex::new(HashMap::new()),
            next_version: std::sync::atomic::AtomicU64::new(epoch << 20),
            report_interval,
        }
    }

    fn version(&self) -> u64 {
        self.next_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// Publishes an SE's virtual services; bumps the version only when they changed.
    /// Returns true when a new version was published.
    pub fn publish(&self, se: &str, group: &str, vss: Vec<SeVsConfig>) -> bool {
        let mut map = self.channels.lock().expect("hub lock");
        if let Some(tx) = map.get(se) {
            if tx.borrow().virtual_services == vss {
                return false;
            }
            let cfg = SeConfig {
                se: se.to_owned(),
                group: group.to_owned(),
                version: self.version(),
                report_interval_secs: self.report_interval.as_secs(),
                virtual_services: vss,
            };
            tx.send_replace(std::sync::Arc::new(cfg));
            return true;
        }
        let cfg = SeConfig {
            se: se.to_owned(),
            group: group.to_owned(),
            version: self.version(),
            report_interval_secs: self.report_interval.as_secs(),
            virtual_services: vss,
        };
        map.insert(se.to_owned(), watch::channel(std::sync::Arc::new(cfg)).0);
        true
    }

    /// Forgets an SE (it was deleted).
    pub fn remove(&self, se: &str) {
        self.channels.lock().expect("hub lock").remove(se);
    }

    /// True when the SE is known.
    pub fn contains(&self, se: &str) -> bool {
        self.channels.lock().expect("hub lock").contains_key(se)
    }

    /// The current configuration.
    pub fn current(&self, se: &str) -> Option<std::sync::Arc<SeConfig>> {
        self.channels
            .lock()
            .expect("hub lock")
            .get(se)
            .map(|tx| tx.borrow().clone())
    }

    /// The version of the current configuration.
    pub fn current_version(&self, se: &str) -> Option<u64> {
        self.channels
            .lock()
            .expect("hub lock")
            .get(se)
            .map(|tx| tx.borrow().version)
    }

    /// Waits until the SE's version differs from `after` (or `timeout` passes: `Ok(None)`).
    /// `None` for `after` answers at once. Unknown SE: `Err(())`.
    pub async fn wait(
        &self,
        se: &str,
        after: Option<u64>,
        timeout: Duration,
    ) -> Result<Option<std::sync::Arc<SeConfig>>, ()> {
        let mut rx = {
            let map = self.channels.lock().expect("hub lock");
            map.get(se).ok_or(())?.subscribe()
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let cur = rx.borrow_and_update().clone();
            if after != Some(cur.version) {
                return Ok(Some(cur));
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Err(_) => return Ok(None),
                // The SE was removed while waiting.
                Ok(Err(_)) => return Err(()),
                Ok(Ok(())) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(name: &str) -> SeVsConfig {
        SeVsConfig {
            name: name.into(),
            fqdn: format!("{name}.example.com"),
            vip: None,
            configure_vip: false,
            role: Role::Primary,
            serving: 1,
            ports: vec![],
            servers: vec![],
            algorithm: Default::default(),
            interface: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_returns_on_change_or_timeout() {
        let hub = std::sync::Arc::new(SeHub::new(Duration::from_secs(10)));
        assert!(hub.publish("se-1", "g", vec![vs("a")]));
        assert!(
            !hub.publish("se-1", "g", vec![vs("a")]),
            "same content, same version"
        );
        let v1 = hub
            .wait("se-1", None, Duration::from_secs(1))
            .await
            .unwrap()
            .unwrap()
            .version;
        assert_eq!(
            hub.wait("se-1", Some(v1), Duration::from_secs(30))
                .await
                .unwrap(),
            None
        );
        let h = hub.clone();
        let waiter =
            tokio::spawn(async move { h.wait("se-1", Some(v1), Duration::from_secs(30)).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        hub.publish("se-1", "g", vec![vs("a"), vs("b")]);
        let got = waiter.await.unwrap().unwrap().unwrap();
        assert!(got.version > v1);
        assert_eq!(got.virtual_services.len(), 2);
        assert!(
            hub.wait("nope", None, Duration::from_secs(1))
                .await
                .is_err()
        );
    }
}
