//! Phase 1 of a group reconcile, observe: bind the SE records to the VMs the cloud shows,
//! adopt VMs of the group that have no record, drop the records of deleted VMs, and issue
//! again the creates that are still not visible.
//!
//! Absence is not death: a list can miss a VM (eventual consistency, a page lost to a
//! concurrent change, a partial answer), so an SE whose VM is missing from a successful list
//! is read directly, and only a `NotFound` answer (or the VM itself, deleted) counts as gone. Anything else leaves the SE
//! as the judge finds it, held ([`super::pass::Absence`]).

use super::pass::{Absence, GroupPass};
use super::template::{TEMPLATE_TAG, parse_serial};
use super::{Controller, SePhase, SeRecord};
use crate::error::Result;
use crate::model::SeGroup;
use strato_core::{Tags, Vm, VmId, VmSpec};

/// What comparing the records with the VMs asks for.
#[derive(Default)]
struct Binding {
    /// Records to save: adopted, or bound to their VM.
    changed: Vec<SeRecord>,
    /// Records whose VM is gone.
    gone: Vec<String>,
    /// Creates to issue again.
    reissue: Vec<SeRecord>,
    /// Records whose VM the list misses, to read directly: name, VM id, and whether a
    /// delete was issued for it.
    missing: Vec<(String, VmId, bool)>,
}

impl Controller {
    pub(super) async fn observe(&self, p: &mut GroupPass<'_>) -> Result<()> {
        let mut b = self.compare_records(p);
        for (name, id, deleting) in std::mem::take(&mut b.missing) {
            let absence = match p.conn.get_vm(&id).await {
                Err(e) if e.is_not_found() => Absence::Gone,
                // EC2 keeps a terminated instance readable for an hour: that is its not found.
                Ok(vm) if vm.name == name && !vm.state.is_live() => Absence::Gone,
                Ok(vm) if vm.name == name => Absence::Found(Box::new(vm)),
                Ok(vm) => Absence::Unknown(format!("its id {id} now names vm {}", vm.name)),
                Err(e) => Absence::Unknown(e.to_string()),
            };
            match absence {
                // A deleted VM a direct read confirms gone: done.
                Absence::Gone if deleting => b.gone.push(name),
                // A delete whose end cannot be confirmed yet: looked at again next pass.
                _ if deleting => {}
                other => {
                    tracing::info!(group = %p.g.name, se = %name, absence = ?other,
                        "SE's vm is missing from the cloud's list; read it directly");
                    p.absent.insert(name, other);
                }
            }
        }
        p.structural = !b.changed.is_empty() || !b.gone.is_empty();
        for r in &b.changed {
            self.save_se(r).await?;
        }
        for n in &b.gone {
            self.forget_se(&p.g.name, n).await?;
        }
        for mut r in b.reissue {
            // Same spec, same client token: at most one VM whatever happened to the first call.
            if let Err(e) = self.issue_create(&p.conn, &mut r).await {
                p.errors.push(e);
            }
        }
        Ok(())
    }

    fn compare_records(&self, p: &GroupPass<'_>) -> Binding {
        let name = &p.g.name;
        let mut b = Binding::default();
        let mut st = self.state();
        let issued = st
            .group_status
            .entry(name.clone())
            .or_default()
            .issued
            .clone();
        let recs = st.ses.entry(name.clone()).or_default();
        for (vm_name, vm) in &p.vms {
            if !recs.contains_key(*vm_name) && vm.state.is_live() {
                b.changed.push(adopt(&p.g, vm));
            }
        }
        for rec in recs.values() {
            match p.vms.get(rec.name.as_str()) {
                Some(vm) if vm.state.is_live() || rec.phase != SePhase::Deleting => {
                    // Its NICs as the cloud shows them: one attached by a process that died
                    // before recording it is found here.
                    if rec.vm_id.as_ref() != Some(&vm.id)
                        || rec.phase == SePhase::Creating
                        || (!vm.nics.is_empty() && rec.nics != vm.nics)
                    {
                        let mut r = SeRecord::clone(rec);
                        r.nics = vm.nics.clone();
                        r.vm_id = Some(vm.id.clone());
                        if r.phase == SePhase::Creating {
                            r.phase = SePhase::Active;
                        }
                        b.changed.push(r);
                    }
                }
                Some(_) => b.gone.push(rec.name.clone()),
                None => match rec.phase {
                    SePhase::Creating => {
                        let due = issued
                            .get(&rec.name)
                            .is_none_or(|t| p.now.duration_since(*t) >= p.opts.inflight_grace);
                        if due {
                            b.reissue.push(SeRecord::clone(rec));
                        }
                    }
                    _ => match &rec.vm_id {
                        Some(id) => b.missing.push((
                            rec.name.clone(),
                            id.clone(),
                            rec.phase == SePhase::Deleting,
                        )),
                        // Never seen in the cloud: the delete phase forgets it after grace.
                        None if rec.phase == SePhase::Deleting => b.gone.push(rec.name.clone()),
                        None => {}
                    },
                },
            }
        }
        b
    }
}

/// A record for a VM of ours that has none (made before a crash, or by an earlier process).
fn adopt(g: &SeGroup, vm: &Vm) -> SeRecord {
    let serial = parse_serial(&g.name, &vm.name).unwrap_or(0);
    let template = vm.tags.get(TEMPLATE_TAG).cloned().unwrap_or_default();
    let mut tags = Tags::new();
    tags.insert(TEMPLATE_TAG.to_owned(), template.clone());
    tracing::info!(group = %g.name, se = %vm.name, "adopting SE found in the cloud");
    SeRecord {
        name: vm.name.clone(),
        group: g.name.clone(),
        serial,
        token: vm.ownership.token.clone(),
        spec: VmSpec {
            name: vm.name.clone(),
            size: vm.size.clone(),
            image: vm.image.clone(),
            network: vm.nics.first().map(|n| n.network.clone()),
            tags,
            group: Some(g.name.clone()),
            // An adopted SE stays where it is; pinning it keeps a re-issued create there too.
            host: vm.host.clone(),
            extra_networks: vm.nics.iter().skip(1).map(|n| n.network.clone()).collect(),
            bootstrap: None,
        },
        template,
        vm_id: Some(vm.id.clone()),
        phase: SePhase::Active,
        reason: None,
        adopted: true,
        // Its agent's credential was in the lost record: an admin issues a new one.
        credential_sha256: None,
        credential_nonce: None,
        nics: vm.nics.clone(),
    }
}
