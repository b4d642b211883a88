//! Reads of EC2 instances that VMs, groups, NICs and VIPs share: one instance (telling EC2's
//! eventual consistency from a deletion), an owned live instance, and listings by filter.

use crate::CLOUD;
use crate::capabilities::MAX_PAGE;
use crate::client::AwsConnector;
use crate::convert::{self, LIVE_STATES};
use crate::error::{Context, none_if_not_found};
use crate::paging;
use aws_sdk_ec2::types::{Filter, Instance};
use strato_core::{Error, ErrorKind, Operation, Result, Vm, VmId};

impl AwsConnector {
    /// Reads one instance. `Ok(None)` when EC2 says it does not exist; `NotYetVisible` instead
    /// when this connector created it moments ago.
    pub(crate) async fn describe_instance(
        &self,
        id: &VmId,
        op: Operation,
    ) -> Result<Option<Instance>> {
        let just_created = self.is_recent(id.as_str());
        let ctx = Context::naming(just_created);
        let res = self
            .ec2
            .describe_instances()
            .instance_ids(id.as_str())
            .send()
            .await;
        let Some(out) = none_if_not_found(res, op, ctx).map_err(|e| e.with_resource(id))? else {
            return Ok(None);
        };
        let inst = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id.as_str()))
            .cloned();
        if inst.is_none() && just_created {
            return Err(Error::new(
                ErrorKind::NotYetVisible,
                op,
                format!("instance {id} is not visible yet"),
            )
            .with_cloud(CLOUD)
            .with_resource(id));
        }
        Ok(inst)
    }

    /// Reads an instance this owner owns and that is not terminated; anything else is NotFound.
    pub(crate) async fn owned_instance(&self, id: &VmId, op: Operation) -> Result<(Instance, Vm)> {
        let inst = self.describe_instance(id, op).await?;
        match inst
            .as_ref()
            .and_then(|i| convert::vm_of(i, None).map(|vm| (i, vm)))
        {
            Some((i, vm)) if vm.ownership.owner == *self.owner() && vm.state.is_live() => {
                Ok((i.clone(), vm))
            }
            _ => Err(Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD)),
        }
    }

    /// Every instance matching `filters`, across all pages.
    pub(crate) async fn describe_all_instances(
        &self,
        filters: Vec<Filter>,
        op: Operation,
    ) -> Result<Vec<Instance>> {
        paging::all(|token| {
            self.describe_instances_page(filters.clone(), MAX_PAGE as i32, token, op)
        })
        .await
    }

    /// One page of DescribeInstances.
    pub(crate) async fn describe_instances_page(
        &self,
        filters: Vec<Filter>,
        max_results: i32,
        token: Option<String>,
        op: Operation,
    ) -> Result<(Vec<Instance>, Option<String>)> {
        let out = self
            .ec2
            .describe_instances()
            .set_filters(Some(filters))
            .max_results(max_results.clamp(5, MAX_PAGE as i32))
            .set_next_token(token)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        let items = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances().iter().cloned())
            .collect();
        Ok((items, out.next_token().map(str::to_owned)))
    }

    /// Filters selecting this owner's live instances.
    pub(crate) fn live_owned_filters(&self) -> Vec<Filter> {
        vec![
            convert::owner_filter(self.owner()),
            convert::filter_any(
                "instance-state-name",
                LIVE_STATES.iter().map(|s| s.to_string()),
            ),
        ]
    }
}
