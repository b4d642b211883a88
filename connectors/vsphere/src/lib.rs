//! strato's vSphere connector: vCenter 6.5 to 8.x over the SOAP vim25 API at `/sdk`.
//!
//! A small hand-written vim25 client ([`soap`] envelopes, [`vim`] calls) on quick-xml and
//! reqwest/rustls. VMs are clones of a template VM; strato's ownership tags are vCenter custom
//! attributes (`strato-owner`, `strato-token`, `strato-name`, `strato-group`); VIPs come from a
//! per-network pool whose allocations live in the `strato-vips` attribute of the VM they are
//! bound to, so they survive restarts and are shared by every strato process using the vCenter.
//!
//! The files:
//! - `client.rs`: [`VsphereConnector`]: connecting, the session, the attribute helpers, and the
//!   `CloudConnector` impl forwarding to the `<op>_impl` methods below;
//! - `inventory.rs`: the datacenter, folder, resource pool and datastore of the profile, and the
//!   brief listing of every VM;
//! - `vms.rs`, `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs`, `hosts.rs`: one resource each
//!   (`hosts.rs` also places clones: pinned host, resource pool);
//! - `ipam.rs`: the VIP pool per network and the allocation records;
//! - [`convert`]: vim25 objects <-> the strato model, and the requests' bodies;
//! - [`error`]: every vim25 fault and transport failure mapped to an `ErrorKind`;
//! - [`soap`], [`vim`]: the SOAP envelopes and the vim25 session and calls;
//! - [`config`]: [`VsphereConfig`]; `capabilities.rs`: [`capabilities`]; `factory.rs`:
//!   [`VsphereFactory`].

#![deny(missing_docs)]

/// The cloud name: the registry kind, `CloudInfo::kind`, and the cloud errors carry.
pub const CLOUD: &str = "vsphere";

pub mod config;
pub mod convert;
pub mod error;
pub mod soap;
pub mod vim;

mod capabilities;
mod client;
mod factory;
mod groups;
mod hosts;
mod inventory;
mod ipam;
mod networks;
mod nics;
mod vips;
mod vms;

pub use capabilities::capabilities;
pub use client::VsphereConnector;
pub use config::VsphereConfig;
pub use factory::VsphereFactory;
