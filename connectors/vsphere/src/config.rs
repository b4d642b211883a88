//! Profile settings of the `vsphere` kind.

use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation, Result};

/// Environment variable holding the user name when the profile names none.
pub const USER_ENV: &str = "STRATO_VSPHERE_USER";
/// Environment variable holding the password when the profile names no `password_file`.
pub const PASSWORD_ENV: &str = "STRATO_VSPHERE_PASSWORD";
/// Environment variable holding the SDK URL for [`VsphereConfig::from_env`].
pub const URL_ENV: &str = "STRATO_VSPHERE_URL";

/// Settings of a vSphere profile. Every inventory path is relative to the datacenter, as in
/// the vSphere client's folder view (`vm/strato`, `host/cluster1/Resources/se`).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VsphereConfig {
    /// SDK endpoint, `https://vcenter.example.com/sdk` (a bare host gets `/sdk` appended).
    pub url: String,
    /// User name; `STRATO_VSPHERE_USER` when absent.
    #[serde(default)]
    pub user: Option<String>,
    /// File holding the password (first line); `STRATO_VSPHERE_PASSWORD` when absent.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Password set in code (never read from the profile file: use `password_file`).
    #[serde(skip)]
    pub password: Option<String>,
    /// Skip TLS certificate verification (labs with self-signed certificates only).
    #[serde(default)]
    pub insecure: bool,
    /// PEM file of extra CA certificates to trust (a lab's own CA, vCenter's VMCA root).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Datacenter name; may be left out when there is exactly one.
    #[serde(default)]
    pub datacenter: Option<String>,
    /// VM folder for new VMs, an inventory path under the datacenter (default: its `vm` folder).
    #[serde(default)]
    pub folder: Option<String>,
    /// Resource pool for clones, an inventory path (default: the template's resource pool, or
    /// its host's cluster root pool for templates).
    #[serde(default)]
    pub resource_pool: Option<String>,
    /// Datastore for clones, by name (default: the template's).
    #[serde(default)]
    pub datastore: Option<String>,
    /// Distributed switch that new portgroups go on (default: the only one in the datacenter).
    #[serde(default)]
    pub dvs: Option<String>,
    /// VIP pools by network name or id: the addresses strato's IPAM hands out there.
    #[serde(default)]
    pub vip_pools: BTreeMap<String, IpNet>,
    /// Most clone/destroy tasks one group scale runs at once.
    #[serde(default = "default_parallel")]
    pub max_parallel_tasks: usize,
    /// Longest wait for one vCenter task.
    #[serde(default = "default_task_timeout", with = "humantime_serde")]
    pub task_timeout: Duration,
    /// HTTP request timeout.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// vim25 API version sent as SOAPAction (6.5 is understood by vCenter 6.5 to 8.x).
    #[serde(default = "default_api_version")]
    pub api_version: String,
}

fn default_parallel() -> usize {
    4
}
fn default_task_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_api_version() -> String {
    "6.5".into()
}

// Hand-written so a password can never reach a log line.
impl fmt::Debug for VsphereConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VsphereConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password_file", &self.password_file)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("insecure", &self.insecure)
            .field("ca_file", &self.ca_file)
            .field("datacenter", &self.datacenter)
            .field("folder", &self.folder)
            .field("resource_pool", &self.resource_pool)
            .field("datastore", &self.datastore)
            .field("dvs", &self.dvs)
            .field("vip_pools", &self.vip_pools)
            .field("max_parallel_tasks", &self.max_parallel_tasks)
            .field("task_timeout", &self.task_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("api_version", &self.api_version)
            .finish()
    }
}

/// A user name and password, resolved from the profile and the environment.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn bad(field: &str, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidSpec, Operation::Configure, msg)
        .with_field(field)
        .with_cloud(crate::CLOUD)
}

