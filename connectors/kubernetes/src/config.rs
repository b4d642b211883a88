//! Profile settings of the `kubernetes` kind.

use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use strato_core::{Error, ErrorKind, Operation, Result};

/// Where the client's cluster address and credentials come from.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    /// The kubeconfig file (or `KUBECONFIG`), then the in-cluster service account.
    #[default]
    Infer,
    /// Only the kubeconfig.
    Kubeconfig,
    /// Only the pod's service account (`/var/run/secrets/kubernetes.io/serviceaccount`).
    InCluster,
}

/// How a VIP Service gets its address.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VipMode {
    /// `type: LoadBalancer`, asking for `spec.loadBalancerIP` when the VIP names an address; the
    /// cluster's load-balancer controller (MetalLB, a cloud's) assigns one otherwise.
    #[default]
    LoadBalancer,
    /// `type: ClusterIP` with `spec.externalIPs: [address]`; the address must be given and routed
    /// to the nodes by the network.
    ExternalIps,
}

/// Whether the Multus CRD is used for networks.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Multus {
    /// Discover the `k8s.cni.cncf.io/v1` API at connect time.
    #[default]
    Auto,
    /// Require it (connect fails when absent).
    Required,
    /// Never use it: networks and NICs are unsupported.
    Disabled,
}

/// Settings of a `kubernetes` profile.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Where credentials come from.
    #[serde(default)]
    pub auth: Auth,
    /// Kubeconfig file (default: `KUBECONFIG`, then `~/.kube/config`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[serde(default)]
    pub context: Option<String>,
    /// API server URL used as is, without credentials (tests, `kubectl proxy`). Overrides `auth`.
    #[serde(default)]
    pub cluster_url: Option<String>,
    /// Namespace of everything the connector creates.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Name of the service-engine container in each pod.
    #[serde(default = "default_container")]
    pub container_name: String,
    /// Service account the pods run as (the namespace's default when absent).
    #[serde(default)]
    pub service_account: Option<String>,
    /// How VIP Services get their address.
    #[serde(default)]
    pub vip_mode: VipMode,
    /// Ports a VIP Service exposes (TCP).
    #[serde(default = "default_vip_ports")]
    pub vip_ports: Vec<u16>,
    /// Multus use.
    #[serde(default)]
    pub multus: Multus,
    /// CNI plugin of the networks the connector creates (`spec.config.type`).
    #[serde(default = "default_cni")]
    pub network_cni: String,
    /// Host interface the networks the connector creates attach to (`master`), unless the
    /// network spec names a parent.
    #[serde(default = "default_master")]
    pub network_master: String,
    /// IPAM plugin of the networks the connector creates.
    #[serde(default = "default_ipam")]
    pub network_ipam: String,
    /// How long `attach_nic`/`detach_nic` wait for the old pod to be gone before re-creating it.
    #[serde(default = "default_replace_timeout")]
    pub replace_timeout_secs: u64,
}

fn default_namespace() -> String {
    "default".into()
}
fn default_container() -> String {
    "service-engine".into()
}
fn default_vip_ports() -> Vec<u16> {
    vec![80, 443]
}
fn default_cni() -> String {
    "macvlan".into()
}
fn default_master() -> String {
    "eth0".into()
}
fn default_ipam() -> String {
    "whereabouts".into()
}
fn default_replace_timeout() -> u64 {
    60
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            auth: Auth::default(),
            kubeconfig: None,
            context: None,
            cluster_url: None,
            namespace: default_namespace(),
            container_name: default_container(),
            service_account: None,
            vip_mode: VipMode::default(),
            vip_ports: default_vip_ports(),
            multus: Multus::default(),
            network_cni: default_cni(),
            network_master: default_master(),
            network_ipam: default_ipam(),
            replace_timeout_secs: default_replace_timeout(),
        }
    }
}

