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
        bootstrap_of: None,
    };
    run_all(&target).await;
}
