//! strato's vSphere connector: vCenter 6.5 to 8.x over the SOAP vim25 API at `/sdk`.
//!
//! A small hand-written vim25 client ([`soap`] envelopes, [`vim`] calls) on quick-xml and
//! reqwest/rustls. VMs are clones of a template VM; strato's ownership tags are vCenter custom
//! attributes (`strato-owner`, `strato-token`, `strato-name`, `strato-group`); VIPs come from a
//! per-network pool whose allocations live in the `strato-vips` attribute of the VM they are
//! bound to, so they survive restarts and are shared by every strato process using the vCenter.

#![deny(missing_docs)]

/// The cloud name: the registry kind, `CloudInfo::kind`, and the cloud errors carry.
pub const CLOUD: &str = "vsphere";

pub mod capabilities;
pub mod config;
pub mod convert;
pub mod error;
pub mod soap;
pub mod vim;

pub use capabilities::capabilities;
pub use config::VsphereConfig;
pub mod client;
pub mod factory;

pub use client::VsphereConnector;
pub use factory::VsphereFactory;
