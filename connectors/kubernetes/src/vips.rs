//! VIPs as Services selecting one pod by its `strato-pod` label; moving re-points the selector.

use crate::CLOUD;
use crate::client::KubernetesConnector;
use crate::config::VipMode;
use crate::convert::{self, POD_LABEL, POD_NETWORK};
use crate::error;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use strato_core::*;

impl KubernetesConnector {
    fn vip(&self, svc: &Service, op: Operation) -> Result<Vip> {
        convert::vip_of(svc).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                format!(
                    "service {:?} has no address or ownership labels",
                    svc.name_any()
                ),
            )
            .with_cloud(CLOUD)
        })
    }

    /// Makes sure a pod carries its per-pod label (group members are created without it).
    async fn ensure_pod_label(&self, op: Operation, pod: &Pod) -> Result<()> {
        let name = pod.name_any();
        if pod.labels().get(POD_LABEL) == Some(&name) {
            return Ok(());
        }
        let patch = json!({"metadata": {"labels": {POD_LABEL: name}}});
        self.pods()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| error::map(op, &format!("pod {name:?}"), e))?;
        Ok(())
    }

    pub(crate) async fn allocate_vip_impl(&self, spec: &VipSpec) -> Result<Vip> {
        let op = Operation::AllocateVip;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        if spec.public {
            return Err(Error::unsupported(
                op,
                CLOUD,
                "public VIPs: whether a LoadBalancer address is public is up to the cluster's load-balancer controller",
            ));
        }
        if let Some(n) = &spec.network
            && n.as_str() != POD_NETWORK
        {
            return Err(Error::invalid_spec(
                "network",
                format!("network {n:?}: VIP Services live on the cluster network {POD_NETWORK:?}"),
            )
            .with_operation(op)
            .with_cloud(CLOUD));
        }
        if self.config.vip_mode == VipMode::ExternalIps && spec.address.is_none() {
            return Err(Error::invalid_spec(
                "address",
                "vip_mode = \"external-ips\" needs the VIP's address",
            )
            .with_operation(op)
            .with_cloud(CLOUD));
        }
        let pod = self
            .get_owned(&self.pods(), op, "pod", spec.vm.as_str())
            .await?;
        self.ensure_pod_label(op, &pod).await?;
        let svc = convert::service_for(spec, &pod.name_any(), self.owner(), &self.config);
        let token = spec.client_token(self.owner());
        let svc = self
            .create_idempotent(&self.services(), op, "service", &svc, &token)
            .await?;
        self.vip(&svc, op)
    }

    pub(crate) async fn get_vip_impl(&self, id: &VipId) -> Result<Vip> {
        let op = Operation::GetVip;
        let svc = self
            .get_owned(&self.services(), op, "service", id.as_str())
            .await?;
        self.vip(&svc, op)
    }

    pub(crate) async fn list_vips_impl(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        let op = Operation::ListVips;
        let mut lp = ListParams::default().labels(&self.owner_selector(&[]));
        if let Some(n) = &query.name {
            lp = lp.fields(&format!("metadata.name={n}"));
        }
        let mut out = Vec::new();
        loop {
            let list = self
                .list_page(&self.services(), op, "services", lp.clone())
                .await?;
            out.extend(
                list.items
                    .iter()
                    .filter_map(convert::vip_of)
                    .filter(|v| query.matches(v)),
            );
            match list.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => lp = lp.continue_token(&c),
                None => return Ok(out),
            }
        }
    }

    pub(crate) async fn move_vip_impl(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        let op = Operation::MoveVip;
        let svc = self
            .get_owned(&self.services(), op, "service", id.as_str())
            .await?;
        let pod = self.get_owned(&self.pods(), op, "pod", to.as_str()).await?;
        self.ensure_pod_label(op, &pod).await?;
        // The resourceVersion makes this a compare-and-swap: a concurrent move answers 409.
        let patch = json!({
            "metadata": {"resourceVersion": svc.resource_version()},
            "spec": {"selector": {POD_LABEL: pod.name_any()}},
        });
        let res = format!("service {:?}", id.as_str());
        let svc = self
            .services()
            .patch(id.as_str(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| error::map(op, &res, e))?;
        self.vip(&svc, op)
    }

    pub(crate) async fn release_vip_impl(&self, id: &VipId) -> Result<()> {
        self.delete_owned(
            &self.services(),
            Operation::ReleaseVip,
            "service",
            id.as_str(),
        )
        .await
    }
}
