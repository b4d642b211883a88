//! The agent protocol's data: the versioned configuration each SE pulls, the report it pushes,
//! and the hub that hands configurations to long-polling agents.

use crate::model::{Member, ServicePort};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// What an SE does for one virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Holds the VIP and serves.
    Primary,
    /// Serves a share of the traffic (elastic scale-out) without holding the VIP.
    Secondary,
    /// Takes over when the primary fails; serves nothing meanwhile.
    Standby,
}

/// One virtual service in an SE's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineVs {
    /// Virtual service name.
    pub name: String,
    /// Its FQDN.
    pub fqdn: String,
    /// The VIP address, once allocated.
    pub vip: Option<IpAddr>,
    /// True when this SE must configure the VIP in the guest (clouds with `VipSupport::Guest`).
    pub configure_vip: bool,
    /// Role of this SE.
    pub role: Role,
    /// How many SEs serve it (primary plus secondaries); the SE's share of traffic is 1/serving.
    pub serving: u32,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// Backends.
    pub members: Vec<Member>,
}

/// The whole configuration of one SE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// SE name (the engine id in the API).
    pub engine: String,
    /// Its SE group.
    pub group: String,
    /// Changes whenever the content does; agents long-poll with `after=VERSION`.
    pub version: u64,
    /// How often the controller expects a report, seconds.
    pub report_interval_secs: u64,
    /// Virtual services, by name.
    pub virtual_services: Vec<EngineVs>,
}

/// Health an agent reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineHealth {
    /// Serving.
    Up,
    /// Serving with problems (counted as up).
    Degraded,
    /// Not serving: the SE is replaced.
    Down,
}

/// What an agent posts every report interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineReport {
    /// Requests per second over the last interval.
    pub rps: f64,
    /// Open connections.
    pub connections: u64,
    /// Health.
    pub health: EngineHealth,
    /// Configuration version applied.
    #[serde(default)]
    pub config_version: u64,
    /// The same load broken down by virtual service (what each one costs this SE). Each
    /// service's span of SEs is scaled from these; an agent that omits them leaves the
    /// services' load unknown, which holds their spans (never shrinks them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub virtual_services: BTreeMap<String, VsLoad>,
}

/// The load one virtual service puts on one SE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsLoad {
    /// Requests per second.
    pub rps: f64,
    /// Open connections.
    #[serde(default)]
    pub connections: u64,
}

impl EngineReport {
    /// A report of total load only (no per-service breakdown).
    pub fn new(rps: f64, connections: u64, health: EngineHealth) -> Self {
        Self {
            rps,
            connections,
            health,
            config_version: 0,
            virtual_services: BTreeMap::new(),
        }
    }

    /// Checks the numbers, naming the field.
    pub fn validate(&self) -> crate::Result<()> {
        if !(self.rps.is_finite() && self.rps >= 0.0) {
            return Err(crate::ControllerError::invalid(
                "rps",
                format!("rps {} must be a non-negative number", self.rps),
            ));
        }
        for (name, l) in &self.virtual_services {
            if !(l.rps.is_finite() && l.rps >= 0.0) {
                return Err(crate::ControllerError::invalid(
                    &format!("virtual_services.{name}.rps"),
                    format!("rps {} must be a non-negative number", l.rps),
                ));
            }
        }
        Ok(())
    }
}

/// Hands configurations to agents. Versions start from the process start time so that an agent
/// polling with a version from before a controller restart never matches by accident.
#[derive(Debug)]
pub struct EngineHub {
    channels: Mutex<HashMap<String, watch::Sender<std::sync::Arc<EngineConfig>>>>,
    next_version: std::sync::atomic::AtomicU64,
    report_interval: Duration,
}

impl EngineHub {
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
    pub fn publish(&self, engine: &str, group: &str, vss: Vec<EngineVs>) -> bool {
        let mut map = self.channels.lock().expect("hub lock");
        if let Some(tx) = map.get(engine) {
            if tx.borrow().virtual_services == vss {
                return false;
            }
            let cfg = EngineConfig {
                engine: engine.to_owned(),
                group: group.to_owned(),
                version: self.version(),
                report_interval_secs: self.report_interval.as_secs(),
                virtual_services: vss,
            };
            tx.send_replace(std::sync::Arc::new(cfg));
            return true;
        }
        let cfg = EngineConfig {
            engine: engine.to_owned(),
            group: group.to_owned(),
            version: self.version(),
            report_interval_secs: self.report_interval.as_secs(),
            virtual_services: vss,
        };
        map.insert(
            engine.to_owned(),
            watch::channel(std::sync::Arc::new(cfg)).0,
        );
        true
    }

    /// Forgets an SE (it was deleted).
    pub fn remove(&self, engine: &str) {
        self.channels.lock().expect("hub lock").remove(engine);
    }

    /// True when the SE is known.
    pub fn contains(&self, engine: &str) -> bool {
        self.channels.lock().expect("hub lock").contains_key(engine)
    }

    /// The current configuration.
    pub fn current(&self, engine: &str) -> Option<std::sync::Arc<EngineConfig>> {
        self.channels
            .lock()
            .expect("hub lock")
            .get(engine)
            .map(|tx| tx.borrow().clone())
    }

    /// The version of the current configuration.
    pub fn current_version(&self, engine: &str) -> Option<u64> {
        self.channels
            .lock()
            .expect("hub lock")
            .get(engine)
            .map(|tx| tx.borrow().version)
    }

    /// Waits until the SE's version differs from `after` (or `timeout` passes: `Ok(None)`).
    /// `None` for `after` answers at once. Unknown SE: `Err(())`.
    pub async fn wait(
        &self,
        engine: &str,
        after: Option<u64>,
        timeout: Duration,
    ) -> Result<Option<std::sync::Arc<EngineConfig>>, ()> {
        let mut rx = {
            let map = self.channels.lock().expect("hub lock");
            map.get(engine).ok_or(())?.subscribe()
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

    fn vs(name: &str) -> EngineVs {
        EngineVs {
            name: name.into(),
            fqdn: format!("{name}.example.com"),
            vip: None,
            configure_vip: false,
            role: Role::Primary,
            serving: 1,
            ports: vec![],
            members: vec![],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_returns_on_change_or_timeout() {
        let hub = std::sync::Arc::new(EngineHub::new(Duration::from_secs(10)));
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
