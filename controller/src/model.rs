//! The desired state a user declares: SE groups, virtual services, IPAM pools and DNS zones.
//!
//! Every type validates itself and names the offending field (`template.image`, `ports[1].port`)
//! so the REST API can answer 422 with the field, and the config loader can point at it.

use crate::error::{ControllerError, Result};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use strato_core::{Size, validate_label};

/// The most SEs one group may have unless the controller's configuration says otherwise
/// (`[controller] max_ses_per_group`): a typo in `min_ses` must not become a thousand VMs.
pub const DEFAULT_MAX_SES_PER_GROUP: u32 = 1000;

/// The highest `max_ses_per_group` a controller can be configured with, and the highest count
/// the controller's command line takes.
pub const MAX_SES_CEILING: u32 = 100_000;

/// Longest SE group name: SE names append `-` and a serial of up to 9 digits, and the cloud's
/// group limit is [`strato_core::MAX_GROUP_NAME_LEN`].
pub const MAX_SE_GROUP_NAME_LEN: usize = 40;

fn invalid(field: &str, msg: impl Into<String>) -> ControllerError {
    ControllerError::invalid(field, msg)
}

fn label(field: &str, value: &str, max: usize) -> Result<()> {
    validate_label(field, value, max).map_err(|e| invalid(field, e.message()))
}

/// What every SE of a group looks like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeTemplate {
    /// VM size (`2x4g` or a cloud type).
    pub size: Size,
    /// VM image.
    pub image: String,
    /// Data network (cloud network id); the cloud's default network when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// What one SE can carry; utilisation is load divided by this.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeCapacity {
    /// Requests per second one SE serves at 100 %.
    pub rps: f64,
    /// Concurrent connections one SE holds at 100 %.
    pub connections: u64,
}

/// How SEs back each other up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum HaMode {
    /// N active SEs sized by load plus `buffer` spare SEs (N+M).
    Elastic {
        /// Spare SEs kept on top of what the load needs.
        #[serde(default)]
        buffer: u32,
    },
    /// Every virtual service has one active and one standby SE.
    ActiveStandby,
}

/// How virtual services are spread over SEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementStrategy {
    /// Put each virtual service on the SEs carrying the fewest virtual services.
    Spread,
    /// Fill SEs up to `max_vs_per_se` before using the next.
    Pack,
}

/// Placement policy of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Spread or pack.
    #[serde(default = "default_strategy")]
    pub strategy: PlacementStrategy,
    /// Most virtual services one SE carries (0: no limit; 1: every service gets SEs of its own).
    #[serde(default)]
    pub max_vs_per_se: u32,
    /// One SE on every ready host of the cloud (a Kubernetes node, an ESXi host), like a
    /// DaemonSet: the group's size follows the hosts (at most `max_ses`), not the load, and an
    /// SE whose host stops being ready is replaced on a host that is. Needs a cloud that shows
    /// hosts (`host_pinning`).
    #[serde(default)]
    pub se_per_host: bool,
    /// Move a virtual service off an SE its reports show overloaded, onto the coolest SE
    /// that does not carry it, one service per report interval (on by default; elastic HA).
    #[serde(default = "default_rebalance")]
    pub rebalance: bool,
}

fn default_rebalance() -> bool {
    true
}

fn default_strategy() -> PlacementStrategy {
    PlacementStrategy::Spread
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            strategy: PlacementStrategy::Spread,
            max_vs_per_se: 0,
            se_per_host: false,
            rebalance: true,
        }
    }
}

/// Reactive autoscaling settings (after the Kubernetes HPA).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalePolicy {
    /// Utilisation the group is kept at (0 < target <= 1).
    #[serde(default = "default_target")]
    pub target_utilisation: f64,
    /// No change while utilisation/target is within this fraction of 1.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Scale-down uses the highest recommendation seen over this window.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub scale_down_window: std::time::Duration,
    /// Predictive autoscaling: each service's span is also sized from a forecast of its load,
    /// learned from its own history, a boot time ahead (absent: reactive only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictive: Option<crate::forecast::policy::PredictivePolicy>,
}

fn default_target() -> f64 {
    0.6
}
fn default_tolerance() -> f64 {
    0.1
}
fn default_window() -> std::time::Duration {
    std::time::Duration::from_secs(300)
}

impl Default for AutoscalePolicy {
    fn default() -> Self {
        Self {
            target_utilisation: default_target(),
            tolerance: default_tolerance(),
            scale_down_window: default_window(),
            predictive: None,
        }
    }
}

