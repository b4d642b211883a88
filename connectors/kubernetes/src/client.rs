//! The connector: a `kube::Client` on one namespace, for one owner, and the trait impl.

use crate::config::{Auth, KubernetesConfig, Multus};
use crate::convert::{self, POD_LABEL};
use crate::error::{self, CLOUD};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::{DynamicObject, ObjectList};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt;
use std::time::Duration;
use strato_core::*;

/// The Kubernetes connector. Everything it creates lives in one namespace and carries the
/// ownership labels of one owner.
#[derive(Clone)]
pub struct KubernetesConnector {
    pub(crate) client: kube::Client,
    pub(crate) cfg: KubernetesConfig,
    pub(crate) info: CloudInfo,
    pub(crate) multus: bool,
}

// By hand: the client holds credentials.
impl fmt::Debug for KubernetesConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesConnector")
            .field("info", &self.info)
            .field("cfg", &self.cfg)
            .field("multus", &self.multus)
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
        cfg: KubernetesConfig,
        owner: OwnerId,
        account: String,
    ) -> Result<Self> {
        cfg.validate()?;
        let multus = match cfg.multus {
            Multus::Disabled => false,
            Multus::Auto | Multus::Required => {
                let found = discover_multus(&client).await?;
                if !found && cfg.multus == Multus::Required {
                    return Err(configure(
                        "multus = \"required\" but the cluster serves no k8s.cni.cncf.io/v1 network-attachment-definitions".into(),
                    )
                    .with_field("multus"));
                }
                found
            }
        };
        let info = CloudInfo {
            kind: CLOUD,
            account,
            region: cfg.namespace.clone(),
            owner,
        };
        Ok(Self {
            client,
            cfg,
            info,
            multus,
        })
    }

    /// True when networks are Multus NetworkAttachmentDefinitions on this cluster.
    pub fn has_multus(&self) -> bool {
        self.multus
    }

    pub(crate) fn owner(&self) -> &OwnerId {
        &self.info.owner
    }

    pub(crate) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.cfg.namespace)
    }

    pub(crate) fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.cfg.namespace)
    }

    pub(crate) fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.cfg.namespace)
    }

    pub(crate) fn nads(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.cfg.namespace,
            &convert::nad_resource(),
        )
    }

    /// `owner=X[,extra]` label selector.
    pub(crate) fn owner_selector(&self, extra: &[(&str, &str)]) -> String {
        let mut s = format!("{}={}", OWNER_TAG, self.owner());
        for (k, v) in extra {
            s.push_str(&format!(",{k}={v}"));
        }
        s
    }

    /// Reads an object the owner owns: absent or foreign is `NotFound`.
    pub(crate) async fn get_owned<K>(
        &self,
        api: &Api<K>,
        op: Operation,
        what: &str,
        name: &str,
    ) -> Result<K>
    where
        K: Resource + Clone + DeserializeOwned + fmt::Debug,
    {
        let res = format!("{what} {name:?}");
        match api
            .get_opt(name)
            .await
            .map_err(|e| error::map(op, &res, e))?
        {
            Some(o) if convert::owned_by(o.meta(), self.owner()) => Ok(o),
            _ => Err(Error::not_found(op, res).with_cloud(CLOUD)),
        }
    }

    /// Creates an object named after its spec; when the name is taken, returns the existing
    /// object if the same request of the same owner made it (same token label), else
    /// `AlreadyExists`.
    pub(crate) async fn create_idempotent<K>(
        &self,
        api: &Api<K>,
        op: Operation,
        what: &str,
        obj: &K,
        token: &str,
    ) -> Result<K>
    where
        K: Resource + Clone + DeserializeOwned + Serialize + fmt::Debug,
    {
        let name = obj.meta().name.clone().unwrap_or_default();
        let res = format!("{what} {name:?}");
        // Two rounds: the existing object can vanish between the 409 and the read.
        for _ in 0..2 {
            match api.create(&PostParams::default(), obj).await {
                Ok(o) => return Ok(o),
                Err(e) if error::is_already_exists(&e) => {
                    let Some(existing) = api
                        .get_opt(&name)
                        .await
                        .map_err(|e| error::map(op, &res, e))?
                    else {
                        continue;
                    };
                    let labels = existing.meta().labels.clone().unwrap_or_default();
                    let same = labels.get(OWNER_TAG).map(String::as_str)
                        == Some(self.owner().as_str())
                        && labels.get(TOKEN_TAG).map(String::as_str) == Some(token);
                    if same && existing.meta().deletion_timestamp.is_none() {
                        return Ok(existing);
                    }
                    let why = if same {
                        "is being deleted; retry once it is gone"
                    } else {
                        "exists and was made from a different request"
                    };
                    return Err(
                        Error::new(ErrorKind::AlreadyExists, op, format!("{res} {why}"))
                            .with_cloud(CLOUD)
                            .with_resource(&res)
                            .with_vendor(
                                "409 AlreadyExists",
                                format!("{res} already exists"),
                                None,
                            ),
                    );
                }
                Err(e) => return Err(error::map(op, &res, e)),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            op,
            format!("{res} kept appearing and disappearing during create"),
        )
        .with_cloud(CLOUD))
    }

    /// Deletes an owned object by name, only if it is still the object that was read (uid
    /// precondition); gone already is fine.
    pub(crate) async fn delete_owned<K>(
        &self,
        api: &Api<K>,
        op: Operation,
        what: &str,
        name: &str,
    ) -> Result<()>
    where
        K: Resource + Clone + DeserializeOwned + fmt::Debug,
    {
        let res = format!("{what} {name:?}");
        let Some(obj) = api
            .get_opt(name)
            .await
            .map_err(|e| error::map(op, &res, e))?
        else {
            return Ok(());
        };
        if !convert::owned_by(obj.meta(), self.owner()) {
            return Err(Error::not_found(op, res).with_cloud(CLOUD));
        }
        self.delete_uid(api, op, &res, name, obj.meta().uid.clone(), None)
            .await
    }

    pub(crate) async fn delete_uid<K>(
        &self,
        api: &Api<K>,
        op: Operation,
        res: &str,
        name: &str,
        uid: Option<String>,
        grace: Option<u32>,
    ) -> Result<()>
    where
        K: Resource + Clone + DeserializeOwned + fmt::Debug,
    {
        let mut dp = DeleteParams::background().preconditions(Preconditions {
            uid,
            resource_version: None,
        });
        dp.grace_period_seconds = grace;
        match api.delete(name, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if error::is_not_found(&e) => Ok(()),
            Err(e) => Err(error::map(op, res, e)),
        }
    }

    /// Lists with a selector, one native page (`limit` + `continue`).
    pub(crate) async fn list_page<K>(
        &self,
        api: &Api<K>,
        op: Operation,
        what: &str,
        lp: ListParams,
    ) -> Result<ObjectList<K>>
    where
        K: Resource + Clone + DeserializeOwned + fmt::Debug,
    {
        api.list(&lp).await.map_err(|e| error::map(op, what, e))
    }

    /// Makes sure a pod carries its per-pod label (group members are created without it).
    pub(crate) async fn ensure_pod_label(&self, op: Operation, pod: &Pod) -> Result<()> {
        let name = pod.name_any();
        if pod.labels().get(POD_LABEL) == Some(&name) {
            return Ok(());
        }
        let patch = json!({"metadata": {"labels": {POD_LABEL: name}}});
        self.pods()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| error::map(op, &format!("pod {name:?}"), e))?;
        Ok(())
    }

    pub(crate) fn vm(&self, pod: &Pod, op: Operation) -> Result<Vm> {
        convert::vm_of(pod, &self.cfg.container_name).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                format!(
                    "pod {:?} has no container or ownership labels",
                    pod.name_any()
                ),
            )
            .with_cloud(CLOUD)
        })
    }

    pub(crate) fn replace_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.replace_timeout_secs)
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

