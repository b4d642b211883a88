//! `strato profile list`: names, kinds, owners and defaults, never settings (they may hold
//! credentials).

use crate::cli::OutputFormat;
use crate::error::CliResult;
use crate::output;
use crate::profile::Profiles;
use comfy_table::{Table, presets};
use serde::Serialize;
use strato_core::registry::Registry;

/// One profile as listed.
#[derive(Debug, Serialize)]
pub struct ProfileInfo {
    /// Name.
    pub name: String,
    /// Connector kind.
    pub kind: String,
    /// Owner of what it creates.
    pub owner: String,
    /// True for the profile used when none is named.
    pub default: bool,
    /// Image default.
    pub image: Option<String>,
    /// Size default.
    pub size: Option<String>,
    /// Network default.
    pub network: Option<String>,
    /// `ok`, or why the profile cannot be used by this build.
    pub status: String,
}

/// Lists profiles, checking each one's settings without touching the network.
pub fn run(profiles: &Profiles, registry: &Registry, format: OutputFormat) -> CliResult<()> {
    let list: Vec<ProfileInfo> = profiles
        .config
        .profiles
        .values()
        .map(|p| {
            let mut one = strato_core::config::Config::default();
            one.profiles.insert(p.name.clone(), p.clone());
            let status = match registry.validate(&one) {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.message().to_owned(),
            };
            ProfileInfo {
                name: p.name.clone(),
                kind: p.kind.clone(),
                owner: p.owner.to_string(),
                default: p.name == profiles.default,
                image: p.defaults.image.clone(),
                size: p.defaults.size.as_ref().map(ToString::to_string),
                network: p.defaults.network.clone(),
                status,
            }
        })
        .collect();
    match format {
        OutputFormat::Json => output::json(&list),
        OutputFormat::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED).set_header(vec![
                "NAME", "KIND", "OWNER", "DEFAULT", "IMAGE", "SIZE", "NETWORK", "STATUS",
            ]);
            let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            for p in &list {
                t.add_row(vec![
                    p.name.clone(),
                    p.kind.clone(),
                    p.owner.clone(),
                    if p.default { "*" } else { "" }.to_owned(),
                    o(&p.image),
                    o(&p.size),
                    o(&p.network),
                    p.status.clone(),
                ]);
            }
            output::print(&t.to_string());
            Ok(())
        }
    }
}
