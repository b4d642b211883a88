//! strato's Azure connector, on the official Azure Resource Manager crates
//! (`azure_mgmt_compute` 2024-07-01, `azure_mgmt_network` 2024-03-01, `azure_identity`).
//!
//! | strato  | Azure                                                                          |
//! |---------|--------------------------------------------------------------------------------|
//! | VM      | virtualMachine named from the request's client token, with a primary NIC      |
//! | network | subnet of the profile's VNet (ownership recorded in the VNet's tags)           |
//! | NIC     | networkInterface, added or removed only while the VM is deallocated            |
//! | VIP     | secondary ipConfiguration on a NIC (recorded in the NIC's tags)                |
//! | group   | tagged VMs created in parallel, bounded by `max_parallel_creates`              |
//!
//! Credentials come from azure_identity's standard chain; subscription, resource group,
//! location and VNet from the profile ([`AzureConfig`]). ARM error codes are mapped once in
//! [`error`]. Long-running operations are followed by [`lro`] (the SDK 0.21 does not), only
//! where the next step needs their result.
//!
//! Files: `config.rs` ([`AzureConfig`]); `client.rs` ([`AzureConnector`] and the trait impl);
//! `vms.rs`, `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs`, `hosts.rs`: one resource each;
//! `convert.rs`: ARM JSON to the model; `sizes.rs`: shapes to VM sizes, images to references;
//! `wire.rs`: the counted transport and ARM error bodies; `lro.rs`: operation following;
//! `error.rs`; `capabilities.rs` ([`capabilities`]); `factory.rs` ([`AzureFactory`]).

#![deny(missing_docs)]

mod capabilities;
mod client;
pub mod config;
pub mod convert;
pub mod error;
mod factory;
mod groups;
mod hosts;
pub mod lro;
mod networks;
mod nics;
pub mod sizes;
mod vips;
mod vms;
pub mod wire;

pub use capabilities::capabilities;
pub use client::AzureConnector;
pub use config::{Auth, AzureConfig};
pub use factory::AzureFactory;
pub use groups::{free_ordinals, victims};
pub use wire::ApiCallCounter;

/// The connector kind, used in every error.
pub const CLOUD: &str = "azure";
