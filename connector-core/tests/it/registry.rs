//! The registry: a profile's kind picks the factory, and the connector comes wrapped in the
//! profile's layers.

use std::sync::Arc;
use strato_core::config::Config;
use strato_core::registry::{ConnectContext, Registry};
use strato_core::{ErrorKind, Operation, VmQuery};
use strato_memory::MemoryFactory;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(MemoryFactory));
    r
}

#[tokio::test]
async fn a_profile_connects_wrapped_in_its_layers() {
    let c = Config::parse(
        r#"
        [profiles.drill]
        kind = "memory"
        owner = "team-a"
        [profiles.drill.faults]
        fail_every = 1
        [profiles.drill.retry]
        max_attempts = 2
        initial_backoff = "1ms"
        "#,
        None,
    )
    .unwrap();
    let r = registry();
    r.validate(&c).unwrap();
    let conn = r
        .connect(
            c.profile(Some("drill")).unwrap(),
            &ConnectContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        (conn.info().kind, conn.info().owner.as_str()),
        ("memory", "team-a")
    );
    // Every call fails in the fault layer and the retry layer tries twice: both are there.
    let e = conn.list_vms(&VmQuery::default()).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert_eq!(e.vendor().map(|v| v.code.as_str()), Some("InjectedFault"));
    assert_eq!(e.attempts(), 2, "{e}");
}

#[test]
fn an_unknown_kind_names_the_profile_and_what_is_available() {
    let c = Config::parse(
        "[profiles.cloudy]\nkind = \"azure\"",
        Some("x.toml".as_ref()),
    )
    .unwrap();
    let r = registry();
    assert_eq!(r.kinds(), ["memory"]);
    let e = r.validate(&c).unwrap_err();
    assert_eq!(
        (e.kind(), e.operation()),
        (&ErrorKind::InvalidSpec, Operation::Configure)
    );
    let s = e.to_string();
    assert!(
        s.contains("x.toml")
            && s.contains("cloudy")
            && s.contains("azure")
            && s.contains("available: memory"),
        "{s}"
    );
}
