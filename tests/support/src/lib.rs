//! What strato's test suites share, written once: the controller's end-to-end suites
//! (`controller/tests`, on the memory cloud at paused time; `tests/e2e`, on AWS/moto and the
//! Kubernetes fake in real time) and the AWS connector's moto tests and bench.
//!
//! - [`owner`]: an owner id unique to the process and call (tests share one backend in
//!   parallel and never rely on a reset).
//! - [`builders`]: SE group, virtual service, IPAM pool and DNS zone values.
//! - [`harness`]: the real controller on any `Arc<dyn CloudConnector>` and store, with simulated
//!   agents; its pace ([`HarnessConfig`]) is the caller's (paused or real time). The agents
//!   call the controller in process, or over its HTTP API ([`HarnessConfig::start_over_http`]).
//! - [`agents`]: simulated agents over HTTP, each with its own SE's credential.
//! - [`wait`]: bounded waits, and the controller's status as text for failure messages.
//! - [`reads`]: what the cloud holds (a group's VMs, the VIPs), read for assertions.
//! - [`dns`]: one A query over UDP to the controller's DNS server.
//! - [`layers`]: test layers around a connector (throttled reads, slow creates, hung calls, a
//!   call log) and [`Hide`], EC2-style eventual consistency on demand (or VMs missing from
//!   lists only).
//! - [`fault`]: what every fault-matrix scenario checks (nothing wrongly deleted, leaked or
//!   duplicated, DNS still answering) and the `fault-matrix:` line it prints.
//! - [`store`]: [`CrashingStore`], a state store that dies at a chosen write.
//! - `moto` (cargo feature `aws`): the moto endpoint, moto regions, raw EC2 clients, connectors
//!   and a fresh VPC per test.
//!
//! Helpers only one test file needs stay in that file.

#![deny(missing_docs)]

pub mod agents;
pub mod builders;
pub mod dns;
pub mod fault;
pub mod harness;
mod hide;
pub mod layers;
#[cfg(feature = "aws")]
pub mod moto;
pub mod owner;
pub mod reads;
pub mod store;
pub mod wait;

pub use agents::HttpAgents;
pub use builders::{group, pool, vs, zone};
pub use dns::{dns_query, dns_query_within};
pub use fault::{Baseline, Tally};
pub use harness::{Harness, HarnessApi, HarnessConfig, memory_store};
pub use hide::Hide;
pub use layers::{CallLog, Hang, SlowCreates, ThrottleReads};
pub use owner::unique_owner;
pub use reads::{vips, vms};
pub use store::CrashingStore;
pub use wait::{describe, wait_for, wait_until};
