//! The vSphere connector: the struct, connecting (login, the profile's inventory, strato's custom
//! attributes), ending the session, the attribute and lock helpers every resource file uses, and
//! the `CloudConnector` impl, which only forwards to the `<op>_impl` methods of `vms.rs`,
//! `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs` and `hosts.rs`.

use crate::CLOUD;
use crate::capabilities::capabilities;
use crate::config::VsphereConfig;
use crate::convert;
use crate::error::{CallError, MapCall, map};
use crate::inventory::Inventory;
use crate::soap::MoRef;
use crate::vim::{ObjectContent, Vim};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strato_core::{Capabilities, CloudInfo, OWNER_TAG, Operation, OwnerId, Result, Tags};
use tokio::sync::Mutex;

/// A connector to one vCenter datacenter, for one owner.
pub struct VsphereConnector {
    pub(crate) info: CloudInfo,
    pub(crate) config: VsphereConfig,
    pub(crate) vim: Vim,
    pub(crate) inv: Inventory,
    // Custom attribute keys by name and names by key (strato's attributes only).
    field_keys: BTreeMap<String, i32>,
    field_names: BTreeMap<i32, String>,
    // In-process locks keyed by VM name or id: vcsim (unlike vCenter) accepts duplicate names,
    // and JSON attributes are read-modify-write.
    locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl std::fmt::Debug for VsphereConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VsphereConnector")
            .field("info", &self.info)
            .field("cfg", &self.config)
            .field("datacenter", &self.inv.datacenter_name)
            .finish_non_exhaustive()
    }
}

impl VsphereConnector {
    /// Connects, logs in, resolves the profile's inventory paths and makes sure strato's custom
    /// attributes are defined.
    pub async fn connect(cfg: VsphereConfig, owner: OwnerId) -> Result<Self> {
        cfg.validate()?;
        let creds = cfg.credentials()?;
        let vim = Vim::connect(&cfg, creds).await.op(Operation::Configure)?;
        let inv = Inventory::resolve(&vim, &cfg).await?;
        let field_keys = Self::define_attributes(&vim).await?;
        let field_names = field_keys.iter().map(|(k, v)| (*v, k.clone())).collect();
        let account = vim.sc().instance_uuid.clone();
        Ok(Self {
            info: CloudInfo {
                kind: CLOUD,
                account,
                region: inv.datacenter_name.clone(),
                owner,
            },
            config: cfg,
            vim,
            inv,
            field_keys,
            field_names,
            locks: Default::default(),
        })
    }

    /// Defines strato's custom attributes that are missing; their keys by name.
    async fn define_attributes(vim: &Vim) -> Result<BTreeMap<String, i32>> {
        let mut field_keys = vim.custom_fields().await.op(Operation::Configure)?;
        for name in convert::ATTRS {
            if field_keys.contains_key(name) {
                continue;
            }
            match vim.add_custom_field(name).await {
                Ok(key) => {
                    field_keys.insert(name.to_owned(), key);
                }
                // Another strato process defined it meanwhile.
                Err(e) if e.is_duplicate_name() => {
                    field_keys = vim.custom_fields().await.op(Operation::Configure)?;
                }
                Err(e) => return Err(map(Operation::Configure, e)),
            }
        }
        field_keys.retain(|k, _| convert::ATTRS.contains(&k.as_str()));
        Ok(field_keys)
    }

    /// Ends the vCenter session.
    pub async fn logout(&self) -> Result<()> {
        self.vim.logout().await.op(Operation::Configure)
    }

    pub(crate) async fn close_impl(&self) -> Result<()> {
        match self.vim.logout().await {
            Ok(()) => Ok(()),
            // Already logged out (closed twice, or the session timed out): nothing to end.
            Err(e) if e.is_not_authenticated() => Ok(()),
            Err(e) => Err(e).op(Operation::Configure),
        }
    }

    /// The vim25 client, for diagnostics.
    pub fn vim(&self) -> &Vim {
        &self.vim
    }

    /// The in-process lock of `key` (a VM name or id, a network name, or all VIPs).
    pub(crate) fn lock(&self, key: String) -> Arc<Mutex<()>> {
        let mut m = self.locks.lock().expect("lock map poisoned");
        m.entry(key).or_default().clone()
    }

    /// strato's custom attributes of an object read with `customValue`.
    pub(crate) fn attrs(&self, o: &ObjectContent) -> Tags {
        convert::custom_values(o.props.get("customValue"), &self.field_names)
    }

    pub(crate) fn owner(&self) -> &OwnerId {
        &self.info.owner
    }

    pub(crate) fn is_mine(&self, attrs: &Tags) -> bool {
        attrs.get(OWNER_TAG).map(String::as_str) == Some(self.owner().as_str())
    }

    pub(crate) async fn set_attr(
        &self,
        obj: &MoRef,
        name: &str,
        value: &str,
    ) -> std::result::Result<(), CallError> {
        let key = self.field_keys[name];
        self.vim.set_field(obj, key, value).await
    }
}

impl VsphereConnector {
    pub(crate) fn info_impl(&self) -> &CloudInfo {
        &self.info
    }

    pub(crate) fn capabilities_impl(&self) -> Capabilities {
        capabilities(&self.config)
    }
}

// Every trait method calls its `_impl` in the file of its resource (vms.rs, networks.rs, ...).
strato_core::impl_cloud_connector!(VsphereConnector);
