//! The conformance suite against the ARM fake, through the real SDK clients over HTTP; once
//! directly, once through the registry with the layers a profile gets.

use crate::common::{IMAGE, config, connector, fake_with, owner};
use std::sync::Arc;
use strato_azure_fake::Options;
use strato_conformance::{Target, run_all};
use strato_core::{CloudConnector, NetworkSpec, Size};

/// The fake as it behaves by default: creates and deletes take a while, as on Azure (a deleted
/// VM reads as `Deleting` first, which the suite accepts).
async fn fake() -> (String, strato_azure_fake::FakeArm) {
    fake_with(Options::default()).await
}

fn target(
    fake: &strato_azure_fake::FakeArm,
    c: Arc<dyn CloudConnector>,
    f: Arc<dyn CloudConnector>,
) -> Target {
    let user_data = fake.user_data_reader();
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
        // What the instance metadata service would serve: the VM's userData, decoded.
        bootstrap_of: Some(Arc::new(move |vm| {
            use base64::Engine;
            let doc = user_data.get(vm.as_str()).map(|b64| {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("userData is base64");
                String::from_utf8(raw).expect("userData is UTF-8")
            });
            Box::pin(async move { doc })
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let (url, fake) = fake().await;
    let t = target(
        &fake,
        Arc::new(connector(&url).await),
        Arc::new(connector(&url).await),
    );
    run_all(&t).await;
    // What the leak check cannot see: NICs and OS disks go with their VMs.
    deletes_finish(&fake).await;
    assert!(fake.vms().is_empty(), "vms left: {:?}", fake.vms());
    assert!(fake.nics().is_empty(), "nics leaked: {:?}", fake.nics());
    assert!(fake.disks().is_empty(), "disks leaked: {:?}", fake.disks());
    assert_eq!(
        fake.subnets(crate::common::RG, crate::common::VNET),
        vec!["default"]
    );
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
        Config::parse(&toml, None)
            .unwrap()
            .profiles
            .remove("p")
            .unwrap()
    };
    let ctx = ConnectContext::default();
    let t = target(
        &fake,
        reg.connect(&profile(&owner()), &ctx).await.unwrap(),
        reg.connect(&profile(&owner()), &ctx).await.unwrap(),
    );
    run_all(&t).await;
    deletes_finish(&fake).await;
    assert!(fake.nics().is_empty(), "nics leaked: {:?}", fake.nics());
    // Every request the suite made is an action the custom role allows.
    let role: serde_json::Value =
        serde_json::from_str(include_str!("../../role-definition.json")).unwrap();
    let allowed: std::collections::BTreeSet<String> = role["Actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let mut used = std::collections::BTreeSet::new();
    for line in fake.requests() {
        let action = action_of(&line);
        assert!(
            allowed.contains(&action),
            "role-definition.json does not allow {action} ({line})"
        );
        used.insert(action);
    }
    // What ARM checks without a request of its own: creating a VM writes its OS disk and joins
    // its NIC, a NIC joins its subnet, and deleting the VM deletes both. And the `Location`
    // fallback of operations, followed only when an answer has no `Azure-AsyncOperation`
    // (the fake always sends both).
    let implied = ["/disks/", "/join/action", "/operationResults/"];
    for a in &allowed {
        assert!(
            used.contains(a) || implied.iter().any(|i| a.contains(i)),
            "role-definition.json allows {a}, which the connector never used"
        );
    }
}

/// Waits out the deletes the suite started last (a delete takes a while on Azure, as in the
/// fake); whatever is still there after that was leaked.
async fn deletes_finish(fake: &strato_azure_fake::FakeArm) {
    for _ in 0..100 {
        if fake.vms().is_empty() && fake.nics().is_empty() && fake.disks().is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The RBAC action of a request `METHOD /path`.
fn action_of(line: &str) -> String {
    let (method, path) = line.split_once(' ').unwrap();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let p = segs
        .iter()
        .position(|s| s.eq_ignore_ascii_case("providers"))
        .unwrap();
    let rest = &segs[p + 1..];
    // namespace, then type/name pairs; a trailing odd segment is an action (start, deallocate).
    let mut action = rest[0].to_owned();
    let mut i = 1;
    while i < rest.len() {
        action.push('/');
        action.push_str(rest[i]);
        i += 2;
    }
    let verb = match (method, ()) {
        ("POST", _) => return format!("{action}/action"),
        ("GET", _) => "read",
        ("PUT" | "PATCH", _) => "write",
        ("DELETE", _) => "delete",
        _ => panic!("unexpected {line}"),
    };
    format!("{action}/{verb}")
}
