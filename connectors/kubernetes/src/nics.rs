//! NICs as entries of a pod's `k8s.v1.cni.cncf.io/networks` annotation, one per Multus
//! network, with an explicit interface `netN` (the NIC id). Multus reads that annotation only
//! when a pod's sandbox is created, so attaching or detaching replaces the pod: delete it (uid
//! precondition, no grace period) and create it again with the same name, labels and spec.

use crate::CLOUD;
use crate::client::KubernetesConnector;
use crate::convert::{
    self, NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION, NetworkSelection, POD_NETWORK,
};
use crate::error;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::PostParams;
use std::time::Duration;
use strato_core::*;
use tokio::time::Instant;

impl KubernetesConnector {
    fn selections(pod: &Pod, op: Operation) -> Result<Vec<NetworkSelection>> {
        let raw = pod
            .annotations()
            .get(NETWORKS_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        convert::parse_networks(&raw).map_err(|e| {
            Error::new(
                ErrorKind::Conflict,
                op,
                format!("pod {:?}: {e}", pod.name_any()),
            )
            .with_cloud(CLOUD)
        })
    }

    fn standalone(pod: &Pod, op: Operation) -> Result<()> {
        if pod
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true))
        {
            return Err(Error::unsupported(
                op,
                CLOUD,
                &format!(
                    "vm {:?} is a member of a group (a Deployment's pod); its networks come from the group spec",
                    pod.name_any()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) async fn attach_nic_impl(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        let op = Operation::AttachNic;
        self.need_multus(op)?;
        let pod = self.get_owned(&self.pods(), op, "pod", vm.as_str()).await?;
        Self::standalone(&pod, op)?;
        let net = self
            .get_network_impl(&spec.network)
            .await
            .map_err(|e| e.with_operation(op))?;
        if net.id.as_str() == POD_NETWORK {
            return Err(Error::invalid_spec(
                "network",
                "every pod is on the cluster network already; name a Multus network",
            )
            .with_operation(op)
            .with_cloud(CLOUD));
        }
        let mut sel = Self::selections(&pod, op)?;
        let names = convert::interface_names(&sel);
        let wanted_ips: Vec<String> = spec
            .address
            .iter()
            .map(|a| format!("{a}/{}", prefix_len(&net, a)))
            .collect();
        // Idempotent: an identical attachment is the NIC a retried attach made.
        if let Some(i) = sel
            .iter()
            .position(|s| s.name == spec.network.as_str() && s.ips == wanted_ips)
        {
            let nics = convert::nics_of(&pod);
            return nics
                .into_iter()
                .find(|n| n.id.as_str() == names[i])
                .ok_or_else(|| {
                    Error::new(ErrorKind::Internal, op, "attached NIC not reported")
                        .with_cloud(CLOUD)
                });
        }
        if sel.len() + 1 >= crate::capabilities::MAX_NICS as usize {
            return Err(Error::new(
                ErrorKind::QuotaExceeded,
                op,
                format!(
                    "vm {:?} has {} NICs, the most this connector gives a pod is {}",
                    vm.as_str(),
                    sel.len() + 1,
                    crate::capabilities::MAX_NICS
                ),
            )
            .with_cloud(CLOUD));
        }
        let index = (1..)
            .find(|k| !names.contains(&format!("net{k}")))
            .expect("a free interface index");
        let ifname = format!("net{index}");
        sel.push(NetworkSelection {
            name: spec.network.to_string(),
            namespace: None,
            interface: Some(ifname.clone()),
            ips: wanted_ips,
        });
        self.replace_pod(op, &pod, &sel).await?;
        Ok(Nic {
            id: NicId::new(ifname),
            network: spec.network.clone(),
            address: spec.address,
            mac: None,
            device_index: index,
        })
    }

    pub(crate) async fn detach_nic_impl(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        let op = Operation::DetachNic;
        self.need_multus(op)?;
        if nic.as_str() == "eth0" {
            return Err(Error::invalid_spec(
                "nic",
                "eth0 is the pod's primary interface and cannot be detached",
            )
            .with_operation(op)
            .with_cloud(CLOUD));
        }
        let pod = self.get_owned(&self.pods(), op, "pod", vm.as_str()).await?;
        let mut sel = Self::selections(&pod, op)?;
        let names = convert::interface_names(&sel);
        let Some(i) = names.iter().position(|n| n == nic.as_str()) else {
            // Already detached.
            return Ok(());
        };
        Self::standalone(&pod, op)?;
        // Pin the remaining interfaces' names so they keep their NIC ids in the new pod.
        for (s, n) in sel.iter_mut().zip(&names) {
            s.interface = Some(n.clone());
        }
        sel.remove(i);
        self.replace_pod(op, &pod, &sel).await?;
        Ok(())
    }

    /// Replaces a pod with one that has `sel` as its networks: same name, labels (ownership and
    /// token included, so the VM's VIPs and a retried create still find it) and spec.
    async fn replace_pod(&self, op: Operation, old: &Pod, sel: &[NetworkSelection]) -> Result<Pod> {
        let name = old.name_any();
        let res = format!("pod {name:?}");
        let mut annotations = old.annotations().clone();
        annotations.remove(NETWORK_STATUS_ANNOTATION);
        if sel.is_empty() {
            annotations.remove(NETWORKS_ANNOTATION);
        } else {
            annotations.insert(
                NETWORKS_ANNOTATION.into(),
                serde_json::to_string(sel)
                    .map_err(|e| Error::new(ErrorKind::Internal, op, e.to_string()))?,
            );
        }
        let mut spec = old.spec.clone().unwrap_or_default();
        // A VM pinned to its node stays there (the pin is the caller's placement); any other
        // pod is scheduled anew, as the old node may not have the new network.
        if !convert::pinned(old) {
            spec.node_name = None;
        }
        let new = Pod {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: old.metadata.namespace.clone(),
                labels: old.metadata.labels.clone(),
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        };
        self.delete_uid(&self.pods(), op, &res, &name, old.uid(), Some(0))
            .await?;
        // The old pod can linger while it terminates: create until the name is free.
        let deadline = Instant::now() + Duration::from_secs(self.config.replace_timeout_secs);
        let mut wait = Duration::from_millis(50);
        loop {
            match self.pods().create(&PostParams::default(), &new).await {
                Ok(p) => return Ok(p),
                Err(e) if error::is_already_exists(&e) && Instant::now() + wait < deadline => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(pod = %name, "pod deleted for a NIC change but not re-created; create_vm with its original spec re-creates it");
                    return Err(error::map(op, &res, e));
                }
            }
        }
    }
}

/// Prefix length for a static address on `net`: the CIDR's, else a host route.
fn prefix_len(net: &Network, addr: &std::net::IpAddr) -> u8 {
    match &net.cidr {
        Some(c) if c.contains(addr) => c.prefix_len(),
        _ => {
            if addr.is_ipv4() {
                32
            } else {
                128
            }
        }
    }
}
