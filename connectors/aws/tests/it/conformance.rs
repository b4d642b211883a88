//! The whole conformance suite against moto, through the real SDK over HTTP.
//! Needs `STRATO_TEST_MOTO_URL` (`./scripts/test` starts fixtures/moto).

use std::sync::Arc;
use strato_aws::AwsConfig;
use strato_conformance::{Target, run_all};
use strato_core::{NetworkSpec, Size};
use strato_testkit::moto::{self, region::connector as region};
use strato_testkit::unique_owner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_moto() {
    let url = moto::moto_url();
    let (vpc, subnet) = moto::vpc_and_subnet(&url, region::CONFORMANCE).await;
    let settings = AwsConfig {
        vpc: Some(vpc.clone()),
        subnet: Some(subnet.clone()),
        ..Default::default()
    };
    let connector = moto::connector(
        &url,
        region::CONFORMANCE,
        unique_owner("cf"),
        settings.clone(),
    );
    let foreign = moto::connector(
        &url,
        region::CONFORMANCE,
        unique_owner("cf-foreign"),
        settings,
    );
    let ec2 = moto::raw_client(&url, region::CONFORMANCE);
    let target = Target {
        connector,
        foreign,
        // A shape, so the size table is exercised (maps to t3.micro).
        size: Size::shape(1, 1024),
        image: moto::AMI.to_owned(),
        network: Some(subnet.as_str().into()),
        network_spec: Some(Arc::new(move |name: &str, index: u8| {
            let mut s = NetworkSpec::new(
                name,
                Some(format!("10.0.{}.0/24", 10 + index).parse().expect("cidr")),
            );
            s.parent = Some(vpc.clone());
            s
        })),
        extra_network: None,
        bootstrap_of: Some(Arc::new(move |vm| {
            let ec2 = ec2.clone();
            Box::pin(async move { user_data(&ec2, vm.as_str()).await })
        })),
    };
    run_all(&target).await;
}

/// The instance's user data as DescribeInstanceAttribute returns it (what the guest's metadata
/// service would serve), decoded.
async fn user_data(ec2: &aws_sdk_ec2::Client, instance: &str) -> Option<String> {
    use base64::Engine;
    let out = ec2
        .describe_instance_attribute()
        .instance_id(instance)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("DescribeInstanceAttribute userData");
    let encoded = out.user_data()?.value()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("user data is base64");
    Some(String::from_utf8(raw).expect("user data is UTF-8"))
}
