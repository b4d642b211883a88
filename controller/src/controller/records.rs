//! Records the controller persists about what it made, so that a restart finds everything
//! again, and the calls that save and forget them (and the create call an SE record stands
//! for).

use super::{Controller, keys};
use crate::error::Result;
use crate::store::{Precondition, StateStoreExt};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use strato_core::{CloudConnector, VipBinding, VipId, VmId, VmSpec};
use tokio::time::Instant;

/// Lifecycle of an SE as the controller drives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SePhase {
    /// Recorded with its client token; the create may not have reached the cloud yet.
    Creating,
    /// The VM exists.
    Active,
    /// Being emptied of virtual services before deletion (scale-in, upgrade, replacement).
    Draining,
    /// Delete issued; the record goes when the VM is gone from the cloud's list.
    Deleting,
}

/// One SE the controller created or adopted. Written before the create call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeRecord {
    /// SE name (the VM name).
    pub name: String,
    /// SE group.
    pub group: String,
    /// Serial (the number in the name).
    pub serial: u64,
    /// Client token of the create (also on the VM as the `strato-token` tag).
    pub token: String,
    /// The spec, to issue the create again with the same token.
    pub spec: VmSpec,
    /// Hash of the SE template it was made from.
    pub template: String,
    /// The VM, once the cloud accepted the create.
    pub vm_id: Option<VmId>,
    /// Phase.
    pub phase: SePhase,
    /// Why it is draining, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Found in the cloud after a restart rather than created by this record.
    #[serde(default)]
    pub adopted: bool,
}

/// What the controller keeps about one virtual service's VIP.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VsRuntime {
    /// Virtual service name.
    pub name: String,
    /// The address, once allocated (from IPAM, the fixed VIP, or the cloud).
    pub address: Option<IpAddr>,
    /// Pool the address came from.
    pub pool: Option<String>,
    /// The cloud's VIP, for clouds that route VIPs.
    pub vip_id: Option<VipId>,
    /// Who configures the address.
    pub binding: Option<VipBinding>,
    /// SE the VIP is bound to.
    pub bound_to: Option<String>,
    /// SEs serving it, primary first.
    pub placement: Vec<String>,
    /// FQDN published in DNS.
    pub dns_name: Option<String>,
}

/// Per-group counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupRuntime {
    /// Next SE serial. SE names are never reused, so a new SE never shares a client token with
    /// a deleted one.
    pub next_serial: u64,
}

impl Controller {
    /// Saves an SE record, in the store and in memory.
    pub(super) async fn save_se(&self, rec: &SeRecord) -> Result<()> {
        self.inner
            .store
            .put_json(
                &format!("{}{}/{}", keys::SE, rec.group, rec.name),
                rec,
                Precondition::Any,
            )
            .await?;
        self.state()
            .ses
            .entry(rec.group.clone())
            .or_default()
            .insert(rec.name.clone(), Arc::new(rec.clone()));
        Ok(())
    }

    /// Forgets an SE: its record, what its agent said, and its configuration.
    pub(super) async fn forget_se(&self, group: &str, name: &str) -> Result<()> {
        self.inner
            .store
            .delete(&format!("{}{group}/{name}", keys::SE), Precondition::Any)
            .await?;
        let mut st = self.state();
        if let Some(m) = st.ses.get_mut(group) {
            m.remove(name);
        }
        st.se_runtime.remove(name);
        if let Some(gs) = st.group_status.get_mut(group) {
            gs.issued.remove(name);
            gs.first_seen.remove(name);
            gs.reasons.remove(name);
        }
        drop(st);
        self.inner.hub.remove(name);
        Ok(())
    }

    /// Saves a virtual service's runtime, in the store and in memory.
    pub(super) async fn save_vsrt(&self, rt: &VsRuntime) -> Result<()> {
        self.inner
            .store
            .put_json(&format!("{}{}", keys::VSRT, rt.name), rt, Precondition::Any)
            .await?;
        self.state().vsrt.insert(rt.name.clone(), rt.clone());
        Ok(())
    }

    /// Issues (or re-issues) the create of an SE.
    pub(super) async fn issue_create(
        &self,
        conn: &Arc<dyn CloudConnector>,
        rec: &mut SeRecord,
    ) -> Result<()> {
        self.state()
            .group_status
            .entry(rec.group.clone())
            .or_default()
            .issued
            .insert(rec.name.clone(), Instant::now());
        metrics::counter!("strato_controller_se_creates_total").increment(1);
        match conn.create_vm(&rec.spec).await {
            Ok(vm) => {
                rec.vm_id = Some(vm.id);
                self.save_se(rec).await
            }
            Err(e) if e.is_retryable() || matches!(e.kind(), strato_core::ErrorKind::Timeout) => {
                Err(e.into())
            }
            Err(e) => {
                // The cloud refused: nothing was made, so the record goes.
                self.forget_se(&rec.group, &rec.name).await?;
                Err(e.into())
            }
        }
    }
}
