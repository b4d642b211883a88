//! Groups: the caller's VMs tagged with a group name. Scaling up makes the missing members in
//! one batch at the lowest free ordinals, as far as the quota allows (a partial success names
//! every member made); scaling down removes the older template first, then the highest ordinals.

use crate::client::MemoryConnector;
use crate::config::MemoryFeature;
use crate::convert;
use crate::error::partial;
use crate::vms::visible;
use crate::world::{Ctx, World, owned_by};
use std::collections::HashSet;
use strato_core::{
    Error, Group, GroupSpec, Operation, Ownership, Result, TOKEN_TAG, Vm, VmId, member_ordinal,
    validate_label,
};

const NO_GROUPS: &str = "this cloud has no groups";

impl MemoryConnector {
    pub(crate) async fn scale_group_impl(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        self.call(Operation::ScaleGroup, |w, c| w.scale_group(c, spec, size))
    }

    pub(crate) async fn get_group_impl(&self, name: &str) -> Result<Group> {
        self.call(Operation::GetGroup, |w, c| w.get_group(c, name))
    }
}

impl World {
    fn member_ids(&self, ctx: &Ctx, group: &str) -> Vec<String> {
        self.vms
            .values()
            .filter(|v| {
                owned_by(&v.tags, ctx.owner)
                    && Ownership::from_tags(&v.tags)
                        .and_then(|o| o.group)
                        .as_deref()
                        == Some(group)
            })
            .map(|v| v.id.clone())
            .collect()
    }

    pub fn scale_group(&mut self, ctx: &Ctx, spec: &GroupSpec, size: u32) -> Result<Group, Error> {
        let op = Operation::ScaleGroup;
        ctx.feature(MemoryFeature::Groups, op, NO_GROUPS)?;
        spec.validate()?;
        let members = self.member_ids(ctx, &spec.name);
        let have = members.len() as u32;
        let mut outcome = Ok(());
        if size > have {
            outcome = self.grow(ctx, spec, size - have);
        } else if size < have {
            // Older template first, then the highest ordinals.
            let mut order: Vec<(bool, u32, String)> = members
                .iter()
                .map(|id| {
                    let v = &self.vms[id];
                    let ordinal = member_ordinal(&spec.name, &v.name).unwrap_or(u32::MAX);
                    let current = v.tags.get(TOKEN_TAG)
                        == Some(&spec.member_spec(ordinal).client_token(ctx.owner));
                    (current, u32::MAX - ordinal, id.clone())
                })
                .collect();
            order.sort();
            for (_, _, id) in order.into_iter().take((have - size) as usize) {
                self.delete_vm(ctx, &VmId::new(id))?;
            }
        }
        let group = self.group(ctx, &spec.name, false);
        outcome.map(|()| group)
    }

    /// Creates `want` members in one batch, at the lowest free ordinals, as far as the quota
    /// allows; reports every member made even when some could not be.
    fn grow(&mut self, ctx: &Ctx, spec: &GroupSpec, want: u32) -> Result<(), Error> {
        let op = Operation::ScaleGroup;
        let network = self
            .network_for_spec(ctx, spec.network.as_ref(), op)?
            .id
            .clone();
        let taken: HashSet<String> = self
            .vms
            .values()
            .filter(|v| owned_by(&v.tags, ctx.owner))
            .map(|v| v.name.clone())
            .collect();
        let ordinals: Vec<u32> = (0..)
            .filter(|o| !taken.contains(&format!("{}-{o}", spec.name)))
            .take(want as usize)
            .collect();
        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        for o in ordinals {
            let member = spec.member_spec(o);
            if self.vm_room(ctx) == 0 {
                failed.push(Self::quota_error(ctx, op, &member.name));
                continue;
            }
            match self.insert_vm(ctx, &member, &network, op) {
                Ok(id) => succeeded.push(id),
                Err(e) => failed.push(e.with_resource(&member.name)),
            }
        }
        match (succeeded.is_empty(), failed.is_empty()) {
            (_, true) => Ok(()),
            // Nothing made: the first reason is the whole story.
            (true, false) => Err(failed.remove(0)),
            (false, false) => {
                let msg = format!(
                    "group {}: made {} of {} members; {}",
                    spec.name,
                    succeeded.len(),
                    want,
                    failed[0].message()
                );
                Err(partial(op, msg, succeeded, failed))
            }
        }
    }

    /// A group's members; `visible_only` hides members too new to be read.
    fn group(&self, ctx: &Ctx, name: &str, visible_only: bool) -> Group {
        let members: Vec<Vm> = self
            .member_ids(ctx, name)
            .iter()
            .map(|id| &self.vms[id])
            .filter(|v| !visible_only || visible(ctx, v))
            .map(|v| convert::vm(ctx, v))
            .collect();
        Group::new(name, members.len() as u32, members)
    }

    pub fn get_group(&self, ctx: &Ctx, name: &str) -> Result<Group, Error> {
        ctx.feature(MemoryFeature::Groups, Operation::GetGroup, NO_GROUPS)?;
        validate_label("group", name, strato_core::MAX_GROUP_NAME_LEN)?;
        Ok(self.group(ctx, name, true))
    }
}
