//! The configuration file of `controller run`.
//!
//! ```toml
//! default_profile = "lab"            # strato's own profile format, inline (top-level keys
//!                                    # come before the first table in TOML)
//! [controller]
//! api_listen = "127.0.0.1:8080"      # REST API and agent protocol
//! dns_listen = "127.0.0.1:5353"      # authoritative DNS (UDP and TCP)
//! token = "change-me"                # admin bearer token of the API (or token_env); required
//!                                    # unless `controller run --insecure` on a loopback address
//! # metrics_auth = true              # /metrics needs the token (the default with a token)
//! # tls_cert = "tls/api.crt"         # serve the API over TLS: PEM chain and key (relative to
//! # tls_key = "tls/api.key"          # this file); both or neither
//! store = "/var/lib/strato/controller.redb"   # default: controller.redb in the data
//!                                    # directory ($STRATO_DATA_DIR, else the user's); "memory"
//!                                    # keeps nothing across a restart; several
//!                                    # controllers share etcd instead:
//! # store = { kind = "etcd", endpoints = ["http://10.0.0.1:2379"], prefix = "/strato" }
//!                                    # (store::EtcdSection: auth, TLS, timeout)
//! report_interval = "10s"
//! missed_reports = 6
//! max_ses_per_group = 1000           # a group's max_ses above it is refused
//! creates_per_pass = 10              # SE creates one group reconcile issues at most
//! # profiles = "/etc/strato/strato.toml"   # strato's profiles file, when not inline below
//!
//! [profiles.lab]
//! kind = "memory"
//!
//! [[ipam_pools]]                     # desired-state bootstrap, applied at start
//! name = "default"
//! network = "default"
//! cidr = "10.10.0.0/24"
//! ```

use crate::api::ApiOptions;
use crate::controller::ControllerOptions;
use crate::error::{ControllerError, Result};
use crate::model::DesiredState;
use crate::secret::Secret;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the controller keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// In memory (lost at exit).
    Memory,
    /// A redb file.
    File(PathBuf),
    /// etcd, shared by several controllers.
    Etcd(crate::store::EtcdOptions),
}

/// The `[controller]` section.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerSection {
    /// API listen address.
    #[serde(default = "default_api")]
    pub api_listen: SocketAddr,
    /// DNS listen address; no DNS server when absent.
    #[serde(default)]
    pub dns_listen: Option<SocketAddr>,
    /// Bearer token of the API.
    #[serde(default)]
    pub token: Option<String>,
    /// Environment variable holding the token (used when `token` is absent).
    #[serde(default)]
    pub token_env: Option<String>,
    /// `/metrics` needs the token; true by default when there is a token (the metrics name
    /// every service). `false` leaves it public for a scraper without the token.
    #[serde(default)]
    pub metrics_auth: Option<bool>,
    /// PEM certificate chain of the API's TLS (the server's certificate first); with
    /// `tls_key`, the API is served over HTTPS only.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// `memory`, a file path, or an etcd table; `controller.redb` in the data directory when
    /// absent ([`default_data_dir`]).
    #[serde(default)]
    pub store: Option<crate::store::StoreSetting>,
    /// Agent report interval.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub report_interval: Duration,
    /// Reports an SE may miss.
    #[serde(default = "default_missed")]
    pub missed_reports: u32,
    /// strato's profiles file, when profiles are not inline.
    #[serde(default)]
    pub profiles: Option<PathBuf>,
    /// Most SEs one group may have (1 to [`crate::model::MAX_SES_CEILING`]).
    #[serde(default = "default_max_ses_per_group")]
    pub max_ses_per_group: u32,
    /// Most SE creates one reconcile of one group issues (at least 1).
    #[serde(default = "default_creates_per_pass")]
    pub creates_per_pass: u32,
    /// The controllers' API URLs each new SE's first-boot document names (its agent tries
    /// them in turn); default: this controller's own API URL, which a real cloud's SEs can
    /// reach only when `api_listen` is an address they route to.
    #[serde(default)]
    pub agent_controllers: Vec<String>,
    /// PEM file of the CA the SEs' agents trust for the API (relative to this file); default,
    /// when the API uses TLS: `tls_cert` itself (a chain that ends with its CA, or a
    /// self-signed certificate).
    #[serde(default)]
    pub agent_ca_file: Option<PathBuf>,
    /// What runs on the memory cloud's SEs: `simulated` agents (the default), `process`
    /// (a real `strato-agent` with HAProxy per SE), or `off`.
    #[serde(default)]
    pub memory_agents: crate::fleet::MemoryAgents,
    /// The `strato-agent` binary of the process mode (looked up in PATH when a bare name).
    #[serde(default = "default_agent_bin")]
    pub memory_agent_bin: PathBuf,
    /// The `haproxy` binary the process mode's agents run.
    #[serde(default = "default_haproxy_bin")]
    pub memory_haproxy_bin: PathBuf,
}