/// A group of SEs on one cloud.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeGroup {
    /// Name (a label of at most 40 characters); SEs are named `NAME-SERIAL`.
    pub name: String,
    /// Cloud profile (from strato's configuration) the SEs run on.
    pub cloud: String,
    /// What an SE looks like. Changing it rolls the SEs one at a time.
    pub template: SeTemplate,
    /// Fewest SEs.
    #[serde(default = "one")]
    pub min_ses: u32,
    /// Most SEs.
    pub max_ses: u32,
    /// Per-SE capacity.
    pub capacity: SeCapacity,
    /// High availability mode.
    #[serde(default = "default_ha")]
    pub ha: HaMode,
    /// Placement of virtual services on SEs.
    #[serde(default)]
    pub placement: Placement,
    /// Autoscaling.
    #[serde(default)]
    pub autoscale: AutoscalePolicy,
    /// The disruption budget: most SEs drained or replaced at a time (default 1). Failed SEs,
    /// SEs on hosts that are not ready, rolling upgrades and scale-in all spend it, like a
    /// PodDisruptionBudget's `maxUnavailable`; it is also the cap on what one pass removes.
    #[serde(default = "one")]
    pub max_unavailable: u32,
    /// Remediation stops when more than this share of the group looks unhealthy at once
    /// (default `"40%"`; a percentage or a fraction such as `0.4`), as Cluster API's
    /// MachineHealthCheck `maxUnhealthy` does: so many failures at once point to a partition
    /// or a fault on the controller's side rather than to dead SEs. One unhealthy SE is
    /// always remediated, whatever the group's size.
    #[serde(default)]
    pub max_unhealthy: Share,
    /// The networks its SEs may join besides the template's, for the virtual services whose
    /// VIPs or servers live there ([`SeNetwork`]). Empty: every SE stays on its one network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<SeNetwork>,
}

/// A network the SEs of a group may join: an existing one adopted (found by id, then by
/// name), or one strato creates when `create` says so and none is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeNetwork {
    /// The network's cloud id or name; also the key virtual services (`network`) and IPAM
    /// pools (`network`) name it by.
    pub network: String,
    /// Create the network (named `network`) when the cloud has none of that id or name.
    #[serde(default)]
    pub create: bool,
    /// Address range of a network strato creates (required by some clouds, e.g. AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<IpNet>,
}

/// A share of a group: a percentage (`"40%"`) or a fraction (`0.4`), kept as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Share {
    /// A fraction in [0, 1].
    Fraction(f64),
    /// A percentage in [0 %, 100 %], written with its `%`.
    Percent(String),
}

impl Default for Share {
    fn default() -> Self {
        Share::Percent("40%".into())
    }
}

impl Share {
    /// The share as a fraction in [0, 1], or `None` when it is not one.
    pub fn fraction(&self) -> Option<f64> {
        let f = match self {
            Share::Fraction(f) => *f,
            Share::Percent(s) => {
                let n = s.trim().strip_suffix('%')?.trim();
                // Plain decimals only ("1e2%" or "inf%" are no percentage anyone writes).
                if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return None;
                }
                n.parse::<f64>().ok()? / 100.0
            }
        };
        (f.is_finite() && (0.0..=1.0).contains(&f)).then_some(f)
    }

    /// The most of `total` this share allows: rounded down, and never below one (one failure
    /// in a small group is the commonest event, not a sign of a partition).
    pub fn of(&self, total: usize) -> usize {
        let f = self.fraction().unwrap_or(0.4);
        ((f * total as f64).floor() as usize).max(1)
    }
}

fn one() -> u32 {
    1
}
fn default_ha() -> HaMode {
    HaMode::Elastic { buffer: 0 }
}

