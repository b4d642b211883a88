//! Networks and their addresses: create (idempotent, under the network quota, with a free /24
//! when no CIDR is asked for), read, list, delete when nothing uses it; and the per-network IPAM
//! that NICs, VMs and VIPs take their addresses from.

use crate::client::MemoryConnector;
use crate::config::MemoryFeature;
use crate::convert;
use crate::error::{Code, fail, invalid, not_found};
use crate::world::{
    Ctx, DEFAULT_NETWORK, MAX_PAGE, NetRec, World, made_before, owner_of, stored_tags,
};
use ipnet::IpNet;
use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use strato_core::{Error, Network, NetworkId, NetworkQuery, NetworkSpec, Operation, Page, Result};

const FIXED: &str = "this cloud's networks are fixed";

impl MemoryConnector {
    pub(crate) async fn create_network_impl(&self, spec: &NetworkSpec) -> Result<Network> {
        self.call(Operation::CreateNetwork, |w, c| w.create_network(c, spec))
    }

    pub(crate) async fn get_network_impl(&self, id: &NetworkId) -> Result<Network> {
        self.call(Operation::GetNetwork, |w, c| w.get_network(c, id))
    }

    pub(crate) async fn list_networks_impl(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        self.call(Operation::ListNetworks, |w, c| w.list_networks(c, query))
    }

    pub(crate) async fn delete_network_impl(&self, id: &NetworkId) -> Result<()> {
        self.call(Operation::DeleteNetwork, |w, c| w.delete_network(c, id))
    }
}

impl World {
    /// A network the caller may use: its own or one nobody owns.
    fn usable_network(&self, ctx: &Ctx, id: &str) -> Option<&NetRec> {
        self.networks
            .get(id)
            .filter(|n| owner_of(&n.tags).is_none_or(|o| o == *ctx.owner))
    }

    /// The network a spec names (the default one when it names none), which the caller may use.
    pub fn network_for_spec(
        &self,
        ctx: &Ctx,
        id: Option<&NetworkId>,
        op: Operation,
    ) -> Result<&NetRec, Error> {
        let id = id.map_or(DEFAULT_NETWORK, |n| n.as_str());
        self.usable_network(ctx, id).ok_or_else(|| {
            invalid(
                op,
                "network",
                format!("network {id:?} does not exist; list networks to see the ids"),
            )
            .with_resource(id)
        })
    }

    fn addresses_in_use(&self, network: &str) -> HashSet<IpAddr> {
        let nics = self
            .vms
            .values()
            .flat_map(|v| &v.nics)
            .filter(|n| n.network == network)
            .map(|n| n.address);
        let vips = self
            .vips
            .values()
            .filter(|v| v.network == network)
            .map(|v| v.address);
        nics.chain(vips).collect()
    }

    /// The lowest free host address of a network, skipping the first (the gateway).
    pub fn free_address(&self, network: &str) -> Option<IpAddr> {
        let net = self.networks.get(network)?;
        let used = self.addresses_in_use(network);
        net.cidr.hosts().skip(1).find(|a| !used.contains(a))
    }

    /// A fixed address if it is free and inside the network, else the next free one.
    pub fn take_address(
        &self,
        network: &NetRec,
        fixed: Option<IpAddr>,
        op: Operation,
    ) -> Result<IpAddr, Error> {
        match fixed {
            Some(a) => {
                if !network.cidr.contains(&a)
                    || a == network.cidr.network()
                    || a == network.cidr.broadcast()
                {
                    return Err(invalid(
                        op,
                        "address",
                        format!(
                            "address {a} is not a host address of network {} ({})",
                            network.id, network.cidr
                        ),
                    ));
                }
                if self.addresses_in_use(&network.id).contains(&a) {
                    return Err(fail(
                        op,
                        Code::InvalidState,
                        format!("address {a} is already in use on network {}", network.id),
                    )
                    .with_field("address"));
                }
                Ok(a)
            }
            None => self.free_address(&network.id).ok_or_else(|| {
                fail(
                    op,
                    Code::AddressesExhausted,
                    format!(
                        "network {} ({}) has no free address",
                        network.id, network.cidr
                    ),
                )
            }),
        }
    }

