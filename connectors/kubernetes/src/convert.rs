//! Kubernetes objects <-> strato's model.
//!
//! - VM = Pod named like the VM; labels = user tags + ownership tags + `strato-pod=<name>` (the
//!   per-pod label VIP Services select); size = CPU/memory requests and limits (equal, so the pod
//!   is in the Guaranteed QoS class).
//! - Group = Deployment named like the group; its pods carry `strato-deployment=<group>`.
//! - Network = Multus NetworkAttachmentDefinition; NIC = an element of the pod's
//!   `k8s.v1.cni.cncf.io/networks` annotation with an explicit interface name (`net1`...).
//! - VIP = Service selecting `strato-pod=<vm>`.
//! - Host = Node; a VM pinned to one has `spec.nodeName` (and the `strato-host` annotation).

use crate::config::{KubernetesConfig, VipMode};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, Node, Pod, PodSpec, PodTemplateSpec, ResourceRequirements, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;
use strato_core::{
    Error, GroupSpec, Host, HostId, Network, NetworkId, NetworkSpec, Nic, NicId, OwnerId,
    Ownership, Size, Tags, Vip, VipBinding, VipId, VipSpec, Vm, VmId, VmSpec, VmState,
};

/// Label every strato pod carries with its own name; VIP Services select on it.
pub const POD_LABEL: &str = "strato-pod";
/// Label on a Deployment's pods naming the Deployment (part of its selector).
pub const DEPLOYMENT_LABEL: &str = "strato-deployment";
/// Deletion cost of a pod (lower goes first when a ReplicaSet scales down).
pub const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
/// Multus: the networks a pod joins.
pub const NETWORKS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/networks";
/// Multus: the interfaces a pod got, written by Multus.
pub const NETWORK_STATUS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/network-status";
/// Multus: replaces the cluster network as a pod's primary network.
pub const DEFAULT_NETWORK_ANNOTATION: &str = "v1.multus-cni.io/default-network";
/// Marks a pod strato pinned to a node (value: the node). Every scheduled pod has a
/// `spec.nodeName`; this says it was asked for, so a replacement (NIC attach) keeps it.
pub const HOST_ANNOTATION: &str = "strato-host";
/// Id of the cluster's own pod network (the primary NIC of every pod without a
/// default-network override). Not a Kubernetes object.
pub const POD_NETWORK: &str = "pod-network";

/// The NetworkAttachmentDefinition resource.
pub fn nad_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition"),
        "network-attachment-definitions",
    )
}

/// The labels of an object as strato tags.
pub fn labels_of(meta: &ObjectMeta) -> Tags {
    meta.labels.clone().unwrap_or_default()
}

/// True when the object carries `owner`'s ownership tag.
pub fn owned_by(meta: &ObjectMeta, owner: &OwnerId) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(strato_core::OWNER_TAG))
        .is_some_and(|o| o == owner.as_str())
}

fn time(t: Option<&Time>) -> chrono::DateTime<chrono::Utc> {
    t.and_then(|t| {
        chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
    })
    .unwrap_or_default()
}

/// CPU and memory requests = limits of a shape; native sizes do not exist on Kubernetes.
pub fn resources(size: &Size) -> Result<ResourceRequirements, Error> {
    match size {
        Size::Shape { vcpus, memory_mib } => {
            let q = BTreeMap::from([
                ("cpu".to_owned(), Quantity(vcpus.to_string())),
                ("memory".to_owned(), Quantity(format!("{memory_mib}Mi"))),
            ]);
            Ok(ResourceRequirements {
                requests: Some(q.clone()),
                limits: Some(q),
                ..Default::default()
            })
        }
        Size::Native(n) => Err(Error::invalid_spec(
            "size",
            format!(
                "size {n:?} is a native instance type; Kubernetes sizes are VCPUSxMEMORY shapes like 2x4g"
            ),
        )),
    }
}

