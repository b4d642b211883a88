//! The `azure` kind for the connector registry.

use crate::client::AzureConnector;
use crate::config::AzureConfig;
use std::sync::Arc;
use strato_core::config::{Profile, parse_settings};
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{CloudConnector, Result, async_trait};

/// Makes `azure` connectors from profiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct AzureFactory;

#[async_trait]
impl ConnectorFactory for AzureFactory {
    fn kind(&self) -> &'static str {
        crate::CLOUD
    }

    fn validate(&self, profile: &Profile) -> Result<()> {
        let s = parse_settings::<AzureConfig>(profile)?;
        s.validate().map_err(|e| {
            strato_core::Error::new(
                e.kind().clone(),
                strato_core::Operation::Configure,
                format!("profile {:?}: {}", profile.name, e.message()),
            )
            .with_field(e.field().unwrap_or("settings"))
        })
    }

    async fn connect(
        &self,
        profile: &Profile,
        _ctx: &ConnectContext,
    ) -> Result<Arc<dyn CloudConnector>> {
        let s = parse_settings::<AzureConfig>(profile)?;
        Ok(Arc::new(
            AzureConnector::connect(profile.owner.clone(), s).await?,
        ))
    }
}
