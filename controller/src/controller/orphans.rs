//! SEs left behind: VMs this controller's owner made as SEs (they carry the SE template tag)
//! whose group no longer exists here, for example after the store was lost and the group was
//! not declared again. They are reported first and deleted only when asked, and a VM without
//! the SE tag (made by the CLI under the same owner, say) is never one of them.

use super::{Controller, TEMPLATE_TAG, keys};
use crate::error::Result;
use serde::Serialize;
use strato_core::{CloudConnectorExt, VmQuery};

/// An SE VM no SE group of this controller accounts for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// Cloud profile.
    pub cloud: String,
    /// The VM.
    pub vm_id: String,
    /// Its name.
    pub name: String,
    /// The group its tags name.
    pub group: Option<String>,
    /// When it was made.
    pub created_at: String,
}

impl Controller {
    /// The orphaned SEs of every cloud (one fresh list per cloud).
    pub async fn orphans(&self) -> Result<Vec<Orphan>> {
        let mut out = Vec::new();
        for (cloud, conn) in &self.inner.clouds {
            let vms = conn.list_all_vms(&VmQuery::default()).await?;
            let st = self.state();
            for vm in vms {
                // A group whose record was moved aside is held, its SEs with it.
                let known = vm.group().is_some_and(|g| {
                    st.groups.contains_key(g)
                        || st.ses.contains_key(g)
                        || st
                            .quarantined
                            .contains_key(&format!("{}{g}", keys::SEGROUP))
                });
                if vm.tags.contains_key(TEMPLATE_TAG) && !known {
                    out.push(Orphan {
                        cloud: cloud.clone(),
                        vm_id: vm.id.to_string(),
                        name: vm.name.clone(),
                        group: vm.group().map(str::to_owned),
                        created_at: vm.created_at.to_rfc3339(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Deletes the orphaned SEs and returns them. Each is looked up again first, so one that a
    /// group re-declared meanwhile is spared.
    pub async fn sweep_orphans(&self) -> Result<Vec<Orphan>> {
        let mut swept = Vec::new();
        for o in self.orphans().await? {
            let claimed = {
                let st = self.state();
                o.group
                    .as_deref()
                    .is_some_and(|g| st.groups.contains_key(g) || st.ses.contains_key(g))
            };
            if claimed {
                continue;
            }
            let conn = &self.inner.clouds[&o.cloud];
            match conn.delete_vm(&strato_core::VmId::new(&o.vm_id)).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(cloud = %o.cloud, vm = %o.vm_id, name = %o.name, "swept orphaned SE");
            swept.push(o);
        }
        Ok(swept)
    }
}