fn default_agent_bin() -> PathBuf {
    "strato-agent".into()
}
fn default_haproxy_bin() -> PathBuf {
    "haproxy".into()
}

impl std::fmt::Debug for ControllerSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say only whether there is one.
        f.debug_struct("ControllerSection")
            .field("api_listen", &self.api_listen)
            .field("dns_listen", &self.dns_listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_env", &self.token_env)
            .field("metrics_auth", &self.metrics_auth)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("store", &self.store)
            .field("report_interval", &self.report_interval)
            .field("missed_reports", &self.missed_reports)
            .field("profiles", &self.profiles)
            .field("max_ses_per_group", &self.max_ses_per_group)
            .field("creates_per_pass", &self.creates_per_pass)
            .field("agent_controllers", &self.agent_controllers)
            .field("agent_ca_file", &self.agent_ca_file)
            .field("memory_agents", &self.memory_agents)
            .field("memory_agent_bin", &self.memory_agent_bin)
            .field("memory_haproxy_bin", &self.memory_haproxy_bin)
            .finish()
    }
}

fn default_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_missed() -> u32 {
    6
}
fn default_max_ses_per_group() -> u32 {
    crate::model::DEFAULT_MAX_SES_PER_GROUP
}
fn default_creates_per_pass() -> u32 {
    ControllerOptions::default().creates_per_pass
}

/// A loaded configuration.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The `[controller]` section.
    pub controller: ControllerSection,
    /// strato's cloud profiles.
    pub strato: strato_core::config::Config,
    /// The desired state to apply at start.
    pub bootstrap: DesiredState,
}

