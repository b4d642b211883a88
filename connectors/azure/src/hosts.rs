//! Hosts: none. Azure places VMs itself; dedicated hosts are a separate, billed construct strato
//! does not manage, so hosts can neither be listed nor named in a VM spec.

use crate::CLOUD;
use crate::client::AzureConnector;
use strato_core::{Error, Host, Operation, Result};

impl AzureConnector {
    pub(crate) async fn list_hosts_impl(&self) -> Result<Vec<Host>> {
        Err(no_hosts(Operation::ListHosts))
    }
}

/// The `Unsupported` of anything naming a host.
pub(crate) fn no_hosts(op: Operation) -> Error {
    Error::unsupported(
        op,
        CLOUD,
        "Azure places VMs itself: hosts cannot be listed or pinned",
    )
}
