//! The `aws` kind for the connector registry.

use crate::client::AwsConnector;
use crate::config::AwsConfig;
use std::sync::Arc;
use strato_core::config::{Profile, parse_settings};
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{CloudConnector, Result, async_trait};

/// Makes `aws` connectors from profiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsFactory;

#[async_trait]
impl ConnectorFactory for AwsFactory {
    fn kind(&self) -> &'static str {
        crate::CLOUD
    }

    fn validate(&self, profile: &Profile) -> Result<()> {
        let s = parse_settings::<AwsConfig>(profile)?;
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
        let s = parse_settings::<AwsConfig>(profile)?;
        Ok(Arc::new(
            AwsConnector::connect(profile.owner.clone(), s).await?,
        ))
    }
}