impl SeGroup {
    /// Checks the group, naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        label("name", &self.name, MAX_SE_GROUP_NAME_LEN)?;
        if self.cloud.trim().is_empty() {
            return Err(invalid("cloud", "cloud must name a profile"));
        }
        if self.template.image.trim().is_empty() {
            return Err(invalid("template.image", "image must not be empty"));
        }
        if let Some(n) = &self.template.network
            && n.trim().is_empty()
        {
            return Err(invalid(
                "template.network",
                "network must not be empty when set",
            ));
        }
        if self.max_ses == 0 {
            return Err(invalid("max_ses", "max_ses must be at least 1"));
        }
        if self.min_ses > self.max_ses {
            return Err(invalid(
                "min_ses",
                format!("min_ses {} is above max_ses {}", self.min_ses, self.max_ses),
            ));
        }
        if self.ha == HaMode::ActiveStandby && self.max_ses < 2 {
            return Err(invalid(
                "max_ses",
                "active_standby needs max_ses of at least 2",
            ));
        }
        if !(self.capacity.rps.is_finite() && self.capacity.rps > 0.0) {
            return Err(invalid(
                "capacity.rps",
                format!(
                    "capacity.rps {} must be a positive number",
                    self.capacity.rps
                ),
            ));
        }
        if self.capacity.connections == 0 {
            return Err(invalid(
                "capacity.connections",
                "capacity.connections must be at least 1",
            ));
        }
        let a = &self.autoscale;
        if !(a.target_utilisation > 0.0 && a.target_utilisation <= 1.0) {
            return Err(invalid(
                "autoscale.target_utilisation",
                format!(
                    "target_utilisation {} must be in (0, 1]",
                    a.target_utilisation
                ),
            ));
        }
        if !(0.0..1.0).contains(&a.tolerance) {
            return Err(invalid(
                "autoscale.tolerance",
                format!("tolerance {} must be in [0, 1)", a.tolerance),
            ));
        }
        if self.max_unavailable == 0 {
            return Err(invalid(
                "max_unavailable",
                "max_unavailable must be at least 1 (0 would never replace a failed SE)",
            ));
        }
        if self.max_unhealthy.fraction().is_none() {
            return Err(invalid(
                "max_unhealthy",
                format!(
                    "max_unhealthy {} must be a percentage from \"0%\" to \"100%\" or a \
                     fraction from 0 to 1",
                    match &self.max_unhealthy {
                        Share::Fraction(f) => f.to_string(),
                        Share::Percent(s) => format!("{s:?}"),
                    }
                ),
            ));
        }
        for (i, n) in self.networks.iter().enumerate() {
            let field = format!("networks[{i}].network");
            if n.network.trim().is_empty() {
                return Err(invalid(&field, "network must not be empty"));
            }
            if n.network == self.network_key()
                || self.networks[..i].iter().any(|m| m.network == n.network)
            {
                return Err(invalid(
                    &field,
                    format!("network {:?} is listed twice", n.network),
                ));
            }
        }
        Ok(())
    }

    /// [`SeGroup::validate`], and `max_ses` (so every size of the group) at most
    /// `max_ses_per_group`, the controller's bound.
    pub fn validate_within(&self, max_ses_per_group: u32) -> Result<()> {
        self.validate()?;
        if self.max_ses > max_ses_per_group {
            return Err(invalid(
                "max_ses",
                format!(
                    "max_ses {} is above this controller's limit of {max_ses_per_group} SEs per \
                     group (controller.max_ses_per_group)",
                    self.max_ses
                ),
            ));
        }
        Ok(())
    }

    /// The key of the data network (IPAM pools are per network).
    pub fn network_key(&self) -> &str {
        self.template.network.as_deref().unwrap_or(DEFAULT_NETWORK)
    }

    /// Checks that `vs` names only networks this group's SEs may join (its template's or one
    /// of `networks`), naming the service, the group and the network.
    pub fn check_networks_of(&self, vs: &VirtualService) -> Result<()> {
        let listed =
            |n: &str| n == self.network_key() || self.networks.iter().any(|m| m.network == n);
        let named = vs.network.iter().map(|n| ("network".to_owned(), n)).chain(
            vs.server_networks
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("server_networks[{i}]"), n)),
        );
        for (field, n) in named {
            if !listed(n) {
                return Err(invalid(
                    &field,
                    format!(
                        "virtual service {} names network {n:?}, which se group {} does not \
                         list (its template's is {:?}; add it to the group's networks)",
                        vs.name,
                        self.name,
                        self.network_key()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The network key of SE groups that name no network.
pub const DEFAULT_NETWORK: &str = "default";

pub use strato_agent::protocol::{Algorithm, Protocol, Server, ServicePort};

/// A load-balanced service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualService {
    /// Name (a label).
    pub name: String,
    /// Fully qualified name answered by the controller's DNS.
    pub fqdn: String,
    /// Listening ports.
    pub ports: Vec<ServicePort>,
    /// Backend servers. Read from `members` too, the old name, for one release (a group's VMs
    /// are its members; a service's backends are its servers).
    #[serde(default, alias = "members")]
    pub servers: Vec<Server>,
    /// SE group it runs on.
    pub se_group: String,
    /// Fewest SEs it is placed on.
    #[serde(default = "one")]
    pub min_ses: u32,
    /// Most SEs it is placed on.
    #[serde(default = "default_vs_max")]
    pub max_ses: u32,
    /// A fixed VIP instead of one from the IPAM pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<IpAddr>,
    /// How the servers share the load: `round_robin` (the default), `least_connections` or
    /// `source_hash`.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// The network its VIP lives on (a key of its group's `networks`); absent: the group's
    /// template network. The SEs carrying it get a NIC there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Networks its servers sit on that its SEs must reach too (keys of the group's
    /// `networks`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_networks: Vec<String>,
}

impl VirtualService {
    /// The network key of its VIP in group `g`.
    pub fn vip_network<'a>(&'a self, g: &'a SeGroup) -> &'a str {
        self.network.as_deref().unwrap_or(g.network_key())
    }
}

fn default_vs_max() -> u32 {
    u32::MAX
}

impl VirtualService {
    /// Checks the service, naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        label("name", &self.name, strato_core::MAX_NAME_LEN)?;
        validate_fqdn("fqdn", &self.fqdn)?;
        if self.ports.is_empty() {
            return Err(invalid(
                "ports",
                "a virtual service needs at least one port",
            ));
        }
        for (i, p) in self.ports.iter().enumerate() {
            if p.port == 0 {
                return Err(invalid(&format!("ports[{i}].port"), "port 0 is not a port"));
            }
            if self.ports[..i]
                .iter()
                .any(|q| q.port == p.port && same_transport(q.protocol, p.protocol))
            {
                return Err(invalid(
                    &format!("ports[{i}].port"),
                    format!("port {} is listed twice", p.port),
                ));
            }
        }
        for (i, m) in self.servers.iter().enumerate() {
            if m.port == 0 {
                return Err(invalid(
                    &format!("servers[{i}].port"),
                    "port 0 is not a port",
                ));
            }
        }
        label("se_group", &self.se_group, MAX_SE_GROUP_NAME_LEN)?;
        if self.network.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(invalid("network", "network must not be empty when set"));
        }
        if self.min_ses == 0 {
            return Err(invalid("min_ses", "min_ses must be at least 1"));
        }
        if self.min_ses > self.max_ses {
            return Err(invalid(
                "min_ses",
                format!("min_ses {} is above max_ses {}", self.min_ses, self.max_ses),
            ));
        }
        Ok(())
    }
}

fn same_transport(a: Protocol, b: Protocol) -> bool {
    (a == Protocol::Udp) == (b == Protocol::Udp)
}

/// An inclusive range of addresses kept out of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRange {
    /// First address.
    pub start: IpAddr,
    /// Last address.
    pub end: IpAddr,
}

/// Addresses for VIPs on one network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    /// Name (a label).
    pub name: String,
    /// The network key (an SE group's `template.network`, or `default`).
    pub network: String,
    /// The range addresses come from (the network and broadcast addresses are never used).
    pub cidr: IpNet,
    /// Ranges never handed out (gateways, DHCP ranges...).
    #[serde(default)]
    pub reserved: Vec<IpRange>,
}

