//! Profile settings of the `azure` kind.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use strato_core::{Error, Operation, Result};

/// Where the connector's bearer tokens come from.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    /// azure_identity's standard chain: environment client secret (`AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload identity, managed identity, then the
    /// Azure CLI.
    #[default]
    Default,
    /// A fixed dummy token, for a fake ARM endpoint only (refused without `endpoint`).
    Anonymous,
}

/// Settings of an `azure` profile.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// The subscription everything lives in.
    pub subscription_id: String,
    /// The resource group strato creates VMs, NICs and subnets in.
    pub resource_group: String,
    /// The Azure region (`westeurope`).
    pub location: String,
    /// The virtual network (in `resource_group`) whose subnets are strato's networks. It must
    /// exist: strato creates and deletes subnets in it, never the VNet.
    pub vnet: String,
    /// The subnet of a VM whose spec names no network.
    #[serde(default = "default_subnet")]
    pub default_subnet: String,
    /// ARM endpoint (default `https://management.azure.com`); tests point it at the fake.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Where tokens come from.
    #[serde(default)]
    pub auth: Auth,
    /// The VMs' admin user.
    #[serde(default = "default_admin")]
    pub admin_username: String,
    /// The SSH public key put in the admin user's authorized_keys (Azure requires a key or a
    /// password for Linux VMs; strato never sets a password).
    #[serde(default)]
    pub ssh_public_key: Option<String>,
    /// Storage type of OS disks.
    #[serde(default = "default_disk_type")]
    pub os_disk_type: String,
    /// Poll interval of a long-running operation when Azure names none.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Longest wait for one long-running operation strato follows (NIC and VM updates,
    /// deallocate before a NIC change).
    #[serde(default = "default_op_timeout", with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// VMs a group scale-out creates at once.
    #[serde(default = "default_parallel")]
    pub max_parallel_creates: u32,
    /// Let `attach_nic`/`detach_nic` deallocate a running VM, change its NICs and start it again
    /// (Azure changes NICs only while a VM is deallocated). Off: they refuse with guidance.
    #[serde(default)]
    pub nic_attach_restart: bool,
}

fn default_subnet() -> String {
    "default".into()
}
fn default_admin() -> String {
    "strato".into()
}
fn default_disk_type() -> String {
    "StandardSSD_LRS".into()
}
fn default_poll() -> Duration {
    Duration::from_secs(5)
}
fn default_op_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_parallel() -> u32 {
    8
}

// By hand: the endpoint may carry userinfo, and the key is the admin's.
impl fmt::Debug for AzureConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureConfig")
            .field("subscription_id", &self.subscription_id)
            .field("resource_group", &self.resource_group)
            .field("location", &self.location)
            .field("vnet", &self.vnet)
            .field("default_subnet", &self.default_subnet)
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(|e| match e.split_once('@') {
                    Some((scheme_user, host)) => {
                        let scheme = scheme_user.split("://").next().unwrap_or("");
                        format!("{scheme}://***@{host}")
                    }
                    None => e.to_owned(),
                }),
            )
            .field("auth", &self.auth)
            .field("admin_username", &self.admin_username)
            .field(
                "ssh_public_key",
                &self.ssh_public_key.as_ref().map(|_| "<set>"),
            )
            .field("poll_interval", &self.poll_interval)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_parallel_creates", &self.max_parallel_creates)
            .field("nic_attach_restart", &self.nic_attach_restart)
            .finish_non_exhaustive()
    }
}

impl AzureConfig {
    /// The minimal settings, everything else defaulted.
    pub fn new(
        subscription_id: impl Into<String>,
        resource_group: impl Into<String>,
        location: impl Into<String>,
        vnet: impl Into<String>,
    ) -> Self {
        Self {
            subscription_id: subscription_id.into(),
            resource_group: resource_group.into(),
            location: location.into(),
            vnet: vnet.into(),
            default_subnet: default_subnet(),
            endpoint: None,
            auth: Auth::Default,
            admin_username: default_admin(),
            ssh_public_key: None,
            os_disk_type: default_disk_type(),
            poll_interval: default_poll(),
            operation_timeout: default_op_timeout(),
            max_parallel_creates: default_parallel(),
            nic_attach_restart: false,
        }
    }