/// Parses a CPU quantity into whole vCPUs (rounded up, at least 1).
fn cpus(q: &str) -> Option<u32> {
    let millis = if let Some(m) = q.strip_suffix('m') {
        m.parse::<f64>().ok()?
    } else {
        q.parse::<f64>().ok()? * 1000.0
    };
    Some(((millis / 1000.0).ceil() as u32).max(1))
}

/// Parses a memory quantity into MiB.
fn mebibytes(q: &str) -> Option<u64> {
    let units: [(&str, f64); 10] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("m", 1e-3),
        ("", 1.0),
    ];
    let (num, mult) = units.iter().find_map(|(s, m)| {
        q.strip_suffix(s)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| (n, *m))
    })?;
    Some(((num * mult) / (1024.0 * 1024.0)).ceil() as u64)
}

/// The size a container asked for (its limits, else its requests).
pub fn size_of(c: &Container) -> Size {
    let r = c.resources.as_ref();
    let get = |k: &str| {
        r.and_then(|r| {
            r.limits
                .as_ref()
                .and_then(|l| l.get(k))
                .or_else(|| r.requests.as_ref().and_then(|l| l.get(k)))
        })
        .map(|q| q.0.clone())
    };
    match (
        get("cpu").as_deref().and_then(cpus),
        get("memory").as_deref().and_then(mebibytes),
    ) {
        (Some(vcpus), Some(memory_mib)) => Size::Shape { vcpus, memory_mib },
        _ => Size::Native("unbounded".into()),
    }
}

/// One element of the Multus networks annotation (the JSON form).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSelection {
    /// NetworkAttachmentDefinition name.
    pub name: String,
    /// Its namespace (the pod's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Interface name in the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Static addresses with prefix length (`10.1.1.5/24`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
}

/// Parses the networks annotation, either form (JSON list or `ns/name@if,name`).
pub fn parse_networks(s: &str) -> Result<Vec<NetworkSelection>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    if t.starts_with('[') {
        return serde_json::from_str(t)
            .map_err(|e| format!("{NETWORKS_ANNOTATION} is not a JSON list: {e}"));
    }
    Ok(t.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (rest, interface) = match p.split_once('@') {
                Some((r, i)) => (r, Some(i.to_owned())),
                None => (p, None),
            };
            let (namespace, name) = match rest.split_once('/') {
                Some((n, m)) => (Some(n.to_owned()), m.to_owned()),
                None => (None, rest.to_owned()),
            };
            NetworkSelection {
                name,
                namespace,
                interface,
                ips: Vec::new(),
            }
        })
        .collect())
}

