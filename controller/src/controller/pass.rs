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
    /// Failed in the cloud, gone, reporting down, or silent for too long.
    Unhealthy,
}

/// One SE as a group reconcile sees it.
pub(super) struct Se {
    pub rec: Arc<SeRecord>,
    pub health: SeHealth,
    /// Built from the group's current template.
    pub current: bool,
}

impl Se {
    /// Active and judged healthy: carries virtual services.
    pub fn serving(&self) -> bool {
        self.rec.phase == SePhase::Active && self.health == SeHealth::Healthy
    }

    /// Counts towards the group's size (being made or active, not failed).
    pub fn live(&self) -> bool {
        matches!(self.rec.phase, SePhase::Creating | SePhase::Active)
            && self.health != SeHealth::Unhealthy
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
    /// Place: a placement or a VIP binding changed.
    pub placement_changed: bool,
    /// Delete: SEs deleted (or found gone).
    pub deleted: u32,
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
            placement_changed: false,
            deleted: 0,
        }
    }

    /// True when the SE named `name` was drained in this pass.
    pub fn draining(&self, name: &str) -> bool {
        self.drain.iter().any(|(n, _)| n == name)
    }
}
