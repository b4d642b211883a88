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

#![deny(missing_docs)]

mod capabilities;
mod client;
mod config;
mod convert;
mod error;
mod factory;
mod group;
mod host;
mod network;
mod vip;
mod vm;

pub use capabilities::{MAX_NICS, MAX_PAGE, capabilities};
pub use client::{KubernetesConnector, kube_config};
pub use config::{Auth, KubernetesConfig, Multus, VipMode};
pub use convert::{DEPLOYMENT_LABEL, HOST_ANNOTATION, NETWORKS_ANNOTATION, POD_LABEL, POD_NETWORK};
pub use error::{CLOUD, from_status, kind_of};
pub use factory::KubernetesFactory;

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
