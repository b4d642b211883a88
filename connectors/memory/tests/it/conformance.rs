//! The conformance suite against the memory cloud: clean, eventually consistent, with features
//! disabled, and behind the core's fault layer (with the retry layer outside it). Every run must
//! end with the account exactly as it started: nothing leaked, nothing duplicated.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use strato_conformance::{Target, run_all, run_concurrently};
use strato_core::layers::{
    FaultConfig, FaultInjector, LayerConfig, Layered, Retry, RetryConfig, stack,
};
use strato_core::{CloudConnector, NetworkSpec, OwnerId, Size};
use strato_memory::{Inventory, MemoryBackend, MemoryConfig, MemoryConnector, MemoryFeature};

fn owner(tag: &str) -> OwnerId {
    static N: AtomicU32 = AtomicU32::new(0);
    OwnerId::new(format!(
        "t{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
    .unwrap()
}

fn target(
    backend: &MemoryBackend,
    connector: Arc<dyn CloudConnector>,
    foreign: Arc<dyn CloudConnector>,
) -> Target {
    let backend = backend.clone();
    Target {
        connector,
        foreign,
        size: Size::shape(1, 512),
        image: "memory-se".into(),
        network: None,
        network_spec: Some(Arc::new(|name: &str, index: u8| {
            NetworkSpec::new(
                name,
                Some(format!("10.{}.0.0/24", 100 + index).parse().unwrap()),
            )
        })),
        extra_network: None,
        // The simulated metadata service.
        bootstrap_of: Some(Arc::new(move |vm| {
            let doc = backend.bootstrap_of(&vm).ok().flatten();
            Box::pin(async move { doc.map(|d| d.expose().to_owned()) })
        })),
    }
}

async fn run(settings: MemoryConfig) -> Inventory {
    let backend = MemoryBackend::new(settings).unwrap();
    let before = backend.inventory().unwrap();
    let c = Arc::new(MemoryConnector::new(backend.clone(), owner("a")));
    let f = Arc::new(MemoryConnector::new(backend.clone(), owner("b")));
    run_all(&target(&backend, c, f)).await;
    let after = backend.inventory().unwrap();
    assert_eq!(before, after, "the account changed: something leaked");
    after
}

#[tokio::test(start_paused = true)]
async fn clean() {
    run(MemoryConfig::default()).await;
}

#[tokio::test(start_paused = true)]
async fn all_checks_at_once_on_one_account() {
    let backend = MemoryBackend::new(MemoryConfig {
        visibility_delay: Duration::from_secs(1),
        ..Default::default()
    })
    .unwrap();
    let before = backend.inventory().unwrap();
    let c = Arc::new(MemoryConnector::new(backend.clone(), owner("a")));
    let f = Arc::new(MemoryConnector::new(backend.clone(), owner("b")));
    run_concurrently(&target(&backend, c, f)).await;
    assert_eq!(backend.inventory().unwrap(), before);
}

#[tokio::test(start_paused = true)]
async fn eventually_consistent_and_slow_to_boot() {
    run(MemoryConfig {
        visibility_delay: Duration::from_secs(3),
        boot_latency: Duration::from_secs(40),
        ..Default::default()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn without_optional_features() {
    run(MemoryConfig {
        disable: [
            MemoryFeature::StopStart,
            MemoryFeature::NetworkCreate,
            MemoryFeature::NicAttach,
            MemoryFeature::Vip,
            MemoryFeature::Groups,
        ]
        .into(),
        ..Default::default()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn vips_that_cannot_move() {
    run(MemoryConfig {
        disable: [MemoryFeature::VipMove].into(),
        ..Default::default()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn persisted_in_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    run(MemoryConfig {
        state_file: Some(dir.path().join("cloud.json")),
        ..Default::default()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn behind_faults_with_retries_ends_in_the_same_state() {
    let clean = run(MemoryConfig::default()).await;

    let backend = MemoryBackend::new(MemoryConfig::default()).unwrap();
    let faults = FaultConfig {
        fail_fraction: 0.1,
        lost_response_fraction: 0.1,
        latency: Some(Duration::from_millis(20)),
        invisible_for: Some(Duration::from_secs(2)),
        partial_batch_fraction: 0.5,
        seed: 7,
        ..Default::default()
    };
    let bare: Arc<dyn CloudConnector> = Arc::new(MemoryConnector::new(backend.clone(), owner("a")));
    let injector = Arc::new(FaultInjector::new(bare, faults));
    let retry = RetryConfig {
        max_attempts: 10,
        budget: 100_000,
        seed: Some(7),
        ..Default::default()
    };
    let connector = Layered::wrap(injector.clone(), Retry::new(retry));
    let foreign = Arc::new(MemoryConnector::new(backend.clone(), owner("b")));
    run_all(&target(&backend, connector, foreign)).await;
    assert!(
        injector.injected() > 10,
        "only {} faults were injected",
        injector.injected()
    );
    eprintln!("faults injected: {}", injector.injected());
    assert_eq!(
        backend.inventory().unwrap(),
        clean,
        "the faulty run left another account than the clean one"
    );
}

/// The production layer stack (observe, retry, rate limit from the declared limits, timeout) on
/// a cloud that throttles: the suite passes without the caller ever seeing `Throttled`.
#[tokio::test(start_paused = true)]
async fn throttling_cloud_behind_the_production_layers() {
    let backend = MemoryBackend::new(MemoryConfig {
        mutating_per_sec: Some(5.0),
        mutating_burst: 3,
        account: format!("throttled-{}", std::process::id()),
        ..Default::default()
    })
    .unwrap();
    let before = backend.inventory().unwrap();
    let bare: Arc<dyn CloudConnector> = Arc::new(MemoryConnector::new(backend.clone(), owner("a")));
    let connector = stack(bare, &LayerConfig::default());
    // The foreign owner shares the account's limit but has no layers: its calls are rare.
    let foreign: Arc<dyn CloudConnector> = stack(
        Arc::new(MemoryConnector::new(backend.clone(), owner("b"))),
        &LayerConfig::default(),
    );
    run_all(&target(&backend, connector, foreign)).await;
    assert_eq!(backend.inventory().unwrap(), before);
}
