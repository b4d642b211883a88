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

#![deny(missing_docs)]

mod capabilities;
mod client;
pub mod config;
pub mod convert;
pub mod counter;
pub mod error;
mod factory;
mod groups;
mod networks;
mod nics;
pub mod paging;
pub mod sizes;
mod vips;
mod vms;

pub use capabilities::{CAPABILITIES, RATE_LIMITS};
pub use client::{AwsConnector, static_ec2_config};
pub use config::AwsConfig;
pub use counter::ApiCallCounter;
pub use factory::AwsFactory;
pub use groups::{free_runs, victims};
pub use vips::VipRecord;
