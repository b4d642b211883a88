//! Records the controller persists about what it made, so that a restart finds everything
//! again, and the calls that save and forget them (and the create call an SE record stands
//! for); and the SE agents' credentials, whose digests live in the SE records: issued here,
//! checked here, revoked with the record.

use super::{Controller, keys};
use crate::error::{ControllerError, Result};
use crate::secret::{Secret, constant_time_eq, sha256_hex};
use crate::store::{Precondition, StateStoreExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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
    /// Hex SHA-256 of the SE agent's credential (never the credential itself). `None` for an
    /// SE adopted after a lost store or recorded before agents had credentials: its agent is
    /// refused until an admin issues one ([`Controller::issue_se_credential`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_sha256: Option<String>,
    /// Its NICs as last seen or attached, the primary first: what carries
    /// each virtual service's VIP, and what strato detaches when no service needs it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<strato_core::Nic>,
    /// The nonce the SE's credential was derived with (with the deployment's agent key), so
    /// that a create issued again after a crash hands the VM the same credential. `None` for
    /// an SE adopted or recorded before this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_nonce: Option<String>,
}

/// The SE credentials' side of the controller: the lock that orders writes of SE records,
/// and the credentials minted at creation that no one has taken yet.
#[derive(Debug, Default)]
pub(crate) struct SeCredentials {
    /// Held around every write of an SE record, so that a pass saving the copy it read at its
    /// start cannot put back a credential digest an admin replaced meanwhile, nor an issue
    /// bring back a record the pass forgot.
    writes: tokio::sync::Mutex<()>,
    /// SE -> the credential minted with it, until [`Controller::issue_se_credential`] hands it
    /// out (once). Only here, never in the store: a restart loses them, and an admin issues
    /// new ones.
    pending: Mutex<HashMap<String, Secret>>,
}

