//! The configuration file: named profiles, each a cloud kind plus that kind's settings.
//!
//! ```toml
//! default_profile = "lab"
//!
//! [profiles.lab]
//! kind = "aws"                 # which connector
//! owner = "team-a"             # ownership tag of everything this profile creates
//! region = "eu-west-1"         # from here on: settings of the `aws` kind
//!
//! [profiles.lab.defaults]      # used by the CLI when a command leaves them out
//! image = "ami-0abcdef1234567890"
//! size = "2x4g"                # a shape, or a native type such as "t3.micro"
//! network = "subnet-0123"
//!
//! [profiles.lab.retry]         # layers: retry, rate_limit, timeout, faults
//! max_attempts = 5
//! ```
//!
//! `defaults` is the one place for a profile's VM defaults: a kind's own settings hold no image
//! or size (an AWS AMI is `defaults.image`, an instance type `defaults.size`).
//!
//! Credentials come from each cloud's own chain (environment, profile files, instance roles),
//! never from this file unless the user puts them here.

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::layers::LayerConfig;
use crate::model::{OwnerId, Size};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "STRATO_CONFIG";

/// Owner of a profile that sets none.
pub const DEFAULT_OWNER: &str = "strato";

/// Defaults the CLI fills into specs a user leaves incomplete: the one place for a profile's VM
/// defaults (no kind has an image or size setting of its own).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Image of new VMs, in the cloud's own terms (an AWS AMI id, a vSphere template, a
    /// container image).
    pub image: Option<String>,
    /// Size of new VMs: a shape (`2x4g`) or a native type (`t3.micro`).
    pub size: Option<Size>,
    /// Network (id or name) of new VMs.
    pub network: Option<String>,
}

/// One named profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// Connector kind.
    pub kind: String,
    /// Owner of what this profile creates.
    pub owner: OwnerId,
    /// Spec defaults.
    pub defaults: Defaults,
    /// Layer settings.
    pub layers: LayerConfig,
    /// The kind's own settings (everything else in the profile table).
    pub settings: toml::Table,
}

/// A loaded configuration file.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Where it was read from (`None` when built in code).
    pub source: Option<PathBuf>,
    /// Profile used when none is named.
    pub default_profile: Option<String>,
    /// Profiles by name.
    pub profiles: BTreeMap<String, Profile>,
}

fn config_error(
    source: Option<&Path>,
    profile: Option<&str>,
    field: Option<&str>,
    msg: impl std::fmt::Display,
) -> Error {
    let mut s = String::from("config");
    if let Some(p) = source {
        s.push_str(&format!(" {}", p.display()));
    }
    if let Some(p) = profile {
        s.push_str(&format!(": profile {p:?}"));
    }
    if let Some(f) = field {
        s.push_str(&format!(": field {f:?}"));
    }
    s.push_str(&format!(": {msg}"));
    let e = Error::new(ErrorKind::InvalidSpec, Operation::Configure, s);
    match field {
        Some(f) => e.with_field(f),
        None => e,
    }
}

/// Deserializes one section of a profile, naming the file, profile and field on error.
fn section<T: DeserializeOwned>(
    source: Option<&Path>,
    profile: &str,
    field: &str,
    value: toml::Value,
) -> Result<T> {
    T::deserialize(value).map_err(|e| config_error(source, Some(profile), Some(field), e.message()))
}

