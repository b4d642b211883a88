//! Shared set-up of the tests against govmomi's simulator (fixtures/vcsim).

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use strato_core::OwnerId;
use strato_vsphere::{VsphereConfig, VsphereConnector};

/// The template the tests clone: a VM of vcsim's default inventory.
pub const TEMPLATE: &str = "DC0_H0_VM0";
/// vcsim's standard portgroup.
pub const STANDARD_NET: &str = "VM Network";
/// vcsim's distributed portgroup.
pub const DV_NET: &str = "DC0_DVPG0";

/// A variable the fixture's `up` script writes; missing means the backend was not started.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test (it starts fixtures/vcsim and exports it), or source the env file of fixtures/vcsim/up STATE_DIR")
    })
}

/// Settings for the simulator, verifying its TLS certificate against the CA it wrote.
pub fn config() -> VsphereConfig {
    let mut c = VsphereConfig::new(env("STRATO_TEST_VCSIM_URL"));
    c.user = Some(env("STRATO_TEST_VCSIM_USER"));
    c.password = Some(env("STRATO_TEST_VCSIM_PASSWORD"));
    c.ca_file = Some(env("STRATO_TEST_VCSIM_CA").into());
    // Shared by every test process: allocations are found in vCenter, so they never collide.
    c.vip_pools
        .insert(STANDARD_NET.into(), "198.18.0.0/20".parse().unwrap());
    c.vip_pools
        .insert(DV_NET.into(), "198.19.0.0/20".parse().unwrap());
    c
}

/// An owner id unique to this process and call.
pub fn owner(prefix: &str) -> OwnerId {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    OwnerId::new(format!("{prefix}{}-{n}", std::process::id())).unwrap()
}

/// A connector for a fresh owner.
pub async fn connector(prefix: &str) -> VsphereConnector {
    VsphereConnector::connect(config(), owner(prefix))
        .await
        .expect("connect to vcsim")
}
