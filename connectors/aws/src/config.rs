//! The `aws` profile settings.
//!
//! Credentials are never part of these settings: they come from aws-config's default chain
//! (environment, shared config and credentials files, SSO, web identity, container and instance
//! roles), so nothing here is secret and `Debug` is derived.

use serde::Deserialize;
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
#[serde(deny_unknown_fields)]
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
    /// AMI used when a spec's image is `default`.
    #[serde(default)]
    pub image: Option<String>,
    /// Instance type used when a spec's size is `default` (`native:default`).
    #[serde(default)]
    pub instance_type: Option<String>,
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
        prefixed("image", &self.image, "ami-")?;
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

    /// Settings from `STRATO_AWS_*` environment variables (region, endpoint URL, vpc, subnet,
    /// image, instance type), for scripts and tests. Unset variables stay unset.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var(format!("STRATO_AWS_{k}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        Self {
            region: var("REGION"),
            endpoint_url: var("ENDPOINT_URL"),
            vpc: var("VPC"),
            subnet: var("SUBNET"),
            image: var("IMAGE"),
            instance_type: var("INSTANCE_TYPE"),
            security_groups: var("SECURITY_GROUPS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            ..Self::default()
        }
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
}
