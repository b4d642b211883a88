//! The whole conformance suite against moto, through the real SDK over HTTP.
//! Needs `STRATO_TEST_MOTO_URL` (`./scripts/test` starts fixtures/moto).

use crate::common;

use std::sync::Arc;
use strato_aws::AwsSettings;
use strato_conformance::{Target, run_all};
use strato_core::{NetworkSpec, Size};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_moto() {
    let url = common::moto_url();
    let (vpc, subnet) = common::vpc_and_subnet(&url, common::region::CONFORMANCE).await;
    let settings = AwsSettings {
        vpc: Some(vpc.clone()),
        subnet: Some(subnet.clone()),
        ..Default::default()
    };
    let connector = common::connector(
        &url,
        common::region::CONFORMANCE,
        common::unique_owner("cf"),
        settings.clone(),
    );
    let foreign = common::connector(
        &url,
        common::region::CONFORMANCE,
        common::unique_owner("cf-foreign"),
        settings,
    );
    let target = Target {
        connector,
        foreign,
        // A shape, so the size table is exercised (maps to t3.micro).
        size: Size::shape(1, 1024),
        image: common::AMI.to_owned(),
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
    };
    run_all(&target).await;
}
