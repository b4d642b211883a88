//! Builds a layered `Arc<dyn CloudConnector>` from a profile.
//!
//! Each connector crate provides a [`ConnectorFactory`] for its kind; the CLI (and the controller)
//! register the factories of the connectors compiled in (cargo features) and ask the registry for
//! a connector by profile. The core stays free of cloud SDKs.

use crate::config::{Config, Profile};
use crate::connector::CloudConnector;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::layers;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a connector may keep local state (the memory cloud's file, vSphere's IPAM cache...).
#[derive(Clone, Debug, Default)]
pub struct ConnectContext {
    /// strato's data directory (relative paths in settings are resolved against it).
    pub data_dir: PathBuf,
}

/// Makes connectors of one kind.
#[async_trait]
pub trait ConnectorFactory: Send + Sync + Debug {
    /// The kind, as written in `kind = "..."`.
    fn kind(&self) -> &'static str;
    /// Checks a profile's settings without touching the network (run at load for every profile).
    fn validate(&self, profile: &Profile) -> Result<()>;
    /// Builds the bare connector (the registry adds the layers).
    async fn connect(
        &self,
        profile: &Profile,
        ctx: &ConnectContext,
    ) -> Result<Arc<dyn CloudConnector>>;
}

/// Factories by kind.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    factories: BTreeMap<&'static str, Arc<dyn ConnectorFactory>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a factory (replacing one of the same kind).
    pub fn register(&mut self, factory: Arc<dyn ConnectorFactory>) -> &mut Self {
        self.factories.insert(factory.kind(), factory);
        self
    }

    /// The kinds compiled in.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.keys().copied().collect()
    }

    fn factory(&self, profile: &Profile) -> Result<&Arc<dyn ConnectorFactory>> {
        self.factories.get(profile.kind.as_str()).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidSpec,
                Operation::Configure,
                format!(
                    "profile {:?}: field \"kind\": {:?} is not a connector compiled into this build (available: {})",
                    profile.name,
                    profile.kind,
                    self.kinds().join(", ")
                ),
            )
            .with_field("kind")
        })
    }

    /// Checks every profile of a configuration: known kind, valid settings.
    pub fn validate(&self, config: &Config) -> Result<()> {
        for p in config.profiles.values() {
            let e = match self.factory(p) {
                Ok(f) => f.validate(p),
                Err(e) => Err(e),
            };
            e.map_err(|e| match &config.source {
                Some(src) => Error::new(
                    e.kind().clone(),
                    Operation::Configure,
                    format!("config {}: {}", src.display(), e.message()),
                ),
                None => e,
            })?;
        }
        Ok(())
    }

    /// Builds the connector of a profile, wrapped in the profile's layers.
    pub async fn connect(
        &self,
        profile: &Profile,
        ctx: &ConnectContext,
    ) -> Result<Arc<dyn CloudConnector>> {
        let f = self.factory(profile)?;
        f.validate(profile)?;
        let bare = f.connect(profile, ctx).await?;
        Ok(layers::stack(bare, &profile.layers))
    }
}