/// Interface names of the selections, with Multus's defaults (`net1`, `net2`...) filled in.
pub fn interface_names(sel: &[NetworkSelection]) -> Vec<String> {
    sel.iter()
        .enumerate()
        .map(|(i, s)| {
            s.interface
                .clone()
                .unwrap_or_else(|| format!("net{}", i + 1))
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct NetworkStatus {
    #[serde(default)]
    interface: String,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    mac: Option<String>,
}

/// The pod's NICs: eth0 on the primary network, then one per Multus selection, with addresses
/// from Multus's network-status once the pod runs.
pub fn nics_of(pod: &Pod) -> Vec<Nic> {
    let ann = pod.metadata.annotations.clone().unwrap_or_default();
    let status: Vec<NetworkStatus> = ann
        .get(NETWORK_STATUS_ANNOTATION)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let find = |ifname: &str| status.iter().find(|s| s.interface == ifname);
    let primary = ann
        .get(DEFAULT_NETWORK_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| POD_NETWORK.to_owned());
    let pod_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let mut nics = vec![Nic {
        id: NicId::new("eth0"),
        network: NetworkId::new(primary),
        address: pod_ip,
        mac: find("eth0").and_then(|s| s.mac.clone()),
        device_index: 0,
    }];
    let sel = ann
        .get(NETWORKS_ANNOTATION)
        .and_then(|s| parse_networks(s).ok())
        .unwrap_or_default();
    for (s, ifname) in sel.iter().zip(interface_names(&sel)) {
        let st = find(&ifname);
        let address = st
            .and_then(|st| st.ips.first())
            .or(s.ips.first())
            .and_then(|ip| ip.split('/').next().and_then(|a| a.parse::<IpAddr>().ok()));
        let device_index = ifname
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(nics.len() as u32);
        nics.push(Nic {
            id: NicId::new(ifname.clone()),
            network: NetworkId::new(s.name.clone()),
            address,
            mac: st.and_then(|st| st.mac.clone()),
            device_index,
        });
    }
    nics
}

/// Waiting reasons of a container that will not start without a change.
const STUCK_REASONS: [&str; 5] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
];

/// The strato state of a pod.
pub fn state_of(pod: &Pod) -> VmState {
    if pod.metadata.deletion_timestamp.is_some() {
        return VmState::Deleting;
    }
    let Some(status) = &pod.status else {
        return VmState::Pending;
    };
    // A container that cannot start or keeps crashing will not become ready by itself; waiting
    // for it would only run into the caller's timeout.
    let stuck = status.container_statuses.iter().flatten().any(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .is_some_and(|r| STUCK_REASONS.contains(&r))
    });
    if stuck {
        return VmState::Failed;
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    match status.phase.as_deref() {
        Some("Running") if ready => VmState::Running,
        Some("Running") | Some("Pending") | None => VmState::Pending,
        // A service engine that exits is broken: a pod never restarts by itself once terminal.
        Some("Succeeded") | Some("Failed") => VmState::Failed,
        _ => VmState::Unknown,
    }
}

/// A pod as a VM; `None` when it carries no ownership tags.
pub fn vm_of(pod: &Pod, container: &str) -> Option<Vm> {
    let tags = labels_of(&pod.metadata);
    let ownership = Ownership::from_tags(&tags)?;
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let c = containers
        .iter()
        .find(|c| c.name == container)
        .or(containers.first())?;
    let id = pod.metadata.name.clone().unwrap_or_default();
    // The strato name: the VM's own for standalone pods, `GROUP-ORDINAL` once the connector
    // has numbered a Deployment's pod, the pod name until then.
    let name = tags
        .get(strato_core::NAME_TAG)
        .cloned()
        .unwrap_or_else(|| id.clone());
    Some(Vm {
        id: VmId::new(id),
        name,
        state: state_of(pod),
        size: size_of(c),
        image: c.image.clone().unwrap_or_default(),
        private_ip: pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok()),
        public_ip: None,
        nics: nics_of(pod),
        tags,
        ownership,
        created_at: time(pod.metadata.creation_timestamp.as_ref()),
        host: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
            .map(HostId::from),
    })
}

/// True when strato pinned the pod to its node (rather than the scheduler placing it).
pub fn pinned(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(HOST_ANNOTATION))
}

/// A node as a host: ready when its Ready condition is `True` and it is not cordoned.
pub fn host_of(node: &Node) -> Host {
    let name = node.metadata.name.clone().unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    Host {
        id: HostId::new(name.clone()),
        name,
        ready: ready && !cordoned,
    }
}

/// Checks a host name is a node name (an RFC 1123 subdomain) before it reaches a URL.
pub fn validate_host(host: &HostId) -> Result<(), Error> {
    let h = host.as_str();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if h.is_empty() || h.len() > 253 || !h.split('.').all(label_ok) {
        return Err(Error::invalid_spec(
            "host",
            format!(
                "host {h:?} is not a node name (lowercase letters, digits, '-' and '.', at most 253 characters)"
            ),
        ));
    }
    Ok(())
}

/// The pod spec of a VM or group member.
fn pod_spec(cfg: &KubernetesConfig, size: &Size, image: &str) -> Result<PodSpec, Error> {
    Ok(PodSpec {
        containers: vec![Container {
            name: cfg.container_name.clone(),
            image: Some(image.to_owned()),
            resources: Some(resources(size)?),
            ..Default::default()
        }],
        service_account_name: cfg.service_account.clone(),
        ..Default::default()
    })
}

