//! 429 with Retry-After is `Throttled` with the wait Azure asked for; the retry layer of a
//! profile's stack waits that long and retries; a throttled list is an error, never an empty list.

use crate::common::{connector, fake, vm_spec};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strato_core::{CloudConnector, ErrorKind, VmQuery};

#[tokio::test]
async fn a_429_is_throttled_with_the_retry_after_azure_gave() {
    let (url, fake) = fake().await;
    let c = connector(&url).await;
    let vm = c.create_vm(&vm_spec("thr-get")).await.unwrap();
    fake.clear_requests();
    fake.throttle(1, 7);
    let e = c.get_vm(&vm.id).await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(7))
        },
        "{e}"
    );
    assert_eq!(e.vendor().map(|v| v.code.as_str()), Some("TooManyRequests"));
    fake.throttle(1, 3);
    let e = c.list_vms(&VmQuery::default()).await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(3))
        },
        "a throttled list: {e}"
    );
    // The SDK's own retries are off: one request each, the retry layer decides.
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.starts_with("GET"))
            .count(),
        2
    );
    c.delete_vm(&vm.id).await.unwrap();
}

#[tokio::test]
async fn the_retry_layer_waits_out_retry_after_and_succeeds() {
    use strato_core::config::Config;
    use strato_core::registry::{ConnectContext, Registry};
    let (url, fake) = fake().await;
    let mut reg = Registry::new();
    reg.register(Arc::new(strato_azure::AzureFactory));
    let c = crate::common::config(&url);
    let toml = format!(
        "[profiles.p]\nkind = \"azure\"\nowner = \"{}\"\nsubscription_id = \"{}\"\n\
         resource_group = \"{}\"\nlocation = \"{}\"\nvnet = \"{}\"\nendpoint = \"{url}\"\n\
         auth = \"anonymous\"\n",
        crate::common::owner(),
        c.subscription_id,
        c.resource_group,
        c.location,
        c.vnet
    );
    let profile = Config::parse(&toml, None)
        .unwrap()
        .profiles
        .remove("p")
        .unwrap();
    let conn = reg
        .connect(&profile, &ConnectContext::default())
        .await
        .unwrap();
    let vm = conn.create_vm(&vm_spec("thr-retry")).await.unwrap();
    fake.clear_requests();
    fake.throttle(1, 1);
    let t = Instant::now();
    let got = conn.get_vm(&vm.id).await.unwrap();
    assert_eq!(got.id, vm.id);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After: {:?}",
        t.elapsed()
    );
    let gets = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET") && r.contains("virtualMachines"))
        .count();
    assert_eq!(gets, 2, "{:?}", fake.requests());
    conn.delete_vm(&vm.id).await.unwrap();
}
