//! Shared set-up of the tests against govmomi's simulator (fixtures/vcsim).

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use strato_core::{
    CloudConnector, Error, ErrorKind, HostId, Network, NetworkId, NetworkSpec, NicSpec, OwnerId,
    Size, VmQuery, VmSpec,
};
use strato_vsphere::{VsphereConfig, VsphereConnector};

/// The template the tests clone: a VM of vcsim's default inventory.
pub const TEMPLATE: &str = "DC0_H0_VM0";
/// vcsim's standard portgroup.
pub const STANDARD_NET: &str = "VM Network";
/// vcsim's distributed portgroup.
pub const DV_NET: &str = "DC0_DVPG0";

/// A VM cloned from the template.
pub fn spec(name: &str) -> VmSpec {
    VmSpec::new(name, Size::shape(1, 512), TEMPLATE)
}

/// A VM cloned from the template and pinned to `host`.
pub fn pinned(name: &str, host: HostId) -> VmSpec {
    let mut s = spec(name);
    s.host = Some(host);
    s
}

/// A NIC on `network`, its address left to the cloud.
pub fn nic_on(network: &NetworkId) -> NicSpec {
    NicSpec {
        network: network.clone(),
        address: None,
    }
}

/// Creates a network with an address range (the VIP pool), which the test deletes.
pub async fn network(c: &VsphereConnector, name: &str, cidr: &str) -> Network {
    c.create_network(&NetworkSpec::new(name, Some(cidr.parse().unwrap())))
        .await
        .unwrap()
}

/// Fails unless `e` is an invalid spec naming `field`.
#[track_caller]
pub fn assert_invalid(e: &Error, field: &str) {
    assert_eq!(
        (e.kind(), e.field()),
        (&ErrorKind::InvalidSpec, Some(field)),
        "{e}"
    );
}

/// Fails unless the owner has no VM.
pub async fn assert_no_vms(c: &(impl CloudConnector + ?Sized)) {
    let vms = c.list_vms(&VmQuery::default()).await.unwrap().items;
    assert!(vms.is_empty(), "{vms:?}");
}

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

/// A simulator of this test's own (from `STRATO_TEST_VCSIM_BIN`), for tests that change what
/// every other test sees (a host in maintenance mode). Killed on drop.
pub struct PrivateSim {
    child: Child,
    _dir: tempfile::TempDir,
    /// Settings for it, TLS verified against its CA.
    pub config: VsphereConfig,
}

impl Drop for PrivateSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a private simulator with the default inventory and waits until it listens.
pub async fn private_sim() -> PrivateSim {
    let bin = env("STRATO_TEST_VCSIM_BIN");
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("url");
    let ca = dir.path().join("ca.pem");
    let child = Command::new(bin)
        .args(["-listen", "127.0.0.1:0", "-user", "private", "-password"])
        .arg("private-pw")
        .arg("-url-out")
        .arg(&url_file)
        .arg("-ca-out")
        .arg(&ca)
        .stdout(Stdio::null())
        .spawn()
        .expect("start vcsim");
    let mut sim = PrivateSim {
        child,
        _dir: dir,
        config: VsphereConfig::new(""),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        if let Ok(u) = std::fs::read_to_string(&url_file)
            && !u.trim().is_empty()
        {
            break u.trim().to_owned();
        }
        assert!(
            sim.child.try_wait().unwrap().is_none(),
            "the private vcsim exited"
        );
        assert!(Instant::now() < deadline, "the private vcsim did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut c = VsphereConfig::new(url);
    c.user = Some("private".into());
    c.password = Some("private-pw".into());
    c.ca_file = Some(ca);
    sim.config = c;
    sim
}
