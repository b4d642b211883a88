//! Groups are labelled fleets: members carry `strato-group` and `strato-template`, are made
//! with one bulkInsert per `batch_size` new members (named GROUP-ORDINAL through
//! `perInstanceProperties`) and are ordinary instances afterwards, stopped, started, given VIPs
//! and deleted one by one like any VM.
//!
//! Why not a managed instance group: a MIG recreates and deletes members on its own (autohealing,
//! its resize policy), which fights the controller's placement and VIP decisions; its members'
//! names are its own, and a spec change needs a new instance template and a rolling update. A
//! bulkInsert is one call per scale-out, the same call count as a MIG resize, with members that
//! behave like every other strato VM (the AWS connector's batched RunInstances, likewise).

use crate::CLOUD;
use crate::client::GcpConnector;
use crate::convert::{TEMPLATE_LABEL, vm_of};
use crate::error::map_gax;
use crate::operations::{Scope, request_id};
use crate::vms::label_term;
use google_cloud_compute_v1::model::{
    BulkInsertInstanceResource, BulkInsertInstanceResourcePerInstanceProperties, InstanceProperties,
};
use std::collections::{BTreeSet, VecDeque};
use strato_core::{
    Error, ErrorKind, GROUP_TAG, Group, GroupSpec, MAX_GROUP_NAME_LEN, Operation, Ownership,
    Result, Vm, VmId, client_token, member_ordinal, validate_label,
};

/// Deletes of one scale-in in flight at once.
const DELETE_PARALLELISM: usize = 10;

/// The lowest `need` ordinals not in `used`.
pub fn free_ordinals(used: &BTreeSet<u32>, need: u32) -> Vec<u32> {
    (0..)
        .filter(|o| !used.contains(o))
        .take(need as usize)
        .collect()
}

/// Which members go on scale-down: older templates first, then the highest ordinals.
pub fn victims<'a>(group: &str, members: &'a [Vm], template: &str, excess: usize) -> Vec<&'a Vm> {
    let mut order: Vec<&Vm> = members.iter().collect();
    order.sort_by_key(|m| {
        let current = m.tags.get(TEMPLATE_LABEL).map(String::as_str) == Some(template);
        let ordinal = member_ordinal(group, &m.name).unwrap_or(u32::MAX);
        (current, std::cmp::Reverse(ordinal))
    });
    order.into_iter().take(excess).collect()
}

impl GcpConnector {
    async fn members(&self, group: &str, op: Operation) -> Result<Vec<Vm>> {
        // A failed read is an error, never "zero members": scaling on it would delete the fleet.
        let insts = self.list_all(&[label_term(GROUP_TAG, group)], op).await?;
        Ok(insts
            .iter()
            .filter_map(vm_of)
            .filter(|v| v.group() == Some(group))
            .collect())
    }

    pub(crate) async fn get_group_impl(&self, name: &str) -> Result<Group> {
        let op = Operation::GetGroup;
        validate_label("group", name, MAX_GROUP_NAME_LEN)
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let members = self.members(name, op).await?;
        Ok(Group::new(name, members.len() as u32, members))
    }

    pub(crate) async fn scale_group_impl(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        let op = Operation::ScaleGroup;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let template = spec.template_token(self.owner());
        let members = self.members(&spec.name, op).await?;
        let have = members.len() as u32;
        if have < size {
            let used: BTreeSet<u32> = members
                .iter()
                .filter_map(|m| member_ordinal(&spec.name, &m.name))
                .collect();
            let names: Vec<String> = free_ordinals(&used, size - have)
                .into_iter()
                .map(|o| format!("{}-{o}", spec.name))
                .collect();
            self.grow(spec, &template, names, op).await?;
        } else if have > size {
            let chosen = victims(&spec.name, &members, &template, (have - size) as usize);
            let ids: Vec<VmId> = chosen.iter().map(|v| v.id.clone()).collect();
            // Compute has no bulk delete: the deletes go out in rounds of DELETE_PARALLELISM
            // (their operation polls count against the project's read quota). The members were
            // just listed by owner and group: no read before each delete.
            let mut results: Vec<Result<()>> = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(DELETE_PARALLELISM) {
                let deletes = chunk.iter().map(|id| self.delete_instance(id.as_str(), op));
                results.extend(futures::future::join_all(deletes).await);
            }
            let mut done = Vec::new();
            let mut failed = Vec::new();
            for (id, r) in ids.iter().zip(results) {
                match r {
                    Ok(()) => done.push(id.to_string()),
                    Err(e) => failed.push(e.with_operation(op)),
                }
            }
            if !failed.is_empty() {
                return Err(partial(op, done, failed));
            }
        }
        let members = self.members(&spec.name, op).await?;
        Ok(Group::new(spec.name.clone(), size, members))
    }

