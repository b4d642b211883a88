//! The `store = { kind = "etcd", ... }` table of the controller's configuration.
//!
//! ```toml
//! [controller]
//! store = { kind = "etcd", endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"], prefix = "/strato" }
//! # username = "strato", password_env = "STRATO_ETCD_PASSWORD" (or password = "..."),
//! # ca_cert = "etcd-ca.pem", client_cert = "etcd-client.pem", client_key = "etcd-client.key",
//! # timeout = "5s", lease_ttl = "10s"   (the leader's lease: a dead leader is replaced after it)
//! ```

use super::EtcdOptions;
use crate::error::{ControllerError, Result};
use crate::secret::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The only kind a store table has today (a path string is the redb file, "memory" memory).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// etcd's v3 API.
    Etcd,
}

/// The etcd store's settings, as written.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EtcdSection {
    /// `etcd`.
    pub kind: StoreKind,
    /// Client URLs of the cluster's members.
    pub endpoints: Vec<String>,
    /// Key prefix of this controller fleet.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// etcd user, when etcd's auth is on.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password (prefer `password_env`: a file is read by more people than an environment).
    #[serde(default)]
    pub password: Option<String>,
    /// Environment variable holding the password (used when `password` is absent).
    #[serde(default)]
    pub password_env: Option<String>,
    /// PEM CA certificate of etcd's TLS (relative to the configuration file).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate, for etcd's client-certificate auth.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// Its key.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Time limit of one etcd request.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// TTL of the leader's lease (whole seconds, at least 2).
    #[serde(default = "default_lease_ttl", with = "humantime_serde")]
    pub lease_ttl: Duration,
}

fn default_lease_ttl() -> Duration {
    Duration::from_secs(10)
}

fn default_prefix() -> String {
    "/strato".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl std::fmt::Debug for EtcdSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a secret: say only whether there is one.
        f.debug_struct("EtcdSection")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_env", &self.password_env)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("timeout", &self.timeout)
            .field("lease_ttl", &self.lease_ttl)
            .finish()
    }
}

impl EtcdSection {
    /// The options to connect with: paths resolved by `resolve`, the password read from
    /// `password_env` when the file has none.
    pub fn options(&self, resolve: impl Fn(&Path) -> PathBuf) -> Result<EtcdOptions> {
        if self.endpoints.is_empty() {
            return Err(ControllerError::invalid(
                "controller.store.endpoints",
                "at least one etcd endpoint",
            ));
        }
        if !self.prefix.starts_with('/') || self.prefix.len() < 2 {
            return Err(ControllerError::invalid(
                "controller.store.prefix",
                format!("{:?}: a key prefix such as \"/strato\"", self.prefix),
            ));
        }
        if self.lease_ttl < Duration::from_secs(2) {
            return Err(ControllerError::invalid(
                "controller.store.lease_ttl",
                "lease_ttl must be at least 2s (etcd counts whole seconds)",
            ));
        }
        let password = match (&self.password, &self.password_env) {
            (Some(p), _) => Some(Secret::new(p.clone())),
            (None, Some(var)) => Some(Secret::new(std::env::var(var).map_err(|_| {
                ControllerError::invalid(
                    "controller.store.password_env",
                    format!("{var} is not set"),
                )
            })?)),
            (None, None) => None,
        };
        if password.is_some() && self.username.is_none() {
            return Err(ControllerError::invalid(
                "controller.store.username",
                "a password needs its username",
            ));
        }
        Ok(EtcdOptions {
            endpoints: self.endpoints.clone(),
            prefix: self.prefix.trim_end_matches('/').to_owned(),
            username: self.username.clone(),
            password,
            ca_cert: self.ca_cert.as_deref().map(&resolve),
            client_cert: self.client_cert.as_deref().map(&resolve),
            client_key: self.client_key.as_deref().map(&resolve),
            timeout: self.timeout,
            lease_ttl: self.lease_ttl,
        })
    }
}

/// `store` in `[controller]`: a path (or "memory"), or a store table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSetting {
    /// `memory`, or the redb file's path.
    Named(String),
    /// `{ kind = "etcd", ... }`.
    Etcd(EtcdSection),
}

impl<'de> Deserialize<'de> for StoreSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        // Read the value first, then the shape it has, so that a mistake in the table is
        // reported as such (an untagged enum would only say "no variant matched").
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(Self::Named(s)),
            v @ toml::Value::Table(_) => v
                .try_into()
                .map(Self::Etcd)
                .map_err(|e: toml::de::Error| D::Error::custom(format!("store: {}", e.message()))),
            other => Err(D::Error::custom(format!(
                "store: a path, \"memory\" or a table {{ kind = \"etcd\", ... }}, not {}",
                other.type_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ControllerConfig, StoreLocation};
    use std::path::Path;

    const TEXT: &str = r#"
        default_profile = "mem"
        [controller]
        store = { kind = "etcd", endpoints = ["http://127.0.0.1:2379"], username = "strato", password = "hunter2", ca_cert = "etcd-ca.pem" }
        [profiles.mem]
        kind = "memory"
    "#;

    #[test]
    fn an_etcd_table_selects_etcd_and_never_shows_its_password() {
        let src = Path::new("/etc/strato/controller.toml");
        let c = ControllerConfig::parse(TEXT, Some(src)).unwrap();
        let StoreLocation::Etcd(o) = c.store(Some(src)).unwrap() else {
            panic!("not etcd")
        };
        assert_eq!(o.endpoints, ["http://127.0.0.1:2379"]);
        assert_eq!(o.prefix, "/strato", "the default prefix");
        assert_eq!(
            o.ca_cert.as_deref(),
            Some(Path::new("/etc/strato/etcd-ca.pem"))
        );
        assert_eq!(o.password.as_ref().unwrap().expose(), "hunter2");
        for shown in [format!("{:?}", c.controller), format!("{o:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn mistakes_in_the_table_name_the_field() {
        let e = ControllerConfig::parse(&TEXT.replace("kind = \"etcd\"", "kind = \"zk\""), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("zk") && e.contains("etcd"), "{e}");
        let e = ControllerConfig::parse(&TEXT.replace("username", "user"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("user"), "{e}");
        let c =
            ControllerConfig::parse(&TEXT.replace("\"http://127.0.0.1:2379\"", ""), None).unwrap();
        let e = c.store(None).unwrap_err();
        assert_eq!(e.field(), Some("controller.store.endpoints"), "{e}");
        let e = ControllerConfig::parse(&TEXT.replace("store = {", "store = 3 #"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("memory"), "{e}");
    }
}
