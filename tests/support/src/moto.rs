//! moto (the EC2 emulator `fixtures/moto/up` starts): its endpoint, the region of each test,
//! connectors and raw EC2 clients on it, and a fresh VPC per test.

use std::net::IpAddr;
use std::sync::Arc;
use strato_aws::{ApiCallCounter, AwsConfig, AwsConnector, static_ec2_config};
use strato_core::{OWNER_TAG, OwnerId};

/// A default AMI moto ships.
pub const AMI: &str = "ami-12c6146b";
/// The VPC [`vpc_and_subnet`] makes.
pub const VPC_CIDR: &str = "10.0.0.0/16";
/// The subnet [`vpc_and_subnet`] makes; moto gives instances their primary addresses from its
/// bottom up.
pub const SUBNET_CIDR: &str = "10.0.0.0/24";

/// The moto region of each test, all in one list so that no two suites share one by accident.
///
/// moto keeps one state per region, and every call costs time in proportion to the instances a
/// region holds (terminated ones included), so tests sharing a region would slow each other
/// down run after run.
/// The CLI's moto test (`cli/tests/it/moto.rs`) uses `us-east-1`, named in its profile file.
/// The CLI's failover test on moto (`cli/tests/it/ha.rs`) uses `ap-northeast-3`.
pub mod region {
    /// The AWS connector's own tests (`connectors/aws/tests`).
    pub mod connector {
        /// The conformance suite.
        pub const CONFORMANCE: &str = "eu-west-1";
        /// A restarted connector finds its VM.
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
    }

    /// The AWS connector's `group_scale` bench.
    pub mod bench {
        /// strato's side.
        pub const STRATO: &str = "eu-west-3";
        /// The naive loop's side.
        pub const NAIVE: &str = "ap-southeast-2";
    }

    /// The controller's end-to-end tests on AWS (`tests/e2e`).
    pub mod e2e {
        /// VS creation, VIP, DNS, agent config, teardown.
        pub const CREATE: &str = "us-west-2";
        /// Scale out and in.
        pub const SCALE: &str = "eu-central-1";
        /// Dead SE replacement.
        pub const FAILOVER: &str = "ap-northeast-1";
        /// Restart mid-scale and adoption by tags.
        pub const RESTART: &str = "ap-southeast-1";
        /// Lost responses and failed calls.
        pub const FAULTS: &str = "sa-east-1";
        /// A VIP adopted from an earlier process.
        pub const ADOPT_VIP: &str = "ap-northeast-2";
        /// Fault matrix: an SE missing from a list.
        pub const MISSING_FROM_LIST: &str = "eu-south-1";
        /// Fault matrix: every agent silent.
        pub const AGENTS_SILENT: &str = "af-south-1";
        /// Fault matrix: half the agents silent.
        pub const HALF_SILENT: &str = "me-south-1";
        /// Fault matrix: a cloud call hangs.
        pub const CALL_HANGS: &str = "eu-south-2";
        /// A service on a second subnet: its SE's ENI hot-attached.
        pub const NETWORKS: &str = "ap-southeast-3";
    }
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

/// EC2 configuration for moto with static test credentials (moto never checks signatures);
/// never a real profile.
pub fn conf(url: &str, region: &str) -> aws_sdk_ec2::config::Builder {
    static_ec2_config(url, region, "testing", "testing")
}

/// A raw EC2 client on moto (not through strato).
pub fn raw_client(url: &str, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(conf(url, region).build())
}

/// Settings launching in `subnet`.
pub fn settings(subnet: &str) -> AwsConfig {
    AwsConfig {
        subnet: Some(subnet.to_owned()),
        ..Default::default()
    }
}

/// A connector on moto.
pub fn connector(
    url: &str,
    region: &str,
    owner: OwnerId,
    settings: AwsConfig,
) -> Arc<AwsConnector> {
    Arc::new(AwsConnector::from_conf(conf(url, region), owner, settings))
}

/// A connector on moto whose EC2 calls are counted.
pub fn counted(
    url: &str,
    region: &str,
    owner: OwnerId,
    settings: AwsConfig,
) -> (Arc<AwsConnector>, ApiCallCounter) {
    let counter = ApiCallCounter::new();
    let conf = conf(url, region).interceptor(counter.clone());
    (
        Arc::new(AwsConnector::from_conf(conf, owner, settings)),
        counter,
    )
}

/// A fresh VPC ([`VPC_CIDR`]) and a subnet ([`SUBNET_CIDR`]) in it, made with the raw SDK.
pub async fn vpc_and_subnet(url: &str, region: &str) -> (String, String) {
    vpc_and_subnet_in(url, region, VPC_CIDR, SUBNET_CIDR).await
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

/// An EC2 filter for resources carrying `owner`'s ownership tag.
pub fn owner_filter(owner: &OwnerId) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{OWNER_TAG}"))
        .values(owner.as_str())
        .build()
}

/// Live (pending or running) instances carrying `owner`'s tag, sorted, read with the raw SDK,
/// so that an instance the connector would not show (a missing name tag, say) still counts.
pub async fn live_instances(ec2: &aws_sdk_ec2::Client, owner: &OwnerId) -> Vec<String> {
    let out = ec2
        .describe_instances()
        .filters(owner_filter(owner))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .values("pending")
                .build(),
        )
        .send()
        .await
        .expect("describe instances");
    let mut ids: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// One test's place in moto: the endpoint, a region and a fresh VPC with one subnet.
#[derive(Clone, Debug)]
pub struct Moto {
    /// The endpoint.
    pub url: String,
    /// The test's region.
    pub region: &'static str,
    /// The VPC ([`VPC_CIDR`]).
    pub vpc: String,
    /// The subnet ([`SUBNET_CIDR`]).
    pub subnet: String,
}

impl Moto {
    /// A fresh VPC and subnet in `region` of the moto from the environment ([`moto_url`]).
    pub async fn new(region: &'static str) -> Self {
        let url = moto_url();
        let (vpc, subnet) = vpc_and_subnet(&url, region).await;
        Self {
            url,
            region,
            vpc,
            subnet,
        }
    }

    /// The bare AWS connector of `owner`, launching in the subnet.
    pub fn connector(&self, owner: &OwnerId) -> Arc<AwsConnector> {
        let settings = AwsConfig {
            vpc: Some(self.vpc.clone()),
            ..settings(&self.subnet)
        };
        connector(&self.url, self.region, owner.clone(), settings)
    }

    /// The raw EC2 client (for reads strato does not make, and for sabotage).
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        raw_client(&self.url, self.region)
    }

    /// [`live_instances`] of `owner` in the region.
    pub async fn raw_live_instances(&self, owner: &OwnerId) -> Vec<String> {
        live_instances(&self.ec2(), owner).await
    }

    /// The private addresses of an instance's primary ENI (device index 0), read raw.
    pub async fn primary_eni_ips(&self, instance: &str) -> Vec<IpAddr> {
        let out = self
            .ec2()
            .describe_network_interfaces()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("attachment.instance-id")
                    .values(instance)
                    .build(),
            )
            .send()
            .await
            .expect("describe network interfaces");
        out.network_interfaces()
            .iter()
            .filter(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .flat_map(|n| n.private_ip_addresses())
            .filter_map(|a| a.private_ip_address()?.parse().ok())
            .collect()
    }

    /// Terminates an instance behind the controller's back.
    pub async fn terminate(&self, instance: &str) {
        self.ec2()
            .terminate_instances()
            .instance_ids(instance)
            .send()
            .await
            .expect("terminate instances");
    }
}
