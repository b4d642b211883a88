//! Phase 5 of a group reconcile, create: SEs up to the target (replacements and scale-out).
//! Each SE's record, with the client token of its create, is written before the call, so a
//! create is never lost and never made twice, whatever happens to the call or the process.

use super::pass::{GroupPass, Se, SeHealth};
use super::template::se_spec;
use super::{Controller, SePhase, SeRecord, keys};
use crate::error::Result;
use crate::store::{Precondition, StateStoreExt};
use std::collections::HashSet;
use std::sync::Arc;
use strato_core::HostId;

impl Controller {
    pub(super) async fn create_ses(&self, p: &mut GroupPass<'_>) -> Result<()> {
        // A drained SE that still serves (an upgrade's or a scale-in's, waiting for its VIPs
        // to move) is a VM like any other: together they stay within max_ses. A failed or
        // unreachable SE is not counted, so its replacement is never held back by it.
        let draining = p
            .ses
            .iter()
            .filter(|s| s.rec.phase == SePhase::Draining && !s.health.failing())
            .count() as u32;
        while p.live_count < p.target && p.live_count + draining < p.g.max_ses {
            if p.issued >= p.opts.creates_per_pass {
                // The rest in the next pass, after the other due objects.
                p.budget_spent = true;
                break;
            }
            let host = match &p.hosts {
                Some(ready) => match free_host(&p.ses, ready) {
                    Some(h) => Some(h),
                    None => break,
                },
                None if p.g.placement.se_per_host => break,
                None => None,
            };
            if !self.create_se(p, host).await? {
                break;
            }
        }
        if p.created > 0 {
            self.invalidate_view(&p.g.cloud);
        }
        Ok(())
    }

    /// Records and creates one SE; false when the cloud refused it (the error is the pass's).
    async fn create_se(&self, p: &mut GroupPass<'_>, host: Option<HostId>) -> Result<bool> {
        let name = p.g.name.as_str();
        let serial = self.next_serial(name).await?;
        let mut spec = se_spec(&p.g, serial, &p.template, host);
        if p.conn.capabilities().nics_at_create {
            // Made on the networks its services lack SEs on, rather than attached later.
            spec.extra_networks = p.create_nets.clone();
        }
        // The SE's agent credential is born with it, derived so that a create issued again
        // after a crash carries the same one; the record keeps only its digest and nonce.
        let (credential, nonce) = self.new_se_credential(&spec.name).await?;
        let mut rec = SeRecord {
            name: spec.name.clone(),
            group: name.to_owned(),
            serial,
            token: spec.client_token(&p.conn.info().owner),
            spec,
            template: p.template.clone(),
            vm_id: None,
            phase: SePhase::Creating,
            reason: None,
            adopted: false,
            credential_sha256: Some(credential.sha256_hex()),
            credential_nonce: Some(nonce),
            nics: Vec::new(),
        };
        self.save_se(&rec).await?;
        self.hold_se_credential(&rec.name, credential);
        p.issued += 1;
        tracing::info!(group = name, se = %rec.name, "creating SE");
        let res = self.issue_create(&p.conn, &mut rec).await;
        p.live_count += 1;
        match res {
            Ok(()) => {
                p.created += 1;
                p.ses.push(Se {
                    rec: Arc::new(rec),
                    health: SeHealth::Creating,
                    current: true,
                    held: false,
                });
                Ok(true)
            }
            Err(e) => {
                p.errors.push(e);
                Ok(false)
            }
        }
    }

    /// The next SE serial of a group, saved before it is used (names are never reused).
    async fn next_serial(&self, group: &str) -> Result<u64> {
        let mut rt = {
            let st = self.state();
            let mut rt = st.group_rt.get(group).cloned().unwrap_or_default();
            let max_rec = st
                .ses
                .get(group)
                .and_then(|m| m.values().map(|r| r.serial).max())
                .map_or(0, |m| m + 1);
            rt.next_serial = rt.next_serial.max(max_rec).max(1);
            rt
        };
        let serial = rt.next_serial;
        rt.next_serial += 1;
        self.inner
            .store
            .put_json(&format!("{}{group}", keys::SEGRT), &rt, Precondition::Any)
            .await?;
        self.state().group_rt.insert(group.to_owned(), rt);
        Ok(serial)
    }
}

/// One SE per host: a ready host without a current SE, the host of an old SE it replaces
/// first (a surge step of an upgrade).
fn free_host(ses: &[Se], ready: &[HostId]) -> Option<HostId> {
    let taken: HashSet<&HostId> = ses
        .iter()
        .filter(|s| s.live() && s.current)
        .filter_map(|s| s.rec.spec.host.as_ref())
        .collect();
    let has_old = |h: &HostId| {
        ses.iter()
            .any(|s| s.live() && !s.current && s.rec.spec.host.as_ref() == Some(h))
    };
    ready
        .iter()
        .filter(|h| !taken.contains(h))
        .min_by_key(|h| !has_old(h))
        .cloned()
}
