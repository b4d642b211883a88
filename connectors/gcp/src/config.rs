//! `GcpConfig`: the settings of a `gcp` profile.

use crate::CLOUD;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use strato_core::{Error, Operation, Result};

/// Most instances one bulkInsert may create (Compute's documented limit).
pub const MAX_BULK: u32 = 1000;

/// A `gcp` profile's settings. Credentials are never here: they come from Application Default
/// Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file, or the metadata server).
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GcpConfig {
    /// The project VMs and networks live in (else `GOOGLE_CLOUD_PROJECT`).
    pub project: Option<String>,
    /// The zone VMs live in, e.g. `europe-west1-b`; networks live in its region.
    pub zone: Option<String>,
    /// Another Compute endpoint than `https://compute.googleapis.com` (tests: the fake).
    pub endpoint: Option<String>,
    /// Send no credentials (only for a local fake; refused without `endpoint`).
    #[serde(default)]
    pub anonymous: bool,
    /// The VPC network new strato networks (subnetworks) are made in; default `default`.
    pub vpc: Option<String>,
    /// The subnetwork a VM without a network joins; default `default`.
    pub subnetwork: Option<String>,
    /// Most instances per bulkInsert (1 to 1000); default 500.
    pub batch_size: Option<u32>,
    /// First wait between two reads of a running operation (doubling up to 10 s); default 1 s.
    #[serde(default, with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    /// How long to wait for one operation before answering `Timeout`; default 10 min.
    #[serde(default, with = "humantime_serde")]
    pub operation_timeout: Option<Duration>,
}

impl fmt::Debug for GcpConfig {
    // By hand, so that a field added later cannot print a secret by accident (there is none
    // today: credentials come from ADC).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpConfig")
            .field("project", &self.project)
            .field("zone", &self.zone)
            .field("endpoint", &self.endpoint)
            .field("anonymous", &self.anonymous)
            .field("vpc", &self.vpc)
            .field("subnetwork", &self.subnetwork)
            .field("batch_size", &self.batch_size)
            .field("poll_interval", &self.poll_interval)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

fn bad(field: &str, why: impl Into<String>) -> Error {
    Error::invalid_spec(field, why)
        .with_operation(Operation::Configure)
        .with_cloud(CLOUD)
}

impl GcpConfig {
    /// From `STRATO_GCP_PROJECT`, `_ZONE`, `_ENDPOINT`, `_ANONYMOUS`, `_VPC`, `_SUBNETWORK`,
    /// `_BATCH_SIZE` (project also from `GOOGLE_CLOUD_PROJECT`, zone from
    /// `CLOUDSDK_COMPUTE_ZONE`, as gcloud does).
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let s = |k: &str| var(&format!("STRATO_GCP_{k}"));
        let batch_size = match s("BATCH_SIZE") {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| {
                bad(
                    "batch_size",
                    format!("STRATO_GCP_BATCH_SIZE {v:?} is not a number"),
                )
            })?),
        };
        let c = Self {
            project: s("PROJECT").or_else(|| var("GOOGLE_CLOUD_PROJECT")),
            zone: s("ZONE").or_else(|| var("CLOUDSDK_COMPUTE_ZONE")),
            endpoint: s("ENDPOINT"),
            anonymous: s("ANONYMOUS").is_some_and(|v| v == "1" || v == "true"),
            vpc: s("VPC"),
            subnetwork: s("SUBNETWORK"),
            batch_size,
            ..Default::default()
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings, naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if self.project.as_deref().is_none_or(str::is_empty) {
            return Err(bad(
                "project",
                "no GCP project: set project in the gcp profile or GOOGLE_CLOUD_PROJECT",
            ));
        }
        let zone = self.zone.as_deref().unwrap_or("");
        if zone.matches('-').count() < 2 {
            return Err(bad(
                "zone",
                format!("zone {zone:?} is not a Compute zone like europe-west1-b"),
            ));
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(bad(
                "endpoint",
                format!("endpoint {e:?} is not an http(s) URL"),
            ));
        }
        if self.anonymous && self.endpoint.is_none() {
            return Err(bad(
                "anonymous",
                "anonymous is only for a local fake: set endpoint too",
            ));
        }
        if let Some(b) = self.batch_size
            && !(1..=MAX_BULK).contains(&b)
        {
            return Err(bad(
                "batch_size",
                format!("batch_size {b} is not between 1 and {MAX_BULK}"),
            ));
        }
        Ok(())
    }

    /// The project (validated).
    pub fn project(&self) -> &str {
        self.project.as_deref().unwrap_or_default()
    }

    /// The zone (validated).
    pub fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or_default()
    }

    /// The zone's region: `europe-west1-b` is in `europe-west1`.
    pub fn region(&self) -> &str {
        let z = self.zone();
        z.rsplit_once('-').map_or(z, |(r, _)| r)
    }

    /// The VPC for new subnetworks.
    pub fn vpc(&self) -> &str {
        self.vpc.as_deref().unwrap_or("default")
    }

    /// The subnetwork of VMs that name none.
    pub fn subnetwork(&self) -> &str {
        self.subnetwork.as_deref().unwrap_or("default")
    }

    /// Instances per bulkInsert.
    pub fn batch_size(&self) -> u32 {
        self.batch_size.unwrap_or(500)
    }

    /// First poll interval of an operation.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval.unwrap_or(Duration::from_secs(1))
    }

    /// Deadline of one operation.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout.unwrap_or(Duration::from_secs(600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_fills_and_validation_names_the_field() {
        let vars = |k: &str| match k {
            "GOOGLE_CLOUD_PROJECT" => Some("p1".to_owned()),
            "STRATO_GCP_ZONE" => Some("europe-west1-b".to_owned()),
            _ => None,
        };
        let c = GcpConfig::from_vars(vars).unwrap();
        assert_eq!((c.project(), c.region()), ("p1", "europe-west1"));
        let e = GcpConfig::from_vars(|_| None).unwrap_err();
        assert_eq!(e.field(), Some("project"));
        let c = GcpConfig {
            project: Some("p".into()),
            zone: Some("z".into()),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("zone"));
        let c = GcpConfig {
            zone: Some("a-b-c".into()),
            batch_size: Some(0),
            ..c
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("batch_size"));
        let c = GcpConfig {
            batch_size: None,
            anonymous: true,
            ..c
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("anonymous"));
        let t: Result<GcpConfig, _> = toml::from_str("project = \"p\"\nzonee = \"x\"");
        assert!(t.is_err(), "unknown keys are refused");
    }
}
