//! Bootstrap data as a Secret made with the pod: `POD-bootstrap`, labelled as owned, owned by
//! the pod through an ownerReference (so the garbage collector deletes it with the pod), and
//! mounted read-only at `/etc/strato/user-data` ([`BOOTSTRAP_DIR`], [`BOOTSTRAP_KEY`]).
//!
//! The pod is created first (its uid is the Secret's owner); until the Secret exists the kubelet
//! waits with the pod in ContainerCreating, and a create retried after a crash in between finds
//! the pod and makes the Secret.

use crate::CLOUD;
use crate::client::KubernetesConnector;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, PodSpec, Secret, SecretVolumeSource, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::Api;
use std::collections::BTreeMap;
use strato_core::{Bootstrap, Error, ErrorKind, Operation, Result, VmSpec};

/// Where the document is mounted in the SE's container.
pub const BOOTSTRAP_DIR: &str = "/etc/strato";
/// The Secret's key, and so the file name under [`BOOTSTRAP_DIR`].
pub const BOOTSTRAP_KEY: &str = "user-data";
/// The largest document: well under the API server's 1 MiB limit on a Secret (which counts the
/// base64 text, a third larger), leaving room for the object's metadata.
pub const BOOTSTRAP_MAX_BYTES: u32 = 256 * 1024;
const VOLUME: &str = "strato-bootstrap";

/// The Secret's name for a pod.
pub fn secret_name(pod: &str) -> String {
    format!("{pod}-bootstrap")
}

/// Adds the Secret's volume and its read-only mount (in every container) to a pod spec.
pub fn mount(pspec: &mut PodSpec, pod: &str) {
    pspec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: VOLUME.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name(pod)),
            // Read by the SE's own user only.
            default_mode: Some(0o400),
            ..Default::default()
        }),
        ..Default::default()
    });
    for c in &mut pspec.containers {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: VOLUME.into(),
                mount_path: BOOTSTRAP_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            });
    }
}

impl KubernetesConnector {
    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.config.namespace)
    }

    /// Makes the pod's bootstrap Secret (idempotent: the one a retried create made is kept).
    pub(crate) async fn create_bootstrap_secret(
        &self,
        op: Operation,
        spec: &VmSpec,
        pod: &Pod,
        doc: &Bootstrap,
        token: &str,
    ) -> Result<()> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                "the API server answered a pod without uid",
            )
            .with_cloud(CLOUD)
        })?;
        let mut labels = BTreeMap::new();
        spec.ownership(self.owner()).apply(&mut labels);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(&name)),
                namespace: Some(self.config.namespace.clone()),
                labels: Some(labels),
                owner_references: Some(vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Pod".into(),
                    name,
                    uid,
                    ..Default::default()
                }]),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                BOOTSTRAP_KEY.to_owned(),
                ByteString(doc.expose().as_bytes().to_vec()),
            )])),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        self.create_idempotent(&self.secrets(), op, "secret", &secret, token)
            .await
            .map(|_| ())
    }
}
