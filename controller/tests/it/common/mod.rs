//! This suite's side of the shared harness (`strato-testkit`): the real controller on the
//! memory cloud, with simulated agents, at paused (accelerated) tokio time.
#![allow(dead_code)]

pub mod traffic;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_controller::model::{IpamPool, SeGroup};
use strato_controller::store::StateStore;
use strato_core::CloudConnector;
use strato_core::OwnerId;
use strato_core::layers::Layered;
use strato_memory::{MemoryConfig, MemoryConnector};
pub use strato_testkit::{
    Harness, HarnessConfig, ThrottleReads, dns_query, memory_store, vs, wait_for,
};

/// The profile name the memory cloud has in the controller (SE groups name it).
pub const CLOUD: &str = "mem";

/// An owner id unique to this test.
pub fn owner() -> OwnerId {
    strato_testkit::unique_owner("ctl")
}

/// A memory cloud with a short boot latency.
pub fn memory_cloud(owner: &OwnerId) -> MemoryConnector {
    let settings = MemoryConfig {
        boot_latency: Duration::from_secs(3),
        ..MemoryConfig::default()
    };
    MemoryConnector::from_settings(settings, owner.clone()).unwrap()
}

/// An SE group on the memory cloud booting `se-1` (see [`strato_testkit::group`]).
pub fn group(name: &str, min: u32, max: u32) -> SeGroup {
    strato_testkit::group(CLOUD, "se-1", name, min, max)
}

/// VIPs from 10.0.200.0/24 but .1 to .9.
pub fn pool() -> IpamPool {
    strato_testkit::pool("10.0.200.0/24", &[("10.0.200.1", "10.0.200.9")])
}

/// How this suite starts a [`Harness`]: the cloud under [`CLOUD`], the controller's default
/// options, at the paused clock's pace ([`HarnessConfig::new`]).
pub trait StartOnMemory {
    /// A harness on `cloud` and `store`, serving a load of its own.
    fn start(
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
    ) -> impl Future<Output = Harness>;

    /// A harness on `cloud` and `store`, serving `load`.
    fn start_with(
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> impl Future<Output = Harness>;
}

impl StartOnMemory for Harness {
    async fn start(cloud: Arc<dyn CloudConnector>, store: Arc<dyn StateStore>) -> Harness {
        Self::start_with(cloud, store, Arc::new(LoadModel::new())).await
    }

    async fn start_with(
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> Harness {
        HarnessConfig::new(CLOUD).start(cloud, store, load).await
    }
}

/// The memory cloud behind a [`ThrottleReads`] switch.
pub fn layered(cloud: MemoryConnector, switch: ThrottleReads) -> Arc<dyn CloudConnector> {
    Layered::wrap(Arc::new(cloud), switch)
}
