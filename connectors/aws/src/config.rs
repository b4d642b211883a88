//! The `aws` profile settings.
//!
//! Credentials are never part of these settings: they come from aws-config's default chain
//! (environment, shared config and credentials files, SSO, web identity, container and instance
//! roles), so nothing here is secret and `Debug` is derived.
//!
//! The AMI and instance type of new VMs are not settings of the kind: like every kind's, they
//! are the profile's `[profiles.NAME.defaults]` `image` and `size` (an instance type is a native
//! size, `size = "t3.micro"`), which the CLI fills into the specs it sends. A profile that still
//! sets the old `image` or `instance_type` key is refused with a message saying where it moved.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation, Result};

/// Settings of an `aws` profile (everything in `[profiles.NAME]` besides the common keys).
///
/// ```toml
/// [profiles.prod]
/// kind = "aws"
/// owner = "lb-prod"
/// region = "eu-west-1"
/// vpc = "vpc-0123456789abcdef0"
/// subnet = "subnet-0123456789abcdef0"
/// security_groups = ["sg-0123456789abcdef0"]
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
// `remote = "Self"` makes the derived deserializer an inherent `AwsConfig::deserialize`, which
// the `Deserialize` impl below runs after refusing the keys that moved to the defaults table.
// Call the trait's (`<AwsConfig as Deserialize>::deserialize`, or any serde entry point): the
// inherent one shadows it and skips that check.
#[serde(remote = "Self", deny_unknown_fields)]
pub struct AwsConfig {
    /// Region; aws-config's chain (`AWS_REGION`, the shared config file) when absent.
    #[serde(default)]
    pub region: Option<String>,
    /// Named profile of the shared AWS config files (`~/.aws/config`); the chain's default when
    /// absent.
    #[serde(default)]
    pub aws_profile: Option<String>,
    /// EC2 endpoint URL, for moto or a private (VPC endpoint / GovCloud) endpoint.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// VPC new networks are created in when a spec names no parent.
    #[serde(default)]
    pub vpc: Option<String>,
    /// Subnet of a VM's primary NIC when its spec names no network.
    #[serde(default)]
    pub subnet: Option<String>,
    /// Availability zone of new subnets (EC2 picks one when absent).
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// Security groups of new instances and ENIs (the VPC's default group when empty).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Instance families a shape size may map to, cheapest fitting type first
    /// (default: t3, m5, c5, r5).
    #[serde(default)]
    pub shape_families: Vec<String>,
    /// Most instances per RunInstances / TerminateInstances call when scaling groups
    /// (1..=1000, default 500).
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// Attempts the SDK itself makes per call (default 1: strato's retry layer retries, with one
    /// budget, so nested retries cannot multiply).
    #[serde(default)]
    pub sdk_max_attempts: Option<u32>,
    /// Timeout of one HTTP attempt inside the SDK (default 30 s).
    #[serde(default, with = "humantime_serde::option")]
    pub attempt_timeout: Option<Duration>,
    /// How long after strato created an instance a "does not exist" answer is read as "not yet
    /// visible" (retried) rather than "gone" (default 5 min).
    #[serde(default, with = "humantime_serde::option")]
    pub visibility_grace: Option<Duration>,
}

/// Keys that were aws settings and are now the profile's defaults: (old key, key under
/// `[profiles.NAME.defaults]`, what it holds). Refused by name rather than as merely unknown, so
/// an old profile is told where its setting went instead of losing it.
const MOVED_TO_DEFAULTS: [(&str, &str, &str); 2] = [
    ("image", "image", "the AMI"),
    ("instance_type", "size", "the instance type"),
];

fn moved_to_defaults(key: &str, value: &toml::Value) -> Option<String> {
    let (old, new, what) = MOVED_TO_DEFAULTS.iter().find(|(old, ..)| *old == key)?;
    let example = match value {
        toml::Value::String(v) => format!("{new} = {v:?}"),
        _ => format!("{new} = ..."),
    };
    Some(format!(
        "`{old}` is no longer an aws setting: {what} of new VMs is the profile's default \
         {new}; move it to [profiles.NAME.defaults] as `{example}`"
    ))
}

