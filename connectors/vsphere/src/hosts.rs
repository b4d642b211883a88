//! ESXi hosts and placement: the HostSystems VMs can run on (`list_hosts`, pins) and the
//! resource pool a clone goes to.

use crate::client::VsphereConnector;
use crate::convert;
use crate::error::{MapCall, invalid};
use crate::soap::MoRef;
use crate::vim::ObjectContent;
use strato_core::{Host, HostId, Operation, Result};

impl VsphereConnector {
    pub(crate) async fn list_hosts_impl(&self) -> Result<Vec<Host>> {
        Ok(self
            .hosts(Operation::ListHosts)
            .await?
            .into_iter()
            .map(|(h, _)| h)
            .collect())
    }

    /// The HostSystems VMs can run on (those of the configured resource pool's compute resource,
    /// else of the datacenter), each with its compute resource, sorted by name.
    async fn hosts(&self, op: Operation) -> Result<Vec<(Host, Option<MoRef>)>> {
        let all = self
            .vim
            .list(&self.inv.datacenter, &[("HostSystem", convert::HOST_PROPS)])
            .await
            .op(op)?;
        let mut out: Vec<(Host, Option<MoRef>)> = all
            .iter()
            .map(|o| {
                let parent = o.props.get("parent").and_then(|e| e.as_moref());
                (convert::host_from(o), parent)
            })
            .filter(|(_, parent)| {
                self.inv
                    .compute
                    .as_ref()
                    .is_none_or(|c| parent.as_ref() == Some(c))
            })
            .collect();
        out.sort_by(|a, b| (&a.0.name, &a.0.id).cmp(&(&b.0.name, &b.0.id)));
        Ok(out)
    }

    /// The host a spec pins to, checked against [`Self::hosts`], with its compute resource.
    pub(crate) async fn pinned_host(
        &self,
        op: Operation,
        id: &HostId,
    ) -> Result<(MoRef, Option<MoRef>)> {
        let hosts = self.hosts(op).await?;
        if let Some((h, parent)) = hosts.iter().find(|(h, _)| h.id == *id) {
            return Ok((convert::host_ref(&h.id), parent.clone()));
        }
        let scope = match (&self.config.resource_pool, &self.inv.compute) {
            (Some(p), Some(c)) => format!("the resource_pool {p:?} ({})", c.value),
            _ => format!("datacenter {:?}", self.inv.datacenter_name),
        };
        const SHOWN: usize = 8;
        let mut known: Vec<String> = hosts
            .iter()
            .take(SHOWN)
            .map(|(h, _)| format!("{} ({})", h.id, h.name))
            .collect();
        if hosts.len() > SHOWN {
            known.push(format!("{} more", hosts.len() - SHOWN));
        }
        Err(invalid(
            op,
            "host",
            format!(
                "host {:?} is not a host VMs can run on in {scope}; give a HostSystem id from list_hosts (there are: {})",
                id.as_str(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ))
    }

    /// The resource pool of a VM pinned to `host`: the configured resource pool (whose compute
    /// resource the host belongs to), else the root pool of the host's cluster or standalone
    /// host.
    pub(crate) async fn resource_pool_for_host(
        &self,
        op: Operation,
        host: &MoRef,
        compute: Option<MoRef>,
    ) -> Result<Option<MoRef>> {
        if let Some(p) = &self.inv.resource_pool {
            return Ok(Some(p.clone()));
        }
        let compute = match compute {
            Some(c) => c,
            None => {
                let h = self.vim.props(host, &["parent"]).await.op(op)?;
                match h.props.get("parent").and_then(|e| e.as_moref()) {
                    Some(c) => c,
                    None => return Ok(None),
                }
            }
        };
        let c = self.vim.props(&compute, &["resourcePool"]).await.op(op)?;
        Ok(c.props.get("resourcePool").and_then(|e| e.as_moref()))
    }

    /// The resource pool a clone of `template` goes to.
    pub(crate) async fn resource_pool_for(
        &self,
        op: Operation,
        template: &ObjectContent,
    ) -> Result<Option<MoRef>> {
        if let Some(p) = &self.inv.resource_pool {
            return Ok(Some(p.clone()));
        }
        if let Some(p) = template
            .props
            .get("resourcePool")
            .and_then(|e| e.as_moref())
        {
            return Ok(Some(p));
        }
        // A template has no resource pool: use its host's cluster (or standalone host) root pool.
        let Some(host) = template
            .props
            .get("runtime.host")
            .and_then(|e| e.as_moref())
        else {
            return Ok(None);
        };
        let h = self.vim.props(&host, &["parent"]).await.op(op)?;
        let Some(cr) = h.props.get("parent").and_then(|e| e.as_moref()) else {
            return Ok(None);
        };
        let c = self.vim.props(&cr, &["resourcePool"]).await.op(op)?;
        Ok(c.props.get("resourcePool").and_then(|e| e.as_moref()))
    }
}