impl Config {
    /// Parses a configuration from TOML text. `source` is only used in error messages.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Self> {
        // The parser's Display quotes the offending line, which may hold a secret: report the
        // position and the message only.
        let mut root: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e
                .span()
                .map(|sp| format!("line {}: ", text[..sp.start].matches('\n').count() + 1))
                .unwrap_or_default();
            config_error(source, None, None, format!("{at}{}", e.message()))
        })?;
        let default_profile = match root.remove("default_profile") {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => {
                return Err(config_error(
                    source,
                    None,
                    Some("default_profile"),
                    format!("expected a string, found {}", other.type_str()),
                ));
            }
        };
        let profiles_table = match root.remove("profiles") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(other) => {
                return Err(config_error(
                    source,
                    None,
                    Some("profiles"),
                    format!("expected a table, found {}", other.type_str()),
                ));
            }
        };
        if let Some(k) = root.keys().next() {
            return Err(config_error(
                source,
                None,
                Some(k),
                "unknown top-level key (expected default_profile or profiles)",
            ));
        }
        let mut profiles = BTreeMap::new();
        for (name, value) in profiles_table {
            let toml::Value::Table(mut t) = value else {
                return Err(config_error(
                    source,
                    Some(&name),
                    None,
                    "a profile must be a table",
                ));
            };
            let kind = match t.remove("kind") {
                Some(toml::Value::String(k)) => k,
                Some(_) => {
                    return Err(config_error(
                        source,
                        Some(&name),
                        Some("kind"),
                        "must be a string",
                    ));
                }
                None => {
                    return Err(config_error(
                        source,
                        Some(&name),
                        Some("kind"),
                        "missing (memory, aws, vsphere, kubernetes, ...)",
                    ));
                }
            };
            let owner = match t.remove("owner") {
                None => OwnerId::new(DEFAULT_OWNER)?,
                Some(toml::Value::String(o)) => OwnerId::new(o)
                    .map_err(|e| config_error(source, Some(&name), Some("owner"), e.message()))?,
                Some(_) => {
                    return Err(config_error(
                        source,
                        Some(&name),
                        Some("owner"),
                        "must be a string",
                    ));
                }
            };
            let defaults = match t.remove("defaults") {
                None => Defaults::default(),
                Some(v) => section(source, &name, "defaults", v)?,
            };
            let mut layer_table = toml::Table::new();
            for key in ["retry", "rate_limit", "timeout", "faults"] {
                if let Some(v) = t.remove(key) {
                    layer_table.insert(key.to_owned(), v);
                }
            }
            let layers: LayerConfig = section(
                source,
                &name,
                "retry/rate_limit/timeout/faults",
                toml::Value::Table(layer_table),
            )?;
            profiles.insert(
                name.clone(),
                Profile {
                    name,
                    kind,
                    owner,
                    defaults,
                    layers,
                    settings: t,
                },
            );
        }
        if let Some(d) = &default_profile
            && !profiles.contains_key(d)
        {
            return Err(config_error(
                source,
                None,
                Some("default_profile"),
                format!("names {d:?}, which is not a profile"),
            ));
        }
        Ok(Self {
            source: source.map(Path::to_path_buf),
            default_profile,
            profiles,
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(Some(path), None, None, format!("cannot read: {e}")))?;
        Self::parse(&text, Some(path))
    }

    /// The profile `name`, or the default one. Unknown names are an error listing the known ones.
    pub fn profile(&self, name: Option<&str>) -> Result<&Profile> {
        let name = name.or(self.default_profile.as_deref()).ok_or_else(|| {
            config_error(
                self.source.as_deref(),
                None,
                Some("default_profile"),
                "no profile named and no default_profile set",
            )
        })?;
        self.profiles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            config_error(
                self.source.as_deref(),
                Some(name),
                None,
                format!(
                    "no such profile (known: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .with_field("profile")
        })
    }
}

/// Parses a kind's settings into its own struct, naming the profile and field on error.
/// Connectors call this from their factory.
///
/// A bad value names its key (serde's message alone says only "invalid type: string, expected
/// a sequence"): the error's field is the path of the setting that failed.
pub fn parse_settings<T: DeserializeOwned>(profile: &Profile) -> Result<T> {
    serde_path_to_error::deserialize(toml::Value::Table(profile.settings.clone())).map_err(|e| {
        let path = e.path().to_string();
        let named = !path.is_empty() && path != ".";
        let message = if named {
            format!(
                "{} settings: {} ({} setting {path:?})",
                profile.kind,
                e.inner().message(),
                profile.kind
            )
        } else {
            format!("{} settings: {}", profile.kind, e.inner().message())
        };
        let err = config_error(None, Some(&profile.name), None, message);
        if named { err.with_field(&path) } else { err }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_profiles_with_layers_and_kind_settings() {
        let c = Config::parse(
            r#"
            default_profile = "a"
            [profiles.a]
            kind = "memory"
            owner = "team-a"
            state_file = "/tmp/x.json"
            timeout = "5s"
            [profiles.a.defaults]
            size = "2x4g"
            [profiles.a.retry]
            max_attempts = 3
            "#,
            Some(Path::new("strato.toml")),
        )
        .unwrap();
        let p = c.profile(None).unwrap();
        assert_eq!(p.kind, "memory");
        assert_eq!(p.owner.as_str(), "team-a");
        assert_eq!(p.layers.retry.max_attempts, 3);
        assert_eq!(p.layers.timeout, std::time::Duration::from_secs(5));
        assert_eq!(p.defaults.size, Some(Size::shape(2, 4096)));
        assert!(p.settings.contains_key("state_file") && !p.settings.contains_key("timeout"));
    }

    #[test]
    fn errors_name_file_profile_and_field() {
        let cases = [
            ("[profiles.a]\nowner = \"x\"", "kind"),
            (
                "[profiles.a]\nkind = \"memory\"\nowner = \"Bad Owner\"",
                "owner",
            ),
            (
                "[profiles.a]\nkind = \"memory\"\n[profiles.a.retry]\nmax_attempts = \"three\"",
                "retry",
            ),
            (
                "[profiles.a]\nkind = \"memory\"\n[profiles.a.defaults]\nsize = \"2x\"",
                "defaults",
            ),
            (
                "default_profile = \"b\"\n[profiles.a]\nkind = \"memory\"",
                "default_profile",
            ),
        ];
        for (text, field) in cases {
            let e = Config::parse(text, Some(Path::new("/etc/strato.toml"))).unwrap_err();
            let s = e.to_string();
            assert!(
                s.contains("/etc/strato.toml") && s.contains(field),
                "{text:?} -> {s}"
            );
        }
        let e = Config::parse("[profiles.a]\npassword = \"hunter2\" x", None).unwrap_err();
        assert!(
            e.to_string().contains("line 2") && !e.to_string().contains("hunter2"),
            "{e}"
        );
        let c = Config::parse("[profiles.a]\nkind = \"memory\"", None).unwrap();
        let e = c.profile(Some("nope")).unwrap_err();
        assert!(
            e.to_string().contains("nope") && e.to_string().contains("known: a"),
            "{e}"
        );
    }
}
