//! The rate-limit layer built for a connector: the profile's rates over the cloud's defaults,
//! mutating calls and reads in separate buckets, and off when disabled.

use super::vm_spec;
use std::sync::Arc;
use std::time::Duration;
use strato_core::layers::{Layered, RateLimit, RateLimitConfig};
use strato_core::{CloudConnector, OwnerId, VmQuery};
use strato_memory::{MemoryConfig, MemoryConnector};
use tokio::time::Instant;

/// A memory cloud on an account of its own: buckets are shared per cloud, account and region
/// in the process, and each test must start with full ones.
fn cloud(account: &str) -> Arc<dyn CloudConnector> {
    let settings = MemoryConfig {
        boot_latency: Duration::ZERO,
        account: account.into(),
        ..MemoryConfig::default()
    };
    Arc::new(MemoryConnector::from_settings(settings, OwnerId::new("core-it").unwrap()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn the_profiles_rates_space_mutating_calls_and_leave_reads_alone() {
    // The memory cloud documents no limits: nothing to wrap unless the profile sets some.
    assert!(RateLimit::for_connector(&*cloud("rl-profile"), &RateLimitConfig::default()).is_none());

    // A second profile of the same account that sets rates gets them: the unlimited connector
    // built first does not decide for it.
    let inner = cloud("rl-profile");

    let cfg = RateLimitConfig {
        mutating_per_sec: Some(1.0),
        mutating_burst: Some(2),
        ..RateLimitConfig::default()
    };
    let rl = RateLimit::for_connector(&*inner, &cfg).expect("a limit was set");
    let conn = Layered::wrap(inner, rl);

    let start = Instant::now();
    for i in 0..4 {
        conn.create_vm(&vm_spec(&format!("rl-{i}"))).await.unwrap();
    }
    // Two from the burst, then one a second.
    assert_eq!(start.elapsed(), Duration::from_secs(2));

    let start = Instant::now();
    for _ in 0..10 {
        conn.list_vms(&VmQuery::default()).await.unwrap();
    }
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "reads have their own, unlimited, bucket"
    );
}

#[tokio::test(start_paused = true)]
async fn the_clouds_own_limits_apply_unless_disabled() {
    let limited = |account: &str| {
        let settings = MemoryConfig {
            boot_latency: Duration::ZERO,
            account: account.into(),
            mutating_per_sec: Some(1.0),
            mutating_burst: 1,
            ..MemoryConfig::default()
        };
        Arc::new(
            MemoryConnector::from_settings(settings, OwnerId::new("core-it").unwrap()).unwrap(),
        ) as Arc<dyn CloudConnector>
    };

    let inner = limited("rl-cloud");
    let rl = RateLimit::for_connector(&*inner, &RateLimitConfig::default()).expect("documented");
    let conn = Layered::wrap(inner, rl);
    let start = Instant::now();
    for i in 0..3 {
        conn.create_vm(&vm_spec(&format!("rc-{i}"))).await.unwrap();
    }
    // Waited for its tokens, so the cloud never answered Throttled.
    assert_eq!(start.elapsed(), Duration::from_secs(2));

    let off = RateLimitConfig {
        enabled: false,
        ..RateLimitConfig::default()
    };
    assert!(RateLimit::for_connector(&*limited("rl-off"), &off).is_none());
}
