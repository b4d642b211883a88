//! `strato vm create|list|get|delete|start|stop`

use super::{Planner, Session, tags};
use crate::cli::{VmCommand, VmCreateArgs};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::plan::{Change, Outcome, Plan, WaitFor};
use strato_core::{Operation, VmQuery, VmSpec, VmState};

/// Runs a `vm` command.
pub async fn run(s: &Session, cmd: VmCommand) -> CliResult<()> {
    match cmd {
        VmCommand::Create(a) => {
            let p = plan_create(&s.planner(), a).await?;
            s.run(p).await?;
        }
        VmCommand::List(a) => {
            let q = VmQuery {
                group: a.group,
                state: a.state,
                ..Default::default()
            };
            let vms = s.reader().vms(&q).await?;
            match s.format {
                crate::cli::OutputFormat::Json => output::json(&vms)?,
                crate::cli::OutputFormat::Table => output::print(&output::vms_table(&vms)),
            }
        }
        VmCommand::Get(r) => {
            let vm = s.reader().vm(&r.vm).await?;
            output::vm(s.format, &vm)?;
        }
        VmCommand::Delete(r) => {
            let p = plan_delete(&s.planner(), &r.vm).await?;
            s.run(p).await?;
        }
        VmCommand::Start(r) => {
            let p = plan_power(&s.planner(), &r.vm, true).await?;
            s.run(p).await?;
        }
        VmCommand::Stop(r) => {
            let p = plan_power(&s.planner(), &r.vm, false).await?;
            s.run(p).await?;
        }
    }
    Ok(())
}

/// Plans a create: fills in the profile's defaults, validates, and finds an existing VM made by
/// the same request (no change) or another VM under that name (an error).
pub async fn plan_create(p: &Planner<'_>, a: VmCreateArgs) -> CliResult<Plan> {
    let spec = VmSpec {
        name: a.name,
        size: p.size(a.size, "--size")?,
        image: p.image(a.image, "--image")?,
        network: p.network(a.network.as_deref()).await?,
        tags: tags(a.tags),
        group: None,
        host: a.host.map(strato_core::HostId::new),
        extra_networks: Vec::new(),
        bootstrap: None,
    };
    spec.validate()?;
    let r = p.r;
    let existing = r
        .vms(&VmQuery {
            name: Some(spec.name.clone()),
            ..Default::default()
        })
        .await?;
    if let Some(vm) = existing.into_iter().next() {
        if vm.ownership.token == spec.client_token(&r.info().owner) {
            let wait = WaitFor::Running(vm.id.clone(), vm.name.clone());
            return Ok(Plan::unchanged(
                format!(
                    "vm {} ({}) exists already, made by the same request",
                    vm.name, vm.id
                ),
                Outcome::Vm(vm),
            )
            .then_wait(wait));
        }
        return Err(strato_core::Error::new(
            strato_core::ErrorKind::AlreadyExists,
            Operation::CreateVm,
            format!(
                "a vm named {:?} ({}) exists and was made from a different spec; delete it or pick another name",
                vm.name, vm.id
            ),
        )
        .into());
    }
    // The id is only known once created; `apply` waits by the id the cloud returns.
    let wait = WaitFor::Running(strato_core::VmId::new(""), spec.name.clone());
    Ok(Plan::change(Change::CreateVm { spec }).then_wait(wait))
}

/// Plans a delete.
pub async fn plan_delete(p: &Planner<'_>, arg: &str) -> CliResult<Plan> {
    let vm = p.r.vm(arg).await?;
    Ok(Plan::change(Change::DeleteVm { vm }))
}

/// Plans a start (`on`) or stop.
pub async fn plan_power(p: &Planner<'_>, arg: &str, on: bool) -> CliResult<Plan> {
    let r = p.r;
    if !r.capabilities().vm_stop_start {
        let op = if on {
            Operation::StartVm
        } else {
            Operation::StopVm
        };
        return Err(CliError::other(format!(
            "{op}: the {} cloud cannot stop and start VMs (unsupported)",
            r.info().kind
        )));
    }
    let vm = r.vm(arg).await?;
    let (id, name) = (vm.id.clone(), vm.name.clone());
    let plan = match (on, vm.state) {
        (true, VmState::Running | VmState::Pending) => Plan::unchanged(
            format!("vm {name} ({id}) is {} already", vm.state),
            Outcome::Vm(vm),
        ),
        (false, VmState::Stopped | VmState::Stopping) => Plan::unchanged(
            format!("vm {name} ({id}) is {} already", vm.state),
            Outcome::Vm(vm),
        ),
        (true, _) => Plan::change(Change::StartVm { vm }),
        (false, _) => Plan::change(Change::StopVm { vm }),
    };
    Ok(plan.then_wait(if on {
        WaitFor::Running(id, name)
    } else {
        WaitFor::Stopped(id, name)
    }))
}
