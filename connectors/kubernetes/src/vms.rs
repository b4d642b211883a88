//! VMs as pods. A pod cannot be stopped and started again, only deleted.

use crate::CLOUD;
use crate::client::KubernetesConnector;
use crate::convert::{self, POD_LABEL};
use crate::error;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::ListParams;
use strato_core::*;

impl KubernetesConnector {
    pub(crate) async fn create_vm_impl(&self, spec: &VmSpec) -> Result<Vm> {
        let op = Operation::CreateVm;
        spec.validate()
            .and_then(|()| spec.validate_for(&self.capabilities_impl(), CLOUD))
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if let Some(n) = &spec.network
            && n.as_str() != convert::POD_NETWORK
        {
            if !self.has_multus() {
                return Err(Error::invalid_spec(
                    "network",
                    format!("network {n:?}: this cluster has no Multus, pods can only use the cluster network {:?}", convert::POD_NETWORK),
                )
                .with_operation(op)
                .with_cloud(CLOUD));
            }
            // The primary network must exist, or the pod would hang in ContainerCreating.
            match self.get_network_impl(n).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {
                    return Err(Error::invalid_spec(
                        "network",
                        format!(
                            "network {n:?} does not exist in namespace {:?}",
                            self.config.namespace
                        ),
                    )
                    .with_operation(op)
                    .with_cloud(CLOUD));
                }
                Err(e) => return Err(e.with_operation(op)),
            }
        }
        if let Some(h) = &spec.host {
            self.check_node(op, h).await?;
        }
        let mut pod = convert::pod_for(spec, self.owner(), &self.config)
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if spec.bootstrap.is_some()
            && let Some(pspec) = pod.spec.as_mut()
        {
            crate::bootstrap::mount(pspec, &spec.name);
        }
        let token = spec.client_token(self.owner());
        let pod = self
            .create_idempotent(&self.pods(), op, "pod", &pod, &token)
            .await?;
        if let Some(doc) = &spec.bootstrap {
            self.create_bootstrap_secret(op, spec, &pod, doc, &token)
                .await?;
        }
        self.vm(&pod, op)
    }

    pub(crate) async fn get_vm_impl(&self, id: &VmId) -> Result<Vm> {
        let op = Operation::GetVm;
        let pod = self.get_owned(&self.pods(), op, "pod", id.as_str()).await?;
        self.vm(&pod, op)
    }

    pub(crate) async fn list_vms_impl(&self, query: &VmQuery) -> Result<Page<Vm>> {
        let op = Operation::ListVms;
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if let Some(g) = &query.group {
            extra.push((GROUP_TAG, g));
        }
        if let Some(n) = &query.name {
            extra.push((NAME_TAG, n));
        }
        for (k, v) in &query.tags {
            extra.push((k, v));
        }
        let mut lp = ListParams::default()
            .labels(&self.owner_selector(&extra))
            .limit(
                query
                    .page_size
                    .unwrap_or(crate::capabilities::MAX_PAGE)
                    .clamp(1, crate::capabilities::MAX_PAGE),
            );
        if let Some(t) = &query.page_token {
            lp = lp.continue_token(t);
        }
        let list = self.list_page(&self.pods(), op, "pods", lp).await?;
        let next = list.metadata.continue_.clone().filter(|c| !c.is_empty());
        let items = list
            .items
            .iter()
            .filter_map(|p| convert::vm_of(p, &self.config.container_name))
            .filter(|vm| query.matches(vm))
            .collect();
        Ok(Page { items, next })
    }

    pub(crate) async fn delete_vm_impl(&self, id: &VmId) -> Result<()> {
        let op = Operation::DeleteVm;
        let res = format!("pod {:?}", id.as_str());
        let pod = match self.get_owned(&self.pods(), op, "pod", id.as_str()).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => {
                // Gone is fine; foreign is NotFound.
                let exists = self
                    .pods()
                    .get_opt(id.as_str())
                    .await
                    .map_err(|e| error::map(op, &res, e))?
                    .is_some();
                return if exists { Err(e) } else { Ok(()) };
            }
            Err(e) => return Err(e),
        };
        // VIPs strato bound to this pod go with it.
        let svcs = self
            .services()
            .list(&ListParams::default().labels(&self.owner_selector(&[])))
            .await
            .map_err(|e| error::map(op, "services", e))?;
        for svc in svcs.items.iter().filter(|s| {
            s.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.get(POD_LABEL))
                == Some(&pod.name_any())
        }) {
            self.delete_uid(
                &self.services(),
                op,
                &format!("service {:?}", svc.name_any()),
                &svc.name_any(),
                svc.uid(),
                None,
            )
            .await?;
        }
        self.delete_uid(&self.pods(), op, &res, id.as_str(), pod.uid(), None)
            .await
    }

    // Kubernetes has no stopped pod: a pod's containers run until it is deleted.
    pub(crate) async fn start_stop_impl(&self, _id: &VmId, start: bool) -> Result<Vm> {
        let op = if start {
            Operation::StartVm
        } else {
            Operation::StopVm
        };
        Err(Error::unsupported(
            op,
            CLOUD,
            "a pod cannot be stopped and started again; delete it and create it anew",
        ))
    }

    /// The VM a pod is; a pod of this owner without a container or labels is an internal error.
    fn vm(&self, pod: &Pod, op: Operation) -> Result<Vm> {
        convert::vm_of(pod, &self.config.container_name).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                format!(
                    "pod {:?} has no container or ownership labels",
                    pod.name_any()
                ),
            )
            .with_cloud(CLOUD)
        })
    }
}
