//! The GCP connector: the struct, how it is built (one client per Compute service used, all on
//! one set of credentials), and the trait impl.

use crate::CLOUD;
use crate::config::GcpConfig;
use google_cloud_compute_v1::client::{Instances, RegionOperations, Subnetworks, ZoneOperations};
use google_cloud_gax::retry_policy::NeverRetry;
use std::fmt;
use strato_core::{Capabilities, CloudInfo, Error, ErrorKind, Operation, OwnerId, Result};

/// The Compute Engine connector for one owner in one project and zone.
pub struct GcpConnector {
    pub(crate) instances: Instances,
    pub(crate) subnetworks: Subnetworks,
    pub(crate) zone_ops: ZoneOperations,
    pub(crate) region_ops: RegionOperations,
    pub(crate) info: CloudInfo,
    pub(crate) config: GcpConfig,
}

impl fmt::Debug for GcpConnector {
    // By hand: the clients hold the credentials; only say where we talk to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpConnector")
            .field("owner", &self.info.owner)
            .field("project", &self.info.account)
            .field("zone", &self.config.zone)
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

fn build_err(what: &str, e: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        Operation::Configure,
        format!("building the Compute {what} client: {e}"),
    )
    .with_cloud(CLOUD)
}

impl GcpConnector {
    /// Builds a connector from a profile's settings: credentials from Application Default
    /// Credentials (none with `anonymous`, for a local fake). Does not call Compute.
    pub async fn connect(owner: OwnerId, config: GcpConfig) -> Result<Self> {
        config.validate()?;
        crate::install_crypto_provider();
        let creds = if config.anonymous {
            google_cloud_auth::credentials::anonymous::Builder::new().build()
        } else {
            google_cloud_auth::credentials::Builder::default()
                .build()
                .map_err(|e| build_err("credentials (Application Default Credentials)", e))?
        };
        // The client library's own retries are off: it never retries 429 or a POST and ignores
        // Retry-After, so strato's retry layer (which does all three) is the one place retries
        // happen, counted against its budget.
        macro_rules! client {
            ($t:ty, $what:literal) => {{
                let mut b = <$t>::builder()
                    .with_credentials(creds.clone())
                    .with_retry_policy(NeverRetry);
                if let Some(e) = &config.endpoint {
                    b = b.with_endpoint(e.clone());
                }
                b.build().await.map_err(|e| build_err($what, e))?
            }};
        }
        Ok(Self {
            instances: client!(Instances, "instances"),
            subnetworks: client!(Subnetworks, "subnetworks"),
            zone_ops: client!(ZoneOperations, "zone operations"),
            region_ops: client!(RegionOperations, "region operations"),
            info: CloudInfo {
                kind: CLOUD,
                account: config.project().to_owned(),
                region: config.zone().to_owned(),
                owner,
            },
            config,
        })
    }

    /// The profile settings.
    pub fn config(&self) -> &GcpConfig {
        &self.config
    }

    pub(crate) fn owner(&self) -> &OwnerId {
        &self.info.owner
    }

    pub(crate) fn project(&self) -> &str {
        self.config.project()
    }

    pub(crate) fn zone(&self) -> &str {
        self.config.zone()
    }

    pub(crate) fn region(&self) -> &str {
        self.config.region()
    }

    pub(crate) fn info_impl(&self) -> &CloudInfo {
        &self.info
    }

    pub(crate) fn capabilities_impl(&self) -> Capabilities {
        crate::capabilities(&self.config)
    }

    pub(crate) async fn close_impl(&self) -> Result<()> {
        // No session to end.
        Ok(())
    }
}

// Every trait method calls its `_impl` in the file of its resource (vms.rs, networks.rs, ...).
strato_core::impl_cloud_connector!(GcpConnector);
