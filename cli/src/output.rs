//! Printing results: comfy-table tables for people, the serde form of the model for scripts.

use crate::cli::OutputFormat;
use crate::error::{CliError, CliResult};
use crate::plan::{Outcome, Plan};
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use std::io::Write;
use strato_core::{Group, GroupState, Network, Nic, Vip, VipBinding, Vm};

/// Writes to stdout; a closed pipe (`strato vm list | head -1`) is not an error.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> CliResult<()> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::other(format!("cannot encode the result as JSON: {e}")))?;
    print(&s);
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn kv(rows: Vec<(&str, String)>) -> String {
    let mut t = table(&["FIELD", "VALUE"]);
    for (k, v) in rows {
        t.add_row(vec![k.to_owned(), v]);
    }
    t.to_string()
}

/// A table of VMs.
pub fn vms_table(vms: &[Vm]) -> String {
    let mut t = table(&["NAME", "ID", "STATE", "SIZE", "IMAGE", "ADDRESS", "GROUP"]);
    for vm in vms {
        t.add_row(vec![
            vm.name.clone(),
            vm.id.to_string(),
            vm.state.to_string(),
            vm.size.to_string(),
            vm.image.clone(),
            opt(&vm.private_ip),
            vm.group().unwrap_or("-").to_owned(),
        ]);
    }
    t.to_string()
}

fn vm_detail(vm: &Vm) -> String {
    let nics = vm
        .nics
        .iter()
        .map(|n| format!("{} on {} ({})", n.id, n.network, opt(&n.address)))
        .collect::<Vec<_>>()
        .join("\n");
    let tags = vm
        .tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    kv(vec![
        ("name", vm.name.clone()),
        ("id", vm.id.to_string()),
        ("state", vm.state.to_string()),
        ("size", vm.size.to_string()),
        ("image", vm.image.clone()),
        ("private ip", opt(&vm.private_ip)),
        ("public ip", opt(&vm.public_ip)),
        ("group", vm.group().unwrap_or("-").to_owned()),
        ("nics", nics),
        ("tags", tags),
        ("created", vm.created_at.to_rfc3339()),
    ])
}

/// A table of networks; OWNED says whether `owner` created it (and so may delete it).
pub fn networks_table(nets: &[Network], owner: &strato_core::OwnerId) -> String {
    let mut t = table(&["NAME", "ID", "CIDR", "PARENT", "OWNED"]);
    for n in nets {
        let owned = n.ownership.as_ref().is_some_and(|o| o.owner == *owner);
        t.add_row(vec![
            n.name.clone(),
            n.id.to_string(),
            opt(&n.cidr),
            opt(&n.parent),
            if owned { "yes" } else { "no" }.to_owned(),
        ]);
    }
    t.to_string()
}

/// A table of VIPs.
pub fn vips_table(vips: &[Vip]) -> String {
    let mut t = table(&[
        "NAME", "ID", "ADDRESS", "PUBLIC", "VM", "NETWORK", "BINDING",
    ]);
    for v in vips {
        t.add_row(vec![
            v.name.clone(),
            v.id.to_string(),
            v.address.to_string(),
            opt(&v.public_address),
            opt(&v.vm),
            v.network.to_string(),
            match v.binding {
                VipBinding::Cloud => "cloud",
                VipBinding::Guest => "guest",
            }
            .to_owned(),
        ]);
    }
    t.to_string()
}

/// A group: a summary line and its members.
pub fn group_table(g: &Group) -> String {
    let state = match g.state() {
        GroupState::Stable => "stable",
        GroupState::Scaling => "scaling",
        GroupState::Degraded => "degraded",
    };
    format!(
        "group {}: {} member(s), {} running, desired {}, {state}\n{}",
        g.name,
        g.members.len(),
        g.ready(),
        g.desired,
        vms_table(&g.members)
    )
}

fn nic_table(n: &Nic) -> String {
    kv(vec![
        ("nic", n.id.to_string()),
        ("network", n.network.to_string()),
        ("address", opt(&n.address)),
        ("mac", opt(&n.mac)),
        ("device index", n.device_index.to_string()),
    ])
}

/// Prints the result of a command.
pub fn outcome(format: OutputFormat, o: &Outcome) -> CliResult<()> {
    match format {
        OutputFormat::Json => match o {
            Outcome::Vm(v) => json(v),
            Outcome::Network(n) => json(n),
            Outcome::Nic(n) => json(n),
            Outcome::Vip(v) => json(v),
            Outcome::Group(g) => json(g),
            Outcome::Deleted(d) => json(d),
        },
        OutputFormat::Table => {
            print(&match o {
                Outcome::Vm(v) => vm_detail(v),
                Outcome::Network(n) => kv(vec![
                    ("name", n.name.clone()),
                    ("id", n.id.to_string()),
                    ("cidr", opt(&n.cidr)),
                    ("parent", opt(&n.parent)),
                    (
                        "owner",
                        n.ownership
                            .as_ref()
                            .map_or_else(|| "-".to_owned(), |o| o.owner.to_string()),
                    ),
                ]),
                Outcome::Nic(n) => nic_table(n),
                Outcome::Vip(v) => vips_table(std::slice::from_ref(v)),
                Outcome::Group(g) => group_table(g),
                Outcome::Deleted(d) => format!(
                    "deleted {} {}{}",
                    d.deleted,
                    d.name
                        .as_deref()
                        .map(|n| format!("{n} "))
                        .unwrap_or_default(),
                    format_args!("({})", d.id)
                ),
            });
            Ok(())
        }
    }
}

/// Prints a plan (`--dry-run`).
pub fn plan(format: OutputFormat, p: &Plan) -> CliResult<()> {
    match format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct DryRun<'a> {
                dry_run: bool,
                summary: String,
                changes: Vec<&'a crate::plan::Change>,
            }
            json(&DryRun {
                dry_run: true,
                summary: p.describe(),
                changes: p.change.iter().collect(),
            })
        }
        OutputFormat::Table => {
            print(&format!("dry run: {}", p.describe()));
            Ok(())
        }
    }
}

/// Prints a VM in detail.
pub fn vm(format: OutputFormat, v: &Vm) -> CliResult<()> {
    outcome(format, &Outcome::Vm(v.clone()))
}