// By hand: a kubeconfig path can point at a file with tokens; the URL may carry userinfo.
impl fmt::Debug for KubernetesConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesConfig")
            .field("auth", &self.auth)
            .field("kubeconfig", &self.kubeconfig)
            .field("context", &self.context)
            .field(
                "cluster_url",
                &self.cluster_url.as_ref().map(|u| redact_url(u)),
            )
            .field("namespace", &self.namespace)
            .field("vip_mode", &self.vip_mode)
            .field("multus", &self.multus)
            .finish_non_exhaustive()
    }
}

fn redact_url(u: &str) -> String {
    match (u.find("://"), u.find('@')) {
        (Some(s), Some(a)) if a > s => format!("{}://***@{}", &u[..s], &u[a + 1..]),
        _ => u.to_owned(),
    }
}

fn bad(field: &str, msg: String) -> Error {
    Error::new(ErrorKind::InvalidSpec, Operation::Configure, msg)
        .with_field(field)
        .with_cloud(crate::CLOUD)
}

impl KubernetesConfig {
    /// Reads settings from `STRATO_K8S_*` variables: `NAMESPACE`, `CONTEXT`, `KUBECONFIG`,
    /// `CLUSTER_URL`; the rest keep their defaults.
    pub fn from_env() -> Result<Self> {
        let mut c = Self::default();
        if let Ok(v) = std::env::var("STRATO_K8S_NAMESPACE") {
            c.namespace = v;
        }
        c.context = std::env::var("STRATO_K8S_CONTEXT").ok();
        c.kubeconfig = std::env::var_os("STRATO_K8S_KUBECONFIG").map(PathBuf::from);
        c.cluster_url = std::env::var("STRATO_K8S_CLUSTER_URL").ok();
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings without touching the network.
    pub fn validate(&self) -> Result<()> {
        let label = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.starts_with(|c: char| c.is_ascii_lowercase())
                && !s.ends_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !label(&self.namespace) {
            return Err(bad(
                "namespace",
                format!(
                    "namespace {:?} is not a valid Kubernetes namespace name",
                    self.namespace
                ),
            ));
        }
        if !label(&self.container_name) {
            return Err(bad(
                "container_name",
                format!(
                    "container_name {:?} is not a DNS label",
                    self.container_name
                ),
            ));
        }
        if self.vip_ports.is_empty() || self.vip_ports.contains(&0) {
            return Err(bad(
                "vip_ports",
                format!(
                    "vip_ports {:?} must list at least one port between 1 and 65535",
                    self.vip_ports
                ),
            ));
        }
        if let Some(u) = &self.cluster_url
            && u.parse::<http::Uri>()
                .map(|u| u.scheme().is_none() || u.host().is_none())
                .unwrap_or(true)
        {
            return Err(bad(
                "cluster_url",
                format!(
                    "cluster_url {:?} is not an absolute http(s) URL",
                    redact_url(u)
                ),
            ));
        }
        if self.auth == Auth::InCluster && (self.kubeconfig.is_some() || self.context.is_some()) {
            return Err(bad(
                "auth",
                "auth = \"in-cluster\" does not read a kubeconfig; remove kubeconfig and context"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_profile_table_and_refuses_unknown_keys() {
        let c: KubernetesConfig =
            toml::from_str("namespace = \"lb\"\ncontext = \"kind-a\"\nvip_mode = \"external-ips\"")
                .unwrap();
        assert_eq!(
            (c.namespace.as_str(), c.context.as_deref(), c.vip_mode),
            ("lb", Some("kind-a"), VipMode::ExternalIps)
        );
        assert!(toml::from_str::<KubernetesConfig>("namespase = \"x\"").is_err());
        let bad = KubernetesConfig {
            namespace: "Bad_NS".into(),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field(), Some("namespace"));
    }

    #[test]
    fn debug_hides_url_credentials() {
        let c = KubernetesConfig {
            cluster_url: Some("https://user:secret@10.0.0.1:6443".into()),
            ..Default::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("secret"), "{s}");
    }
}