impl ControllerConfig {
    /// Parses the file's text; `source` is used in messages and to resolve relative paths.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Self> {
        let at = source
            .map(|p| format!("{}: ", p.display()))
            .unwrap_or_default();
        let mut root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ControllerError::Config(format!("{at}{e}")))?;
        let section = root
            .remove("controller")
            .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        let controller: ControllerSection = section.try_into().map_err(|e: toml::de::Error| {
            ControllerError::Config(format!("{at}[controller]: {}", e.message()))
        })?;
        if controller.missed_reports == 0 {
            return Err(ControllerError::invalid(
                "controller.missed_reports",
                "missed_reports must be at least 1",
            ));
        }
        if controller.tls_cert.is_some() != controller.tls_key.is_some() {
            let missing = if controller.tls_cert.is_some() {
                "controller.tls_key"
            } else {
                "controller.tls_cert"
            };
            return Err(ControllerError::invalid(
                missing,
                "tls_cert and tls_key go together (the certificate chain and its key)",
            ));
        }
        if !(1..=crate::model::MAX_SES_CEILING).contains(&controller.max_ses_per_group) {
            return Err(ControllerError::invalid(
                "controller.max_ses_per_group",
                format!(
                    "max_ses_per_group {} must be 1 to {}",
                    controller.max_ses_per_group,
                    crate::model::MAX_SES_CEILING
                ),
            ));
        }
        if controller.creates_per_pass == 0 {
            return Err(ControllerError::invalid(
                "controller.creates_per_pass",
                "creates_per_pass must be at least 1",
            ));
        }
        if controller.report_interval < Duration::from_secs(1) {
            return Err(ControllerError::invalid(
                "controller.report_interval",
                "report_interval must be at least 1s",
            ));
        }
        let mut desired = toml::Table::new();
        for k in ["se_groups", "virtual_services", "ipam_pools", "dns_zones"] {
            if let Some(v) = root.remove(k) {
                desired.insert(k.to_owned(), v);
            }
        }
        let bootstrap: DesiredState =
            toml::Value::Table(desired)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ControllerError::Config(format!("{at}desired state: {}", e.message()))
                })?;
        let strato = if !root.is_empty() {
            let rest =
                toml::to_string(&root).map_err(|e| ControllerError::Config(e.to_string()))?;
            strato_core::config::Config::parse(&rest, source)
                .map_err(|e| ControllerError::Config(e.to_string()))?
        } else if let Some(p) = &controller.profiles {
            let p = resolve(source, p);
            strato_core::config::Config::load(&p)
                .map_err(|e| ControllerError::Config(e.to_string()))?
        } else if let Some(p) = std::env::var_os(strato_core::config::CONFIG_ENV) {
            strato_core::config::Config::load(Path::new(&p))
                .map_err(|e| ControllerError::Config(e.to_string()))?
        } else {
            return Err(ControllerError::Config(format!(
                "{at}no cloud profiles: add [profiles.NAME] here, set controller.profiles, or set {}",
                strato_core::config::CONFIG_ENV
            )));
        };
        for (i, g) in bootstrap.se_groups.iter().enumerate() {
            g.validate_within(controller.max_ses_per_group)
                .map_err(|e| match e {
                    ControllerError::Invalid { field, message } => {
                        ControllerError::invalid(&format!("se_groups[{i}].{field}"), message)
                    }
                    other => other,
                })?;
            if !strato.profiles.contains_key(&g.cloud) {
                return Err(ControllerError::invalid(
                    &format!("se_groups[{i}].cloud"),
                    format!("profile {:?} is not defined", g.cloud),
                ));
            }
        }
        Ok(Self {
            controller,
            strato,
            bootstrap,
        })
    }

    /// Reads a file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ControllerError::Config(format!("{}: {e}", path.display())))?;
        Self::parse(&text, Some(path))
    }

    /// The API token: `token`, else the variable `token_env` names.
    pub fn token(&self) -> Option<String> {
        self.controller
            .token
            .clone()
            .or_else(|| {
                self.controller
                    .token_env
                    .as_ref()
                    .and_then(|v| std::env::var(v).ok())
            })
            .filter(|t| !t.is_empty())
    }

    /// How the API authenticates, from the token and `--insecure`: a token is required,
    /// unless `insecure` and the API listens on a loopback address, where nothing is checked
    /// (the caller warns). Refusals say what to do.
    pub fn api_options(&self, insecure: bool) -> Result<ApiOptions> {
        let c = &self.controller;
        if let Some(t) = self.token() {
            return Ok(ApiOptions {
                token: Some(Secret::new(t)),
                metrics_auth: c.metrics_auth.unwrap_or(true),
            });
        }
        let unset = c
            .token_env
            .as_ref()
            .map(|v| format!(" (token_env names {v}, which is not set)"))
            .unwrap_or_default();
        if !insecure {
            return Err(ControllerError::Config(format!(
                "the API needs a token{unset}: set `token` or `token_env` in [controller] \
                 (clients pass it with --token or STRATO_CONTROLLER_TOKEN); only for \
                 development on a loopback address, `controller run --insecure` runs without one"
            )));
        }
        if !c.api_listen.ip().is_loopback() {
            return Err(ControllerError::Config(format!(
                "--insecure serves the API without authentication, which is allowed only on a \
                 loopback address, and api_listen is {}: set a token{unset}",
                c.api_listen
            )));
        }
        if c.metrics_auth == Some(true) {
            return Err(ControllerError::invalid(
                "controller.metrics_auth",
                "metrics_auth = true needs a token, and --insecure runs without one",
            ));
        }
        Ok(ApiOptions::insecure())
    }

    /// What new SEs are told about their controllers: `agent_controllers`, else this
    /// controller's API at `api` (an unspecified address, like 0.0.0.0, as loopback: set
    /// `agent_controllers` for SEs on other machines); and the CA they trust, when the API
    /// uses TLS.
    pub fn agent_endpoint(
        &self,
        source: Option<&Path>,
        api: SocketAddr,
    ) -> Result<crate::controller::AgentEndpoint> {
        let c = &self.controller;
        let tls = self.tls_files(source);
        let controllers = if c.agent_controllers.is_empty() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let mut a = api;
            if a.ip().is_unspecified() {
                a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            vec![format!("{scheme}://{a}")]
        } else {
            c.agent_controllers.clone()
        };
        let ca_file = match (&c.agent_ca_file, tls) {
            (Some(f), _) => Some(resolve(source, f)),
            (None, Some((cert, _))) => Some(cert),
            (None, None) => None,
        };
        let ca_pem = ca_file
            .map(|f| {
                std::fs::read_to_string(&f).map_err(|e| {
                    ControllerError::Config(format!("agent_ca_file {}: {e}", f.display()))
                })
            })
            .transpose()?;
        Ok(crate::controller::AgentEndpoint {
            controllers,
            ca_pem,
        })
    }

    /// The API's TLS certificate and key files, resolved against the configuration's
    /// directory; `None` serves plain HTTP.
    pub fn tls_files(&self, source: Option<&Path>) -> Option<(PathBuf, PathBuf)> {
        let c = &self.controller;
        Some((
            resolve(source, c.tls_cert.as_deref()?),
            resolve(source, c.tls_key.as_deref()?),
        ))
    }

    /// Where the store lives: `store` (relative to the configuration file), else
    /// [`DEFAULT_STORE_FILE`] in the data directory. A controller that forgot its records at
    /// every restart would leak the VIPs it had allocated and adopt its SEs again by their
    /// tags, so memory is only ever asked for.
    pub fn store(&self, source: Option<&Path>) -> Result<StoreLocation> {
        self.store_in(source, default_data_dir())
    }

    fn store_in(&self, source: Option<&Path>, data_dir: Option<PathBuf>) -> Result<StoreLocation> {
        use crate::store::StoreSetting;
        match &self.controller.store {
            Some(StoreSetting::Named(m)) if m == "memory" => Ok(StoreLocation::Memory),
            Some(StoreSetting::Named(p)) => Ok(StoreLocation::File(resolve(source, Path::new(p)))),
            Some(StoreSetting::Etcd(e)) => {
                Ok(StoreLocation::Etcd(e.options(|p| resolve(source, p))?))
            }
            None => data_dir
                .map(|d| StoreLocation::File(d.join(DEFAULT_STORE_FILE)))
                .ok_or_else(|| {
                    ControllerError::Config(format!(
                        "cannot tell the user's data directory (no home directory): set \
                         controller.store, or {DATA_DIR_ENV}"
                    ))
                }),
        }
    }

    /// Controller options from the section.
    pub fn options(&self) -> ControllerOptions {
        ControllerOptions {
            report_interval: self.controller.report_interval,
            missed_reports: self.controller.missed_reports,
            resync: self.controller.report_interval,
            max_ses_per_group: self.controller.max_ses_per_group,
            creates_per_pass: self.controller.creates_per_pass,
            ..ControllerOptions::default()
        }
    }
}

