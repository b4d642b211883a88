//! The SE agent protocol's data: the versioned configuration each SE pulls
//! (`GET /api/v1/ses/{id}/config`), the report it pushes (`POST /api/v1/ses/{id}/report`), and
//! the service ports and servers both carry. The controller and the agent share these types, so
//! the two ends cannot drift apart.
//!
//! Field names changed once (`engine` to `se`, `members` to `servers`): the old names are
//! still read, for one release, so an agent of this release also reads an older controller.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Transport protocol of a service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Plain TCP.
    Tcp,
    /// UDP.
    Udp,
    /// HTTP.
    Http,
    /// HTTPS (TLS terminated on the SE).
    Https,
}

/// A port a virtual service listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// Port number.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

/// A backend server of a virtual service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// Relative weight.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// A field of a message that fails its checks, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidField {
    /// The field's path, like `virtual_services.shop.rps`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for InvalidField {}

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
    /// How the servers share the load.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// The SE interface that carries the VIP; `None`: the primary one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceRef>,
}

/// How a virtual service's servers share its load (HAProxy's `balance`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Each server in turn, by weight.
    #[default]
    RoundRobin,
    /// The server with the fewest open connections.
    LeastConnections,
    /// A hash of the client's address, so a client keeps its server.
    SourceHash,
}

/// One interface of an SE, as the agent finds it in the guest: by MAC address when the cloud
/// reports one, else by device index (0 is the primary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceRef {
    /// Device index, the primary NIC being 0.
    pub device_index: u32,
    /// MAC address, when the cloud reports it (`aa:bb:cc:dd:ee:ff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
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
/// the cloud, is the controller's `SeHealth`).
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
    /// The health of each virtual service's servers as the proxy's checks see them, by
    /// virtual service; a service missing here has no checks reported.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_health: BTreeMap<String, Vec<ServerHealth>>,
    /// Why the newest configuration was not applied (the proxy's validation refused it); the
    /// last good one keeps serving meanwhile. `None` once a configuration applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
}

/// One backend server's health, from the proxy's own checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerHealth {
    /// The server's address.
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// True while its checks pass (a server that fails them gets no traffic).
    pub up: bool,
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
            server_health: BTreeMap::new(),
            config_error: None,
        }
    }

    /// Checks the numbers, naming the field.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if !(self.rps.is_finite() && self.rps >= 0.0) {
            return Err(InvalidField {
                field: "rps".into(),
                message: format!("rps {} must be a non-negative number", self.rps),
            });
        }
        for (name, l) in &self.virtual_services {
            if !(l.rps.is_finite() && l.rps >= 0.0) {
                return Err(InvalidField {
                    field: format!("virtual_services.{name}.rps"),
                    message: format!("rps {} must be a non-negative number", l.rps),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
