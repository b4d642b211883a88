//! The SE agent protocol's data: the versioned configuration each SE pulls
//! (`GET /api/v1/ses/{id}/config`), the report it pushes (`POST /api/v1/ses/{id}/report`), and
//! the hub that hands configurations to long-polling agents.
//!
//! Field names changed once (`engine` to `se`, `members` to `servers`): the old names are
//! still read, for one release, so an agent of this release also reads an older controller.

use crate::model::{Server, ServicePort};
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
pub struct SeVsConfig {
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
    /// Backend servers (read from `members` too, the old name, for one release).
    #[serde(alias = "members")]
    pub servers: Vec<Server>,
}

/// The whole configuration of one SE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeConfig {
    /// SE name (the `{id}` of its API paths; read from `engine` too, the old name, for one
    /// release).
    #[serde(alias = "engine")]
    pub se: String,
    /// Its SE group.
    pub group: String,
    /// Changes whenever the content does; agents long-poll with `after=VERSION`.
    pub version: u64,
    /// How often the controller expects a report, seconds.
    pub report_interval_secs: u64,
    /// Virtual services, by name.
    pub virtual_services: Vec<SeVsConfig>,
}

/// Health as an SE's agent reports it (the controller's own judgement, from this and from
/// the cloud, is [`crate::controller::SeHealth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedHealth {
    /// Serving.
    Up,
    /// Serving with problems (counted as up).
    Degraded,
    /// Not serving: the SE is replaced.
    Down,
}

/// What an SE's agent posts every report interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeReport {
    /// Requests per second over the last interval.
    pub rps: f64,
    /// Open connections.
    pub connections: u64,
    /// Health.
    pub health: ReportedHealth,
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

impl SeReport {
    /// A report of total load only (no per-service breakdown).
    pub fn new(rps: f64, connections: u64, health: ReportedHealth) -> Self {
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
        }
    }

    #[test]
    fn a_config_is_written_with_the_new_names_and_read_with_the_old_ones_too() {
        let old = serde_json::json!({"engine": "web-1", "group": "web", "version": 3,
            "report_interval_secs": 10, "virtual_services": [{"name": "shop",
            "fqdn": "shop.example.com", "vip": null, "configure_vip": false, "role": "primary",
            "serving": 1, "ports": [], "members": [{"address": "10.1.1.1", "port": 80, "weight": 1}]}]});
        let cfg: SeConfig = serde_json::from_value(old).unwrap();
        assert_eq!(cfg.se, "web-1");
        assert_eq!(cfg.virtual_services[0].servers[0].port, 80);
        let new = serde_json::to_value(&cfg).unwrap();
        assert_eq!(new["se"], "web-1");
        assert!(new.get("engine").is_none(), "{new}");
        assert_eq!(new["virtual_services"][0]["servers"][0]["port"], 80);
        assert!(new["virtual_services"][0].get("members").is_none(), "{new}");
        assert_eq!(serde_json::from_value::<SeConfig>(new).unwrap(), cfg);
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
