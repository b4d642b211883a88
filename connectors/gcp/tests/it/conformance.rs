//! The conformance suite against the in-process Compute fake, through the real
//! `google-cloud-compute-v1` client over HTTP: the connector alone, and the whole stack a
//! profile gets (factory, registry, retry, rate-limit and timeout layers).

use crate::common::{config, connector, owner};
use std::sync::Arc;
use strato_conformance::{Target, run_all};
use strato_core::{NetworkSpec, Size};
use strato_gcp_fake::FakeGce;

async fn target(fake: &FakeGce) -> Target {
    let metadata = fake.metadata_reader();
    Target {
        connector: Arc::new(connector(fake).await),
        foreign: Arc::new(connector(fake).await),
        size: Size::shape(1, 512),
        image: "projects/debian-cloud/global/images/family/debian-12".into(),
        network: None,
        // In the fake's second VPC network: an instance's NICs must each be in their own.
        network_spec: Some(Arc::new(|name: &str, index: u8| {
            let mut spec =
                NetworkSpec::new(name, Some(format!("10.77.{index}.0/24").parse().unwrap()));
            spec.parent = Some(strato_gcp_fake::DATA_VPC.into());
            spec
        })),
        extra_network: None,
        // The metadata server's view: the instance's `user-data` item.
        bootstrap_of: Some(Arc::new(move |vm| {
            let doc = metadata.get(vm.as_str(), "user-data");
            Box::pin(async move { doc })
        })),
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
        Config::parse(&toml, None)
            .unwrap()
            .profiles
            .remove("p")
            .unwrap()
    };
    let ctx = ConnectContext::default();
    let mut t = target(&fake).await;
    t.connector = reg.connect(&profile(&owner()), &ctx).await.unwrap();
    t.foreign = reg.connect(&profile(&owner()), &ctx).await.unwrap();
    run_all(&t).await;
    eprintln!(
        "conformance through the registry: {} API requests",
        fake.requests().len()
    );
}

/// The IAM permission of a Compute request the connector made, as (method, path).
fn permission(method: &str, path: &str) -> String {
    let segs: Vec<&str> = path
        .split('?')
        .next()
        .unwrap()
        .trim_matches('/')
        .split('/')
        .collect();
    // compute/v1/projects/P/{zones|regions}/X/collection[/name[/verb]]
    let rest = &segs[4..];
    let verb = match (method, rest) {
        ("GET", [c, _, "operations", _]) if *c == "zones" => {
            return "compute.zoneOperations.get".into();
        }
        ("GET", [c, _, "operations", _]) if *c == "regions" => {
            return "compute.regionOperations.get".into();
        }
        ("POST", [_, _, "instances", "bulkInsert"]) => "create",
        ("GET", [_, _, _]) => "list",
        ("POST", [_, _, _]) => "create",
        ("GET", [_, _, _, _]) => "get",
        ("DELETE", [_, _, _, _]) => "delete",
        (_, [_, _, _, _, v]) => v,
        other => panic!("unexpected request {other:?}"),
    };
    format!("compute.{}.{verb}", rest[2])
}

/// Every request the suite made through the registry is allowed by `iam-role.yaml`, and every
/// directly-called permission there was used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_allowed_by_the_iam_role() {
    let fake = strato_gcp_fake::start().await;
    run_all(&target(&fake).await).await;
    let yaml = include_str!("../../iam-role.yaml");
    let direct: std::collections::BTreeSet<String> = yaml
        .split("# Checked by Compute")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let used: std::collections::BTreeSet<String> = fake
        .requests()
        .iter()
        .map(|r| {
            let (m, p) = r.split_once(' ').unwrap();
            permission(m, p)
        })
        .collect();
    assert_eq!(
        used, direct,
        "permissions used by the suite vs the role's direct ones"
    );
}