impl IpamPool {
    /// Checks the pool, naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        label("name", &self.name, strato_core::MAX_NAME_LEN)?;
        if self.network.trim().is_empty() {
            return Err(invalid("network", "network must not be empty"));
        }
        if !matches!(self.cidr, IpNet::V4(_)) {
            return Err(invalid(
                "cidr",
                format!(
                    "cidr {} is not IPv4; only IPv4 pools are supported",
                    self.cidr
                ),
            ));
        }
        if self.cidr.prefix_len() > 30 {
            return Err(invalid(
                "cidr",
                format!("cidr {} leaves no usable addresses", self.cidr),
            ));
        }
        for (i, r) in self.reserved.iter().enumerate() {
            if !self.cidr.contains(&r.start) || !self.cidr.contains(&r.end) {
                return Err(invalid(
                    &format!("reserved[{i}]"),
                    format!("range {}-{} is not inside {}", r.start, r.end, self.cidr),
                ));
            }
            if r.start > r.end {
                return Err(invalid(
                    &format!("reserved[{i}]"),
                    format!("range {}-{} ends before it starts", r.start, r.end),
                ));
            }
        }
        Ok(())
    }

    /// True when `addr` may be handed out.
    pub fn usable(&self, addr: IpAddr) -> bool {
        self.cidr.contains(&addr)
            && addr != self.cidr.network()
            && addr != self.cidr.broadcast()
            && !self
                .reserved
                .iter()
                .any(|r| r.start <= addr && addr <= r.end)
    }
}

