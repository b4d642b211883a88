//! Plans and their application. Every command that changes the cloud first computes a [`Plan`]
//! from reads only (through a [`crate::reader::Reader`]); `--dry-run` prints the plan and stops.
//! [`apply`] is the only place that makes mutating connector calls.

use crate::error::CliResult;
use crate::wait::Waiter;
use serde::Serialize;
use strato_core::{
    CloudConnector, Group, GroupSpec, Network, NetworkSpec, Nic, NicSpec, Vip, VipSpec, Vm, VmId,
    VmSpec,
};

/// One change to the cloud, with everything resolved (ids, defaults), so applying it needs no
/// further decision.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// `create_vm`
    CreateVm {
        /// The spec, defaults filled in.
        spec: VmSpec,
    },
    /// `delete_vm`
    DeleteVm {
        /// The VM as read.
        vm: Vm,
    },
    /// `start_vm`
    StartVm {
        /// The VM as read.
        vm: Vm,
    },
    /// `stop_vm`
    StopVm {
        /// The VM as read.
        vm: Vm,
    },
    /// `create_network`
    CreateNetwork {
        /// The spec.
        spec: NetworkSpec,
    },
    /// `delete_network`
    DeleteNetwork {
        /// The network as read.
        network: Network,
    },
    /// `attach_nic`
    AttachNic {
        /// The VM as read.
        vm: Vm,
        /// The NIC to add.
        spec: NicSpec,
    },
    /// `detach_nic`
    DetachNic {
        /// The VM as read.
        vm: Vm,
        /// The NIC to remove.
        nic: Nic,
    },
    /// `allocate_vip`
    AllocateVip {
        /// The spec.
        spec: VipSpec,
    },
    /// `move_vip`
    MoveVip {
        /// The VIP as read.
        vip: Vip,
        /// The VM it moves to.
        to: Vm,
    },
    /// `release_vip`
    ReleaseVip {
        /// The VIP as read.
        vip: Vip,
    },
    /// `scale_group`
    ScaleGroup {
        /// The member template.
        spec: GroupSpec,
        /// Members now.
        from: u32,
        /// Members wanted.
        to: u32,
    },
}

impl Change {
    /// What the change does, in a user's words.
    pub fn describe(&self) -> String {
        let net = |n: &Option<strato_core::NetworkId>| {
            n.as_ref()
                .map_or_else(|| "the cloud's default".to_owned(), |n| n.to_string())
        };
        match self {
            Change::CreateVm { spec } => format!(
                "create vm {} (size {}, image {}, network {})",
                spec.name,
                spec.size,
                spec.image,
                net(&spec.network)
            ),
            Change::DeleteVm { vm } => format!("delete vm {} ({})", vm.name, vm.id),
            Change::StartVm { vm } => format!("start vm {} ({}, now {})", vm.name, vm.id, vm.state),
            Change::StopVm { vm } => format!("stop vm {} ({}, now {})", vm.name, vm.id, vm.state),
            Change::CreateNetwork { spec } => format!(
                "create network {}{}{}",
                spec.name,
                spec.cidr.map(|c| format!(" ({c})")).unwrap_or_default(),
                spec.parent
                    .as_ref()
                    .map(|p| format!(" in {p}"))
                    .unwrap_or_default()
            ),
            Change::DeleteNetwork { network } => {
                format!("delete network {} ({})", network.name, network.id)
            }
            Change::AttachNic { vm, spec } => {
                format!(
                    "attach vm {} ({}) to network {}",
                    vm.name, vm.id, spec.network
                )
            }
            Change::DetachNic { vm, nic } => format!(
                "detach nic {} of vm {} ({}) from network {}",
                nic.id, vm.name, vm.id, nic.network
            ),
            Change::AllocateVip { spec } => format!("allocate vip {} on vm {}", spec.name, spec.vm),
            Change::MoveVip { vip, to } => format!(
                "move vip {} ({}) from vm {} to vm {} ({})",
                vip.name,
                vip.address,
                vip.vm.as_ref().map_or("none", |v| v.as_str()),
                to.name,
                to.id
            ),
            Change::ReleaseVip { vip } => format!("release vip {} ({})", vip.name, vip.address),
            Change::ScaleGroup { spec, from, to } => {
                let how = if to > from {
                    format!(
                        "add {} member(s) (size {}, image {}, network {})",
                        to - from,
                        spec.size,
                        spec.image,
                        net(&spec.network)
                    )
                } else {
                    format!("remove {} member(s)", from - to)
                };
                format!("scale group {} from {from} to {to}: {how}", spec.name)
            }
        }
    }
}

/// What `--wait` waits for after the change.
#[derive(Clone, Debug)]
pub enum WaitFor {
    /// The VM runs.
    Running(VmId, String),
    /// The VM is stopped.
    Stopped(VmId, String),
    /// The group has `size` running members.
    Group(GroupSpec, u32),
}

