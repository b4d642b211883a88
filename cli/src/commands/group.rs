//! `strato group scale|show`

use super::{Planner, Session};
use crate::cli::{GroupCommand, GroupScaleArgs, OutputFormat};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::plan::{Change, Outcome, Plan, WaitFor};
use strato_core::{GroupSpec, GroupSupport, MAX_GROUP_NAME_LEN, Tags, validate_label};

/// Runs a `group` command.
pub async fn run(s: &Session, cmd: GroupCommand) -> CliResult<()> {
    match cmd {
        GroupCommand::Scale(a) => s.run(plan_scale(&s.planner(), a).await?).await.map(drop),
        GroupCommand::Show(r) => {
            validate_label("group", &r.name, MAX_GROUP_NAME_LEN)?;
            let g = s.reader().group(&r.name).await?;
            match s.format {
                OutputFormat::Json => output::json(&g),
                OutputFormat::Table => {
                    output::print(&output::group_table(&g));
                    Ok(())
                }
            }
        }
    }
}

/// Plans a scale. The member template is taken from the flags, else from the existing members
/// (so scaling does not replace them), else from the profile's defaults.
pub async fn plan_scale(p: &Planner<'_>, a: GroupScaleArgs) -> CliResult<Plan> {
    validate_label("group", &a.name, MAX_GROUP_NAME_LEN)?;
    let r = p.r;
    if r.capabilities().group == GroupSupport::None {
        return Err(CliError::other(format!(
            "scale_group: the {} cloud has no groups (unsupported)",
            r.info().kind
        )));
    }
    let group = r.group(&a.name).await?;
    let first = group.members.first();
    let size = match (a.vm_size, first) {
        (Some(sz), _) => sz,
        (None, Some(m)) => m.size.clone(),
        (None, None) => p.size(None, "--vm-size")?,
    };
    let image = match (a.image, first) {
        (Some(i), _) => i,
        (None, Some(m)) => m.image.clone(),
        (None, None) => p.image(None, "--image")?,
    };
    let network = match (a.network.as_deref(), first.and_then(|m| m.nics.first())) {
        (Some(n), _) => Some(r.network_for("--network", n).await?.id),
        (None, Some(nic)) => Some(nic.network.clone()),
        (None, None) => p.network(None).await?,
    };
    let spec = GroupSpec {
        name: a.name,
        size,
        image,
        network,
        tags: Tags::new(),
    };
    spec.validate()?;
    let from = group.members.len() as u32;
    let wait = WaitFor::Group(spec.clone(), a.size);
    if from == a.size {
        return Ok(Plan::unchanged(
            format!("group {} has {from} member(s) already", spec.name),
            Outcome::Group(group),
        )
        .then_wait(wait));
    }
    Ok(Plan::change(Change::ScaleGroup {
        spec,
        from,
        to: a.size,
    })
    .then_wait(wait))
}