fn primary_network_annotations(network: Option<&NetworkId>) -> Option<BTreeMap<String, String>> {
    network
        .filter(|n| n.as_str() != POD_NETWORK)
        .map(|n| BTreeMap::from([(DEFAULT_NETWORK_ANNOTATION.to_owned(), n.to_string())]))
}

/// The pod of a VM spec, owned by `owner`.
pub fn pod_for(spec: &VmSpec, owner: &OwnerId, cfg: &KubernetesConfig) -> Result<Pod, Error> {
    let mut labels = spec.tags.clone();
    spec.ownership(owner).apply(&mut labels);
    labels.insert(POD_LABEL.into(), spec.name.clone());
    labels.insert(strato_core::NAME_TAG.into(), spec.name.clone());
    let mut annotations = primary_network_annotations(spec.network.as_ref());
    let mut pspec = pod_spec(cfg, &spec.size, &spec.image)?;
    if let Some(h) = &spec.host {
        // Bound at creation, the scheduler never sees it (how DaemonSets placed their pods).
        pspec.node_name = Some(h.to_string());
        annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(HOST_ANNOTATION.to_owned(), h.to_string());
    }
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            namespace: Some(cfg.namespace.clone()),
            labels: Some(labels),
            annotations,
            ..Default::default()
        },
        spec: Some(pspec),
        status: None,
    })
}

/// The Deployment of a group spec at `replicas`.
pub fn deployment_for(
    spec: &GroupSpec,
    replicas: u32,
    owner: &OwnerId,
    cfg: &KubernetesConfig,
) -> Result<Deployment, Error> {
    let token = spec.template_token(owner);
    let own = Ownership {
        owner: owner.clone(),
        group: Some(spec.name.clone()),
        token,
    };
    let mut labels = spec.tags.clone();
    own.apply(&mut labels);
    let mut pod_labels = labels.clone();
    pod_labels.insert(DEPLOYMENT_LABEL.into(), spec.name.clone());
    let selector = BTreeMap::from([
        (strato_core::OWNER_TAG.to_owned(), owner.to_string()),
        (DEPLOYMENT_LABEL.to_owned(), spec.name.clone()),
    ]);
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            namespace: Some(cfg.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: DeploymentSpec {
            replicas: Some(i32::try_from(replicas).map_err(|_| {
                Error::invalid_spec("size", format!("size {replicas} is too large"))
            })?),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: primary_network_annotations(spec.network.as_ref()),
                    ..Default::default()
                }),
                spec: Some(pod_spec(cfg, &spec.size, &spec.image)?),
            },
            ..Default::default()
        },
        status: None,
    })
}

/// The Service of a VIP spec, selecting `pod`.
pub fn service_for(spec: &VipSpec, pod: &str, owner: &OwnerId, cfg: &KubernetesConfig) -> Service {
    let mut labels = spec.tags.clone();
    spec.ownership(owner).apply(&mut labels);
    let ports = cfg
        .vip_ports
        .iter()
        .map(|p| ServicePort {
            name: Some(format!("tcp-{p}")),
            port: i32::from(*p),
            protocol: Some("TCP".into()),
            ..Default::default()
        })
        .collect();
    let address = spec.address.map(|a| a.to_string());
    let (type_, load_balancer_ip, external_ips) = match cfg.vip_mode {
        VipMode::LoadBalancer => ("LoadBalancer", address, None),
        VipMode::ExternalIps => ("ClusterIP", None, address.map(|a| vec![a])),
    };
    Service {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            namespace: Some(cfg.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector: Some(BTreeMap::from([(POD_LABEL.to_owned(), pod.to_owned())])),
            ports: Some(ports),
            load_balancer_ip,
            external_ips,
            ..Default::default()
        }),
        status: None,
    }
}

