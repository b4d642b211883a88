//! The conformance suite against the in-process Compute fake, through the real
//! `google-cloud-compute-v1` client over HTTP: the connector alone, and the whole stack a
//! profile gets (factory, registry, retry, rate-limit and timeout layers).

use crate::common::{config, connector, owner};
use std::sync::Arc;
use strato_conformance::{Target, run_all};
use strato_core::{NetworkSpec, Size};
use strato_gcp_fake::FakeGce;

async fn target(fake: &FakeGce) -> Target {
    Target {
        connector: Arc::new(connector(fake).await),
        foreign: Arc::new(connector(fake).await),
        size: Size::shape(1, 512),
        image: "projects/debian-cloud/global/images/family/debian-12".into(),
        network: None,
        network_spec: Some(Arc::new(|name: &str, index: u8| {
            NetworkSpec::new(name, Some(format!("10.77.{index}.0/24").parse().unwrap()))
        })),
        extra_network: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let fake = strato_gcp_fake::start().await;
    run_all(&target(&fake).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_the_registry() {
    use strato_core::config::Config;
    use strato_core::registry::{ConnectContext, Registry};
    let fake = strato_gcp_fake::start().await;
    let c = config(&fake);
    let mut reg = Registry::new();
    reg.register(Arc::new(strato_gcp::GcpFactory));
    let profile = |o: &strato_core::OwnerId| {
        let toml = format!(
            "[profiles.p]\nkind = \"gcp\"\nowner = \"{o}\"\nproject = \"{}\"\nzone = \"{}\"\n\
             endpoint = \"{}\"\nanonymous = true\npoll_interval = \"10ms\"\n",
            c.project(),
            c.zone(),
            fake.url
        );
        Config::parse(&toml, None).unwrap().profiles.remove("p").unwrap()
    };
    let ctx = ConnectContext::default();
    let mut t = target(&fake).await;
    t.connector = reg.connect(&profile(&owner()), &ctx).await.unwrap();
    t.foreign = reg.connect(&profile(&owner()), &ctx).await.unwrap();
    run_all(&t).await;
    eprintln!("conformance through the registry: {} API requests", fake.requests().len());
}
