//! Registers the Kubernetes connector with strato's connector registry.

use crate::{KubernetesConfig, KubernetesConnector};
use std::sync::Arc;
use strato_core::config::{Profile, parse_settings};
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{CloudConnector, Result, async_trait};

/// Makes Kubernetes connectors from profiles of `kind = "kubernetes"`.
///
/// Connecting installs the ring rustls crypto provider as the process default unless one is
/// installed already (see [`crate::install_crypto_provider`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct KubernetesFactory;

#[async_trait]
impl ConnectorFactory for KubernetesFactory {
    fn kind(&self) -> &'static str {
        crate::CLOUD
    }

    fn validate(&self, profile: &Profile) -> Result<()> {
        parse_settings::<KubernetesConfig>(profile)?.validate()
    }

    async fn connect(
        &self,
        profile: &Profile,
        _ctx: &ConnectContext,
    ) -> Result<Arc<dyn CloudConnector>> {
        let cfg: KubernetesConfig = parse_settings(profile)?;
        Ok(Arc::new(
            KubernetesConnector::connect(cfg, profile.owner.clone()).await?,
        ))
    }
}