    pub fn create_network(&mut self, ctx: &Ctx, spec: &NetworkSpec) -> Result<Network, Error> {
        let op = Operation::CreateNetwork;
        ctx.feature(MemoryFeature::NetworkCreate, op, FIXED)?;
        spec.validate()?;
        let token = spec.client_token(ctx.owner);
        if let Some(n) = made_before(&self.networks, ctx, "network", &token, &spec.name, op)? {
            return Ok(convert::network(n));
        }
        if let Some(q) = ctx.settings.quota_networks {
            let count = self
                .networks
                .values()
                .filter(|n| owner_of(&n.tags).is_some())
                .count();
            if count >= q as usize {
                return Err(fail(
                    op,
                    Code::QuotaExceeded,
                    format!("the account allows {q} networks"),
                ));
            }
        }
        let cidr = match spec.cidr {
            Some(c) => {
                let max_prefix = if c.addr().is_ipv4() { 28 } else { 120 };
                if c.trunc() != c || c.prefix_len() > max_prefix {
                    return Err(invalid(
                        op,
                        "cidr",
                        format!(
                            "cidr {c} must be a network address with a prefix of at most /{max_prefix}"
                        ),
                    ));
                }
                c
            }
            None => self.auto_cidr().ok_or_else(|| {
                fail(
                    op,
                    Code::AddressesExhausted,
                    "no free /24 left in 10.0.0.0/8",
                )
            })?,
        };
        let id = self.new_id("net");
        let rec = NetRec {
            id: id.clone(),
            name: spec.name.clone(),
            cidr,
            parent: Some(spec.parent.clone().unwrap_or_else(|| "memory".into())),
            tags: stored_tags(&spec.tags, spec.ownership(ctx.owner), &spec.name),
            created_at: ctx.now,
        };
        let net = convert::network(&rec);
        self.networks.insert(id, rec);
        Ok(net)
    }

    /// The first 10.x.y.0/24 that overlaps no network.
    fn auto_cidr(&self) -> Option<IpNet> {
        (1u8..=255)
            .flat_map(|a| {
                (0u8..=255).map(move |b| {
                    IpNet::from(ipnet::Ipv4Net::new([10, a, b, 0].into(), 24).unwrap())
                })
            })
            .find(|c| {
                self.networks
                    .values()
                    .all(|n| !n.cidr.contains(c) && !c.contains(&n.cidr))
            })
    }

    pub fn get_network(&self, ctx: &Ctx, id: &NetworkId) -> Result<Network, Error> {
        self.usable_network(ctx, id.as_str())
            .map(convert::network)
            .ok_or_else(|| not_found(Operation::GetNetwork, "network", id.as_str()))
    }

    pub fn list_networks(&self, ctx: &Ctx, q: &NetworkQuery) -> Result<Page<Network>, Error> {
        let all: Vec<Network> = self
            .networks
            .values()
            .filter(|n| match owner_of(&n.tags) {
                Some(o) => o == *ctx.owner,
                None => q.include_unowned,
            })
            .map(convert::network)
            .filter(|n| q.matches(ctx.owner, n))
            .collect();
        // Keyed by id, like VMs: a network deleted between two page calls must not make a later one
        // skip a page.
        Page::from_keyed(
            all,
            |n| n.id.as_str(),
            q.page_size,
            q.page_token.as_deref(),
            MAX_PAGE,
        )
    }

    pub fn delete_network(&mut self, ctx: &Ctx, id: &NetworkId) -> Result<(), Error> {
        let op = Operation::DeleteNetwork;
        ctx.feature(MemoryFeature::NetworkCreate, op, FIXED)?;
        let Some(net) = self.networks.get(id.as_str()) else {
            return Ok(());
        };
        match owner_of(&net.tags) {
            Some(o) if o == *ctx.owner => {}
            Some(_) => return Err(not_found(op, "network", id.as_str())),
            None => {
                return Err(fail(
                    op,
                    Code::AccessDenied,
                    format!("network {id} was not created by strato; strato never deletes it"),
                )
                .with_resource(id));
            }
        }
        let users: BTreeSet<&str> = self
            .vms
            .values()
            .filter(|v| v.nics.iter().any(|n| n.network == id.as_str()))
            .map(|v| v.id.as_str())
            .chain(
                self.vips
                    .values()
                    .filter(|v| v.network == id.as_str())
                    .map(|v| v.id.as_str()),
            )
            .collect();
        if !users.is_empty() {
            let list: Vec<&str> = users.into_iter().collect();
            return Err(fail(
                op,
                Code::DependencyViolation,
                format!("network {id} is still used by {}", list.join(", ")),
            )
            .with_resource(id));
        }
        self.networks.remove(id.as_str());
        Ok(())
    }
}
