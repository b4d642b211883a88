//! The `azure` kind for the connector registry.

use crate::client::AzureConnector;
use crate::config::AzureConfig;
use serde::Deserialize;
use std::sync::Arc;
use strato_core::config::{Profile, parse_settings};
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{CloudConnector, Result, async_trait};

/// Parses the settings; a wrong type names its key (serde's message alone says only
/// "invalid type: string, expected a sequence").
fn config(profile: &Profile) -> Result<AzureConfig> {
    parse_settings::<AzureConfig>(profile).map_err(|e| {
        let culprit = profile.settings.iter().find(|(k, v)| {
            let one = toml::Table::from_iter([((*k).clone(), (*v).clone())]);
            <AzureConfig as Deserialize>::deserialize(toml::Value::Table(one)).is_err()
        });
        match culprit {
            Some((k, _)) => strato_core::Error::new(
                e.kind().clone(),
                strato_core::Operation::Configure,
                format!("{} (azure setting {k:?})", e.message()),
            )
            .with_field(k),
            None => e,
        }
    })
}

/// Makes `azure` connectors from profiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct AzureFactory;

#[async_trait]
impl ConnectorFactory for AzureFactory {
    fn kind(&self) -> &'static str {
        crate::CLOUD
    }

    fn validate(&self, profile: &Profile) -> Result<()> {
        let s = config(profile)?;
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
        let s = config(profile)?;
        Ok(Arc::new(
            AzureConnector::connect(profile.owner.clone(), s).await?,
        ))
    }
}
