//! Hosts as nodes: listed for placement ("one service engine per node"), and checked before a
//! pod is pinned to one (the API server accepts a pod bound to a node that does not exist, and it
//! stays Pending forever).

use crate::CLOUD;
use crate::client::KubernetesConnector;
use crate::convert;
use crate::error;
use kube::api::ListParams;
use strato_core::*;

impl KubernetesConnector {
    /// Every node of the cluster, page by page (`limit` + `continue`).
    pub(crate) async fn list_hosts_impl(&self) -> Result<Vec<Host>> {
        let op = Operation::ListHosts;
        let mut hosts = Vec::new();
        let mut lp = ListParams::default().limit(crate::capabilities::MAX_PAGE);
        loop {
            let list = self
                .list_page(&self.nodes(), op, "nodes", lp.clone())
                .await?;
            hosts.extend(list.items.iter().map(convert::host_of));
            match list.metadata.continue_.filter(|c| !c.is_empty()) {
                // A server handing back the token it was given would page forever.
                Some(c) if lp.continue_token.as_deref() == Some(c.as_str()) => {
                    return Err(Error::new(
                        ErrorKind::Internal,
                        op,
                        "nodes: the API server returned the same continue token twice",
                    )
                    .with_cloud(CLOUD));
                }
                Some(c) => lp = lp.continue_token(&c),
                None => return Ok(hosts),
            }
        }
    }

    /// Checks the node a VM is pinned to exists: a pod bound to a missing node would be
    /// accepted and never run.
    pub(crate) async fn check_node(&self, op: Operation, host: &HostId) -> Result<()> {
        convert::validate_host(host).map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let res = format!("node {:?}", host.as_str());
        match self.nodes().get_opt(host.as_str()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Error::invalid_spec(
                "host",
                format!(
                    "host {:?}: the cluster has no such node (list_hosts shows the nodes)",
                    host.as_str()
                ),
            )
            .with_operation(op)
            .with_cloud(CLOUD)),
            Err(e) => Err(error::map(op, &res, e)),
        }
    }
}