/// A Service as a VIP; `None` when it carries no ownership tags.
pub fn vip_of(svc: &Service) -> Option<Vip> {
    let ownership = Ownership::from_tags(&labels_of(&svc.metadata))?;
    let spec = svc.spec.as_ref()?;
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .and_then(|i| i.iter().find_map(|i| i.ip.clone()));
    // The address clients use: the load balancer's, the one asked for, an external IP, and
    // until a load-balancer controller assigns one, the cluster IP.
    let address = ingress
        .or_else(|| spec.load_balancer_ip.clone())
        .or_else(|| spec.external_ips.as_ref().and_then(|e| e.first().cloned()))
        .or_else(|| spec.cluster_ip.clone())
        .and_then(|a| a.parse().ok())?;
    let name = svc.metadata.name.clone().unwrap_or_default();
    Some(Vip {
        id: VipId::new(name.clone()),
        name,
        address,
        public_address: None,
        vm: spec
            .selector
            .as_ref()
            .and_then(|s| s.get(POD_LABEL))
            .map(|p| VmId::new(p.clone())),
        network: NetworkId::new(POD_NETWORK),
        binding: VipBinding::Cloud,
        ownership,
    })
}

/// The NetworkAttachmentDefinition of a network spec: a CNI config of the configured plugin on
/// the spec's parent (or the configured master interface), IPAM over the spec's CIDR.
pub fn nad_for(spec: &NetworkSpec, owner: &OwnerId, cfg: &KubernetesConfig) -> DynamicObject {
    let mut labels = spec.tags.clone();
    spec.ownership(owner).apply(&mut labels);
    let mut ipam = json!({"type": cfg.network_ipam});
    if let Some(c) = &spec.cidr {
        match cfg.network_ipam.as_str() {
            "host-local" => ipam["subnet"] = json!(c.to_string()),
            _ => ipam["range"] = json!(c.to_string()),
        }
    }
    let config = json!({
        "cniVersion": "0.3.1",
        "name": spec.name,
        "type": cfg.network_cni,
        "master": spec.parent.clone().unwrap_or_else(|| cfg.network_master.clone()),
        "mode": "bridge",
        "ipam": ipam,
    });
    let mut obj = DynamicObject::new(&spec.name, &nad_resource()).within(&cfg.namespace);
    obj.metadata.labels = Some(labels);
    obj.data = json!({"spec": {"config": config.to_string()}});
    obj
}

/// A NetworkAttachmentDefinition as a network.
pub fn network_of(obj: &DynamicObject) -> Network {
    let cfg: Value = obj
        .data
        .pointer("/spec/config")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let cidr = ["/ipam/range", "/ipam/subnet", "/ipam/ranges/0/0/subnet"]
        .iter()
        .find_map(|p| cfg.pointer(p).and_then(Value::as_str))
        .and_then(|c| c.parse().ok());
    let tags = labels_of(&obj.metadata);
    let name = obj.metadata.name.clone().unwrap_or_default();
    Network {
        id: NetworkId::new(name.clone()),
        name,
        cidr,
        parent: cfg.get("master").and_then(Value::as_str).map(str::to_owned),
        ownership: Ownership::from_tags(&tags),
        tags,
    }
}

