//! strato's GCP connector, on the official `google-cloud-compute-v1`.
//!
//! | strato  | Compute Engine                                                              |
//! |---------|-----------------------------------------------------------------------------|
//! | VM      | instance (insert with labels and a requestId derived from the client token) |
//! | network | subnetwork of a VPC network, in the zone's region                           |
//! | NIC     | none after creation: `Unsupported` (Compute sets NICs at creation)          |
//! | VIP     | alias IP range (`/32`) on the instance's first NIC, recorded in its labels  |
//! | group   | labelled fleet, one bulkInsert per batch, ordinary instances afterwards     |
//!
//! Credentials come from Application Default Credentials; project and zone from the profile
//! ([`GcpConfig`]), with an endpoint override for tests. Every change waits for its
//! operation with a deadline and surfaces the operation's own error ([`operations`]); the
//! client library's retries are off (it never retries 429 or a POST and ignores
//! Retry-After), so 429 is `Throttled` with its Retry-After for strato's retry layer.
//! Compute errors are mapped once in [`error`].
//!
//! Files:
//! - `config.rs`: [`GcpConfig`]; `client.rs`: [`GcpConnector`] and the trait impl;
//! - `vms.rs`, `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs`, `hosts.rs`: one resource each;
//! - `operations.rs`: waiting for operations, request ids; `convert.rs`: Compute types to and
//!   from the model (labels, machine types); `error.rs`: Compute errors to `ErrorKind`;
//! - `capabilities.rs`: [`capabilities`]; `factory.rs`: [`GcpFactory`].

#![deny(missing_docs)]

mod capabilities;
mod client;
pub mod config;
pub mod convert;
pub mod error;
mod factory;
mod groups;
mod hosts;
mod networks;
mod nics;
pub mod operations;
mod vips;
mod vms;

pub use capabilities::capabilities;
pub use client::GcpConnector;
pub use config::GcpConfig;
pub use factory::GcpFactory;
pub use groups::{free_ordinals, victims};

/// The connector kind, used in every error.
pub const CLOUD: &str = "gcp";

/// Installs ring as the process's rustls crypto provider unless one is installed: the Compute
/// client is built with rustls and no provider of its own (its default would add aws-lc-rs
/// beside the workspace's ring).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine: one provider is set either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
