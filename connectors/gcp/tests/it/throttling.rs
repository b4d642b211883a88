//! 429 is `Throttled` with its Retry-After (the client library neither retries it nor reads the
//! header), and strato's retry layer retries a throttled insert, a POST the library never
//! retries.

use crate::common::{config, connector, owner};
use std::sync::Arc;
use std::time::Duration;
use strato_core::{CloudConnector, ErrorKind, Size, VmId, VmSpec};

const IMAGE: &str = "projects/debian-cloud/global/images/family/debian-12";

#[tokio::test]
async fn a_429_is_throttled_with_its_retry_after() {
    let fake = strato_gcp_fake::start().await;
    let c = connector(&fake).await;
    fake.throttle(1, Some(3));
    let e = c.get_vm(&VmId::new("any")).await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(3))
        },
        "{e}"
    );
    assert_eq!(
        e.vendor().map(|v| v.code.as_str()),
        Some("rateLimitExceeded")
    );
    // A throttled list is an error, never an empty list.
    fake.throttle(1, None);
    let e = c.list_vms(&Default::default()).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Throttled { retry_after: None });
    fake.throttle_method("POST", 1, Some(1));
    let e = c
        .create_vm(&VmSpec::new("thr-post", Size::shape(1, 512), IMAGE))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Throttled { .. }), "{e}");
    assert!(fake.instance_names().is_empty());
}

#[tokio::test]
async fn the_retry_layer_retries_a_throttled_insert() {
    use strato_core::config::Config;
    use strato_core::registry::{ConnectContext, Registry};
    let fake = strato_gcp_fake::start().await;
    let c = config(&fake);
    let mut reg = Registry::new();
    reg.register(Arc::new(strato_gcp::GcpFactory));
    let toml = format!(
        "[profiles.p]\nkind = \"gcp\"\nowner = \"{}\"\nproject = \"{}\"\nzone = \"{}\"\n\
         endpoint = \"{}\"\nanonymous = true\npoll_interval = \"10ms\"\n",
        owner(),
        c.project(),
        c.zone(),
        fake.url
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
    fake.throttle_method("POST", 2, Some(1));
    let t = std::time::Instant::now();
    let vm = conn
        .create_vm(&VmSpec::new("thr-retry", Size::shape(1, 512), IMAGE))
        .await
        .expect("retried past two 429s");
    assert_eq!(vm.name, "thr-retry");
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured: {:?}",
        t.elapsed()
    );
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST "))
        .count();
    assert_eq!(
        posts, 3,
        "two throttled inserts, then the one that went through"
    );
    assert_eq!(fake.instance_names(), vec!["thr-retry".to_owned()]);
}