/// A DNS zone the controller is authoritative for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsZone {
    /// Zone name (`apps.example.com`).
    pub name: String,
    /// TTL of the A records, seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

fn default_ttl() -> u32 {
    30
}

impl DnsZone {
    /// Checks the zone.
    pub fn validate(&self) -> Result<()> {
        validate_fqdn("name", &self.name)?;
        if self.ttl == 0 {
            return Err(invalid("ttl", "ttl must be at least 1 second"));
        }
        Ok(())
    }

    /// The key a zone is stored under (a zone name may contain dots, which keys allow).
    pub fn key(&self) -> String {
        normalise_fqdn(&self.name)
    }
}

/// Lowercases and strips the trailing dot.
pub fn normalise_fqdn(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

fn validate_fqdn(field: &str, s: &str) -> Result<()> {
    let n = s.trim_end_matches('.');
    if n.is_empty() || n.len() > 253 {
        return Err(invalid(
            field,
            format!("{field} {s:?} must be 1 to 253 characters"),
        ));
    }
    for part in n.split('.') {
        let ok = !part.is_empty()
            && part.len() <= 63
            && !part.starts_with('-')
            && !part.ends_with('-')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(invalid(
                field,
                format!("{field} {s:?} has an invalid label {part:?}"),
            ));
        }
    }
    Ok(())
}

