//! The conformance suite against the ARM fake, through the real SDK clients over HTTP; once
//! directly, once through the registry with the layers a profile gets.

use crate::common::{IMAGE, config, connector, fake_with, owner};
use std::time::Duration;
use strato_azure_fake::Options;
use std::sync::Arc;
use strato_conformance::{Target, run_all};
use strato_core::{CloudConnector, NetworkSpec, Size};

/// The suite reads a VM right after `delete_vms` saw it leave the live states and accepts only
/// NotFound or Deleted; Azure shows `Deleting` for a while first (the fake's default, which
/// `lro.rs` covers), so here deletes end at the next request.
async fn fake() -> (String, strato_azure_fake::FakeArm) {
    fake_with(Options {
        delete_delay: Duration::ZERO,
        ..Options::default()
    })
    .await
}

fn target(c: Arc<dyn CloudConnector>, f: Arc<dyn CloudConnector>) -> Target {
    Target {
        connector: c,
        foreign: f,
        size: Size::shape(1, 1024),
        image: IMAGE.into(),
        network: None,
        network_spec: Some(Arc::new(|name: &str, index: u8| {
            NetworkSpec::new(name, Some(format!("10.77.{index}.0/24").parse().unwrap()))
        })),
        extra_network: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let (url, fake) = fake().await;
    let t = target(Arc::new(connector(&url).await), Arc::new(connector(&url).await));
    run_all(&t).await;
    // What the leak check cannot see: NICs and OS disks go with their VMs.
    assert!(fake.vms().is_empty(), "vms left: {:?}", fake.vms());
    assert!(fake.nics().is_empty(), "nics leaked: {:?}", fake.nics());
    assert!(fake.disks().is_empty(), "disks leaked: {:?}", fake.disks());
    assert_eq!(fake.subnets(crate::common::RG, crate::common::VNET), vec!["default"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_the_registry() {
    use strato_core::config::Config;
    use strato_core::registry::{ConnectContext, Registry};
    let (url, fake) = fake().await;
    let mut reg = Registry::new();
    reg.register(Arc::new(strato_azure::AzureFactory));
    let c = config(&url);
    let profile = |o: &strato_core::OwnerId| {
        let toml = format!(
            "[profiles.p]\nkind = \"azure\"\nowner = \"{o}\"\nsubscription_id = \"{}\"\n\
             resource_group = \"{}\"\nlocation = \"{}\"\nvnet = \"{}\"\nendpoint = \"{url}\"\n\
             auth = \"anonymous\"\npoll_interval = \"50ms\"\noperation_timeout = \"5s\"\n",
            c.subscription_id, c.resource_group, c.location, c.vnet
        );
        Config::parse(&toml, None).unwrap().profiles.remove("p").unwrap()
    };
    let ctx = ConnectContext::default();
    let t = target(
        reg.connect(&profile(&owner()), &ctx).await.unwrap(),
        reg.connect(&profile(&owner()), &ctx).await.unwrap(),
    );
    run_all(&t).await;
    assert!(fake.nics().is_empty(), "nics leaked: {:?}", fake.nics());
}
