//! Registers the memory cloud with strato's connector registry.

use crate::{MemoryConfig, MemoryConnector};
use std::sync::Arc;
use strato_core::config::{Profile, parse_settings};
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{CloudConnector, Result, async_trait};

/// Makes memory connectors from profiles of `kind = "memory"`.
///
/// A relative `state_file` is resolved against strato's data directory. Without a `state_file`,
/// the account lives in `DATA_DIR/memory-ACCOUNT.json` when there is a data directory (so
/// successive CLI invocations, and profiles naming the same account, share it), and in the
/// process only when there is none.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryFactory;

impl MemoryFactory {
    /// The settings of a profile, with the state file resolved.
    pub fn config(profile: &Profile, ctx: &ConnectContext) -> Result<MemoryConfig> {
        let mut s: MemoryConfig = parse_settings(profile)?;
        s.validate()?;
        let data_dir = &ctx.data_dir;
        s.state_file = match s.state_file.take() {
            Some(p) if p.is_relative() && !data_dir.as_os_str().is_empty() => {
                Some(data_dir.join(p))
            }
            Some(p) => Some(p),
            None if !data_dir.as_os_str().is_empty() => {
                Some(data_dir.join(format!("memory-{}.json", s.account)))
            }
            None => None,
        };
        Ok(s)
    }
}

#[async_trait]
impl ConnectorFactory for MemoryFactory {
    fn kind(&self) -> &'static str {
        crate::CLOUD
    }

    fn validate(&self, profile: &Profile) -> Result<()> {
        parse_settings::<MemoryConfig>(profile)?.validate()
    }

    async fn connect(
        &self,
        profile: &Profile,
        ctx: &ConnectContext,
    ) -> Result<Arc<dyn CloudConnector>> {
        let settings = Self::config(profile, ctx)?;
        Ok(Arc::new(MemoryConnector::from_settings(
            settings,
            profile.owner.clone(),
        )?))
    }
}
