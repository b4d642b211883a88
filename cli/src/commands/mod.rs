//! One module per command group. Mutating commands have a `plan_*` function that reads through a
//! [`Reader`] and returns a [`Plan`]; [`Session::run`] prints it (`--dry-run`) or applies it.

pub mod demo;
pub mod group;
pub mod network;
pub mod profile;
pub mod vip;
pub mod vm;

use crate::cli::OutputFormat;
use crate::error::{CliError, CliResult};
use crate::output;
use crate::plan::{self, Outcome, Plan};
use crate::reader::Reader;
use crate::wait::Waiter;
use std::sync::Arc;
use strato_core::config::Profile;
use strato_core::{CloudConnector, NetworkId, Size, Tags};

/// A connected profile and the global flags.
#[derive(Debug)]
pub struct Session {
    /// The layered connector.
    pub conn: Arc<dyn CloudConnector>,
    /// The profile it was built from.
    pub profile: Profile,
    /// `--output`
    pub format: OutputFormat,
    /// `--wait` / `--timeout`
    pub waiter: Waiter,
    /// `--dry-run`
    pub dry_run: bool,
}

impl Session {
    /// Read access, for listing.
    pub fn reader(&self) -> Reader<'_> {
        Reader::new(&*self.conn)
    }

    /// What plans are computed with: reads and the profile, no mutating call.
    pub fn planner(&self) -> Planner<'_> {
        Planner {
            r: self.reader(),
            profile: &self.profile,
        }
    }

    /// Prints the plan (`--dry-run`), or applies it and prints the result.
    pub async fn run(&self, plan: Plan) -> CliResult<Option<Outcome>> {
        if self.dry_run {
            output::plan(self.format, &plan)?;
            return Ok(None);
        }
        let o = plan::apply(&*self.conn, plan, &self.waiter).await?;
        output::outcome(self.format, &o)?;
        Ok(Some(o))
    }
}

/// Everything a `plan_*` function may use: reads and the profile. It holds no handle that can
/// change the cloud, so a plan (and `--dry-run`) cannot make a mutating call.
#[derive(Clone, Copy, Debug)]
pub struct Planner<'a> {
    /// Read access to the cloud.
    pub r: Reader<'a>,
    /// The profile (for defaults).
    pub profile: &'a Profile,
}

impl Planner<'_> {
    /// The size of a new VM: the flag, else the profile's default.
    pub fn size(&self, flag: Option<Size>, field: &str) -> CliResult<Size> {
        flag.or_else(|| self.profile.defaults.size.clone())
            .ok_or_else(|| self.missing(field, "size"))
    }

    /// The image of a new VM: the flag, else the profile's default.
    pub fn image(&self, flag: Option<String>, field: &str) -> CliResult<String> {
        flag.or_else(|| self.profile.defaults.image.clone())
            .ok_or_else(|| self.missing(field, "image"))
    }

    /// The network of a new VM (resolved to an id): the flag, else the profile's default, else
    /// the cloud's default (`None`).
    pub async fn network(&self, flag: Option<&str>) -> CliResult<Option<NetworkId>> {
        match (flag, &self.profile.defaults.network) {
            (Some(n), _) => Ok(Some(self.r.network_for("--network", n).await?.id)),
            (None, Some(n)) => Ok(Some(
                self.r
                    .network_for(
                        &format!("profile {:?} defaults.network", self.profile.name),
                        n,
                    )
                    .await?
                    .id,
            )),
            (None, None) => Ok(None),
        }
    }

    fn missing(&self, flag: &str, key: &str) -> CliError {
        CliError::input(format!(
            "{flag} is required: profile {:?} has no defaults.{key}",
            self.profile.name
        ))
    }
}

/// User tags from `--tag KEY=VALUE` flags.
pub fn tags(pairs: Vec<(String, String)>) -> Tags {
    pairs.into_iter().collect()
}

#[cfg(test)]
mod tests;
