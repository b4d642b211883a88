//! The connector: a `kube::Client` on one namespace, for one owner, how it is built (client
//! configuration, Multus discovery), and the trait impl, which only forwards to the resource
//! files (`vms.rs`, `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs`, `hosts.rs`).

use crate::CLOUD;
use crate::config::{Auth, KubernetesConfig, Multus};
use crate::error;
use std::fmt;
use strato_core::*;

/// The Kubernetes connector. Everything it creates lives in one namespace and carries the
/// ownership labels of one owner.
#[derive(Clone)]
pub struct KubernetesConnector {
    pub(crate) client: kube::Client,
    /// The profile's settings, with `multus` resolved at connect time: never `Auto` here, but
    /// `Required` when the cluster serves Multus and `Disabled` when it does not, so that
    /// [`crate::capabilities`] reads the cluster's capabilities from it like every connector's.
    pub(crate) config: KubernetesConfig,
    pub(crate) info: CloudInfo,
}

// By hand: the client holds credentials.
impl fmt::Debug for KubernetesConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesConnector")
            .field("info", &self.info)
            .field("cfg", &self.config)
            .finish_non_exhaustive()
    }
}

fn configure(msg: String) -> Error {
    Error::new(ErrorKind::InvalidSpec, Operation::Configure, msg).with_cloud(CLOUD)
}

/// Builds the client configuration the settings describe: a bare URL, a kubeconfig (with its
/// context), the pod's service account, or kube's inference (kubeconfig, then in-cluster).
pub async fn kube_config(cfg: &KubernetesConfig) -> Result<kube::Config> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    if let Some(url) = &cfg.cluster_url {
        let uri = url.parse().map_err(|e| {
            configure(format!("cluster_url is not a URL: {e}")).with_field("cluster_url")
        })?;
        let mut c = kube::Config::new(uri);
        c.default_namespace = cfg.namespace.clone();
        return Ok(c);
    }
    let opts = KubeConfigOptions {
        context: cfg.context.clone(),
        ..Default::default()
    };
    let from_kubeconfig = || async {
        match &cfg.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    configure(format!("kubeconfig {}: {e}", path.display()))
                        .with_field("kubeconfig")
                })?;
                kube::Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| {
                        configure(format!("kubeconfig {}: {e}", path.display()))
                            .with_field("context")
                    })
            }
            None => kube::Config::from_kubeconfig(&opts)
                .await
                .map_err(|e| configure(format!("kubeconfig: {e}")).with_field("kubeconfig")),
        }
    };
    match cfg.auth {
        Auth::Kubeconfig => from_kubeconfig().await,
        Auth::InCluster => kube::Config::incluster()
            .map_err(|e| configure(format!("in-cluster service account: {e}")).with_field("auth")),
        Auth::Infer => match from_kubeconfig().await {
            Ok(c) => Ok(c),
            Err(kc_err) => kube::Config::incluster().map_err(|e| {
                configure(format!(
                    "no usable kubeconfig ({}) and not in a cluster ({e})",
                    kc_err.message()
                ))
                .with_field("auth")
            }),
        },
    }
}

impl KubernetesConnector {
    /// Connects as the settings say, discovers Multus, and manages `owner`'s resources.
    pub async fn connect(cfg: KubernetesConfig, owner: OwnerId) -> Result<Self> {
        cfg.validate()?;
        crate::install_crypto_provider();
        let mut kc = kube_config(&cfg).await?;
        // kube retries 429/503/504 itself by default; strato's retry layer does that once, with
        // a budget, so two stacked retry loops cannot multiply a storm.
        kc.default_retry = false;
        let account = kc.cluster_url.to_string();
        let client = kube::Client::try_from(kc)
            .map_err(|e| configure(format!("cannot build a Kubernetes client: {e}")))?;
        Self::with_client(client, cfg, owner, account).await
    }

    /// Wraps an existing client (`account` names the cluster in [`CloudInfo`]).
    pub async fn with_client(
        client: kube::Client,
        mut cfg: KubernetesConfig,
        owner: OwnerId,
        account: String,
    ) -> Result<Self> {
        cfg.validate()?;
        if cfg.multus != Multus::Disabled {
            let found = discover_multus(&client).await?;
            if !found && cfg.multus == Multus::Required {
                return Err(configure(
                    "multus = \"required\" but the cluster serves no k8s.cni.cncf.io/v1 network-attachment-definitions".into(),
                )
                .with_field("multus"));
            }
            cfg.multus = if found {
                Multus::Required
            } else {
                Multus::Disabled
            };
        }
        let info = CloudInfo {
            kind: CLOUD,
            account,
            region: cfg.namespace.clone(),
            owner,
        };
        Ok(Self {
            client,
            config: cfg,
            info,
        })
    }

    /// True when networks are Multus NetworkAttachmentDefinitions on this cluster.
    pub fn has_multus(&self) -> bool {
        self.config.multus == Multus::Required
    }

    pub(crate) fn owner(&self) -> &OwnerId {
        &self.info.owner
    }
}

/// True when the cluster serves the Multus NetworkAttachmentDefinition API.
async fn discover_multus(client: &kube::Client) -> Result<bool> {
    match client.list_api_group_resources("k8s.cni.cncf.io/v1").await {
        Ok(list) => Ok(list
            .resources
            .iter()
            .any(|r| r.name == "network-attachment-definitions")),
        Err(e) if error::is_not_found(&e) => Ok(false),
        Err(e) => Err(error::map(
            Operation::Configure,
            "API discovery of k8s.cni.cncf.io/v1",
            e,
        )),
    }
}

impl KubernetesConnector {
    pub(crate) fn info_impl(&self) -> &CloudInfo {
        &self.info
    }

    pub(crate) fn capabilities_impl(&self) -> Capabilities {
        crate::capabilities(&self.config)
    }

    pub(crate) async fn close_impl(&self) -> Result<()> {
        // Every request carries its own credentials: no session to end.
        Ok(())
    }
}

// Every trait method calls its `_impl` in the file of its resource (vms.rs, networks.rs, ...).
strato_core::impl_cloud_connector!(KubernetesConnector);
