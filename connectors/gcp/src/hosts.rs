//! Hosts: Compute places instances itself; sole-tenant nodes are not used by strato, so there
//! is nothing to list or pin to.

use crate::CLOUD;
use crate::client::GcpConnector;
use strato_core::{Error, Host, Operation, Result};

pub(crate) fn no_hosts(op: Operation) -> Error {
    Error::unsupported(
        op,
        CLOUD,
        "Compute Engine places instances itself (no host pinning)",
    )
}

impl GcpConnector {
    pub(crate) async fn list_hosts_impl(&self) -> Result<Vec<Host>> {
        Err(no_hosts(Operation::ListHosts))
    }
}