/// The whole desired state, as loaded from a bootstrap file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    /// SE groups.
    #[serde(default)]
    pub se_groups: Vec<SeGroup>,
    /// Virtual services.
    #[serde(default)]
    pub virtual_services: Vec<VirtualService>,
    /// IPAM pools.
    #[serde(default)]
    pub ipam_pools: Vec<IpamPool>,
    /// DNS zones.
    #[serde(default)]
    pub dns_zones: Vec<DnsZone>,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn group() -> SeGroup {
        SeGroup {
            name: "web".into(),
            cloud: "mem".into(),
            template: SeTemplate {
                size: Size::shape(2, 4096),
                image: "se-1".into(),
                network: None,
            },
            min_ses: 1,
            max_ses: 4,
            capacity: SeCapacity {
                rps: 1000.0,
                connections: 10_000,
            },
            ha: HaMode::Elastic { buffer: 0 },
            placement: Placement::default(),
            autoscale: AutoscalePolicy::default(),
            max_unavailable: 1,
            max_unhealthy: Share::default(),
            networks: Vec::new(),
        }
    }

    #[test]
    fn group_errors_name_the_field() {
        type Case = (Box<dyn Fn(&mut SeGroup)>, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|g| g.name = "Bad".into()), "name"),
            (
                Box::new(|g| g.template.image = " ".into()),
                "template.image",
            ),
            (Box::new(|g| g.min_ses = 9), "min_ses"),
            (Box::new(|g| g.capacity.rps = 0.0), "capacity.rps"),
            (
                Box::new(|g| g.autoscale.target_utilisation = 1.5),
                "autoscale.target_utilisation",
            ),
            (Box::new(|g| g.max_unavailable = 0), "max_unavailable"),
            (
                Box::new(|g| g.max_unhealthy = Share::Percent("140%".into())),
                "max_unhealthy",
            ),
            (
                Box::new(|g| g.max_unhealthy = Share::Percent("forty".into())),
                "max_unhealthy",
            ),
            (
                Box::new(|g| g.max_unhealthy = Share::Fraction(-0.1)),
                "max_unhealthy",
            ),
        ];
        for (f, field) in cases {
            let mut g = group();
            f(&mut g);
            assert_eq!(g.validate().unwrap_err().field(), Some(field));
        }
        assert!(group().validate().is_ok());
    }

    #[test]
    fn a_group_above_the_controllers_limit_is_refused_naming_max_ses() {
        let mut g = group();
        g.max_ses = DEFAULT_MAX_SES_PER_GROUP + 1;
        g.min_ses = g.max_ses;
        assert!(g.validate().is_ok(), "well formed");
        let e = g.validate_within(DEFAULT_MAX_SES_PER_GROUP).unwrap_err();
        assert_eq!(e.field(), Some("max_ses"));
        assert!(
            e.to_string().contains("controller.max_ses_per_group"),
            "{e}"
        );
        g.max_ses = DEFAULT_MAX_SES_PER_GROUP;
        g.min_ses = g.max_ses;
        g.validate_within(DEFAULT_MAX_SES_PER_GROUP).unwrap();
        g.max_ses = 5000;
        g.min_ses = 1;
        g.validate_within(5000).unwrap();
    }

    #[test]
    fn vs_and_pool_errors_name_the_field() {
        let mut vs = VirtualService {
            name: "shop".into(),
            fqdn: "shop.apps.example.com".into(),
            ports: vec![ServicePort {
                port: 80,
                protocol: Protocol::Http,
            }],
            servers: vec![],
            se_group: "web".into(),
            min_ses: 1,
            max_ses: 2,
            vip: None,
            algorithm: Default::default(),
            network: None,
            server_networks: Vec::new(),
        };
        assert!(vs.validate().is_ok());
        vs.ports.push(ServicePort {
            port: 80,
            protocol: Protocol::Tcp,
        });
        assert_eq!(vs.validate().unwrap_err().field(), Some("ports[1].port"));
        vs.ports.pop();
        vs.fqdn = "bad..name".into();
        assert_eq!(vs.validate().unwrap_err().field(), Some("fqdn"));

        let pool = IpamPool {
            name: "p".into(),
            network: "default".into(),
            cidr: "10.0.0.0/24".parse().unwrap(),
            reserved: vec![IpRange {
                start: "10.0.1.1".parse().unwrap(),
                end: "10.0.1.2".parse().unwrap(),
            }],
        };
        assert_eq!(pool.validate().unwrap_err().field(), Some("reserved[0]"));
    }

    #[test]
    fn a_vs_takes_members_the_old_name_of_servers_from_toml() {
        let text = r#"
            name = "shop"
            fqdn = "shop.apps.example.com"
            se_group = "web"
            ports = [{ port = 443, protocol = "https" }]
            members = [{ address = "192.168.1.10", port = 8443 }]
        "#;
        let v: VirtualService = toml::from_str(text).unwrap();
        assert_eq!(v.servers.len(), 1);
        assert_eq!(v.servers[0].port, 8443);
        v.validate().unwrap();
        let mut bad = v.clone();
        bad.servers[0].port = 0;
        assert_eq!(bad.validate().unwrap_err().field(), Some("servers[0].port"));
    }

    #[test]
    fn group_defaults_fill_in_from_json() {
        let g: SeGroup = serde_json::from_value(serde_json::json!({
            "name": "web", "cloud": "mem", "max_ses": 3,
            "template": {"size": "2x4g", "image": "se-1"},
            "capacity": {"rps": 100.0, "connections": 1000},
            "ha": {"mode": "elastic", "buffer": 1}
        }))
        .unwrap();
        assert_eq!(g.min_ses, 1);
        assert_eq!(g.ha, HaMode::Elastic { buffer: 1 });
        assert_eq!(
            g.autoscale.scale_down_window,
            std::time::Duration::from_secs(300)
        );
        assert_eq!(g.max_unavailable, 1);
        assert_eq!(g.max_unhealthy.fraction(), Some(0.4));
    }

    #[test]
    fn max_unhealthy_is_a_percentage_or_a_fraction_kept_as_written() {
        let parse = |v: serde_json::Value| -> SeGroup {
            let mut j = serde_json::to_value(group()).unwrap();
            j["max_unhealthy"] = v;
            serde_json::from_value(j).unwrap()
        };
        let pct = parse(serde_json::json!("25%"));
        assert_eq!(pct.max_unhealthy.fraction(), Some(0.25));
        assert_eq!(
            serde_json::to_value(&pct).unwrap()["max_unhealthy"],
            serde_json::json!("25%")
        );
        let frac = parse(serde_json::json!(0.5));
        assert_eq!(frac.max_unhealthy.fraction(), Some(0.5));
        pct.validate().unwrap();
        frac.validate().unwrap();
        // Of a group: rounded down, never below one.
        assert_eq!(Share::default().of(2), 1);
        assert_eq!(Share::default().of(5), 2);
        assert_eq!(Share::default().of(10), 4);
        assert_eq!(Share::Fraction(0.0).of(10), 1);
        let text = "name = \"web\"\ncloud = \"mem\"\nmax_ses = 3\nmax_unhealthy = \"50%\"\n\
                    template = { size = \"2x4g\", image = \"se-1\" }\n\
                    capacity = { rps = 100.0, connections = 1000 }\n";
        let g: SeGroup = toml::from_str(text).unwrap();
        assert_eq!(g.max_unhealthy.fraction(), Some(0.5));
    }
}
