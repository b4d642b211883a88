//! Networks as subnets of the profile's VNet (every NIC of a VM must be in one VNet, so a VM can
//! join several strato networks only if they are subnets of the same VNet).
//!
//! Subnets carry no tags, so ownership is recorded on the VNet: `strato-net.SUBNET = "OWNER
//! TOKEN"`. The record is written before the subnet is made and removed after it is gone, so a
//! crash in between never leaves an owned subnet without its record. The VNet's tags are one
//! document: this connector serialises its own read-modify-write of them; two processes
//! creating networks in one VNet at the same moment can lose a record (documented in the README).

use crate::client::AzureConnector;
use crate::convert::{NET_TAG_PREFIX, json, tags_of};
use crate::error::{already_exists, map_error, not_found};
use crate::lro::started;
use crate::vms::MAX_PAGE;
use azure_mgmt_network::models::{Subnet, TagsObject};
use serde_json::{Value, json};
use strato_core::{
    Error, ErrorKind, Network, NetworkId, NetworkQuery, NetworkSpec, Operation, OwnerId, Ownership,
    Page, Result, Tags,
};

fn record_key(subnet: &str) -> String {
    format!("{NET_TAG_PREFIX}{subnet}")
}

/// The networks of a VNet body, with ownership from its tags.
fn networks_of(vnet: &Value) -> Vec<Network> {
    let tags = tags_of(vnet);
    vnet["properties"]["subnets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let name = s["name"].as_str()?.to_owned();
            let ownership = tags.get(&record_key(&name)).and_then(|r| {
                let (owner, token) = r.split_once(' ')?;
                Some(Ownership {
                    owner: OwnerId::new(owner).ok()?,
                    group: None,
                    token: token.to_owned(),
                })
            });
            Some(Network {
                id: NetworkId::new(&name),
                cidr: s["properties"]["addressPrefix"]
                    .as_str()
                    .and_then(|p| p.parse().ok()),
                parent: vnet["name"].as_str().map(str::to_owned),
                name,
                tags: Tags::new(),
                ownership,
            })
        })
        .collect()
}

impl AzureConnector {
    async fn vnet_body(&self, op: Operation) -> Result<Value> {
        let r = self
            .network
            .virtual_networks_client()
            .get(self.rg(), &self.config.vnet, self.sub())
            .send()
            .await
            .map_err(|e| map_error(e, op))?;
        Ok(json(&r.into_body().await.map_err(|e| map_error(e, op))?))
    }

    /// Replaces the VNet's tags.
    async fn set_vnet_tags(&self, tags: &Tags, op: Operation) -> Result<()> {
        let body: TagsObject = serde_json::from_value(json!({ "tags": tags })).map_err(|e| {
            Error::new(ErrorKind::Internal, op, format!("tags body: {e}")).with_cloud(crate::CLOUD)
        })?;
        self.network
            .virtual_networks_client()
            .update_tags(self.rg(), &self.config.vnet, body, self.sub())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_error(e, op))
    }

    pub(crate) async fn create_network_impl(&self, spec: &NetworkSpec) -> Result<Network> {
        let op = Operation::CreateNetwork;
        let fail = |e: Error| e.with_operation(op).with_cloud(crate::CLOUD);
        spec.validate().map_err(fail)?;
        let Some(cidr) = spec.cidr else {
            return Err(fail(Error::invalid_spec(
                "cidr",
                "an Azure subnet needs an address prefix (cidr)",
            )));
        };
        let token = spec.client_token(self.owner());
        let _guard = self.vnet_tags.lock().await;
        let vnet = self.vnet_body(op).await?;
        if let Some(n) = networks_of(&vnet).into_iter().find(|n| n.name == spec.name) {
            return match &n.ownership {
                Some(o) if o.owner == *self.owner() && o.token == token => Ok(n),
                _ => Err(already_exists(op, "network", &spec.name)),
            };
        }
        let mut tags = tags_of(&vnet);
        tags.insert(record_key(&spec.name), format!("{} {token}", self.owner()));
        self.set_vnet_tags(&tags, op).await?;
        let body: Subnet =
            serde_json::from_value(json!({ "properties": { "addressPrefix": cidr.to_string() } }))
                .map_err(|e| {
                    Error::new(ErrorKind::Internal, op, format!("subnet body: {e}"))
                        .with_cloud(crate::CLOUD)
                })?;
        let made = async {
            let rsp = self
                .network
                .subnets_client()
                .create_or_update(self.rg(), &self.config.vnet, &spec.name, body, self.sub())
                .send()
                .await
                .map_err(|e| map_error(e, op))?
                .into_raw_response();
            let (st, _) = started::<Subnet>(rsp, op).await?;
            self.follow(st, op).await
        }
        .await;
        if let Err(e) = made {
            tags.remove(&record_key(&spec.name));
            let _ = self.set_vnet_tags(&tags, op).await;
            return Err(e);
        }
        Ok(Network {
            id: NetworkId::new(&spec.name),
            name: spec.name.clone(),
            cidr: Some(cidr),
            parent: Some(self.config.vnet.clone()),
            tags: Tags::new(),
            ownership: Some(spec.ownership(self.owner())),
        })
    }

    pub(crate) async fn get_network_impl(&self, id: &NetworkId) -> Result<Network> {
        let op = Operation::GetNetwork;
        let vnet = self.vnet_body(op).await?;
        networks_of(&vnet)
            .into_iter()
            .find(|n| n.id == *id)
            .ok_or_else(|| not_found(op, "network", id.as_str()))
    }

    pub(crate) async fn list_networks_impl(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        let op = Operation::ListNetworks;
        let vnet = self.vnet_body(op).await?;
        let nets: Vec<Network> = networks_of(&vnet)
            .into_iter()
            .filter(|n| query.matches(self.owner(), n))
            .collect();
        Page::from_keyed(
            nets,
            |n| n.id.as_str(),
            query.page_size,
            query.page_token.as_deref(),
            MAX_PAGE,
        )
        .map_err(|e| e.with_operation(op).with_cloud(crate::CLOUD))
    }

    pub(crate) async fn delete_network_impl(&self, id: &NetworkId) -> Result<()> {
        let op = Operation::DeleteNetwork;
        let _guard = self.vnet_tags.lock().await;
        let vnet = self.vnet_body(op).await?;
        let mut tags = tags_of(&vnet);
        let mine = tags.get(&record_key(id.as_str())).is_some_and(|r| {
            r.split_once(' ')
                .is_some_and(|(o, _)| o == self.owner().as_str())
        });
        let exists = networks_of(&vnet).iter().any(|n| n.id == *id);
        if exists && !mine {
            return Err(not_found(op, "network", id.as_str()));
        }
        if exists {
            let rsp = self
                .network
                .subnets_client()
                .delete(self.rg(), &self.config.vnet, id.as_str(), self.sub())
                .send()
                .await;
            match rsp {
                Ok(r) => {
                    let (st, _) = started::<Value>(r.into_raw_response(), op).await?;
                    self.follow(st, op).await?;
                }
                Err(e) => {
                    let e = map_error(e, op);
                    if !e.is_not_found() {
                        return Err(e);
                    }
                }
            }
        }
        if mine {
            tags.remove(&record_key(id.as_str()));
            self.set_vnet_tags(&tags, op).await?;
        }
        Ok(())
    }
}
