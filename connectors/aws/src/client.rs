//! The AWS connector: the struct, how it is built, what it remembers between calls, and the
//! trait impl.
//!
//! Each family of operations lives in its own module (`vms`, `networks`, `nics`, `vips`,
//! `groups`, `hosts`) as inherent methods; the trait impl below only forwards.

use crate::CLOUD;
use crate::config::AwsConfig;
use crate::error::{Context, map_sdk_error};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;
use strato_core::{Capabilities, CloudInfo, Error, Operation, OwnerId, Result};
use tokio::time::Instant;

/// The AWS EC2 connector for one owner in one region.
pub struct AwsConnector {
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) info: CloudInfo,
    pub(crate) config: AwsConfig,
    /// Ids this connector created and when, so that a "does not exist" answer shortly after is
    /// read as EC2's eventual consistency (NotYetVisible, retried) and not as a deletion.
    recent: Mutex<HashMap<String, Instant>>,
}

impl fmt::Debug for AwsConnector {
    // By hand: the SDK config holds the credentials provider; only say where we talk to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsConnector")
            .field("owner", &self.info.owner)
            .field("region", &self.info.region)
            .field("endpoint_url", &self.config.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// An EC2 client config for a fixed endpoint with static credentials (moto, tests, benches).
/// Production code uses [`AwsConnector::connect`] and aws-config's default chain instead.
pub fn static_ec2_config(
    endpoint_url: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "strato-static",
        ))
        .endpoint_url(endpoint_url)
        .retry_config(RetryConfig::disabled())
}

impl AwsConnector {
    /// Builds a connector from a profile's settings: credentials and (unless set) region from
    /// aws-config's default chain. Does not call AWS.
    pub async fn connect(owner: OwnerId, settings: AwsConfig) -> Result<Self> {
        settings.validate()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &settings.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(p) = &settings.aws_profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = &settings.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(Error::invalid_spec(
                "region",
                "no AWS region: set region in the aws profile, or AWS_REGION, or a region in ~/.aws/config",
            )
            .with_operation(Operation::Configure)
            .with_cloud(CLOUD));
        }
        Ok(Self::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk),
            owner,
            settings,
        ))
    }

    /// Builds a connector on a given EC2 client config (tests, benches, custom HTTP clients).
    /// Retry and timeout settings of the profile are applied on top.
    pub fn from_conf(
        conf: aws_sdk_ec2::config::Builder,
        owner: OwnerId,
        settings: AwsConfig,
    ) -> Self {
        let attempts = settings.sdk_max_attempts.unwrap_or(1);
        let retry = if attempts <= 1 {
            RetryConfig::disabled()
        } else {
            RetryConfig::standard().with_max_attempts(attempts)
        };
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(settings.attempt_timeout.unwrap_or(Duration::from_secs(30)))
            .build();
        let conf = conf.retry_config(retry).timeout_config(timeouts).build();
        let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
        Self {
            ec2: aws_sdk_ec2::Client::from_conf(conf),
            info: CloudInfo {
                kind: CLOUD,
                account: String::new(),
                region,
                owner,
            },
            config: settings,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The EC2 client (for callers that need a call strato does not wrap).
    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.ec2
    }

    /// The profile settings.
    pub fn config(&self) -> &AwsConfig {
        &self.config
    }

    pub(crate) fn owner(&self) -> &OwnerId {
        &self.info.owner
    }

    /// Remembers ids just created (see `recent`).
    pub(crate) fn remember(&self, ids: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        let grace = self.config.visibility_grace();
        let mut m = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, t| now.duration_since(*t) < grace);
        for id in ids {
            m.insert(id, now);
        }
    }

    pub(crate) fn forget(&self, id: &str) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub(crate) fn is_recent(&self, id: &str) -> bool {
        let m = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        m.get(id)
            .is_some_and(|t| t.elapsed() < self.config.visibility_grace())
    }

    /// The error mapper of one call.
    pub(crate) fn sdk_err<E>(
        &self,
        op: Operation,
        ctx: Context,
    ) -> impl FnOnce(
        aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    ) -> Error
    where
        E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        move |e| map_sdk_error(e, op, ctx)
    }
}

impl AwsConnector {
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
strato_core::impl_cloud_connector!(AwsConnector);
