//! Registers the GCP connector with strato's connector registry.

use crate::{GcpConfig, GcpConnector};
use std::sync::Arc;
use strato_core::config::{Profile, parse_settings};
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{CloudConnector, Result, async_trait};

/// Makes GCP connectors from profiles of `kind = "gcp"`.
///
/// Connecting installs the ring rustls crypto provider as the process default unless one is
/// installed already (see [`crate::install_crypto_provider`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct GcpFactory;

#[async_trait]
impl ConnectorFactory for GcpFactory {
    fn kind(&self) -> &'static str {
        crate::CLOUD
    }

    fn validate(&self, profile: &Profile) -> Result<()> {
        parse_settings::<GcpConfig>(profile)?.validate()
    }

    async fn connect(
        &self,
        profile: &Profile,
        _ctx: &ConnectContext,
    ) -> Result<Arc<dyn CloudConnector>> {
        let cfg: GcpConfig = parse_settings(profile)?;
        Ok(Arc::new(
            GcpConnector::connect(profile.owner.clone(), cfg).await?,
        ))
    }
}