/// The cluster's pod network as a (never owned) network.
pub fn pod_network() -> Network {
    Network {
        id: NetworkId::new(POD_NETWORK),
        name: POD_NETWORK.into(),
        cidr: None,
        parent: None,
        tags: Tags::new(),
        ownership: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_trip_sizes() {
        let r = resources(&Size::shape(2, 4096)).unwrap();
        let c = Container {
            resources: Some(r),
            ..Default::default()
        };
        assert_eq!(size_of(&c), Size::shape(2, 4096));
        assert_eq!(cpus("500m"), Some(1));
        assert_eq!(cpus("2500m"), Some(3));
        assert_eq!(mebibytes("4Gi"), Some(4096));
        assert_eq!(mebibytes("1073741824"), Some(1024));
        assert_eq!(
            resources(&Size::Native("t3.micro".into()))
                .unwrap_err()
                .field(),
            Some("size")
        );
    }

    #[test]
    fn pod_phases_and_stuck_containers_map_to_states() {
        let pod = |status: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
        };
        let ready = json!([{"type": "Ready", "status": "True"}]);
        assert_eq!(
            state_of(&pod(json!({"phase": "Pending"}))),
            VmState::Pending
        );
        assert_eq!(
            state_of(&pod(json!({"phase": "Running"}))),
            VmState::Pending
        );
        assert_eq!(
            state_of(&pod(json!({"phase": "Running", "conditions": ready}))),
            VmState::Running
        );
        assert_eq!(state_of(&pod(json!({"phase": "Failed"}))), VmState::Failed);
        let crash = json!({"phase": "Running", "containerStatuses": [{"name": "c", "image": "i", "imageID": "",
            "ready": false, "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
        assert_eq!(state_of(&pod(crash)), VmState::Failed);
        let mut deleting = pod(json!({"phase": "Running", "conditions": ready}));
        deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(state_of(&deleting), VmState::Deleting);
    }

    #[test]
    fn a_host_is_ready_when_its_node_is_ready_and_not_cordoned() {
        let node = |spec: serde_json::Value, ready: &str| -> Node {
            serde_json::from_value(json!({"metadata": {"name": "n1"}, "spec": spec,
                "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": ready}]}}))
            .unwrap()
        };
        let h = host_of(&node(json!({}), "True"));
        assert_eq!(
            (h.id.as_str(), h.name.as_str(), h.ready),
            ("n1", "n1", true)
        );
        assert!(!host_of(&node(json!({}), "False")).ready);
        assert!(!host_of(&node(json!({}), "Unknown")).ready);
        assert!(!host_of(&node(json!({"unschedulable": true}), "True")).ready);
        let bare: Node = serde_json::from_value(json!({"metadata": {"name": "n2"}})).unwrap();
        assert!(!host_of(&bare).ready, "no status yet: not ready");
    }

    #[test]
    fn host_names_are_node_names() {
        for ok in ["node-1", "ip-10-0-0-1.eu-west-1.compute.internal", "a"] {
            validate_host(&HostId::from(ok)).unwrap();
        }
        for bad in ["", "Node-1", "node_1", "-n", "n.", "a/b", &"x".repeat(254)] {
            let e = validate_host(&HostId::from(bad)).unwrap_err();
            assert_eq!(e.field(), Some("host"), "{bad:?}");
        }
    }

    #[test]
    fn a_pinned_spec_binds_the_pod_to_its_node() {
        let cfg = KubernetesConfig::default();
        let owner = OwnerId::new("o").unwrap();
        let mut spec = VmSpec::new("v", Size::shape(1, 512), "img");
        let free = pod_for(&spec, &owner, &cfg).unwrap();
        assert_eq!(free.spec.as_ref().unwrap().node_name, None);
        assert!(!pinned(&free));
        spec.host = Some(HostId::from("node-2"));
        let pod = pod_for(&spec, &owner, &cfg).unwrap();
        assert_eq!(
            pod.spec.as_ref().unwrap().node_name.as_deref(),
            Some("node-2")
        );
        assert!(pinned(&pod));
        assert_ne!(
            pod.metadata.labels.as_ref().unwrap()[strato_core::TOKEN_TAG],
            free.metadata.labels.as_ref().unwrap()[strato_core::TOKEN_TAG],
            "the host is part of the request's token"
        );
    }

    #[test]
    fn networks_annotation_both_forms() {
        let s = parse_networks("other/a@eth5,b").unwrap();
        assert_eq!(
            s[0],
            NetworkSelection {
                name: "a".into(),
                namespace: Some("other".into()),
                interface: Some("eth5".into()),
                ips: vec![]
            }
        );
        assert_eq!(interface_names(&s), ["eth5", "net2"]);
        let s =
            parse_networks(r#"[{"name":"n","interface":"net3","ips":["10.0.0.5/24"]}]"#).unwrap();
        assert_eq!(s[0].ips, ["10.0.0.5/24"]);
        assert!(parse_networks("[nope").is_err());
    }
}