/// Whom a credential presented on an SE's agent paths speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentCredential {
    /// That SE: allowed.
    ThisSe,
    /// Another SE that exists: refused (403), one agent never speaks for another.
    OtherSe,
    /// No SE's: refused as unauthenticated (401), like a wrong token.
    Unknown,
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
    /// Saves an SE record, in the store and in memory. The credential digest kept is the one
    /// in memory when the SE is there: the credential is the API's to change, and a pass may
    /// save a copy it read before an admin issued a new one.
    pub(super) async fn save_se(&self, rec: &SeRecord) -> Result<()> {
        let _writes = self.inner.credentials.writes.lock().await;
        let current = self
            .state()
            .ses
            .get(&rec.group)
            .and_then(|m| m.get(&rec.name))
            .map(|r| r.credential_sha256.clone());
        match current {
            Some(c) if c != rec.credential_sha256 => {
                let rec = SeRecord {
                    credential_sha256: c,
                    ..rec.clone()
                };
                self.write_se(&rec).await
            }
            _ => self.write_se(rec).await,
        }
    }

    /// Writes an SE record as it is; the caller holds the record write lock.
    async fn write_se(&self, rec: &SeRecord) -> Result<()> {
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

    /// Forgets an SE: its record (and with it its agent's credential, revoked), what its agent
    /// said, and its configuration.
    pub(super) async fn forget_se(&self, group: &str, name: &str) -> Result<()> {
        let _writes = self.inner.credentials.writes.lock().await;
        self.inner
            .credentials
            .pending
            .lock()
            .expect("credentials lock")
            .remove(name);
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

    /// Keeps the credential minted with a new SE (whose record holds its digest) until an
    /// admin takes it.
    pub(super) fn hold_se_credential(&self, se: &str, credential: Secret) {
        self.inner
            .credentials
            .pending
            .lock()
            .expect("credentials lock")
            .insert(se.to_owned(), credential);
    }

    /// The record of an SE, found by name in any group.
    fn se_record(&self, se: &str) -> Option<Arc<SeRecord>> {
        let st = self.state();
        // SEs are named GROUP-SERIAL: look in that group first, then in all of them.
        se.rsplit_once('-')
            .and_then(|(g, _)| st.ses.get(g)?.get(se))
            .or_else(|| st.ses.values().find_map(|m| m.get(se)))
            .cloned()
    }

    /// Hands out the credential of an SE's agent, valid for that SE's agent paths only. The
    /// one minted with the SE is handed out once; after that (or after a restart, which
    /// loses it) a new one is minted and its digest replaces the old, which stops working.
    /// Either way, no one else has seen the credential returned. Unknown SE: `NotFound`.
    ///
    /// Until SEs receive their credential when they boot, this is how an agent gets one (the
    /// API's `POST /api/v1/ses/{id}/credentials`, for the admin).
    pub async fn issue_se_credential(&self, se: &str) -> Result<Secret> {
        let _writes = self.inner.credentials.writes.lock().await;
        let rec = self
            .se_record(se)
            .ok_or_else(|| ControllerError::NotFound(format!("SE {se}")))?;
        let pending = self
            .inner
            .credentials
            .pending
            .lock()
            .expect("credentials lock")
            .remove(se);
        if let Some(c) = pending
            && rec.credential_sha256.as_deref() == Some(c.sha256_hex().as_str())
        {
            return Ok(c);
        }
        let c = Secret::mint();
        let rec = SeRecord {
            credential_sha256: Some(c.sha256_hex()),
            ..(*rec).clone()
        };
        self.write_se(&rec).await?;
        tracing::info!(
            se,
            "issued a new agent credential; the previous one is revoked"
        );
        Ok(c)
    }

    /// Whom `presented` speaks for on the agent paths of `se` (compared by digest, in
    /// constant time).
    pub fn check_se_credential(&self, se: &str, presented: &str) -> AgentCredential {
        let digest = sha256_hex(presented);
        let is = |r: &SeRecord| {
            r.credential_sha256
                .as_deref()
                .is_some_and(|d| constant_time_eq(d.as_bytes(), digest.as_bytes()))
        };
        if self.se_record(se).is_some_and(|r| is(&r)) {
            return AgentCredential::ThisSe;
        }
        // Only a refusal pays for the scan of every SE.
        let st = self.state();
        if st.ses.values().flat_map(|m| m.values()).any(|r| is(r)) {
            AgentCredential::OtherSe
        } else {
            AgentCredential::Unknown
        }
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
        // The spec with its first-boot document, for this call only: the record's never has it.
        let spec = self.create_spec(rec, &conn.capabilities()).await?;
        match conn.create_vm(&spec).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::ControllerOptions;
    use crate::store::MemoryStore;
    use std::collections::BTreeMap;
    use strato_core::Size;

    #[tokio::test]
    async fn a_pass_saving_an_old_copy_keeps_the_newer_credential() {
        let store = Arc::new(MemoryStore::new());
        let ctl = Controller::new(store.clone(), BTreeMap::new(), ControllerOptions::default())
            .await
            .unwrap();
        let minted = Secret::mint();
        let rec = SeRecord {
            name: "web-1".into(),
            group: "web".into(),
            serial: 1,
            token: "t".into(),
            spec: VmSpec::new("web-1", Size::shape(1, 1024), "se-1"),
            template: "h".into(),
            vm_id: None,
            phase: SePhase::Creating,
            reason: None,
            adopted: false,
            credential_sha256: Some(minted.sha256_hex()),
            nics: Vec::new(),
            credential_nonce: None,
        };
        ctl.save_se(&rec).await.unwrap();
        ctl.hold_se_credential("web-1", minted.clone());
        // Handed out once, then a new one each time.
        let first = ctl.issue_se_credential("web-1").await.unwrap();
        assert_eq!(first, minted);
        let second = ctl.issue_se_credential("web-1").await.unwrap();
        assert_ne!(second, minted);
        // A pass read the record before the second issue and saves its copy now.
        let old_copy = SeRecord {
            phase: SePhase::Active,
            ..rec
        };
        ctl.save_se(&old_copy).await.unwrap();
        assert_eq!(
            ctl.check_se_credential("web-1", second.expose()),
            AgentCredential::ThisSe
        );
        assert_eq!(
            ctl.check_se_credential("web-1", minted.expose()),
            AgentCredential::Unknown
        );
        let stored: SeRecord = store
            .get_json("se/web/web-1")
            .await
            .unwrap()
            .expect("the record")
            .0;
        assert_eq!(stored.phase, SePhase::Active, "the pass's change is saved");
        assert_eq!(
            stored.credential_sha256,
            Some(second.sha256_hex()),
            "and the newer credential with it"
        );
    }
}
