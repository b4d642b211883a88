//! Shared helpers of the moto-backed tests and of `benches/group_scale.rs` (which includes this
//! file by path): the endpoint, unique owners, connectors on moto, a VPC per test.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use strato_aws::{ApiCallCounter, AwsConnector, AwsSettings, static_ec2_config};
use strato_core::OwnerId;

/// A default AMI moto ships.
pub const AMI: &str = "ami-12c6146b";
/// Each test uses its own region: moto keeps one state per region, and every call costs time in
/// proportion to the instances the region holds (terminated ones included), so tests sharing a
/// region would slow each other down run after run.
pub mod region {
    /// The conformance suite.
    pub const CONFORMANCE: &str = "eu-west-1";
    /// moto.rs tests, one each.
    pub const RESTART: &str = "us-east-2";
    /// Shape mapping.
    pub const SHAPES: &str = "us-west-1";
    /// Group scaling.
    pub const GROUPS: &str = "ca-central-1";
    /// VIPs.
    pub const VIPS: &str = "eu-west-2";
    /// Stop/start and listing by state.
    pub const STATES: &str = "eu-north-1";
    /// NICs carrying VIPs.
    pub const NICS: &str = "ap-south-1";
    /// The group_scale bench, strato's side.
    pub const BENCH_STRATO: &str = "us-west-2";
    /// The group_scale bench, the naive loop's side.
    pub const BENCH_NAIVE: &str = "eu-central-1";
}

/// The moto endpoint from `fixtures/moto/up`, if set.
pub fn moto_url_from_env() -> Option<String> {
    std::env::var("STRATO_TEST_MOTO_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The moto endpoint from `fixtures/moto/up`, or a failure telling how to get one.
pub fn moto_url() -> String {
    match moto_url_from_env() {
        Some(u) => u,
        None => panic!(
            "STRATO_TEST_MOTO_URL is not set: these tests need the moto EC2 emulator. Run ./scripts/test \
             (it starts fixtures/moto/up), or `fixtures/moto/up /tmp/moto && . /tmp/moto/env`."
        ),
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// An owner unique to this process and call.
pub fn unique_owner(prefix: &str) -> OwnerId {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    OwnerId::new(format!("{prefix}-p{}-{n}", std::process::id())).expect("valid owner")
}

/// Static test credentials (moto never checks signatures); never a real profile.
pub fn conf(url: &str, region: &str) -> aws_sdk_ec2::config::Builder {
    static_ec2_config(url, region, "testing", "testing")
}

/// A raw EC2 client on moto (not through strato).
pub fn raw_client(url: &str, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(conf(url, region).build())
}

/// Settings launching in `subnet`.
pub fn settings(subnet: &str) -> AwsSettings {
    AwsSettings {
        subnet: Some(subnet.to_owned()),
        ..Default::default()
    }
}

/// A connector on moto.
pub fn connector(
    url: &str,
    region: &str,
    owner: OwnerId,
    settings: AwsSettings,
) -> Arc<AwsConnector> {
    Arc::new(AwsConnector::from_conf(conf(url, region), owner, settings))
}

/// A connector on moto whose EC2 calls are counted.
pub fn counted(
    url: &str,
    region: &str,
    owner: OwnerId,
    settings: AwsSettings,
) -> (Arc<AwsConnector>, ApiCallCounter) {
    let counter = ApiCallCounter::new();
    let conf = conf(url, region).interceptor(counter.clone());
    (
        Arc::new(AwsConnector::from_conf(conf, owner, settings)),
        counter,
    )
}

/// A fresh VPC (10.0.0.0/16) and a subnet 10.0.0.0/24 in it, made with the raw SDK.
pub async fn vpc_and_subnet(url: &str, region: &str) -> (String, String) {
    vpc_and_subnet_in(url, region, "10.0.0.0/16", "10.0.0.0/24").await
}

/// A fresh VPC and a subnet in it with the given CIDRs, made with the raw SDK.
pub async fn vpc_and_subnet_in(
    url: &str,
    region: &str,
    vpc_cidr: &str,
    subnet_cidr: &str,
) -> (String, String) {
    let ec2 = raw_client(url, region);
    let vpc = ec2
        .create_vpc()
        .cidr_block(vpc_cidr)
        .send()
        .await
        .expect("create vpc");
    let vpc = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_owned();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block(subnet_cidr)
        .send()
        .await
        .expect("create subnet");
    let subnet = subnet
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("subnet id")
        .to_owned();
    (vpc, subnet)
}
