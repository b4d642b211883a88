//! Read-only access to a cloud. Planning (and so `--dry-run`) only ever gets a [`Reader`], which
//! has no mutating method: a dry run cannot reach a call that changes the cloud.

use crate::error::{CliError, CliResult};
use strato_core::{
    Capabilities, CloudConnector, CloudConnectorExt, CloudInfo, Group, Network, NetworkId,
    NetworkQuery, Vip, VipId, VipQuery, Vm, VmId, VmQuery,
};

/// The read half of a connector.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    conn: &'a dyn CloudConnector,
}

/// Turns a failed lookup into an input error naming what was asked for.
fn not_found(what: &str, arg: &str) -> CliError {
    CliError::input(format!(
        "{what} {arg:?} not found (looked up by name and by id)"
    ))
}

impl<'a> Reader<'a> {
    /// Wraps a connector for reading.
    pub fn new(conn: &'a dyn CloudConnector) -> Self {
        Self { conn }
    }

    /// The cloud and owner.
    pub fn info(&self) -> &CloudInfo {
        self.conn.info()
    }

    /// What the cloud can do.
    pub fn capabilities(&self) -> Capabilities {
        self.conn.capabilities()
    }

    /// Every owned VM matching `q`.
    pub async fn vms(&self, q: &VmQuery) -> CliResult<Vec<Vm>> {
        Ok(self.conn.list_all_vms(q).await?)
    }

    /// Networks (owned ones, or all with `include_unowned`).
    pub async fn networks(&self, q: &NetworkQuery) -> CliResult<Vec<Network>> {
        Ok(self.conn.list_all_networks(q).await?)
    }

    /// Owned VIPs.
    pub async fn vips(&self, q: &VipQuery) -> CliResult<Vec<Vip>> {
        Ok(self.conn.list_vips(q).await?)
    }

    /// A group (empty when it has no members).
    pub async fn group(&self, name: &str) -> CliResult<Group> {
        Ok(self.conn.get_group(name).await?)
    }

    /// The owned VM named `arg`, else the VM whose id is `arg`.
    pub async fn vm(&self, arg: &str) -> CliResult<Vm> {
        match self.conn.find_vm(arg).await {
            Ok(vm) => return Ok(vm),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        match self.conn.get_vm(&VmId::new(arg)).await {
            Ok(vm) => Ok(vm),
            // A malformed id is just another name that is not there.
            Err(e) if e.is_not_found() || e.kind() == &strato_core::ErrorKind::InvalidSpec => {
                Err(not_found("vm", arg))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The network named `arg` (owned first), else the network whose id is `arg`.
    pub async fn network(&self, arg: &str) -> CliResult<Network> {
        match self.conn.find_network(arg).await {
            Ok(n) => return Ok(n),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        match self.conn.get_network(&NetworkId::new(arg)).await {
            Ok(n) => Ok(n),
            Err(e) if e.is_not_found() || e.kind() == &strato_core::ErrorKind::InvalidSpec => {
                Err(not_found("network", arg))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The owned VIP named `arg`, else the VIP whose id is `arg`.
    pub async fn vip(&self, arg: &str) -> CliResult<Vip> {
        match self.conn.find_vip(arg).await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        match self.conn.get_vip(&VipId::new(arg)).await {
            Ok(v) => Ok(v),
            Err(e) if e.is_not_found() || e.kind() == &strato_core::ErrorKind::InvalidSpec => {
                Err(not_found("vip", arg))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The VM named `arg`, but "missing" names the flag it came from.
    pub async fn vm_for(&self, field: &str, arg: &str) -> CliResult<Vm> {
        self.vm(arg).await.map_err(|e| rename(e, field))
    }

    /// The network named `arg`, but "missing" names the flag it came from.
    pub async fn network_for(&self, field: &str, arg: &str) -> CliResult<Network> {
        self.network(arg).await.map_err(|e| rename(e, field))
    }
}

fn rename(e: CliError, field: &str) -> CliError {
    if e.code == crate::error::EXIT_INPUT {
        CliError::input(format!("{field}: {}", e.message()))
    } else {
        e
    }
}
