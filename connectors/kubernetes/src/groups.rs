//! Groups as Deployments. The Deployment keeps the count; its ReplicaSet controller chooses
//! pod names (`GROUP-HASH-XXXXX`) and which pods go on scale-down (unready first, then the
//! newest), and rolls a changed template (old-template pods go first).

use crate::CLOUD;
use crate::client::KubernetesConnector;
use crate::convert::{self, DELETION_COST_ANNOTATION, DEPLOYMENT_LABEL};
use crate::error;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeSet;
use strato_core::*;

/// Read-modify-write rounds before a scale gives up on concurrent writers.
const CONFLICT_ROUNDS: usize = 5;

impl KubernetesConnector {
    /// The group's live members. Deployment pods have random names, so the connector numbers
    /// them: a pod without a `strato-name` label gets `GROUP-N` with the lowest free N (oldest
    /// pod first) and a deletion cost of -N, so the ReplicaSet removes the highest ordinals first
    /// among equally ready pods. The patch carries the pod's resourceVersion: two readers racing
    /// cannot both name one pod.
    async fn members(&self, op: Operation, name: &str) -> Result<Vec<Vm>> {
        let sel = self.owner_selector(&[(DEPLOYMENT_LABEL, name)]);
        let mut lp = ListParams::default().labels(&sel);
        let mut pods: Vec<Pod> = Vec::new();
        loop {
            let list = self.list_page(&self.pods(), op, "pods", lp.clone()).await?;
            pods.extend(
                list.items
                    .into_iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none()),
            );
            match list.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => lp = lp.continue_token(&c),
                None => break,
            }
        }
        let ordinal = |p: &Pod| {
            p.labels()
                .get(NAME_TAG)
                .and_then(|n| member_ordinal(name, n))
        };
        let mut used: BTreeSet<u32> = pods.iter().filter_map(ordinal).collect();
        let mut unnamed: Vec<usize> = (0..pods.len())
            .filter(|i| ordinal(&pods[*i]).is_none())
            .collect();
        unnamed.sort_by_key(|i| {
            (
                pods[*i].metadata.creation_timestamp.clone(),
                pods[*i].name_any(),
            )
        });
        for i in unnamed {
            let n = (0..).find(|k| !used.contains(k)).expect("a free ordinal");
            let pod_name = pods[i].name_any();
            let patch = json!({
                "metadata": {
                    "resourceVersion": pods[i].resource_version(),
                    "labels": {NAME_TAG: format!("{name}-{n}")},
                    "annotations": {DELETION_COST_ANNOTATION: (-i64::from(n)).to_string()},
                }
            });
            match self
                .pods()
                .patch(&pod_name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(p) => {
                    used.insert(n);
                    pods[i] = p;
                }
                // Someone else numbered or deleted it meanwhile: report it as read.
                Err(e) if error::is_conflict(&e) || error::is_not_found(&e) => {}
                Err(e) => return Err(error::map(op, &format!("pod {pod_name:?}"), e)),
            }
        }
        Ok(pods
            .iter()
            .filter_map(|p| convert::vm_of(p, &self.config.container_name))
            .filter(|vm| vm.state.is_live())
            .collect())
    }

    pub(crate) async fn scale_group_impl(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        let op = Operation::ScaleGroup;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let want = convert::deployment_for(spec, size, self.owner(), &self.config)
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let token = spec.template_token(self.owner());
        let res = format!("deployment {:?}", spec.name);
        let api = self.deployments();
        let mut applied = false;
        for _ in 0..CONFLICT_ROUNDS {
            let current = api
                .get_opt(&spec.name)
                .await
                .map_err(|e| error::map(op, &res, e))?;
            let Some(mut dep) = current else {
                if size == 0 {
                    return Ok(Group::new(spec.name.clone(), 0, Vec::new()));
                }
                match api.create(&PostParams::default(), &want).await {
                    Ok(_) => {
                        applied = true;
                        break;
                    }
                    Err(e) if error::is_already_exists(&e) => continue,
                    Err(e) => return Err(error::map(op, &res, e)),
                }
            };
            if !convert::owned_by(&dep.metadata, self.owner()) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    op,
                    format!("{res} exists and belongs to another owner"),
                )
                .with_cloud(CLOUD)
                .with_resource(&res));
            }
            if size == 0 {
                // An empty group leaves nothing behind; its pods are garbage-collected.
                self.delete_uid(&api, op, &res, &spec.name, dep.uid(), None)
                    .await?;
                applied = true;
                break;
            }
            let same_template = dep.labels().get(TOKEN_TAG) == Some(&token);
            let replicas = dep.spec.replicas;
            if same_template && replicas == Some(size as i32) {
                applied = true;
                break;
            }
            // Replace spec and labels, keeping the resourceVersion: a concurrent writer makes
            // this a 409 Conflict and another round.
            dep.metadata.labels = want.metadata.labels.clone();
            dep.spec = want.spec.clone();
            dep.status = None;
            match api.replace(&spec.name, &PostParams::default(), &dep).await {
                Ok(_) => {
                    applied = true;
                    break;
                }
                Err(e) if error::is_conflict(&e) => continue,
                Err(e) => return Err(error::map(op, &res, e)),
            }
        }
        if !applied {
            return Err(Error::new(
                ErrorKind::Conflict,
                op,
                format!("{res} kept changing under {CONFLICT_ROUNDS} read-modify-write rounds"),
            )
            .with_cloud(CLOUD)
            .with_resource(&res));
        }
        let members = self.members(op, &spec.name).await?;
        Ok(Group::new(spec.name.clone(), size, members))
    }

    pub(crate) async fn get_group_impl(&self, name: &str) -> Result<Group> {
        let op = Operation::GetGroup;
        validate_label("group", name, MAX_GROUP_NAME_LEN)
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let res = format!("deployment {name:?}");
        let dep: Option<Deployment> = self
            .deployments()
            .get_opt(name)
            .await
            .map_err(|e| error::map(op, &res, e))?;
        let Some(dep) = dep.filter(|d| convert::owned_by(&d.metadata, self.owner())) else {
            return Ok(Group::new(name, 0, Vec::new()));
        };
        let desired = dep.spec.replicas.unwrap_or(1).max(0) as u32;
        let members = self.members(op, name).await?;
        let group = Group::new(name, desired, members);
        let ready = dep
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        tracing::debug!(
            group = name,
            desired,
            ready_replicas = ready,
            ready_members = group.ready(),
            "group read"
        );
        Ok(group)
    }
}