/// The environment variable naming the data directory (the strato CLI keeps its local memory
/// cloud there too).
pub const DATA_DIR_ENV: &str = "STRATO_DATA_DIR";

/// The file name of the store in the data directory, when the configuration names none.
pub const DEFAULT_STORE_FILE: &str = "controller.redb";

/// The data directory: `STRATO_DATA_DIR`, else the user's data directory (the strato CLI's:
/// `~/.local/share/strato` on Linux); `None` without a home directory.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("dev", "strato", "strato").map(|d| d.data_dir().to_path_buf())
}

fn resolve(source: Option<&Path>, p: &Path) -> PathBuf {
    match source.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
        default_profile = "mem"

        [controller]
        api_listen = "127.0.0.1:0"
        dns_listen = "127.0.0.1:0"
        token = "s3cret"
        store = "state/controller.redb"
        report_interval = "5s"

        [profiles.mem]
        kind = "memory"

        [[ipam_pools]]
        name = "default"
        network = "default"
        cidr = "10.10.0.0/24"

        [[dns_zones]]
        name = "apps.example.com"

        [[se_groups]]
        name = "web"
        cloud = "mem"
        max_ses = 4
        template = { size = "2x4g", image = "se-1" }
        capacity = { rps = 1000.0, connections = 10000 }
    "#;

    #[test]
    fn parses_sections_profiles_and_bootstrap() {
        let c =
            ControllerConfig::parse(TEXT, Some(Path::new("/etc/strato/controller.toml"))).unwrap();
        assert_eq!(c.token().as_deref(), Some("s3cret"));
        assert_eq!(
            c.store(Some(Path::new("/etc/strato/controller.toml")))
                .unwrap(),
            StoreLocation::File("/etc/strato/state/controller.redb".into())
        );
        assert_eq!(c.options().report_interval, Duration::from_secs(5));
        assert_eq!(c.strato.profile(None).unwrap().kind, "memory");
        assert_eq!(c.bootstrap.se_groups[0].name, "web");
        assert!(
            !format!("{:?}", c.controller).contains("s3cret"),
            "the token never shows in Debug"
        );
    }

    #[test]
    fn the_default_store_is_a_file_in_the_data_directory_and_memory_must_be_asked_for() {
        let src = Some(Path::new("/etc/strato/controller.toml"));
        let c = ControllerConfig::parse(&TEXT.replace("store = ", "# store = "), src).unwrap();
        assert_eq!(
            c.store_in(src, Some("/data/strato".into())).unwrap(),
            StoreLocation::File("/data/strato/controller.redb".into()),
            "a restart keeps the records, IPAM and VIPs"
        );
        let e = c.store_in(src, None).unwrap_err().to_string();
        assert!(
            e.contains("controller.store") && e.contains(DATA_DIR_ENV),
            "{e}"
        );
        let c = ControllerConfig::parse(
            &TEXT.replace("\"state/controller.redb\"", "\"memory\""),
            src,
        )
        .unwrap();
        assert_eq!(
            c.store_in(src, Some("/data/strato".into())).unwrap(),
            StoreLocation::Memory
        );
    }

    #[test]
    fn sizes_are_bounded_by_a_configurable_limit_naming_the_field() {
        let c = ControllerConfig::parse(TEXT, None).unwrap();
        assert_eq!(
            c.options().max_ses_per_group,
            crate::model::DEFAULT_MAX_SES_PER_GROUP
        );
        let big = TEXT.replace("max_ses = 4", "max_ses = 5000");
        let e = ControllerConfig::parse(&big, None).unwrap_err();
        assert_eq!(e.field(), Some("se_groups[0].max_ses"), "{e}");
        let raised = big.replace("[controller]", "[controller]\nmax_ses_per_group = 5000");
        let c = ControllerConfig::parse(&raised, None).unwrap();
        assert_eq!(c.options().max_ses_per_group, 5000);
        for (line, field) in [
            ("max_ses_per_group = 0", "controller.max_ses_per_group"),
            (
                "max_ses_per_group = 4000000000",
                "controller.max_ses_per_group",
            ),
            ("creates_per_pass = 0", "controller.creates_per_pass"),
        ] {
            let bad = TEXT.replace("[controller]", &format!("[controller]\n{line}"));
            let e = ControllerConfig::parse(&bad, None).unwrap_err();
            assert_eq!(e.field(), Some(field), "{line}: {e}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let bad = TEXT.replace("cloud = \"mem\"", "cloud = \"nope\"");
        let e = ControllerConfig::parse(&bad, None).unwrap_err();
        assert_eq!(e.field(), Some("se_groups[0].cloud"), "{e}");
        let bad = TEXT.replace("report_interval = \"5s\"", "report_intervall = \"5s\"");
        assert!(
            ControllerConfig::parse(&bad, None)
                .unwrap_err()
                .to_string()
                .contains("report_intervall")
        );
    }

    #[test]
    fn metrics_need_the_token_by_default_and_metrics_auth_false_opens_them() {
        let c = ControllerConfig::parse(TEXT, None).unwrap();
        let o = c.api_options(false).unwrap();
        assert_eq!(o.token.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(
            o.metrics_auth,
            "with a token, /metrics needs it unless told otherwise"
        );
        let open = TEXT.replace(
            "token = \"s3cret\"",
            "token = \"s3cret\"\nmetrics_auth = false",
        );
        let c = ControllerConfig::parse(&open, None).unwrap();
        assert!(!c.api_options(false).unwrap().metrics_auth);
        // Without a token (--insecure on loopback) there is nothing to require.
        let none = TEXT.replace("token = \"s3cret\"", "");
        let c = ControllerConfig::parse(&none, None).unwrap();
        assert!(c.api_options(false).is_err(), "no token, no --insecure");
        let o = c.api_options(true).unwrap();
        assert!(o.token.is_none() && !o.metrics_auth);
        let contradiction = TEXT.replace("token = \"s3cret\"", "metrics_auth = true");
        let e = ControllerConfig::parse(&contradiction, None)
            .unwrap()
            .api_options(true)
            .unwrap_err();
        assert_eq!(e.field(), Some("controller.metrics_auth"), "{e}");
    }

    #[test]
    fn tls_files_go_together_and_resolve_next_to_the_config() {
        let with = |extra: &str| TEXT.replace("token = \"s3cret\"", extra);
        let c = ControllerConfig::parse(
            &with("tls_cert = \"tls/a.crt\"\ntls_key = \"/keys/a.key\""),
            None,
        )
        .unwrap();
        assert_eq!(
            c.tls_files(Some(Path::new("/etc/strato/controller.toml"))),
            Some((
                PathBuf::from("/etc/strato/tls/a.crt"),
                PathBuf::from("/keys/a.key")
            ))
        );
        let e = ControllerConfig::parse(&with("tls_cert = \"a.crt\""), None).unwrap_err();
        assert_eq!(e.field(), Some("controller.tls_key"), "{e}");
        let e = ControllerConfig::parse(&with("tls_key = \"a.key\""), None).unwrap_err();
        assert_eq!(e.field(), Some("controller.tls_cert"), "{e}");
        assert_eq!(
            ControllerConfig::parse(TEXT, None).unwrap().tls_files(None),
            None
        );
    }
}