impl<'de> Deserialize<'de> for AwsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        if let Some(msg) = table.iter().find_map(|(k, v)| moved_to_defaults(k, v)) {
            return Err(D::Error::custom(msg));
        }
        AwsConfig::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)
    }
}

/// Default instances per batch call.
pub const DEFAULT_BATCH_SIZE: u32 = 500;
/// Hard limit of instances per RunInstances call this connector uses (EC2's RunInstances
/// resource bucket holds 1,000 instances).
pub const MAX_BATCH_SIZE: u32 = 1000;

fn bad(field: &str, msg: String) -> Error {
    Error::new(ErrorKind::InvalidSpec, Operation::Configure, msg).with_field(field)
}

impl AwsConfig {
    /// Checks the settings without calling AWS.
    pub fn validate(&self) -> Result<()> {
        let prefixed = |field: &str, value: &Option<String>, prefix: &str| -> Result<()> {
            match value {
                Some(v) if !v.starts_with(prefix) => Err(bad(
                    field,
                    format!("aws setting {field} = {v:?} is not a {prefix}... id"),
                )),
                _ => Ok(()),
            }
        };
        prefixed("vpc", &self.vpc, "vpc-")?;
        prefixed("subnet", &self.subnet, "subnet-")?;
        for sg in &self.security_groups {
            prefixed("security_groups", &Some(sg.clone()), "sg-")?;
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(bad(
                "endpoint_url",
                format!("aws setting endpoint_url = {url:?} must start with http:// or https://"),
            ));
        }
        if let Some(r) = &self.region
            && (r.is_empty()
                || !r
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(bad(
                "region",
                format!("aws setting region = {r:?} is not a region name like eu-west-1"),
            ));
        }
        if let Some(b) = self.batch_size
            && !(1..=MAX_BATCH_SIZE).contains(&b)
        {
            return Err(bad(
                "batch_size",
                format!("aws setting batch_size = {b} must be 1..={MAX_BATCH_SIZE}"),
            ));
        }
        if self.sdk_max_attempts == Some(0) {
            return Err(bad(
                "sdk_max_attempts",
                "aws setting sdk_max_attempts must be at least 1".into(),
            ));
        }
        for f in &self.shape_families {
            if crate::sizes::family(f).is_none() {
                return Err(bad(
                    "shape_families",
                    format!(
                        "aws setting shape_families: unknown family {f:?} (known: {})",
                        crate::sizes::FAMILIES.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Instances per batch call.
    pub fn batch_size(&self) -> u32 {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }

    /// The not-yet-visible grace period.
    pub fn visibility_grace(&self) -> Duration {
        self.visibility_grace.unwrap_or(Duration::from_secs(300))
    }

    /// Settings from `STRATO_AWS_*` environment variables (`REGION`, `ENDPOINT_URL`, `VPC`,
    /// `SUBNET`, `SECURITY_GROUPS` comma-separated), for scripts and tests. Unset or empty
    /// variables stay unset.
    ///
    /// `STRATO_AWS_IMAGE` and `STRATO_AWS_INSTANCE_TYPE` are refused, like the profile keys they
    /// stood for: a VM's image and size are in its spec, and a script still setting them would
    /// otherwise believe they apply.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(format!("STRATO_AWS_{k}")).ok())
    }

    /// [`Self::from_env`] over any lookup of the names after `STRATO_AWS_`.
    fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| lookup(k).filter(|v| !v.is_empty());
        for (old, new, what) in MOVED_TO_DEFAULTS {
            let env = format!("STRATO_AWS_{}", old.to_ascii_uppercase());
            if var(&old.to_ascii_uppercase()).is_some() {
                return Err(bad(
                    &env,
                    format!(
                        "{env} is no longer read: {what} of a new VM is given in its spec (the \
                         CLI's from the profile's [profiles.NAME.defaults] {new})"
                    ),
                ));
            }
        }
        Ok(Self {
            region: var("REGION"),
            endpoint_url: var("ENDPOINT_URL"),
            vpc: var("VPC"),
            subnet: var("SUBNET"),
            security_groups: var("SECURITY_GROUPS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            ..Self::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_profile_and_refuses_unknown_keys() {
        let s: AwsConfig = toml::from_str(
            r#"
            region = "eu-west-1"
            endpoint_url = "http://127.0.0.1:5000"
            vpc = "vpc-1"
            security_groups = ["sg-1"]
            attempt_timeout = "10s"
            batch_size = 100
            "#,
        )
        .unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.attempt_timeout, Some(Duration::from_secs(10)));
        s.validate().unwrap();
        let e = toml::from_str::<AwsConfig>("regoin = \"x\"").unwrap_err();
        assert!(e.to_string().contains("regoin"), "{e}");
    }

    #[test]
    fn bad_values_name_the_field_and_value() {
        let cases = [
            (
                AwsConfig {
                    vpc: Some("subnet-1".into()),
                    ..Default::default()
                },
                "vpc",
            ),
            (
                AwsConfig {
                    endpoint_url: Some("localhost:5000".into()),
                    ..Default::default()
                },
                "endpoint_url",
            ),
            (
                AwsConfig {
                    batch_size: Some(5000),
                    ..Default::default()
                },
                "batch_size",
            ),
            (
                AwsConfig {
                    shape_families: vec!["z9".into()],
                    ..Default::default()
                },
                "shape_families",
            ),
            (
                AwsConfig {
                    region: Some("EU West".into()),
                    ..Default::default()
                },
                "region",
            ),
        ];
        for (s, field) in cases {
            let e = s.validate().unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
            assert_eq!(e.kind(), &ErrorKind::InvalidSpec);
        }
    }

    #[test]
    fn keys_that_moved_to_the_defaults_say_where() {
        for (line, old, new) in [
            (
                "image = \"ami-0123456789abcdef0\"",
                "image",
                "image = \"ami-0123456789abcdef0\"",
            ),
            (
                "instance_type = \"c5.large\"",
                "instance_type",
                "size = \"c5.large\"",
            ),
        ] {
            let text = format!("region = \"eu-west-1\"\n{line}");
            let e = toml::from_str::<AwsConfig>(&text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{old}` is no longer an aws setting"))
                    && e.contains("[profiles.NAME.defaults]")
                    && e.contains(new),
                "{line}: {e}"
            );
        }
    }

    #[test]
    fn env_reads_the_settings_and_refuses_the_moved_ones() {
        fn env(vars: &[(&str, &str)]) -> Result<AwsConfig> {
            AwsConfig::from_vars(|k| {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            })
        }
        let s = env(&[
            ("REGION", "eu-west-1"),
            ("SUBNET", "subnet-1"),
            ("SECURITY_GROUPS", "sg-1, sg-2,"),
            ("VPC", ""),
            ("IMAGE", ""),
        ])
        .unwrap();
        assert_eq!(
            s,
            AwsConfig {
                region: Some("eu-west-1".into()),
                subnet: Some("subnet-1".into()),
                security_groups: vec!["sg-1".into(), "sg-2".into()],
                ..Default::default()
            }
        );
        for (var, value, new) in [
            (
                "IMAGE",
                "ami-0123456789abcdef0",
                "[profiles.NAME.defaults] image",
            ),
            ("INSTANCE_TYPE", "t3.micro", "[profiles.NAME.defaults] size"),
        ] {
            let e = env(&[("REGION", "eu-west-1"), (var, value)]).unwrap_err();
            let name = format!("STRATO_AWS_{var}");
            assert_eq!(e.field(), Some(name.as_str()), "{e}");
            assert_eq!(e.kind(), &ErrorKind::InvalidSpec);
            assert!(
                e.to_string().contains(&format!("{name} is no longer read"))
                    && e.to_string().contains(new),
                "{e}"
            );
        }
    }
}
