//! Networks are subnetworks of a VPC network (the spec's `parent`, else the profile's `vpc`)
//! in the zone's region. Subnetworks carry no labels, so ownership is written into their
//! description; a network strato did not make can still be read and joined.

use crate::CLOUD;
use crate::client::GcpConnector;
use crate::convert::{network_description, network_of};
use crate::error::map_gax;
use crate::operations::{Scope, request_id};
use google_cloud_compute_v1::model::Subnetwork;
use strato_core::{
    Error, ErrorKind, Network, NetworkId, NetworkQuery, NetworkSpec, Operation, Page, Result,
};

impl GcpConnector {
    pub(crate) async fn get_subnetwork(&self, name: &str, op: Operation) -> Result<Subnetwork> {
        if strato_core::validate_label("network", name, 63).is_err() {
            return Err(Error::not_found(op, format!("network {name}")).with_cloud(CLOUD));
        }
        self.subnetworks
            .get()
            .set_project(self.project())
            .set_region(self.region())
            .set_subnetwork(name)
            .send()
            .await
            .map_err(|e| map_gax(e, op, &format!("network {name}")))
    }

    fn owned(&self, n: &Network) -> bool {
        n.ownership
            .as_ref()
            .is_some_and(|o| o.owner == *self.owner())
    }

    pub(crate) async fn create_network_impl(&self, spec: &NetworkSpec) -> Result<Network> {
        let op = Operation::CreateNetwork;
        spec.validate()
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let ownership = spec.ownership(self.owner());
        match self.get_subnetwork(&spec.name, op).await {
            Ok(s) => {
                let n = network_of(&s);
                return if self.owned(&n)
                    && n.ownership.as_ref().map(|o| &o.token) == Some(&ownership.token)
                {
                    Ok(n)
                } else {
                    Err(Error::new(
                        ErrorKind::AlreadyExists,
                        op,
                        format!(
                            "a network named {} exists and was made by another request",
                            spec.name
                        ),
                    )
                    .with_cloud(CLOUD)
                    .with_field("name"))
                };
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let cidr = match spec.cidr {
            Some(ipnet::IpNet::V4(c)) => c,
            _ => {
                return Err(Error::invalid_spec(
                    "cidr",
                    "a GCP network needs an IPv4 cidr (the subnetwork's range)",
                )
                .with_operation(op)
                .with_cloud(CLOUD));
            }
        };
        let vpc = spec.parent.as_deref().unwrap_or(self.config.vpc());
        let mut body = Subnetwork::default();
        body.name = Some(spec.name.clone());
        body.network = Some(format!("projects/{}/global/networks/{vpc}", self.project()));
        body.ip_cidr_range = Some(cidr.to_string());
        body.description = Some(network_description(&ownership));
        let what = format!("network {}", spec.name);
        let first = self
            .subnetworks
            .insert()
            .set_project(self.project())
            .set_region(self.region())
            .set_request_id(request_id(&ownership.token))
            .set_body(body)
            .send()
            .await
            .map_err(|e| map_gax(e, op, &what));
        match first {
            Ok(o) => {
                self.wait_op(o, Scope::Region, op, &what).await?;
            }
            Err(e) if e.is_not_found() => {
                return Err(Error::invalid_spec(
                    "parent",
                    format!("VPC network {vpc:?} does not exist"),
                )
                .with_operation(op)
                .with_cloud(CLOUD));
            }
            Err(e) if e.kind() == &ErrorKind::InvalidSpec => return Err(e.with_field("cidr")),
            Err(e) => return Err(e),
        }
        Ok(network_of(&self.get_subnetwork(&spec.name, op).await?))
    }

    pub(crate) async fn get_network_impl(&self, id: &NetworkId) -> Result<Network> {
        Ok(network_of(
            &self
                .get_subnetwork(id.as_str(), Operation::GetNetwork)
                .await?,
        ))
    }

    pub(crate) async fn list_networks_impl(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        let op = Operation::ListNetworks;
        let page = self
            .subnetworks
            .list()
            .set_project(self.project())
            .set_region(self.region())
            .set_or_clear_filter(query.name.as_ref().map(|n| format!("(name = \"{n}\")")))
            .set_max_results(
                query
                    .page_size
                    .unwrap_or(crate::vms::MAX_PAGE)
                    .clamp(1, crate::vms::MAX_PAGE),
            )
            .set_or_clear_page_token(query.page_token.clone())
            .send()
            .await
            .map_err(|e| map_gax(e, op, "networks"))?;
        let items = page
            .items
            .iter()
            .map(network_of)
            .filter(|n| query.matches(self.owner(), n))
            .collect();
        Ok(Page {
            items,
            next: page.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    pub(crate) async fn delete_network_impl(&self, id: &NetworkId) -> Result<()> {
        let op = Operation::DeleteNetwork;
        let what = format!("network {id}");
        match self.get_subnetwork(id.as_str(), op).await {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
            Ok(s) if !self.owned(&network_of(&s)) => {
                return Err(Error::not_found(op, what).with_cloud(CLOUD));
            }
            Ok(_) => {}
        }
        let r = self
            .subnetworks
            .delete()
            .set_project(self.project())
            .set_region(self.region())
            .set_subnetwork(id.as_str())
            .send()
            .await
            .map_err(|e| map_gax(e, op, &what));
        match r {
            Ok(o) => self.wait_op(o, Scope::Region, op, &what).await.map(|_| ()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}