impl VsphereConfig {
    /// Settings with only a URL; everything else defaulted.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            user: None,
            password_file: None,
            password: None,
            insecure: false,
            ca_file: None,
            datacenter: None,
            folder: None,
            resource_pool: None,
            datastore: None,
            dvs: None,
            vip_pools: BTreeMap::new(),
            max_parallel_tasks: default_parallel(),
            task_timeout: default_task_timeout(),
            request_timeout: default_request_timeout(),
            api_version: default_api_version(),
        }
    }

    /// Settings from `STRATO_VSPHERE_URL` (credentials are read at connect time).
    pub fn from_env() -> Result<Self> {
        let url =
            std::env::var(URL_ENV).map_err(|_| bad("url", format!("{URL_ENV} is not set")))?;
        let c = Self::new(url);
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings without touching the network.
    pub fn validate(&self) -> Result<()> {
        let u = self.sdk_url()?;
        if u.scheme() != "https" && u.scheme() != "http" {
            return Err(bad(
                "url",
                format!("url {:?} must be https://HOST/sdk", self.url),
            ));
        }
        if self.max_parallel_tasks == 0 {
            return Err(bad(
                "max_parallel_tasks",
                "max_parallel_tasks must be at least 1",
            ));
        }
        if self.task_timeout.is_zero() {
            return Err(bad("task_timeout", "task_timeout must be more than zero"));
        }
        for (net, pool) in &self.vip_pools {
            if pool.hosts().nth(0).is_none() {
                return Err(bad(
                    "vip_pools",
                    format!("vip_pools.{net} = {pool} has no host addresses"),
                ));
            }
        }
        Ok(())
    }

    /// The SDK URL, with `/sdk` appended to a bare host.
    pub fn sdk_url(&self) -> Result<reqwest::Url> {
        let mut u = reqwest::Url::parse(&self.url)
            .map_err(|e| bad("url", format!("url {:?} is not a URL: {e}", self.url)))?;
        if u.path() == "/" || u.path().is_empty() {
            u.set_path("/sdk");
        }
        Ok(u)
    }

    /// Resolves the user and password: profile, then password file, then environment.
    pub fn credentials(&self) -> Result<Credentials> {
        let user = match &self.user {
            Some(u) => u.clone(),
            None => std::env::var(USER_ENV).map_err(|_| {
                bad(
                    "user",
                    format!("no user: set `user` in the profile or {USER_ENV}"),
                )
            })?,
        };
        let password = if let Some(p) = &self.password {
            p.clone()
        } else if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                bad(
                    "password_file",
                    format!("cannot read password_file {}: {e}", path.display()),
                )
            })?;
            text.lines().next().unwrap_or_default().to_owned()
        } else {
            std::env::var(PASSWORD_ENV).map_err(|_| {
                bad(
                    "password_file",
                    format!("no password: set `password_file` in the profile or {PASSWORD_ENV}"),
                )
            })?
        };
        Ok(Credentials { user, password })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_profile_and_never_prints_the_password() {
        let t: toml::Table = r#"
            url = "https://vc.example.com"
            user = "svc@vsphere.local"
            insecure = true
            folder = "vm/strato"
            vip_pools = { "VM Network" = "10.0.0.0/28" }
            task_timeout = "2m"
        "#
        .parse()
        .unwrap();
        let mut c = VsphereConfig::deserialize(toml::Value::Table(t)).unwrap();
        c.validate().unwrap();
        assert_eq!(c.sdk_url().unwrap().as_str(), "https://vc.example.com/sdk");
        assert_eq!(c.task_timeout, Duration::from_secs(120));
        assert_eq!(c.max_parallel_tasks, 4);
        c.password = Some("hunter2".into());
        let shown = format!("{c:?} {:?}", c.credentials().unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn unknown_and_bad_fields_are_named() {
        let t: toml::Table = "url = \"https://vc\"\npasword = \"x\"".parse().unwrap();
        let e = VsphereConfig::deserialize(toml::Value::Table(t)).unwrap_err();
        assert!(e.to_string().contains("pasword"), "{e}");
        let mut c = VsphereConfig::new("not a url");
        assert_eq!(c.validate().unwrap_err().field(), Some("url"));
        c = VsphereConfig::new("https://vc/sdk");
        c.max_parallel_tasks = 0;
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("max_parallel_tasks")
        );
    }
}
