//! `strato vip allocate|list|move|release`

use super::{Planner, Session};
use crate::cli::{OutputFormat, VipAllocateArgs, VipCommand, VipMoveArgs};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::plan::{Change, Outcome, Plan};
use strato_core::{Tags, VipQuery, VipSpec, VipSupport, validate_vip_name};

/// Runs a `vip` command.
pub async fn run(s: &Session, cmd: VipCommand) -> CliResult<()> {
    match cmd {
        VipCommand::Allocate(a) => s.run(plan_allocate(&s.planner(), a).await?).await.map(drop),
        VipCommand::List(a) => {
            let r = s.reader();
            let vm = match &a.vm {
                Some(v) => Some(r.vm_for("--vm", v).await?.id),
                None => None,
            };
            let vips = r.vips(&VipQuery { name: None, vm }).await?;
            match s.format {
                OutputFormat::Json => output::json(&vips),
                OutputFormat::Table => {
                    output::print(&output::vips_table(&vips));
                    Ok(())
                }
            }
        }
        VipCommand::Move(a) => s.run(plan_move(&s.planner(), a).await?).await.map(drop),
        VipCommand::Release(r) => s
            .run(plan_release(&s.planner(), &r.vip).await?)
            .await
            .map(drop),
    }
}

fn unsupported(p: &Planner<'_>, what: &str) -> CliError {
    CliError::other(format!(
        "{what}: the {} cloud has no VIPs of this kind (unsupported)",
        p.r.info().kind
    ))
}

/// Plans an allocation; a VIP of that name made by the same request is no change.
pub async fn plan_allocate(p: &Planner<'_>, a: VipAllocateArgs) -> CliResult<Plan> {
    let r = p.r;
    validate_vip_name(&a.name)?;
    let caps = r.capabilities();
    if caps.vip == VipSupport::None || (a.public && !caps.vip_public) {
        return Err(unsupported(p, "allocate_vip"));
    }
    let vm = r.vm_for("--vm", &a.vm).await?;
    let network = match &a.network {
        Some(n) => Some(r.network_for("--network", n).await?.id),
        None => None,
    };
    let spec = VipSpec {
        name: a.name,
        vm: vm.id.clone(),
        network,
        address: a.address,
        public: a.public,
        tags: Tags::new(),
    };
    spec.validate()?;
    let existing = r
        .vips(&VipQuery {
            name: Some(spec.name.clone()),
            vm: None,
        })
        .await?;
    if let Some(v) = existing.into_iter().next() {
        if v.ownership.token == spec.client_token(&r.info().owner) {
            let bound =
                v.vm.as_ref()
                    .map_or("no vm".into(), |id| format!("vm {id}"));
            return Ok(Plan::unchanged(
                format!(
                    "vip {} ({}) exists already, bound to {bound}",
                    v.name, v.address
                ),
                Outcome::Vip(v),
            ));
        }
        return Err(CliError::other(format!(
            "allocate_vip: a vip named {:?} ({}) exists and was made from a different spec (already_exists)",
            v.name, v.address
        )));
    }
    Ok(Plan::change(Change::AllocateVip { spec }))
}

/// Plans a move; a VIP already on that VM is no change.
pub async fn plan_move(p: &Planner<'_>, a: VipMoveArgs) -> CliResult<Plan> {
    let r = p.r;
    if !r.capabilities().vip_move {
        return Err(unsupported(p, "move_vip"));
    }
    let vip = r.vip(&a.vip).await?;
    let to = r.vm_for("--to", &a.to).await?;
    if vip.vm.as_ref() == Some(&to.id) {
        return Ok(Plan::unchanged(
            format!("vip {} is on vm {} already", vip.name, to.name),
            Outcome::Vip(vip),
        ));
    }
    Ok(Plan::change(Change::MoveVip { vip, to }))
}

/// Plans a release.
pub async fn plan_release(p: &Planner<'_>, arg: &str) -> CliResult<Plan> {
    let vip = p.r.vip(arg).await?;
    Ok(Plan::change(Change::ReleaseVip { vip }))
}
