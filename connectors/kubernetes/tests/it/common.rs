//! Set-up shared by the tests against the in-process fake API server.

use std::sync::atomic::{AtomicU32, Ordering};
use strato_core::{CloudConnector, Network, NetworkSpec, OwnerId};
use strato_kubernetes::{KubernetesConfig, KubernetesConnector};

/// An owner id unique to this process and call: tests share one fake per test, but an owner of
/// their own keeps what they list their own.
pub fn owner() -> OwnerId {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    OwnerId::new(format!(
        "t{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
    .unwrap()
}

/// A connector to the fake at `url` for a fresh owner, with `cfg`'s other settings.
pub async fn connector_with(url: &str, cfg: KubernetesConfig) -> KubernetesConnector {
    let cfg = KubernetesConfig {
        cluster_url: Some(url.to_owned()),
        ..cfg
    };
    KubernetesConnector::connect(cfg, owner())
        .await
        .expect("connect to the fake")
}

/// Creates a network (a Multus attachment) with an address range.
pub async fn network(c: &KubernetesConnector, name: &str, cidr: &str) -> Network {
    c.create_network(&NetworkSpec::new(name, Some(cidr.parse().unwrap())))
        .await
        .unwrap()
}

/// A connector to the fake at `url` for a fresh owner, with the default settings.
pub async fn connector(url: &str) -> KubernetesConnector {
    connector_with(url, KubernetesConfig::default()).await
}
