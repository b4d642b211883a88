//! Groups as tag-defined fleets: members carry `strato-group`, scaled with batched RunInstances
//! (ceil(N / batch_size) calls) and TerminateInstances.
//!
//! Why not an Auto Scaling group: an ASG replaces instances on its own, which fights the
//! controller's placement and VIP decisions, needs a launch template per spec change, and scales
//! down by its own termination policy rather than "older template first, then highest
//! ordinal". Batched RunInstances gives the same call count for scale-ups.

use crate::CLOUD;
use crate::client::AwsConnector;
use crate::convert::{self, EC2_NAME_TAG, ORDINAL_BASE_TAG, SIZE_TAG, TEMPLATE_TAG, filter};
use crate::error::Context;
use aws_sdk_ec2::types::{InstanceType, ResourceType};
use std::collections::BTreeSet;
use strato_core::{
    Error, ErrorKind, GROUP_TAG, Group, GroupSpec, MAX_GROUP_NAME_LEN, Operation, Ownership,
    Result, Vm, client_token, member_ordinal, validate_label,
};

/// The lowest `need` ordinals not in `used`, as contiguous runs (base, count) of at most `batch`.
pub fn free_runs(used: &BTreeSet<u32>, need: u32, batch: u32) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    let mut left = need;
    let mut o = 0u32;
    while left > 0 {
        if !used.contains(&o) {
            match runs.last_mut() {
                Some((base, count)) if *base + *count == o && *count < batch => *count += 1,
                _ => runs.push((o, 1)),
            }
            left -= 1;
        }
        o += 1;
    }
    runs
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

