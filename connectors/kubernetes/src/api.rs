//! Generic Kubernetes API helpers every resource file uses: the typed `Api` handles of the
//! profile's namespace, and owner-aware get, idempotent create, uid-guarded delete and one-page
//! list.

use crate::CLOUD;
use crate::client::KubernetesConnector;
use crate::convert;
use crate::error;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::core::{DynamicObject, ObjectList};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use strato_core::*;

impl KubernetesConnector {
    pub(crate) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.config.namespace)
    }

    pub(crate) fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.config.namespace)
    }

    pub(crate) fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.config.namespace)
    }

    pub(crate) fn nads(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.config.namespace,
            &convert::nad_resource(),
        )
    }

    pub(crate) fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
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
                    return Err(error::already_exists(op, &res, why));
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

    /// Deletes `name` only while its uid is `uid` (a re-created object of that name survives),
    /// with `grace` seconds to terminate (the object's own default when `None`); gone is fine.
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
}
