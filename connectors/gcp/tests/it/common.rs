//! Connectors on a fake started in-process.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use strato_core::OwnerId;
use strato_gcp::{GcpConfig, GcpConnector};
use strato_gcp_fake::FakeGce;

/// A run-unique owner.
pub fn owner() -> OwnerId {
    static N: AtomicU32 = AtomicU32::new(0);
    OwnerId::new(format!(
        "t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
    .unwrap()
}

/// The config of a connector on the fake: anonymous, short polls.
pub fn config(fake: &FakeGce) -> GcpConfig {
    let (project, zone) = fake.project_zone();
    GcpConfig {
        project: Some(project),
        zone: Some(zone),
        endpoint: Some(fake.url.clone()),
        anonymous: true,
        poll_interval: Some(Duration::from_millis(10)),
        operation_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    }
}

pub async fn connector(fake: &FakeGce) -> GcpConnector {
    GcpConnector::connect(owner(), config(fake)).await.unwrap()
}