impl AwsConnector {
    async fn members(&self, group: &str, op: Operation) -> Result<Vec<Vm>> {
        let mut filters = self.live_owned_filters();
        filters.push(filter(&format!("tag:{GROUP_TAG}"), group));
        // A failed read is an error, never "zero members": scaling on it would delete the fleet.
        let insts = self.describe_all_instances(filters, op).await?;
        Ok(insts
            .iter()
            .filter_map(|i| convert::vm_of(i, None))
            .filter(|v| v.ownership.owner == *self.owner() && v.group() == Some(group))
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
        let (instance_type, image) = self.launch_type_and_image(&spec.size, &spec.image, op)?;
        let template = spec.template_token(self.owner());
        let mut members = self.members(&spec.name, op).await?;
        let batch = self.config.batch_size();

        if (members.len() as u32) < size {
            let used: BTreeSet<u32> = members
                .iter()
                .filter_map(|m| member_ordinal(&spec.name, &m.name))
                .collect();
            let mut runs: std::collections::VecDeque<(u32, u32)> =
                free_runs(&used, size - members.len() as u32, batch).into();
            let mut made: Vec<String> = Vec::new();
            while let Some((base, count)) = runs.pop_front() {
                match self
                    .launch_batch(spec, &template, &instance_type, &image, base, count)
                    .await
                {
                    Ok(vms) => {
                        let n = vms.len() as u32;
                        made.extend(vms.iter().map(|v| v.id.to_string()));
                        members.extend(vms);
                        if n == 0 {
                            let e = Error::new(
                                ErrorKind::NoCapacity,
                                op,
                                "RunInstances launched nothing",
                            )
                            .with_cloud(CLOUD);
                            return Err(if made.is_empty() {
                                e
                            } else {
                                partial(op, made, e)
                            });
                        }
                        if n < count {
                            runs.push_front((base + n, count - n));
                        }
                    }
                    // A batch is all-or-nothing (MinCount = MaxCount): against a quota or short
                    // capacity, halve it so the group still grows as far as the cloud allows
                    // (a refused call per halving), instead of failing whole.
                    Err(e)
                        if count > 1
                            && matches!(
                                e.kind(),
                                ErrorKind::NoCapacity | ErrorKind::QuotaExceeded
                            ) =>
                    {
                        let half = count / 2;
                        runs.push_front((base + half, count - half));
                        runs.push_front((base, half));
                    }
                    Err(e) if made.is_empty() => return Err(e),
                    Err(e) => return Err(partial(op, made, e)),
                }
            }
        } else if (members.len() as u32) > size {
            let excess = members.len() - size as usize;
            let chosen = victims(&spec.name, &members, &template, excess);
            let ids: Vec<String> = chosen.iter().map(|v| v.id.to_string()).collect();
            let mut done: Vec<String> = Vec::new();
            for chunk in chosen.chunks(batch as usize) {
                let enis: Vec<String> = chunk
                    .iter()
                    .flat_map(|v| v.nics.iter().map(|n| n.id.to_string()))
                    .collect();
                let chunk: Vec<String> = chunk.iter().map(|v| v.id.to_string()).collect();
                let r = async {
                    self.release_eips_of(&enis, op).await?;
                    self.terminate(&chunk, op).await
                }
                .await;
                match r {
                    Ok(()) => done.extend(chunk.iter().cloned()),
                    Err(e) if done.is_empty() => return Err(e),
                    Err(e) => return Err(partial(op, done, e)),
                }
                for id in &chunk {
                    self.forget(id);
                }
            }
            members.retain(|m| !ids.contains(&m.id.to_string()));
        }
        Ok(Group::new(spec.name.clone(), members.len() as u32, members))
    }

    /// One RunInstances for members `base..base+count`.
    async fn launch_batch(
        &self,
        spec: &GroupSpec,
        template: &str,
        instance_type: &str,
        image: &str,
        base: u32,
        count: u32,
    ) -> Result<Vec<Vm>> {
        let op = Operation::ScaleGroup;
        // Same batch, same token: a retried call returns the instances of the first (EC2).
        let token = client_token(self.owner(), "group-batch", &(template, base, count));
        let ownership = Ownership {
            owner: self.owner().clone(),
            group: Some(spec.name.clone()),
            token: token.clone(),
        };
        let (tags, tag_spec) = convert::owned_tag_spec(
            ResourceType::Instance,
            &spec.tags,
            &ownership,
            [
                (TEMPLATE_TAG, template.to_owned()),
                (ORDINAL_BASE_TAG, base.to_string()),
                (SIZE_TAG, spec.size.to_string()),
                (EC2_NAME_TAG, spec.name.clone()),
            ],
        );
        let out = self
            .ec2
            .run_instances()
            .image_id(image)
            .instance_type(InstanceType::from(instance_type))
            // All or nothing: EC2 would also launch fewer with MinCount 1, but moto launches
            // only MinCount; halving on capacity errors (above) gives the partial growth.
            .min_count(count as i32)
            .max_count(count as i32)
            .client_token(token)
            .set_subnet_id(self.subnet_for(spec.network.as_ref()))
            .set_security_group_ids(self.security_groups())
            .tag_specifications(tag_spec)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::CREATING))?;
        let vms: Vec<Vm> = out
            .instances()
            .iter()
            .filter_map(|i| convert::vm_of(i, Some(&tags)))
            .collect();
        self.remember(vms.iter().map(|v| v.id.to_string()));
        tracing::debug!(group = %spec.name, base, count, launched = vms.len(), "batch launched");
        Ok(vms)
    }
}

fn partial(op: Operation, succeeded: Vec<String>, err: Error) -> Error {
    let n = succeeded.len();
    Error::new(
        ErrorKind::Partial {
            succeeded,
            failed: vec![err],
        },
        op,
        format!("scaling stopped after {n} instances were changed"),
    )
    .with_cloud(CLOUD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ordinals_come_in_contiguous_batches() {
        let used = BTreeSet::from([1, 2, 5]);
        assert_eq!(free_runs(&used, 5, 10), vec![(0, 1), (3, 2), (6, 2)]);
        assert_eq!(
            free_runs(&BTreeSet::new(), 250, 100),
            vec![(0, 100), (100, 100), (200, 50)]
        );
        assert!(free_runs(&used, 0, 10).is_empty());
    }
}
