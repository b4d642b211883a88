//! strato's AWS connector, on the official `aws-sdk-ec2`.
//!
//! | strato     | EC2                                                                       |
//! |------------|---------------------------------------------------------------------------|
//! | VM         | instance (RunInstances with TagSpecifications and a ClientToken)          |
//! | network    | VPC subnet                                                                |
//! | NIC        | ENI, attached at the next free device index, delete-on-termination        |
//! | VIP        | secondary private IP on an ENI (+ Elastic IP when public), recorded in an ENI tag |
//! | group      | tag-defined fleet, batched RunInstances / TerminateInstances              |
//!
//! Credentials and region come from aws-config's default chain ([`AwsConnector::connect`]);
//! the profile may set region, endpoint URL, default VPC/subnet, security groups, AMI and type
//! ([`AwsConfig`]). EC2 error codes are mapped once in [`error`]. Idempotency: every create
//! carries a ClientToken derived from the request and is also looked up by its tags first (moto
//! and crash-restarts), see the crate README.
//!
//! Files:
//! - `config.rs`: [`AwsConfig`], the profile's settings;
//! - `client.rs`: [`AwsConnector`], how it is built, what it remembers between calls (ids just
//!   created), and the `CloudConnector` impl, which forwards to the resource files;
//! - `vms.rs`, `networks.rs`, `nics.rs`, `vips.rs`, `groups.rs`, `hosts.rs`: one resource each
//!   (hosts: EC2 has none strato can list or pin to);
//! - `instances.rs`: the instance reads vms, groups, nics and vips share;
//! - `convert.rs`: EC2 types to and from the strato model; `sizes.rs`: shapes to instance types;
//!   `paging.rs`: strato pages over EC2 pages; `counter.rs`: [`ApiCallCounter`];
//! - `error.rs`: EC2 error codes mapped to `ErrorKind`;
//! - `capabilities.rs`: [`capabilities`]; `factory.rs`: [`AwsFactory`].

#![deny(missing_docs)]

mod capabilities;
mod client;
pub mod config;
pub mod convert;
pub mod counter;
pub mod error;
mod factory;
mod groups;
mod hosts;
mod instances;
mod networks;
mod nics;
pub mod paging;
pub mod sizes;
mod vips;
mod vms;

pub use capabilities::capabilities;
pub use client::{AwsConnector, static_ec2_config};
pub use config::AwsConfig;
pub use counter::ApiCallCounter;
pub use factory::AwsFactory;
pub use groups::{free_runs, victims};
pub use vips::VipRecord;

/// The connector kind, used in every error.
pub const CLOUD: &str = "aws";