#[async_trait]
impl CloudConnector for KubernetesConnector {
    fn info(&self) -> &CloudInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        crate::capabilities::capabilities(self.multus)
    }

    async fn create_vm(&self, spec: &VmSpec) -> Result<Vm> {
        self.create_pod(spec).await
    }

    async fn get_vm(&self, id: &VmId) -> Result<Vm> {
        let pod = self
            .get_owned(&self.pods(), Operation::GetVm, "pod", id.as_str())
            .await?;
        self.vm(&pod, Operation::GetVm)
    }

    async fn list_vms(&self, query: &VmQuery) -> Result<Page<Vm>> {
        self.list_pods(query).await
    }

    async fn delete_vm(&self, id: &VmId) -> Result<()> {
        self.delete_pod(id).await
    }

    async fn start_vm(&self, _id: &VmId) -> Result<Vm> {
        Err(Error::unsupported(
            Operation::StartVm,
            CLOUD,
            "a pod cannot be stopped and started again; delete it and create it anew",
        ))
    }

    async fn stop_vm(&self, _id: &VmId) -> Result<Vm> {
        Err(Error::unsupported(
            Operation::StopVm,
            CLOUD,
            "a pod cannot be stopped and started again; delete it and create it anew",
        ))
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<Network> {
        self.create_nad(spec).await
    }

    async fn get_network(&self, id: &NetworkId) -> Result<Network> {
        self.get_nad(id).await
    }

    async fn list_networks(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        self.list_nads(query).await
    }

    async fn delete_network(&self, id: &NetworkId) -> Result<()> {
        self.delete_nad(id).await
    }

    async fn attach_nic(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        self.attach(vm, spec).await
    }

    async fn detach_nic(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        self.detach(vm, nic).await
    }

    async fn allocate_vip(&self, spec: &VipSpec) -> Result<Vip> {
        self.create_service(spec).await
    }

    async fn get_vip(&self, id: &VipId) -> Result<Vip> {
        let svc = self
            .get_owned(&self.services(), Operation::GetVip, "service", id.as_str())
            .await?;
        self.vip(&svc, Operation::GetVip)
    }

    async fn list_vips(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        self.list_services(query).await
    }

    async fn move_vip(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        self.repoint_service(id, to).await
    }

    async fn release_vip(&self, id: &VipId) -> Result<()> {
        self.delete_owned(
            &self.services(),
            Operation::ReleaseVip,
            "service",
            id.as_str(),
        )
        .await
    }

    async fn scale_group(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        self.scale_deployment(spec, size).await
    }

    async fn get_group(&self, name: &str) -> Result<Group> {
        self.read_group(name).await
    }

    async fn list_hosts(&self) -> Result<Vec<Host>> {
        self.list_nodes().await
    }

    // Every request carries its own credentials: no session to end.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
