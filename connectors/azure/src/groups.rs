//! Groups as tagged VMs (`strato-group`), created in parallel with bounded concurrency
//! (`max_parallel_creates`) and deleted in parallel.
//!
//! Why not a Virtual Machine Scale Set: every member stays an ordinary VM, so stop/start, the
//! deallocate-attach-start NIC cycle and VIP ipConfigurations work on it individually, exactly
//! as on a lone VM; VMSS members live behind another resource model (instance ids, the scale
//! set's network profile, its own upgrade policy) and a scale-in by the scale set's policy
//! rather than "older template first, then highest ordinal". The price is calls: a member costs
//! a NIC PUT and a VM PUT (see the benchmark), where VMSS would take one PUT of the capacity.

use crate::client::AzureConnector;
use crate::convert::TEMPLATE_TAG;
use futures::StreamExt;
use std::collections::BTreeSet;
use strato_core::{
    Error, ErrorKind, Group, GroupSpec, MAX_GROUP_NAME_LEN, Operation, Result, Vm, member_ordinal,
    validate_label,
};

/// The lowest `need` ordinals not in `used`.
pub fn free_ordinals(used: &BTreeSet<u32>, need: usize) -> Vec<u32> {
    (0u32..).filter(|o| !used.contains(o)).take(need).collect()
}

/// Which members go on scale-down: older templates first, then the highest ordinals.
pub fn victims<'a>(group: &str, members: &'a [Vm], template: &str, excess: usize) -> Vec<&'a Vm> {
    let mut order: Vec<&Vm> = members.iter().collect();
    order.sort_by_key(|m| {
        let current = m.tags.get(TEMPLATE_TAG).map(String::as_str) == Some(template);
        let ordinal = member_ordinal(group, &m.name).unwrap_or(u32::MAX);
        (current, std::cmp::Reverse(ordinal))
    });
    order.into_iter().take(excess).collect()
}

impl AzureConnector {
    /// The live members of a group. A failed read is an error, never "no members".
    async fn members(&self, group: &str, op: Operation) -> Result<Vec<Vm>> {
        Ok(self
            .owned_vms(op)
            .await?
            .into_iter()
            .filter(|v| v.group() == Some(group) && v.state.is_live())
            .collect())
    }

    pub(crate) async fn get_group_impl(&self, name: &str) -> Result<Group> {
        let op = Operation::GetGroup;
        validate_label("group", name, MAX_GROUP_NAME_LEN)
            .map_err(|e| e.with_operation(op).with_cloud(crate::CLOUD))?;
        let members = self.members(name, op).await?;
        Ok(Group::new(name, members.len() as u32, members))
    }

    pub(crate) async fn scale_group_impl(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        let op = Operation::ScaleGroup;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(crate::CLOUD))?;
        let members = self.members(&spec.name, op).await?;
        let template = spec.template_token(self.owner());
        let size = size as usize;
        let parallel = self.config.max_parallel_creates as usize;
        let mut kept: Vec<Vm> = members.clone();
        let mut failed: Vec<Error> = Vec::new();
        let mut done: Vec<String> = Vec::new();
        if members.len() > size {
            let gone: Vec<Vm> = victims(&spec.name, &members, &template, members.len() - size)
                .into_iter()
                .cloned()
                .collect();
            let results: Vec<(String, Result<()>)> = futures::stream::iter(gone)
                .map(|v| async move { (v.id.to_string(), self.send_delete(&v.id, op).await) })
                .buffer_unordered(parallel)
                .collect()
                .await;
            for (id, r) in results {
                match r {
                    Ok(()) => {
                        kept.retain(|k| k.id.as_str() != id);
                        done.push(id);
                    }
                    Err(e) => failed.push(e),
                }
            }
        } else if members.len() < size {
            let used: BTreeSet<u32> = members
                .iter()
                .filter_map(|m| member_ordinal(&spec.name, &m.name))
                .collect();
            let specs: Vec<_> = free_ordinals(&used, size - members.len())
                .into_iter()
                .map(|o| spec.member_spec(o))
                .collect();
            let results: Vec<Result<Vm>> = futures::stream::iter(specs)
                .map(|s| async move { self.put_vm(&s, op).await })
                .buffer_unordered(parallel)
                .collect()
                .await;
            for r in results {
                match r {
                    Ok(vm) => {
                        done.push(vm.id.to_string());
                        kept.push(vm);
                    }
                    Err(e) => failed.push(e),
                }
            }
        }
        if !failed.is_empty() {
            if done.is_empty() && failed.len() == 1 {
                return Err(failed.remove(0));
            }
            let n = failed.len();
            return Err(Error::new(
                ErrorKind::Partial {
                    succeeded: done,
                    failed,
                },
                op,
                format!("scaling group {} to {size}: {n} calls failed", spec.name),
            )
            .with_cloud(crate::CLOUD));
        }
        Ok(Group::new(&spec.name, size as u32, kept))
    }
}
