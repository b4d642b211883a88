//! The connectors compiled into this binary (cargo features `aws`, `vsphere`, `kubernetes`, `azure`,
//! `gcp`;
//! the memory cloud is always there).

use std::sync::Arc;
use strato_core::registry::Registry;

/// A registry of every connector compiled in.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(strato_memory::MemoryFactory));
    #[cfg(feature = "aws")]
    r.register(Arc::new(strato_aws::AwsFactory));
    #[cfg(feature = "vsphere")]
    r.register(Arc::new(strato_vsphere::VsphereFactory));
    #[cfg(feature = "kubernetes")]
    r.register(Arc::new(strato_kubernetes::KubernetesFactory));
    #[cfg(feature = "azure")]
    r.register(Arc::new(strato_azure::AzureFactory));
    #[cfg(feature = "gcp")]
    r.register(Arc::new(strato_gcp::GcpFactory));
    r
}

/// Installs one process-wide rustls crypto provider. Needed as soon as two SDKs with different
/// rustls backends are linked (kube: ring, the AWS SDK: aws-lc-rs): rustls then cannot pick one
/// and the first TLS client panics, even for a plain-HTTP endpoint.
pub fn install_crypto_provider() {
    #[cfg(any(
        feature = "aws",
        feature = "vsphere",
        feature = "kubernetes",
        feature = "azure",
        feature = "gcp"
    ))]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_enabled_connector_is_registered() {
        let kinds = super::registry().kinds();
        assert!(kinds.contains(&"memory"));
        assert_eq!(kinds.contains(&"aws"), cfg!(feature = "aws"));
        assert_eq!(kinds.contains(&"vsphere"), cfg!(feature = "vsphere"));
        assert_eq!(kinds.contains(&"kubernetes"), cfg!(feature = "kubernetes"));
        assert_eq!(kinds.contains(&"azure"), cfg!(feature = "azure"));
        assert_eq!(kinds.contains(&"gcp"), cfg!(feature = "gcp"));
    }
}
