//! What the status endpoint shows: every group with its SEs (phase, health, load), every
//! virtual service with its VIP, placement, span and DNS answer, and the last errors.

use super::pass::SeHealth;
use super::{Controller, ControllerOptions, SePhase, ServiceLoad, State};
use crate::autoscale::Recommendation;
use crate::runtime::ObjectRef;
use crate::se_protocol::ReportedHealth;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use tokio::time::Instant;

/// In-memory status of a group.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupStatusInner {
    pub desired: Option<u32>,
    pub recommendation: Option<Recommendation>,
    /// Eligible SEs at the last placement, to skip placement when nothing changed.
    pub placed_on: Vec<String>,
    /// When each in-flight create was last issued by this process.
    pub issued: HashMap<String, Instant>,
    /// When each VM was first seen, for the boot timeout.
    pub first_seen: HashMap<String, Instant>,
    /// Health reasons by SE.
    pub reasons: HashMap<String, String>,
    /// The judged health of each SE that has a reason.
    pub health: HashMap<String, SeHealth>,
    /// Why sizing or remediation is held for the whole group, if it is.
    pub held: Option<String>,
    /// Progress of a rolling upgrade, or why it waits.
    pub upgrade: Option<String>,
    /// The last rebalancing move, and why.
    pub rebalanced: Option<String>,
}

impl Controller {
    /// The status of everything.
    pub fn status(&self) -> ControllerStatus {
        let st = self.state();
        let now = Instant::now();
        let groups = st
            .groups
            .keys()
            .chain(st.ses.keys())
            .collect::<BTreeSet<_>>();
        let groups = groups
            .into_iter()
            .map(|g| group_status(&st, g, now, &self.inner.opts))
            .collect();
        let mut names: Vec<&String> = st.vss.keys().collect();
        names.sort();
        let virtual_services =
            names
                .into_iter()
                .filter_map(|n| st.vss.get(n))
                .map(|v| {
                    let rt = st.vsrt.get(&v.name);
                    VsStatus {
                        name: v.name.clone(),
                        fqdn: v.fqdn.clone(),
                        se_group: v.se_group.clone(),
                        address: rt.and_then(|r| r.address),
                        bound_to: rt.and_then(|r| r.bound_to.clone()),
                        placement: rt.map(|r| r.placement.clone()).unwrap_or_default(),
                        desired_ses: st.vs_scale.get(&v.name).map(|s| s.desired),
                        load: st.vs_scale.get(&v.name).and_then(|s| s.load),
                        scaling: st.vs_scale.get(&v.name).and_then(|s| match &s.choice {
                            // Predictive: both paths and which one set the span.
                            Some((c, lead)) => Some(c.reason(*lead)),
                            None => s.last.as_ref().zip(st.groups.get(&v.se_group)).map(
                                |((obs, d), g)| crate::autoscale::explain(obs, &g.autoscale, *d),
                            ),
                        }),
                        forecast: st
                            .vs_scale
                            .get(&v.name)
                            .and_then(|s| s.choice.as_ref().map(|(c, _)| c.clone())),
                        servers: super::server_health::servers(
                            &st,
                            v,
                            rt.map(|r| r.placement.as_slice()).unwrap_or_default(),
                            now,
                            &self.inner.opts,
                        ),
                        dns: self.inner.dns.get(&v.fqdn),
                        vip_error: st.vs_errors.get(&v.name).cloned(),
                        last_error: st
                            .status
                            .get(&ObjectRef::VirtualService(v.name.clone()))
                            .and_then(|s| s.last_error.clone()),
                    }
                })
                .collect();
        drop(st);
        ControllerStatus {
            groups,
            virtual_services,
            quarantined: self.quarantined(),
        }
    }
}

