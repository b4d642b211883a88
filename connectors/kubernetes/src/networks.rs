//! Networks as Multus NetworkAttachmentDefinitions, plus the pseudo network `pod-network`
//! (the cluster network every pod's eth0 is on). Without Multus only `pod-network` exists.

use crate::CLOUD;
use crate::client::KubernetesConnector;
use crate::convert::{self, POD_NETWORK};
use crate::error;
use kube::ResourceExt;
use kube::api::ListParams;
use strato_core::*;

impl KubernetesConnector {
    /// `Unsupported` for `op` unless the cluster serves Multus.
    pub(crate) fn need_multus(&self, op: Operation) -> Result<()> {
        if self.has_multus() {
            Ok(())
        } else {
            Err(Error::unsupported(
                op,
                CLOUD,
                "the cluster has no Multus (no k8s.cni.cncf.io/v1 NetworkAttachmentDefinition API); pods only have the cluster network",
            ))
        }
    }

    pub(crate) async fn create_network_impl(&self, spec: &NetworkSpec) -> Result<Network> {
        let op = Operation::CreateNetwork;
        self.need_multus(op)?;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if spec.name == POD_NETWORK {
            return Err(Error::invalid_spec(
                "name",
                format!("name {POD_NETWORK:?} is reserved for the cluster network"),
            )
            .with_operation(op)
            .with_cloud(CLOUD));
        }
        let obj = convert::nad_for(spec, self.owner(), &self.config);
        let token = spec.client_token(self.owner());
        let created = self
            .create_idempotent(
                &self.nads(),
                op,
                "network-attachment-definition",
                &obj,
                &token,
            )
            .await?;
        Ok(convert::network_of(&created))
    }

    pub(crate) async fn get_network_impl(&self, id: &NetworkId) -> Result<Network> {
        let op = Operation::GetNetwork;
        if id.as_str() == POD_NETWORK {
            return Ok(convert::pod_network());
        }
        self.need_multus(op)?;
        let res = format!("network-attachment-definition {:?}", id.as_str());
        match self
            .nads()
            .get_opt(id.as_str())
            .await
            .map_err(|e| error::map(op, &res, e))?
        {
            Some(o) => Ok(convert::network_of(&o)),
            None => Err(Error::not_found(op, res).with_cloud(CLOUD)),
        }
    }

    pub(crate) async fn list_networks_impl(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        let op = Operation::ListNetworks;
        let first_page = query.page_token.is_none();
        let with_pod_network = first_page
            && query.include_unowned
            && query.name.as_deref().is_none_or(|n| n == POD_NETWORK);
        let mut items = Vec::new();
        if with_pod_network {
            items.push(convert::pod_network());
        }
        if !self.has_multus() {
            return Ok(Page::last(items));
        }
        let mut lp = ListParams::default().limit(
            query
                .page_size
                .unwrap_or(crate::capabilities::MAX_PAGE)
                .clamp(1, crate::capabilities::MAX_PAGE),
        );
        if !query.include_unowned {
            lp = lp.labels(&self.owner_selector(&[]));
        }
        if let Some(n) = &query.name {
            lp = lp.fields(&format!("metadata.name={n}"));
        }
        if let Some(t) = &query.page_token {
            lp = lp.continue_token(t);
        }
        let list = self
            .list_page(&self.nads(), op, "network-attachment-definitions", lp)
            .await?;
        let next = list.metadata.continue_.clone().filter(|c| !c.is_empty());
        items.extend(
            list.items
                .iter()
                .map(convert::network_of)
                .filter(|n| query.matches(self.owner(), n)),
        );
        Ok(Page { items, next })
    }

    pub(crate) async fn delete_network_impl(&self, id: &NetworkId) -> Result<()> {
        let op = Operation::DeleteNetwork;
        self.need_multus(op)?;
        if id.as_str() == POD_NETWORK {
            return Err(Error::not_found(
                op,
                format!("network {POD_NETWORK:?} (the cluster network)"),
            )
            .with_cloud(CLOUD));
        }
        // Refuse while an owned pod still uses it: deleting it would break that pod's next start.
        let pods = self
            .pods()
            .list(&ListParams::default().labels(&self.owner_selector(&[])))
            .await
            .map_err(|e| error::map(op, "pods", e))?;
        let user = pods.items.iter().find(|p| {
            p.metadata.deletion_timestamp.is_none()
                && convert::nics_of(p).iter().any(|n| n.network == *id)
        });
        if let Some(p) = user {
            return Err(Error::new(
                ErrorKind::Conflict,
                op,
                format!(
                    "network {:?} is still used by vm {:?}; detach it first",
                    id.as_str(),
                    p.name_any()
                ),
            )
            .with_cloud(CLOUD)
            .with_resource(id));
        }
        self.delete_owned(
            &self.nads(),
            op,
            "network-attachment-definition",
            id.as_str(),
        )
        .await
    }
}
