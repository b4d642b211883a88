//! The datacenter objects the connector works in (resolved once at connect from the profile's
//! inventory paths), and the brief listing of every VM that lookups by attribute start from.

use crate::CLOUD;
use crate::client::VsphereConnector;
use crate::config::VsphereConfig;
use crate::convert;
use crate::error::{CallError, MapCall};
use crate::soap::MoRef;
use crate::vim::Vim;
use strato_core::{Error, ErrorKind, Operation, Result, Tags};

/// The datacenter-level objects the connector works in, resolved once at connect.
#[derive(Clone, Debug)]
pub(crate) struct Inventory {
    pub(crate) datacenter: MoRef,
    pub(crate) datacenter_name: String,
    pub(crate) vm_folder: MoRef,
    pub(crate) resource_pool: Option<MoRef>,
    // The cluster or standalone compute resource of the configured resource pool: VMs can only
    // run on its hosts. None: every host of the datacenter (the resource pool follows the host).
    pub(crate) compute: Option<MoRef>,
    pub(crate) datastore: Option<MoRef>,
}

/// A VM as the brief listing sees it: reference, inventory name and strato attributes.
#[derive(Clone, Debug)]
pub(crate) struct Brief {
    pub(crate) obj: MoRef,
    pub(crate) name: String,
    pub(crate) attrs: Tags,
}

fn conf(msg: impl Into<String>, field: &str) -> Error {
    Error::new(ErrorKind::InvalidSpec, Operation::Configure, msg)
        .with_field(field)
        .with_cloud(CLOUD)
}

impl Inventory {
    /// Resolves the profile's datacenter, folder, resource pool and datastore.
    pub(crate) async fn resolve(vim: &Vim, cfg: &VsphereConfig) -> Result<Self> {
        let op = Operation::Configure;
        let dcs = vim
            .list(
                &vim.sc().root_folder,
                &[("Datacenter", &["name", "vmFolder"])],
            )
            .await
            .op(op)?;
        let names: Vec<&str> = dcs.iter().filter_map(|d| d.text("name")).collect();
        let dc = match &cfg.datacenter {
            Some(want) => dcs
                .iter()
                .find(|d| d.text("name") == Some(want))
                .ok_or_else(|| {
                    conf(
                        format!(
                            "datacenter {want:?} not found (there are: {})",
                            names.join(", ")
                        ),
                        "datacenter",
                    )
                })?,
            None if dcs.len() == 1 => &dcs[0],
            None => {
                return Err(conf(
                    format!(
                        "set `datacenter`: this vCenter has {} ({})",
                        dcs.len(),
                        names.join(", ")
                    ),
                    "datacenter",
                ));
            }
        };
        let dc_name = dc.text("name").unwrap_or_default().to_owned();
        let root_vm_folder = dc
            .props
            .get("vmFolder")
            .and_then(|e| e.as_moref())
            .ok_or_else(|| conf("datacenter has no vmFolder", "datacenter"))?;
        let find = |field: &'static str, path: String| async move {
            vim.find_by_path(&path).await.op(op)?.ok_or_else(|| {
                conf(
                    format!("{field} {path:?} not found in the inventory"),
                    field,
                )
            })
        };
        let vm_folder = match &cfg.folder {
            Some(f) => find("folder", format!("{dc_name}/{}", f.trim_matches('/'))).await?,
            None => root_vm_folder,
        };
        let (resource_pool, compute) = match &cfg.resource_pool {
            Some(p) => {
                let obj = find(
                    "resource_pool",
                    format!("{dc_name}/{}", p.trim_matches('/')),
                )
                .await?;
                let is_resource_pool = matches!(obj.kind.as_str(), "ResourcePool" | "VirtualApp");
                let (prop, what) = if is_resource_pool {
                    ("owner", "compute resource")
                } else {
                    // A cluster or standalone host: its root pool.
                    ("resourcePool", "resource pool")
                };
                let o = vim.props(&obj, &[prop]).await.op(op)?;
                let other = o
                    .props
                    .get(prop)
                    .and_then(|e| e.as_moref())
                    .ok_or_else(|| {
                        conf(
                            format!("resource_pool {p:?} is a {} without a {what}", obj.kind),
                            "resource_pool",
                        )
                    })?;
                if is_resource_pool {
                    (Some(obj), Some(other))
                } else {
                    (Some(other), Some(obj))
                }
            }
            None => (None, None),
        };
        let datastore = match &cfg.datastore {
            Some(d) => Some(find("datastore", format!("{dc_name}/datastore/{d}")).await?),
            None => None,
        };
        Ok(Self {
            datacenter: dc.obj.clone(),
            datacenter_name: dc_name,
            vm_folder,
            resource_pool,
            compute,
            datastore,
        })
    }
}

impl VsphereConnector {
    /// Every VM of the datacenter with its inventory name and strato attributes.
    pub(crate) async fn briefs(&self) -> std::result::Result<Vec<Brief>, CallError> {
        let all = self
            .vim
            .list(
                &self.inv.datacenter,
                &[("VirtualMachine", convert::VM_BRIEF)],
            )
            .await?;
        Ok(all
            .into_iter()
            .map(|o| Brief {
                name: o.text("name").unwrap_or_default().to_owned(),
                attrs: self.attrs(&o),
                obj: o.obj,
            })
            .collect())
    }
}
