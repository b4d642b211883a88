//! `strato network create|list|delete|attach|detach`

use super::{Planner, Session, tags};
use crate::cli::{AttachArgs, DetachArgs, NetworkCommand, NetworkCreateArgs, OutputFormat};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::plan::{Change, Outcome, Plan};
use strato_core::{NetworkQuery, NetworkSpec, NicSpec};

/// Runs a `network` command.
pub async fn run(s: &Session, cmd: NetworkCommand) -> CliResult<()> {
    match cmd {
        NetworkCommand::Create(a) => s.run(plan_create(&s.planner(), a).await?).await.map(drop),
        NetworkCommand::List(a) => {
            let q = NetworkQuery {
                include_unowned: a.all,
                ..Default::default()
            };
            let nets = s.reader().networks(&q).await?;
            match s.format {
                OutputFormat::Json => output::json(&nets),
                OutputFormat::Table => {
                    output::print(&output::networks_table(&nets, &s.conn.info().owner));
                    Ok(())
                }
            }
        }
        NetworkCommand::Delete(r) => s
            .run(plan_delete(&s.planner(), &r.network).await?)
            .await
            .map(drop),
        NetworkCommand::Attach(a) => s.run(plan_attach(&s.planner(), a).await?).await.map(drop),
        NetworkCommand::Detach(a) => s.run(plan_detach(&s.planner(), a).await?).await.map(drop),
    }
}

/// Plans a create; an owned network of that name made by the same request is no change.
pub async fn plan_create(p: &Planner<'_>, a: NetworkCreateArgs) -> CliResult<Plan> {
    let spec = NetworkSpec {
        name: a.name,
        cidr: a.cidr,
        parent: a.parent,
        tags: tags(a.tags),
    };
    spec.validate()?;
    let r = p.r;
    if !r.capabilities().network_create {
        return Err(CliError::other(format!(
            "create_network: the {} cloud cannot create networks (unsupported)",
            r.info().kind
        )));
    }
    let owner = &r.info().owner;
    let existing = r
        .networks(&NetworkQuery {
            name: Some(spec.name.clone()),
            ..Default::default()
        })
        .await?;
    if let Some(n) = existing.into_iter().next() {
        if n.ownership.as_ref().map(|o| &o.token) == Some(&spec.client_token(owner)) {
            return Ok(Plan::unchanged(
                format!(
                    "network {} ({}) exists already, made by the same request",
                    n.name, n.id
                ),
                Outcome::Network(n),
            ));
        }
        return Err(CliError::other(format!(
            "create_network: a network named {:?} ({}) exists and was made from a different spec (already_exists)",
            n.name, n.id
        )));
    }
    Ok(Plan::change(Change::CreateNetwork { spec }))
}

/// Plans a delete; strato never deletes a network it did not create.
pub async fn plan_delete(p: &Planner<'_>, arg: &str) -> CliResult<Plan> {
    let r = p.r;
    let network = r.network(arg).await?;
    let owner = &r.info().owner;
    if network.ownership.as_ref().is_none_or(|o| o.owner != *owner) {
        return Err(CliError::input(format!(
            "network {arg:?} ({}) was not created by owner {owner}; strato deletes only what it created",
            network.id
        )));
    }
    Ok(Plan::change(Change::DeleteNetwork { network }))
}

/// Plans an attach; a VM already on that network is no change.
pub async fn plan_attach(p: &Planner<'_>, a: AttachArgs) -> CliResult<Plan> {
    let r = p.r;
    let vm = r.vm_for("vm", &a.vm).await?;
    let net = r.network_for("network", &a.network).await?;
    if let Some(nic) = vm.nics.iter().find(|n| n.network == net.id) {
        return Ok(Plan::unchanged(
            format!(
                "vm {} is on network {} already (nic {})",
                vm.name, net.name, nic.id
            ),
            Outcome::Nic(nic.clone()),
        ));
    }
    let caps = r.capabilities();
    if !caps.nic_attach {
        return Err(CliError::other(format!(
            "attach_nic: the {} cloud cannot attach NICs (unsupported)",
            r.info().kind
        )));
    }
    let spec = NicSpec {
        network: net.id,
        address: a.address,
    };
    Ok(Plan::change(Change::AttachNic { vm, spec }))
}

/// Plans a detach of the NIC named by id, or of the (non-primary) NIC on the named network.
pub async fn plan_detach(p: &Planner<'_>, a: DetachArgs) -> CliResult<Plan> {
    let r = p.r;
    let vm = r.vm_for("vm", &a.vm).await?;
    let nic = match vm.nics.iter().find(|n| n.id.as_str() == a.network) {
        Some(n) => n.clone(),
        None => {
            let net = r.network_for("network", &a.network).await?;
            vm.nics
                .iter()
                .filter(|n| n.network == net.id)
                .max_by_key(|n| n.device_index)
                .cloned()
                .ok_or_else(|| {
                    CliError::input(format!(
                        "network: vm {} has no nic on network {:?}",
                        vm.name, a.network
                    ))
                })?
        }
    };
    if nic.device_index == 0 {
        return Err(CliError::input(format!(
            "network: nic {} is the primary nic of vm {}; it cannot be detached",
            nic.id, vm.name
        )));
    }
    Ok(Plan::change(Change::DetachNic { vm, nic }))
}
