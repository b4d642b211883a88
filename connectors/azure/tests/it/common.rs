//! Set-up shared by the tests against the in-process ARM fake.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use strato_azure::{Auth, AzureConfig, AzureConnector};
use strato_azure_fake::{FakeArm, Options, SUBSCRIPTION};
use strato_core::{OwnerId, Size, VmSpec};

pub const RG: &str = "strato-test";
pub const VNET: &str = "strato-vnet";
pub const IMAGE: &str = "Canonical:ubuntu-24_04-lts:server:latest";

/// An owner id unique to this process and call.
pub fn owner() -> OwnerId {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    OwnerId::new(format!(
        "t{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
    .unwrap()
}

/// A fake with the test VNet (10.0.0.0/8, subnet `default` 10.0.0.0/16) seeded.
pub async fn fake_with(options: Options) -> (String, FakeArm) {
    let (url, fake) = strato_azure_fake::start_with(options).await;
    fake.seed_vnet(RG, VNET, "10.0.0.0/8", &[("default", "10.0.0.0/16")]);
    (url, fake)
}

pub async fn fake() -> (String, FakeArm) {
    fake_with(Options::default()).await
}

/// The profile settings for the fake at `url`.
pub fn config(url: &str) -> AzureConfig {
    let mut c = AzureConfig::new(SUBSCRIPTION, RG, "westeurope", VNET);
    c.endpoint = Some(url.to_owned());
    c.auth = Auth::Anonymous;
    c.ssh_public_key =
        Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStratoTestKey strato@test".into());
    c.poll_interval = Duration::from_millis(50);
    c.operation_timeout = Duration::from_secs(5);
    c
}

/// A connector to the fake at `url` for a fresh owner.
pub async fn connector(url: &str) -> AzureConnector {
    connector_with(config(url)).await
}

pub async fn connector_with(cfg: AzureConfig) -> AzureConnector {
    AzureConnector::connect(owner(), cfg)
        .await
        .expect("connect to the fake")
}

pub fn vm_spec(name: &str) -> VmSpec {
    VmSpec::new(name, Size::shape(1, 1024), IMAGE)
}