/// The status of one SE.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SeStatus {
    /// SE name.
    pub name: String,
    /// Cloud VM id, once known.
    pub vm_id: Option<String>,
    /// Lifecycle phase.
    pub phase: SePhase,
    /// Health as the controller judges it.
    pub health: SeHealth,
    /// Built from the current template.
    pub current_template: bool,
    /// Image.
    pub image: String,
    /// The host it is pinned to (groups of one SE per host).
    pub host: Option<String>,
    /// Last reported requests per second.
    pub rps: Option<f64>,
    /// Virtual services placed on it.
    pub virtual_services: usize,
    /// Why it is not healthy, or why nothing is done about it yet.
    pub reason: Option<String>,
    /// Why its proxy refused the newest configuration (it serves the last good one), from its
    /// agent's last report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    /// Its NICs, the primary first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<SeNicStatus>,
}

/// One NIC of an SE.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SeNicStatus {
    /// The cloud's NIC id.
    pub id: String,
    /// The network's cloud id.
    pub network_id: String,
    /// The network as its group names it (a key of its `networks`), when it is one of them.
    pub network: Option<String>,
    /// Position on the VM (0: the primary).
    pub device_index: u32,
    /// MAC address, when the cloud reports one.
    pub mac: Option<String>,
    /// Its address on the network, once known.
    pub address: Option<IpAddr>,
}

/// The status of one SE group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// False when the group was deleted and its SEs are being removed.
    pub exists: bool,
    /// SEs wanted.
    pub desired: Option<u32>,
    /// SEs serving.
    pub healthy: usize,
    /// SEs that exist (any phase).
    pub current: usize,
    /// The autoscaler's last word.
    pub recommendation: Option<Recommendation>,
    /// Progress of a rolling upgrade, or why it waits.
    pub upgrade: Option<String>,
    /// The last virtual service moved off an overloaded SE, and why.
    pub rebalanced: Option<String>,
    /// Why the group's size or the remediation of its SEs is held (too many SEs look unhealthy
    /// at once, or every host reads as not ready), if it is.
    pub held: Option<String>,
    /// The SEs.
    pub ses: Vec<SeStatus>,
    /// Last reconcile error (cleared by the next success).
    pub last_error: Option<String>,
    /// Consecutive failed reconciles (reset by a success).
    pub failures: u32,
}

/// The status of one virtual service.
#[derive(Clone, Debug, Serialize)]
pub struct VsStatus {
    /// Name.
    pub name: String,
    /// FQDN.
    pub fqdn: String,
    /// SE group.
    pub se_group: String,
    /// VIP address.
    pub address: Option<IpAddr>,
    /// SE holding the VIP.
    pub bound_to: Option<String>,
    /// SEs serving it, primary first.
    pub placement: Vec<String>,
    /// SEs it should span (its autoscaled width).
    pub desired_ses: Option<u32>,
    /// Its load over the SEs carrying it, when all of them reported.
    pub load: Option<ServiceLoad>,
    /// Why its span is what it is.
    pub scaling: Option<String>,
    /// Under predictive autoscaling: the forecast over the lead time and which path set the
    /// span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<crate::forecast::policy::Choice>,
    /// Its backend servers, up or down as the proxies' health checks on its SEs see them.
    pub servers: Vec<super::ServerStatus>,
    /// What DNS answers for the FQDN.
    pub dns: Option<std::net::Ipv4Addr>,
    /// Last VIP binding error.
    pub vip_error: Option<String>,
    /// Last reconcile error.
    pub last_error: Option<String>,
}

/// Everything the status endpoint shows.
#[derive(Clone, Debug, Serialize)]
pub struct ControllerStatus {
    /// SE groups.
    pub groups: Vec<GroupStatus>,
    /// Virtual services.
    pub virtual_services: Vec<VsStatus>,
    /// Stored records that no longer decode, moved aside to `quarantine/<key>` (see the
    /// README): reported until their key holds a record again.
    pub quarantined: Vec<super::QuarantinedRecord>,
}

