//! What the phases of one SE group reconcile share: the pass over the group ([`GroupPass`]),
//! each SE as the pass sees it ([`Se`]), and the health the controller judges it in.

use super::template::{parse_serial, template_hash};
use super::{ControllerOptions, SePhase, SeRecord};
use crate::error::ControllerError;
use crate::model::SeGroup;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use strato_core::{CloudConnector, HostId, Vm, member_ordinal};
use tokio::time::Instant;

/// Health of an SE as the controller judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeHealth {
    /// Create recorded, VM not seen yet.
    Creating,
    /// VM seen, no report yet.
    Booting,
    /// Reporting and up.
    Healthy,
    /// Failed in the cloud, confirmed gone, reporting down, or pending past the boot timeout.
    Unhealthy,
    /// Its VM runs but its agent stopped reporting: maybe dead, maybe only cut off from the
    /// controller. Its VIPs move to serving SEs; it is replaced within the disruption budget
    /// and deleted only once its replacement serves.
    Unreachable,
}

impl SeHealth {
    /// Unhealthy or unreachable: what remediation (drain, replace, delete) is for.
    pub fn failing(self) -> bool {
        matches!(self, SeHealth::Unhealthy | SeHealth::Unreachable)
    }
}

/// What a direct read says of an SE whose VM is missing from this pass's list.
#[derive(Clone, Debug)]
pub(super) enum Absence {
    /// `get_vm` answered `NotFound`, or with the VM deleted or being deleted: it is gone.
    Gone,
    /// `get_vm` found it: the list missed it.
    Found(Box<Vm>),
    /// `get_vm` failed otherwise (or answered with another VM): nothing is known.
    Unknown(String),
}

/// One SE as a group reconcile sees it.
pub(super) struct Se {
    pub rec: Arc<SeRecord>,
    pub health: SeHealth,
    /// Built from the group's current template.
    pub current: bool,
    /// Failing, but not remediated in this pass (what the cloud shows of it is uncertain, or
    /// the disruption budget is spent): it counts as live, so nothing replaces it yet.
    pub held: bool,
}

impl Se {
    /// Active and judged healthy: carries virtual services.
    pub fn serving(&self) -> bool {
        self.rec.phase == SePhase::Active && self.health == SeHealth::Healthy
    }

    /// Counts towards the group's size (being made or active, not failed, or failed but
    /// held).
    pub fn live(&self) -> bool {
        matches!(self.rec.phase, SePhase::Creating | SePhase::Active)
            && (!self.health.failing() || self.held)
    }
}

/// One reconcile of one SE group: what it started from, and what each phase hands to the
/// phases after it (each field says which phase sets it).
pub(super) struct GroupPass<'a> {
    pub g: SeGroup,
    pub conn: Arc<dyn CloudConnector>,
    pub opts: &'a ControllerOptions,
    pub now: Instant,
    /// Hash of the group's current template.
    pub template: String,
    /// The group's SE VMs in this pass's read of the cloud, by name.
    pub vms: HashMap<&'a str, &'a Vm>,
    /// Errors that did not stop the pass; the first one is its result.
    pub errors: Vec<ControllerError>,
    /// Observe: records were bound, adopted or dropped, so placement and the SE
    /// configurations are worked out again.
    pub structural: bool,
    /// Observe: what a direct read said of each SE whose VM the list missed.
    pub absent: HashMap<String, Absence>,
    /// Judge: why remediation is held for the whole group (too many SEs look unhealthy at
    /// once), if it is. Nothing is drained or deleted while it is.
    pub hold: Option<String>,
    /// Judge: the SEs, by serial (creates append theirs).
    pub ses: Vec<Se>,
    /// Size: SEs wanted.
    pub desired: u32,
    /// Size: the group's healthy minimum.
    pub healthy_min: u32,
    /// Size: the ready hosts of a group of one SE per host (`None` otherwise, or when the
    /// hosts could not be read).
    pub hosts: Option<Vec<HostId>>,
    /// Drain: SEs to have, `desired` plus a rolling upgrade's surge SE.
    pub target: u32,
    /// Drain, create: live SEs that are not draining.
    pub live_count: u32,
    /// Drain: the SEs drained in this pass, and why.
    pub drain: Vec<(String, String)>,
    /// Create: SEs created.
    pub created: u32,
    /// Create: creates issued (created or not), at most `creates_per_pass`.
    pub issued: u32,
    /// Create: more SEs are wanted than this pass's budget of creates.
    pub budget_spent: bool,
    /// Place: the serving SEs virtual services were placed on.
    pub eligible: Vec<String>,
    /// Place: the group's virtual services changed (servers, ports, algorithm): their SEs'
    /// configurations are published even when placement moves nothing.
    pub services_changed: bool,
    /// Place: a placement or a VIP binding changed.
    pub placement_changed: bool,
    /// Delete: SEs deleted (or found gone).
    pub deleted: u32,
    /// Networks: the group's `networks` found in the cloud, key to id.
    pub nets: std::collections::BTreeMap<String, strato_core::NetworkId>,
    /// Drain: the networks new SEs are made on (services lack SEs on them).
    pub create_nets: Vec<strato_core::NetworkId>,
}

impl<'a> GroupPass<'a> {
    /// A pass over `g`, whose cloud is `conn` and whose VMs are in `view` (this pass's read).
    pub fn new(
        g: SeGroup,
        conn: Arc<dyn CloudConnector>,
        opts: &'a ControllerOptions,
        view: &'a HashMap<String, Vec<Vm>>,
    ) -> Self {
        let template = template_hash(&g, &conn.info().owner);
        let name = g.name.as_str();
        let vms = view
            .get(name)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|vm| {
                member_ordinal(name, &vm.name).is_some() || parse_serial(name, &vm.name).is_some()
            })
            .map(|vm| (vm.name.as_str(), vm))
            .collect();
        Self {
            g,
            conn,
            opts,
            now: Instant::now(),
            template,
            vms,
            errors: Vec::new(),
            structural: false,
            absent: HashMap::new(),
            hold: None,
            ses: Vec::new(),
            desired: 0,
            healthy_min: 0,
            hosts: None,
            target: 0,
            live_count: 0,
            drain: Vec::new(),
            created: 0,
            issued: 0,
            budget_spent: false,
            eligible: Vec::new(),
            services_changed: false,
            placement_changed: false,
            deleted: 0,
            nets: Default::default(),
            create_nets: Vec::new(),
        }
    }

    /// SEs that may still be drained in this pass under the disruption budget: the group's
    /// `max_unavailable` less the SEs draining already (from earlier passes or this one).
    pub fn budget(&self) -> usize {
        let draining = self
            .ses
            .iter()
            .filter(|s| s.rec.phase == SePhase::Draining && !self.draining(&s.rec.name))
            .count()
            + self.drain.len();
        (self.g.max_unavailable as usize).saturating_sub(draining)
    }

    /// True when the SE named `name` was drained in this pass.
    pub fn draining(&self, name: &str) -> bool {
        self.drain.iter().any(|(n, _)| n == name)
    }
}