/// The result of a command: what the cloud reports afterwards.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A VM.
    Vm(Vm),
    /// A network.
    Network(Network),
    /// A NIC added to a VM.
    Nic(Nic),
    /// A VIP.
    Vip(Vip),
    /// A group.
    Group(Group),
    /// Something deleted (or already gone).
    Deleted(Deleted),
}

/// What a delete, release or detach removed.
#[derive(Clone, Debug, Serialize)]
pub struct Deleted {
    /// `vm`, `network`, `nic` or `vip`.
    pub deleted: &'static str,
    /// Its id.
    pub id: String,
    /// Its name, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A change to make, or the reason there is none.
#[derive(Debug)]
pub struct Plan {
    /// The change; `None` when the cloud is already as asked.
    pub change: Option<Change>,
    /// Why nothing changes, and what is there (when `change` is `None`).
    pub unchanged: Option<(String, Outcome)>,
    /// What `--wait` waits for afterwards.
    pub wait: Option<WaitFor>,
}

impl Plan {
    /// A plan with a change.
    pub fn change(change: Change) -> Self {
        Self {
            change: Some(change),
            unchanged: None,
            wait: None,
        }
    }

    /// A plan with nothing to do.
    pub fn unchanged(reason: impl Into<String>, current: Outcome) -> Self {
        Self {
            change: None,
            unchanged: Some((reason.into(), current)),
            wait: None,
        }
    }

    /// Adds what `--wait` waits for.
    pub fn then_wait(mut self, w: WaitFor) -> Self {
        self.wait = Some(w);
        self
    }

    /// One line per change ("would ..."), or why there is none.
    pub fn describe(&self) -> String {
        match (&self.change, &self.unchanged) {
            (Some(c), _) => format!("would {}", c.describe()),
            (None, Some((why, _))) => format!("no change: {why}"),
            (None, None) => "no change".into(),
        }
    }
}

/// Makes the planned change (the only mutating calls of the CLI), then waits if asked.
pub async fn apply(conn: &dyn CloudConnector, plan: Plan, waiter: &Waiter) -> CliResult<Outcome> {
    // A group is scaled and waited for in one declarative call, which scaling again to the
    // same size cannot harm.
    if let (Some(WaitFor::Group(spec, size)), true) = (&plan.wait, waiter.enabled()) {
        if let Some(c) = &plan.change {
            tracing::info!(change = %c.describe(), "applying");
        }
        return waiter.scale_group(conn, spec, *size).await;
    }
    let outcome = match (plan.change, plan.unchanged) {
        (Some(change), _) => {
            tracing::info!(change = %change.describe(), "applying");
            execute(conn, change).await?
        }
        (None, Some((_, current))) => current,
        (None, None) => unreachable!("a plan has a change or a reason for none"),
    };
    match (plan.wait, waiter.enabled(), &outcome) {
        // A VM just created is waited for by the id the cloud gave it.
        (Some(WaitFor::Running(_, name)), true, Outcome::Vm(vm)) => {
            waiter
                .wait(conn, &WaitFor::Running(vm.id.clone(), name))
                .await
        }
        (Some(w), true, _) => waiter.wait(conn, &w).await,
        _ => Ok(outcome),
    }
}

async fn execute(conn: &dyn CloudConnector, change: Change) -> CliResult<Outcome> {
    let deleted =
        |deleted, id: String, name: Option<String>| Outcome::Deleted(Deleted { deleted, id, name });
    Ok(match change {
        Change::CreateVm { spec } => Outcome::Vm(conn.create_vm(&spec).await?),
        Change::DeleteVm { vm } => {
            conn.delete_vm(&vm.id).await?;
            deleted("vm", vm.id.to_string(), Some(vm.name))
        }
        Change::StartVm { vm } => Outcome::Vm(conn.start_vm(&vm.id).await?),
        Change::StopVm { vm } => Outcome::Vm(conn.stop_vm(&vm.id).await?),
        Change::CreateNetwork { spec } => Outcome::Network(conn.create_network(&spec).await?),
        Change::DeleteNetwork { network } => {
            conn.delete_network(&network.id).await?;
            deleted("network", network.id.to_string(), Some(network.name))
        }
        Change::AttachNic { vm, spec } => Outcome::Nic(conn.attach_nic(&vm.id, &spec).await?),
        Change::DetachNic { vm, nic } => {
            conn.detach_nic(&vm.id, &nic.id).await?;
            deleted("nic", nic.id.to_string(), None)
        }
        Change::AllocateVip { spec } => Outcome::Vip(conn.allocate_vip(&spec).await?),
        Change::MoveVip { vip, to } => Outcome::Vip(conn.move_vip(&vip.id, &to.id).await?),
        Change::ReleaseVip { vip } => {
            conn.release_vip(&vip.id).await?;
            deleted("vip", vip.id.to_string(), Some(vip.name))
        }
        Change::ScaleGroup { spec, to, .. } => Outcome::Group(conn.scale_group(&spec, to).await?),
    })
}