impl ControllerStatus {
    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&GroupStatus> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The virtual service named `name`.
    pub fn vs(&self, name: &str) -> Option<&VsStatus> {
        self.virtual_services.iter().find(|v| v.name == name)
    }
}

fn group_status(st: &State, name: &str, now: Instant, opts: &ControllerOptions) -> GroupStatus {
    let g = st.groups.get(name);
    let gs = st.group_status.get(name);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for rt in st.vss_of_group(name).filter_map(|v| st.vsrt.get(&v.name)) {
        for se in &rt.placement {
            *counts.entry(se.as_str()).or_default() += 1;
        }
    }
    let keys = g
        .map(|g| super::networks::known_networks(st, g))
        .unwrap_or_default();
    let ses: Vec<SeStatus> = st
        .ses
        .get(name)
        .map(|m| {
            m.values()
                .map(|r| {
                    let rt = st.se_runtime.get(&r.name);
                    let health = match (&r.phase, rt) {
                        (SePhase::Creating, _) => SeHealth::Creating,
                        (_, Some(rt)) => match &rt.last_report {
                            Some((_, rep)) if rep.health == ReportedHealth::Down => {
                                SeHealth::Unhealthy
                            }
                            Some((t, _))
                                if now.duration_since(*t)
                                    > opts.report_interval * opts.missed_reports =>
                            {
                                SeHealth::Unreachable
                            }
                            Some(_) => SeHealth::Healthy,
                            None => SeHealth::Booting,
                        },
                        (_, None) => SeHealth::Booting,
                    };
                    // What the last pass judged, when it found something wrong.
                    let health = match gs.and_then(|gs| gs.health.get(&r.name)) {
                        Some(h) => *h,
                        None => health,
                    };
                    SeStatus {
                        name: r.name.clone(),
                        vm_id: r.vm_id.as_ref().map(|v| v.to_string()),
                        phase: r.phase.clone(),
                        health,
                        current_template: g.is_some_and(|g| {
                            r.spec.image == g.template.image && r.spec.size == g.template.size
                        }),
                        image: r.spec.image.clone(),
                        host: r.spec.host.as_ref().map(ToString::to_string),
                        rps: rt
                            .and_then(|rt| rt.last_report.as_ref())
                            .map(|(_, rep)| rep.rps),
                        virtual_services: counts.get(r.name.as_str()).copied().unwrap_or(0),
                        reason: gs.and_then(|gs| gs.reasons.get(&r.name).cloned()),
                        config_error: rt
                            .and_then(|rt| rt.last_report.as_ref())
                            .and_then(|(_, rep)| rep.config_error.clone()),
                        nics: r
                            .nics
                            .iter()
                            .map(|n| SeNicStatus {
                                id: n.id.to_string(),
                                network_id: n.network.to_string(),
                                network: keys
                                    .iter()
                                    .find(|(_, id)| **id == n.network)
                                    .map(|(k, _)| k.clone()),
                                device_index: n.device_index,
                                mac: n.mac.clone(),
                                address: n.address,
                            })
                            .collect(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    GroupStatus {
        name: name.to_owned(),
        exists: g.is_some(),
        desired: gs.and_then(|g| g.desired),
        healthy: ses
            .iter()
            .filter(|s| s.health == SeHealth::Healthy && s.phase == SePhase::Active)
            .count(),
        current: ses.len(),
        recommendation: gs.and_then(|g| g.recommendation.clone()),
        upgrade: gs.and_then(|g| g.upgrade.clone()),
        rebalanced: gs.and_then(|g| g.rebalanced.clone()),
        held: gs.and_then(|g| g.held.clone()),
        ses,
        last_error: st
            .status
            .get(&ObjectRef::SeGroup(name.to_owned()))
            .and_then(|s| s.last_error.clone()),
        failures: st
            .status
            .get(&ObjectRef::SeGroup(name.to_owned()))
            .map_or(0, |s| s.failures),
    }
}
