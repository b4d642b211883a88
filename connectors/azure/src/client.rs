//! The Azure connector: the struct, how it is built (credentials, the two management clients on
//! one counted transport), and the trait impl.

use crate::CLOUD;
use crate::config::{Auth, AzureConfig};
use crate::wire::{ApiCallCounter, Wire};
use azure_core::auth::{AccessToken, TokenCredential};
use azure_core::{RetryOptions, TransportOptions, Url};
use std::fmt;
use std::sync::Arc;
use strato_core::{Capabilities, CloudInfo, Error, ErrorKind, Operation, OwnerId, Result};

/// A fixed token for a fake ARM endpoint (`auth = "anonymous"`): the fake checks that a bearer
/// token is sent, not which.
#[derive(Debug)]
struct FakeToken;

#[async_trait::async_trait]
impl TokenCredential for FakeToken {
    async fn get_token(&self, _scopes: &[&str]) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            "strato-fake-arm-token",
            azure_core::date::parse_rfc3339("2999-01-01T00:00:00Z")?,
        ))
    }
    async fn clear_cache(&self) -> azure_core::Result<()> {
        Ok(())
    }
}

/// The Azure Resource Manager connector for one owner, subscription, resource group and VNet.
pub struct AzureConnector {
    pub(crate) compute: azure_mgmt_compute::Client,
    pub(crate) network: azure_mgmt_network::Client,
    pub(crate) wire: Wire,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    pub(crate) info: CloudInfo,
    pub(crate) config: AzureConfig,
    calls: ApiCallCounter,
    /// Network ownership lives in the VNet's tags (subnets have none): read-modify-write of
    /// those tags is serialised within this connector.
    pub(crate) vnet_tags: tokio::sync::Mutex<()>,
}

impl fmt::Debug for AzureConnector {
    // By hand: the credential is not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureConnector")
            .field("owner", &self.info.owner)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AzureConnector {
    /// Builds a connector: credentials from azure_identity's standard chain (or the fake token
    /// with `auth = "anonymous"`). Does not call Azure.
    pub async fn connect(owner: OwnerId, config: AzureConfig) -> Result<Self> {
        config.validate()?;
        let credential: Arc<dyn TokenCredential> = match config.auth {
            Auth::Anonymous => Arc::new(FakeToken),
            Auth::Default => azure_identity::create_credential().map_err(|e| {
                Error::new(
                    ErrorKind::Unauthenticated,
                    Operation::Configure,
                    format!("no Azure credential: {e}"),
                )
                .with_cloud(CLOUD)
            })?,
        };
        Self::with_credential(owner, config, credential)
    }

    /// Builds a connector on a given credential (tests, custom token sources).
    pub fn with_credential(
        owner: OwnerId,
        config: AzureConfig,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<Self> {
        config.validate()?;
        let bad = |e: String| {
            Error::invalid_spec("endpoint", e)
                .with_operation(Operation::Configure)
                .with_cloud(CLOUD)
        };
        let endpoint = Url::parse(config.endpoint()).map_err(|e| bad(format!("endpoint: {e}")))?;
        let scope = endpoint
            .join(azure_core::auth::DEFAULT_SCOPE_SUFFIX)
            .map_err(|e| bad(format!("endpoint: {e}")))?
            .to_string();
        let calls = ApiCallCounter::default();
        let wire = Wire::new(calls.clone());
        let transport = TransportOptions::new_custom_policy(Arc::new(wire.clone()));
        let compute = azure_mgmt_compute::Client::builder(credential.clone())
            .endpoint(endpoint.clone())
            .scopes(&[&scope])
            .retry(RetryOptions::none())
            .transport(transport.clone())
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let network = azure_mgmt_network::Client::builder(credential.clone())
            .endpoint(endpoint)
            .scopes(&[&scope])
            .retry(RetryOptions::none())
            .transport(transport)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            compute,
            network,
            wire,
            credential,
            scope,
            info: CloudInfo {
                kind: CLOUD,
                account: config.subscription_id.clone(),
                region: config.location.clone(),
                owner,
            },
            config,
            calls,
            vnet_tags: tokio::sync::Mutex::new(()),
        })
    }

    /// The profile settings.
    pub fn config(&self) -> &AzureConfig {
        &self.config
    }

    /// The ARM requests this connector has made (operation polls included).
    pub fn calls(&self) -> &ApiCallCounter {
        &self.calls
    }

    pub(crate) fn owner(&self) -> &OwnerId {
        &self.info.owner
    }

    pub(crate) fn sub(&self) -> &str {
        &self.config.subscription_id
    }

    pub(crate) fn rg(&self) -> &str {
        &self.config.resource_group
    }

    /// A bearer token for requests the SDK does not make (operation polls).
    pub(crate) async fn bearer(&self, op: Operation) -> Result<String> {
        let t = self
            .credential
            .get_token(&[&self.scope])
            .await
            .map_err(|e| crate::error::map_error(e, op))?;
        Ok(t.token.secret().to_owned())
    }

    /// The ARM id of a subnet of the profile's VNet.
    pub(crate) fn subnet_id(&self, subnet: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{}/subnets/{subnet}",
            self.sub(),
            self.rg(),
            self.config.vnet
        )
    }

    /// The ARM id of a network interface in the resource group.
    pub(crate) fn nic_id(&self, nic: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkInterfaces/{nic}",
            self.sub(),
            self.rg()
        )
    }
}

impl AzureConnector {
    pub(crate) fn info_impl(&self) -> &CloudInfo {
        &self.info
    }

    pub(crate) fn capabilities_impl(&self) -> Capabilities {
        crate::capabilities(&self.config)
    }

    pub(crate) async fn close_impl(&self) -> Result<()> {
        // No session to end: every request carries its own token.
        Ok(())
    }
}

// Every trait method calls its `_impl` in the file of its resource (vms.rs, networks.rs, ...).
strato_core::impl_cloud_connector!(AzureConnector);
