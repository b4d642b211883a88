//! Networks as VPC subnets.

use crate::CLOUD;
use crate::capabilities::MAX_PAGE;
use crate::client::AwsConnector;
use crate::convert::{self, filter};
use crate::error::{Context, already_exists, none_if_not_found};
use crate::paging;
use aws_sdk_ec2::types::{Filter, ResourceType, Subnet};
use strato_core::{
    Error, ErrorKind, NAME_TAG, Network, NetworkId, NetworkQuery, NetworkSpec, Operation, Page,
    Result,
};

impl AwsConnector {
    /// Reads one subnet; `Ok(None)` when it does not exist.
    async fn describe_subnet(&self, id: &NetworkId, op: Operation) -> Result<Option<Subnet>> {
        let ctx = Context::naming(self.is_recent(id.as_str()));
        let res = self
            .ec2
            .describe_subnets()
            .subnet_ids(id.as_str())
            .send()
            .await;
        Ok(none_if_not_found(res, op, ctx)
            .map_err(|e| e.with_resource(id))?
            .and_then(|out| out.subnets().first().cloned()))
    }

    /// One page of DescribeSubnets (no filters: every subnet the account sees).
    async fn describe_subnets_page(
        &self,
        filters: Vec<Filter>,
        max_results: i32,
        token: Option<String>,
        op: Operation,
    ) -> Result<(Vec<Subnet>, Option<String>)> {
        let out = self
            .ec2
            .describe_subnets()
            .set_filters((!filters.is_empty()).then_some(filters))
            .max_results(max_results.clamp(5, MAX_PAGE as i32))
            .set_next_token(token)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?;
        Ok((out.subnets().to_vec(), out.next_token().map(str::to_owned)))
    }

    pub(crate) async fn create_network_impl(&self, spec: &NetworkSpec) -> Result<Network> {
        let op = Operation::CreateNetwork;
        let fail = |e: Error| e.with_operation(op).with_cloud(CLOUD);
        spec.validate().map_err(fail)?;
        let cidr = match spec.cidr {
            Some(ipnet::IpNet::V4(c)) => c,
            Some(other) => {
                return Err(fail(Error::invalid_spec(
                    "cidr",
                    format!(
                        "cidr {other} is IPv6; aws networks are subnets with an IPv4 CIDR like 10.0.1.0/24"
                    ),
                )));
            }
            None => {
                return Err(fail(Error::invalid_spec(
                    "cidr",
                    "aws networks are VPC subnets and need a cidr, like 10.0.1.0/24",
                )));
            }
        };
        let vpc = spec
            .parent
            .clone()
            .or_else(|| self.config.vpc.clone())
            .ok_or_else(|| {
                fail(Error::invalid_spec(
                    "parent",
                    "no VPC: give the network a parent (vpc-...) or set vpc in the aws profile",
                ))
            })?;
        if !vpc.starts_with("vpc-") {
            return Err(fail(Error::invalid_spec(
                "parent",
                format!("parent {vpc:?} is not a VPC id like vpc-0123"),
            )));
        }
        let token = spec.client_token(self.owner());
        let mut filters = vec![
            convert::owner_filter(self.owner()),
            filter(&format!("tag:{NAME_TAG}"), spec.name.as_str()),
        ];
        filters.push(filter("vpc-id", vpc.as_str()));
        let existing = paging::all(|token| {
            self.describe_subnets_page(filters.clone(), MAX_PAGE as i32, token, op)
        })
        .await?;
        if let Some(existing) = existing.iter().find_map(convert::network_of) {
            if existing
                .ownership
                .as_ref()
                .is_some_and(|o| o.token == token)
            {
                return Ok(existing);
            }
            return Err(already_exists(
                op,
                "network",
                &spec.name,
                &existing.id,
                &existing.id,
            ));
        }
        let (tags, tag_spec) = convert::owned_tag_spec(
            ResourceType::Subnet,
            &spec.tags,
            &spec.ownership(self.owner()),
            convert::name_tags(&spec.name),
        );
        let out = self
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr.to_string())
            .set_availability_zone(self.config.availability_zone.clone())
            .tag_specifications(tag_spec)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::CREATING))?;
        let mut subnet = out.subnet().cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                "CreateSubnet answered without a subnet",
            )
            .with_cloud(CLOUD)
        })?;
        if subnet.tags().is_empty() {
            subnet.tags = Some(convert::ec2_tags(&tags));
        }
        let net = convert::network_of(&subnet).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                "CreateSubnet answered without an id",
            )
            .with_cloud(CLOUD)
        })?;
        self.remember([net.id.to_string()]);
        Ok(net)
    }

    pub(crate) async fn get_network_impl(&self, id: &NetworkId) -> Result<Network> {
        let op = Operation::GetNetwork;
        self.describe_subnet(id, op)
            .await?
            .as_ref()
            .and_then(convert::network_of)
            .ok_or_else(|| Error::not_found(op, format!("network {id}")).with_cloud(CLOUD))
    }

    pub(crate) async fn list_networks_impl(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        let op = Operation::ListNetworks;
        let mut filters = Vec::new();
        if !query.include_unowned {
            filters.push(convert::owner_filter(self.owner()));
            if let Some(n) = &query.name {
                filters.push(filter(&format!("tag:{NAME_TAG}"), n.as_str()));
            }
        }
        paging::page(
            query.page_size,
            query.page_token.as_deref(),
            MAX_PAGE,
            |tok, max_results| self.describe_subnets_page(filters.clone(), max_results, tok, op),
            |s| convert::network_of(s).filter(|n| query.matches(self.owner(), n)),
        )
        .await
        .map_err(|e| e.with_operation(op).with_cloud(CLOUD))
    }

    pub(crate) async fn delete_network_impl(&self, id: &NetworkId) -> Result<()> {
        let op = Operation::DeleteNetwork;
        let Some(subnet) = self.describe_subnet(id, op).await? else {
            return Ok(());
        };
        let owned = convert::network_of(&subnet)
            .and_then(|n| n.ownership)
            .is_some_and(|o| o.owner == *self.owner());
        if !owned {
            return Err(Error::not_found(op, format!("network {id}")).with_cloud(CLOUD));
        }
        let res = self.ec2.delete_subnet().subnet_id(id.as_str()).send().await;
        // DependencyViolation (instances or ENIs still in it) stays a Conflict with EC2's own
        // message naming the subnet.
        if none_if_not_found(res, op, Context::READING)
            .map_err(|e| e.with_resource(id))?
            .is_some()
        {
            self.forget(id.as_str());
        }
        Ok(())
    }
}
