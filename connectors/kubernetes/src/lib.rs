//! strato's Kubernetes connector, on `kube` and `k8s-openapi`.
//!
//! | strato | Kubernetes |
//! | --- | --- |
//! | VM | a Pod named like the VM, running the service-engine image; size = CPU/memory requests and limits |
//! | group | a Deployment (replicas); members are its pods, named by the ReplicaSet (`GROUP-HASH-XXXXX`) |
//! | network | a Multus NetworkAttachmentDefinition (when the cluster serves the CRD) |
//! | NIC | an entry of the pod's `k8s.v1.cni.cncf.io/networks` annotation; attach/detach replace the pod |
//! | VIP | a Service (LoadBalancer with `loadBalancerIP`, or `externalIPs`) selecting `strato-pod=<vm>` |
//! | host | a Node (ready = condition Ready and not cordoned); a pinned VM's pod has `spec.nodeName` |
//!
//! Ownership tags are labels. Every object lives in the profile's namespace. Start and stop
//! are `Unsupported`: a pod can only be deleted. See the crate's README for the whole mapping.
//!
//! A binary that links kube together with another rustls user (the AWS SDK brings aws-lc-rs)
//! must install one process-wide crypto provider before the first TLS client is built:
//! [`install_crypto_provider`] does that (and [`KubernetesConnector::connect`] calls it).
//!
//! Files:
//! - `config.rs`: [`KubernetesConfig`], the profile's settings;
//! - `client.rs`: [`KubernetesConnector`], how it connects (and discovers Multus), and the
//!   `CloudConnector` impl, which forwards to the resource files;
//! - `vms.rs`, `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs`, `hosts.rs`: one resource each;
//! - `api.rs`: the generic API helpers they share (owner-aware get, idempotent create,
//!   uid-guarded delete, one-page list);
//! - `convert.rs`: Kubernetes objects to and from the strato model;
//! - `error.rs`: API `Status` codes and reasons mapped to `ErrorKind`;
//! - `capabilities.rs`: [`capabilities`]; `factory.rs`: [`KubernetesFactory`].

#![deny(missing_docs)]

mod api;
pub mod bootstrap;
mod capabilities;
mod client;
mod config;
mod convert;
mod error;
mod factory;
mod groups;
mod hosts;
mod networks;
mod nics;
mod vips;
mod vms;

pub use capabilities::{MAX_NICS, MAX_PAGE, capabilities};
pub use client::{KubernetesConnector, kube_config};
pub use config::{Auth, KubernetesConfig, Multus, VipMode};
pub use convert::{DEPLOYMENT_LABEL, HOST_ANNOTATION, NETWORKS_ANNOTATION, POD_LABEL, POD_NETWORK};
pub use error::{from_status, kind_of};
pub use factory::KubernetesFactory;

/// The connector kind, used in every error.
pub const CLOUD: &str = "kubernetes";

/// Installs rustls's `ring` provider as the process default, unless a provider is installed
/// already (then that one stays). Idempotent; call it first thing in `main` of any binary that
/// links several rustls users, or let [`KubernetesConnector::connect`] do it.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine: one provider is set either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn installing_the_crypto_provider_is_idempotent() {
        super::install_crypto_provider();
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
