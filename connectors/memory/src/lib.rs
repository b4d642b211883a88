//! strato's in-process simulated cloud.
//!
//! It is the connector a fresh installation uses before any real cloud is configured, and the
//! reference implementation of the [`strato_core::CloudConnector`] semantics: ownership,
//! idempotent creates by client token, paging, IPAM per network, VIPs, tag-defined groups with
//! partial scale-up under a quota. It also simulates what makes real clouds hard: boot latency,
//! eventual consistency (`visibility_delay`), quotas and request rate limits. Transient failures
//! and timeouts are injected by the core's fault layer on top of any connector.
//!
//! Several [`MemoryConnector`]s of different owners can share one [`MemoryBackend`] (one account);
//! with [`MemoryConfig::state_file`] the account lives in a JSON file shared, under a file
//! lock, by every process that names it (successive CLI invocations see the same resources).
//! States that change over time are computed from stored timestamps, so a VM created by one
//! process is running for the next one once the boot latency has passed.
//!
//! Files:
//! - `lib.rs`: these docs, [`CLOUD`] and the re-exports.
//! - `config.rs`: [`MemoryConfig`].
//! - `client.rs`: [`MemoryConnector`]; its trait impl only forwards to the `_impl` methods below.
//! - `vms.rs`, `networks.rs` (with the per-network IPAM), `nics.rs`, `vips.rs`, `groups.rs`,
//!   `hosts.rs`: one per resource, each the connector's `_impl` methods and what the call does to
//!   the simulated state.
//! - `world.rs`: the simulated state itself: records, ids, ownership, idempotent creates, paging.
//! - `backend.rs`: [`MemoryBackend`], the shared account: its clock, rate limit and state file.
//! - `convert.rs`: stored records -> strato's model.
//! - `error.rs`: the simulated cloud's error codes and the kind each maps to.
//! - `capabilities.rs`: [`capabilities`].
//! - `factory.rs`: [`MemoryFactory`].

#![deny(missing_docs)]

mod backend;
mod capabilities;
mod client;
mod config;
mod convert;
mod error;
mod factory;
mod groups;
mod hosts;
mod networks;
mod nics;
mod vips;
mod vms;
mod world;

pub use backend::{Inventory, MemoryBackend};
pub use capabilities::capabilities;
pub use client::MemoryConnector;
pub use config::{ENV_BOOT_LATENCY, ENV_STATE_FILE, MemoryConfig, MemoryFeature};
pub use factory::MemoryFactory;
pub use world::{DEFAULT_NETWORK, MAX_NICS, MAX_PAGE};

/// The connector kind.
pub const CLOUD: &str = "memory";
