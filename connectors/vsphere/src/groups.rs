//! Groups: tagged clones `GROUP-ORDINAL`, scaled with at most `max_parallel_tasks` clone or
//! destroy tasks at once.

use crate::CLOUD;
use crate::client::VsphereConnector;
use crate::error::MapCall;
use crate::vms::shape;
use futures::StreamExt;
use std::collections::BTreeSet;
use strato_core::{
    Error, ErrorKind, GROUP_TAG, Group, GroupSpec, Operation, Result, Vm, VmId, member_ordinal,
};

impl VsphereConnector {
    pub(crate) async fn scale_group_impl(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        let op = Operation::ScaleGroup;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        // Unknown is not zero: a failed read ends here, before any delete.
        let members = self.group_members(op, &spec.name).await?;
        let current_token = |vm: &Vm| {
            member_ordinal(&spec.name, &vm.name)
                .map(|o| spec.member_spec(o).client_token(self.owner()))
                .is_some_and(|t| t == vm.ownership.token)
        };
        let n = members.len();
        let want = size as usize;
        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        if n > want {
            // Older template first, then the highest ordinals.
            let mut victims: Vec<&Vm> = members.iter().collect();
            victims.sort_by_key(|vm| {
                (
                    current_token(vm),
                    std::cmp::Reverse(member_ordinal(&spec.name, &vm.name).unwrap_or(u32::MAX)),
                )
            });
            victims.truncate(n - want);
            let ids: Vec<VmId> = victims.iter().map(|vm| vm.id.clone()).collect();
            let results: Vec<(VmId, Result<()>)> =
                futures::stream::iter(ids.into_iter().map(|id| async move {
                    let r = self.delete_vm_as(op, &id).await;
                    (id, r)
                }))
                .buffer_unordered(self.config.max_parallel_tasks)
                .collect()
                .await;
            for (id, r) in results {
                match r {
                    Ok(()) => succeeded.push(id.to_string()),
                    Err(e) => failed.push(e),
                }
            }
        } else if n < want {
            // A spec every member would fail on is one error, not a Partial of N.
            shape(op, &spec.size)?;
            let briefs = self.briefs().await.op(op)?;
            self.template(op, &briefs, &spec.image).await?;
            let used: BTreeSet<u32> = members
                .iter()
                .filter_map(|m| member_ordinal(&spec.name, &m.name))
                .collect();
            let ordinals: Vec<u32> = (0u32..)
                .filter(|o| !used.contains(o))
                .take(want - n)
                .collect();
            let results: Vec<Result<Vm>> = futures::stream::iter(ordinals.into_iter().map(|o| {
                let member = spec.member_spec(o);
                async move { self.create_vm_as(op, &member).await }
            }))
            .buffer_unordered(self.config.max_parallel_tasks)
            .collect()
            .await;
            for r in results {
                match r {
                    Ok(vm) => succeeded.push(vm.id.to_string()),
                    Err(e) => failed.push(e),
                }
            }
        }
        if !failed.is_empty() {
            let msg = format!(
                "group {}: {} of {} changes failed",
                spec.name,
                failed.len(),
                failed.len() + succeeded.len()
            );
            return Err(
                Error::new(ErrorKind::Partial { succeeded, failed }, op, msg).with_cloud(CLOUD),
            );
        }
        let members = self.group_members(op, &spec.name).await?;
        Ok(Group::new(spec.name.clone(), size, members))
    }

    pub(crate) async fn get_group_impl(&self, name: &str) -> Result<Group> {
        let op = Operation::GetGroup;
        let members = self.group_members(op, name).await?;
        let n = members.len() as u32;
        Ok(Group::new(name, n, members))
    }

    async fn group_members(&self, op: Operation, name: &str) -> Result<Vec<Vm>> {
        Ok(self
            .owned_vms(op, |b| {
                b.attrs.get(GROUP_TAG).map(String::as_str) == Some(name)
            })
            .await?
            .into_iter()
            .map(|(vm, _)| vm)
            .filter(|vm| vm.group() == Some(name))
            .collect())
    }
}
