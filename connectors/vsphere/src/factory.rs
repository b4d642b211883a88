//! The `vsphere` kind of the connector registry.

use crate::client::VsphereConnector;
use crate::config::VsphereConfig;
use std::path::Path;
use std::sync::Arc;
use strato_core::config::{Profile, parse_settings};
use strato_core::registry::{ConnectContext, ConnectorFactory};
use strato_core::{CloudConnector, Result, async_trait};

/// Builds [`VsphereConnector`]s from `kind = "vsphere"` profiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct VsphereFactory;

fn config(profile: &Profile) -> Result<VsphereConfig> {
    let cfg: VsphereConfig = parse_settings(profile)?;
    cfg.validate()?;
    Ok(cfg)
}

fn resolve(base: &Path, p: &mut Option<std::path::PathBuf>) {
    if let Some(path) = p
        && path.is_relative()
    {
        *path = base.join(&*path);
    }
}

#[async_trait]
impl ConnectorFactory for VsphereFactory {
    fn kind(&self) -> &'static str {
        crate::CLOUD
    }

    fn validate(&self, profile: &Profile) -> Result<()> {
        config(profile).map(|_| ())
    }

    async fn connect(
        &self,
        profile: &Profile,
        ctx: &ConnectContext,
    ) -> Result<Arc<dyn CloudConnector>> {
        let mut cfg = config(profile)?;
        resolve(&ctx.data_dir, &mut cfg.ca_file);
        resolve(&ctx.data_dir, &mut cfg.password_file);
        Ok(Arc::new(
            VsphereConnector::connect(cfg, profile.owner.clone()).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strato_core::config::Config;

    #[test]
    fn validates_profiles_without_the_network() {
        let c = Config::parse(
            "[profiles.lab]\nkind = \"vsphere\"\nurl = \"https://vc.lab/sdk\"\ninsecure = true\n\
             [profiles.bad]\nkind = \"vsphere\"\nurl = \"https://vc.lab/sdk\"\nfodler = \"vm/x\"\n",
            None,
        )
        .unwrap();
        VsphereFactory
            .validate(c.profile(Some("lab")).unwrap())
            .unwrap();
        let e = VsphereFactory
            .validate(c.profile(Some("bad")).unwrap())
            .unwrap_err();
        assert!(
            e.to_string().contains("bad") && e.to_string().contains("fodler"),
            "{e}"
        );
    }
}
