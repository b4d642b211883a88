//! Where the configuration and the data live, which profile a command uses, and connecting to it.

use crate::error::{CliError, CliResult};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strato_core::config::{CONFIG_ENV, Config, DEFAULT_OWNER, Defaults, Profile};
use strato_core::layers::LayerConfig;
use strato_core::registry::{ConnectContext, Registry};
use strato_core::{CloudConnector, OwnerId, Size};

/// Environment variable overriding the data directory (the local memory cloud's state lives there).
pub const DATA_DIR_ENV: &str = "STRATO_DATA_DIR";

/// Name of the embedded memory profile, present unless the configuration defines one of that name.
pub const LOCAL_PROFILE: &str = "local";
/// Image of new VMs on the local profile.
pub const LOCAL_IMAGE: &str = "strato-se";
/// Size of new VMs on the local profile.
pub const LOCAL_SIZE: &str = "1x1g";

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "strato", "strato")
}

/// The configuration file to read: `--config` / `STRATO_CONFIG` (which must exist), else
/// `config.toml` in the user's config directory when it exists.
fn config_path(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return Some((p.to_path_buf(), true));
    }
    let p = dirs()?.config_dir().join("config.toml");
    p.exists().then_some((p, false))
}

/// The data directory: `STRATO_DATA_DIR`, else the user's data directory.
pub fn data_dir() -> CliResult<PathBuf> {
    if let Some(d) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    dirs().map(|d| d.data_dir().to_path_buf()).ok_or_else(|| {
        CliError::input(format!(
            "cannot tell the user's data directory (no home directory); set {DATA_DIR_ENV}"
        ))
    })
}

/// The embedded memory cloud: works with no configuration at all, and its image, size and
/// network have defaults so `strato group scale web --size 3` works out of the box.
pub fn local_profile() -> Profile {
    Profile {
        name: LOCAL_PROFILE.into(),
        kind: strato_memory::CLOUD.into(),
        owner: OwnerId::new(DEFAULT_OWNER).expect("valid owner"),
        defaults: Defaults {
            image: Some(LOCAL_IMAGE.into()),
            size: Some(LOCAL_SIZE.parse::<Size>().expect("valid size")),
            network: Some(strato_memory::DEFAULT_NETWORK.into()),
        },
        layers: LayerConfig::default(),
        settings: toml::Table::new(),
    }
}

/// Reads a configuration file. Syntax errors are reported by line and column only: the TOML
/// parser's own message quotes the offending line, which may hold a credential.
fn load_config(path: &Path) -> CliResult<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("config {}: cannot read: {e}", path.display())))?;
    if let Err(e) = text.parse::<toml::Table>() {
        let at = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" at line {line}, column {col}")
            })
            .unwrap_or_default();
        return Err(CliError::input(format!(
            "config {}: invalid TOML{at}: {}",
            path.display(),
            e.message()
        )));
    }
    Ok(Config::parse(&text, Some(path))?)
}

/// The configuration with the local profile added, and where it came from.
#[derive(Debug)]
pub struct Profiles {
    /// Every profile, the local one included.
    pub config: Config,
    /// The profile used when none is named.
    pub default: String,
}

impl Profiles {
    /// Loads the configuration (`--config`, `STRATO_CONFIG` or the user's config file).
    pub fn load(explicit: Option<&Path>) -> CliResult<Self> {
        let mut config = match config_path(explicit) {
            Some((path, must_exist)) => {
                if must_exist && !path.exists() {
                    return Err(CliError::input(format!(
                        "config {}: no such file (named by --config or {CONFIG_ENV})",
                        path.display()
                    )));
                }
                load_config(&path)?
            }
            None => Config::default(),
        };
        config
            .profiles
            .entry(LOCAL_PROFILE.into())
            .or_insert_with(local_profile);
        let default = config
            .default_profile
            .clone()
            .unwrap_or_else(|| LOCAL_PROFILE.into());
        Ok(Self { config, default })
    }

    /// The profile `name`, or the default one.
    pub fn get(&self, name: Option<&str>) -> CliResult<&Profile> {
        Ok(self.config.profile(Some(name.unwrap_or(&self.default)))?)
    }
}

/// Builds the layered connector of a profile.
pub async fn connect(
    registry: &Registry,
    profile: &Profile,
    data_dir: PathBuf,
) -> CliResult<Arc<dyn CloudConnector>> {
    let ctx = ConnectContext { data_dir };
    Ok(registry.connect(profile, &ctx).await?)
}