    /// bulkInsert of `names`, `batch_size` at a time. A batch is all or nothing (minCount =
    /// count); against a quota or short capacity it is halved so the group grows as far as
    /// the cloud allows, and what was made is reported in `Partial`.
    async fn grow(
        &self,
        spec: &GroupSpec,
        template: &str,
        names: Vec<String>,
        op: Operation,
    ) -> Result<()> {
        let ownership = Ownership {
            owner: self.owner().clone(),
            group: Some(spec.name.clone()),
            token: template.to_owned(),
        };
        let mut tags = spec.tags.clone();
        tags.insert(TEMPLATE_LABEL.into(), template.to_owned());
        let l = self
            .launch(
                &spec.size,
                &spec.image,
                spec.network.as_ref(),
                &tags,
                &ownership,
                op,
            )
            .await?;
        let body = self.instance_body(&spec.name, &l);
        let mut props = InstanceProperties::default();
        props.machine_type = Some(l.machine_type.clone());
        props.labels = body.labels.clone();
        props.disks = body.disks.clone();
        props.network_interfaces = body.network_interfaces.clone();
        props.metadata = body.metadata.clone();
        let batch = self.config.batch_size() as usize;
        let mut queue: VecDeque<Vec<String>> =
            names.chunks(batch).map(<[String]>::to_vec).collect();
        let mut made: Vec<String> = Vec::new();
        while let Some(chunk) = queue.pop_front() {
            match self.bulk_insert(&props, template, &chunk, op).await {
                Ok(()) => made.extend(chunk),
                Err(e)
                    if chunk.len() > 1
                        && matches!(e.kind(), ErrorKind::NoCapacity | ErrorKind::QuotaExceeded) =>
                {
                    let (a, b) = chunk.split_at(chunk.len() / 2);
                    queue.push_front(b.to_vec());
                    queue.push_front(a.to_vec());
                }
                Err(e) if made.is_empty() => return Err(e),
                Err(e) => return Err(partial(op, made, vec![e])),
            }
        }
        Ok(())
    }

    async fn bulk_insert(
        &self,
        props: &InstanceProperties,
        template: &str,
        names: &[String],
        op: Operation,
    ) -> Result<()> {
        let mut r = BulkInsertInstanceResource::default();
        r.count = Some(names.len() as i64);
        r.min_count = Some(names.len() as i64);
        r.instance_properties = Some(props.clone());
        r.per_instance_properties = names
            .iter()
            .map(|n| {
                let mut p = BulkInsertInstanceResourcePerInstanceProperties::default();
                p.name = Some(n.clone());
                (n.clone(), p)
            })
            .collect();
        // Same batch, same id: a retried call gets the first call's operation back.
        let token = client_token(self.owner(), "group-batch", &(template, names));
        let what = format!("group batch {}..{}", names[0], names[names.len() - 1]);
        let first = self
            .instances
            .bulk_insert()
            .set_project(self.project())
            .set_zone(self.zone())
            .set_request_id(request_id(&token))
            .set_body(r)
            .send()
            .await
            .map_err(|e| map_gax(e, op, &what))?;
        self.wait_op(first, Scope::Zone, op, &what)
            .await
            .map(|_| ())
    }
}

fn partial(op: Operation, succeeded: Vec<String>, failed: Vec<Error>) -> Error {
    let n = succeeded.len();
    Error::new(
        ErrorKind::Partial { succeeded, failed },
        op,
        format!("scaling stopped after {n} instances were changed"),
    )
    .with_cloud(CLOUD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ordinals_fill_gaps_first() {
        assert_eq!(
            free_ordinals(&BTreeSet::from([1, 2, 5]), 4),
            vec![0, 3, 4, 6]
        );
        assert!(free_ordinals(&BTreeSet::new(), 0).is_empty());
    }
}