    /// Settings from the environment: `AZURE_SUBSCRIPTION_ID`, `AZURE_RESOURCE_GROUP`,
    /// `AZURE_LOCATION`, `STRATO_AZURE_VNET` (required), `STRATO_AZURE_SUBNET`,
    /// `STRATO_AZURE_ENDPOINT`, `STRATO_AZURE_SSH_PUBLIC_KEY` (optional).
    pub fn from_env() -> Result<Self> {
        let need = |k: &str, field: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    Error::invalid_spec(field, format!("{k} is not set"))
                        .with_operation(Operation::Configure)
                        .with_cloud(crate::CLOUD)
                })
        };
        let mut c = Self::new(
            need("AZURE_SUBSCRIPTION_ID", "subscription_id")?,
            need("AZURE_RESOURCE_GROUP", "resource_group")?,
            need("AZURE_LOCATION", "location")?,
            need("STRATO_AZURE_VNET", "vnet")?,
        );
        if let Ok(s) = std::env::var("STRATO_AZURE_SUBNET") {
            c.default_subnet = s;
        }
        c.endpoint = std::env::var("STRATO_AZURE_ENDPOINT").ok();
        c.ssh_public_key = std::env::var("STRATO_AZURE_SSH_PUBLIC_KEY").ok();
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings, naming the bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| {
            Err(Error::invalid_spec(field, why)
                .with_operation(Operation::Configure)
                .with_cloud(crate::CLOUD))
        };
        for (field, v) in [
            ("subscription_id", &self.subscription_id),
            ("resource_group", &self.resource_group),
            ("location", &self.location),
            ("vnet", &self.vnet),
            ("default_subnet", &self.default_subnet),
            ("admin_username", &self.admin_username),
        ] {
            if v.trim().is_empty() {
                return bad(field, format!("{field} must not be empty"));
            }
            if v.contains('/') {
                return bad(field, format!("{field} {v:?} is a name, not a path"));
            }
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("https://") || e.starts_with("http://"))
        {
            return bad("endpoint", format!("endpoint {e:?} is not an http(s) URL"));
        }
        if self.auth == Auth::Anonymous && self.endpoint.is_none() {
            return bad(
                "auth",
                "auth = \"anonymous\" is for a fake ARM endpoint: set endpoint too".into(),
            );
        }
        if self.max_parallel_creates == 0 {
            return bad(
                "max_parallel_creates",
                "max_parallel_creates must be at least 1".into(),
            );
        }
        if self.poll_interval.is_zero() || self.operation_timeout.is_zero() {
            return bad(
                "poll_interval",
                "poll_interval and operation_timeout must be positive".into(),
            );
        }
        Ok(())
    }

    /// The ARM endpoint.
    pub fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or("https://management.azure.com")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> std::result::Result<AzureConfig, String> {
        toml::from_str::<AzureConfig>(toml).map_err(|e| e.to_string())
    }

    const MIN: &str = "subscription_id = \"s\"\nresource_group = \"rg\"\nlocation = \"westeurope\"\nvnet = \"v\"\n";

    #[test]
    fn minimal_settings_get_defaults_and_unknown_keys_are_refused() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.default_subnet, "default");
        assert_eq!(c.operation_timeout, Duration::from_secs(600));
        assert!(!c.nic_attach_restart);
        c.validate().unwrap();
        let e = parse(&format!("{MIN}vnett = \"x\"\n")).unwrap_err();
        assert!(e.contains("vnett"), "{e}");
    }

    #[test]
    fn validation_names_the_field_and_debug_hides_secrets() {
        let mut c = parse(MIN).unwrap();
        c.auth = Auth::Anonymous;
        assert_eq!(c.validate().unwrap_err().field(), Some("auth"));
        c.endpoint = Some("http://user:hunter2@127.0.0.1:1".into());
        c.validate().unwrap();
        c.ssh_public_key = Some("ssh-ed25519 AAAAsecretish".into());
        let d = format!("{c:?}");
        assert!(
            !d.contains("hunter2") && !d.contains("AAAAsecretish"),
            "{d}"
        );
        c.resource_group = "a/b".into();
        assert_eq!(c.validate().unwrap_err().field(), Some("resource_group"));
    }
}
