//! The conformance suite: one set of checks every connector passes against its backend.
//!
//! Each check is a `pub async fn` taking a [`Target`]; [`run_all`] picks the checks the
//! connector's declared capabilities call for. A connector's test file builds a `Target` on its
//! mocked backend (with an owner id unique to the run, so tests can share a backend) and calls
//! `run_all` (or [`run_concurrently`], which runs the independent checks at the same time).
//!
//! Checks panic with a message naming the check and the step that failed. Each check uses names
//! of its own (with a per-process random suffix), deletes what it made, and asserts it is gone,
//! so checks may run in parallel on one target. Reads that may lag behind writes on an
//! eventually consistent cloud are polled until they settle (with `tokio::time` sleeps, so a
//! test on a paused clock takes no real time).

#![deny(missing_docs)]

#[macro_use]
mod support;

mod bootstrap;
mod create_nics;
mod errors;
mod groups;
mod hosts;
mod logs;
mod networks;
mod ownership;
mod vips;
mod vms;

pub use bootstrap::bootstrap;
pub use create_nics::nics_at_create;
pub use errors::error_kinds;
pub use groups::groups;
pub use hosts::hosts;
pub use networks::{networks, nic_attach_detach};
pub use ownership::{nothing_leaked, ownership};
pub use vips::vips;
pub use vms::{idempotent_create, list_paging, vm_lifecycle};

use futures::future::BoxFuture;
use std::fmt::Debug;
use std::sync::Arc;
use strato_core::{CloudConnector, NetworkId, NetworkSpec, Size, VmId};
use support::Must;

/// Makes the spec of a network to create from a name and an index that keeps CIDRs apart.
pub type NetworkSpecFn = dyn Fn(&str, u8) -> NetworkSpec + Send + Sync;

/// Reads a VM's bootstrap document from the backend, as the guest would (EC2 user data, a VM's
/// extraConfig, a Secret, ...); `None` when the backend holds none for it.
pub type BootstrapReadFn = dyn Fn(VmId) -> BoxFuture<'static, Option<String>> + Send + Sync;

/// A connector under test and what it needs to make resources on its backend.
#[derive(Clone)]
pub struct Target {
    /// The connector under test, owned by a run-unique owner.
    pub connector: Arc<dyn CloudConnector>,
    /// The same backend seen by another owner: its resources must stay invisible and untouched.
    pub foreign: Arc<dyn CloudConnector>,
    /// Size of test VMs.
    pub size: Size,
    /// Image of test VMs.
    pub image: String,
    /// Network test VMs join (the connector's default when `None`).
    pub network: Option<NetworkId>,
    /// Makes the spec of a network to create (`index` keeps CIDRs apart); `None` when the cloud
    /// cannot create networks.
    pub network_spec: Option<Arc<NetworkSpecFn>>,
    /// An existing second network for NIC and VIP checks when networks cannot be created.
    pub extra_network: Option<NetworkId>,
    /// Reads bootstrap data back from the backend; `None` when the backend does not let it be
    /// read (the check then says so and checks the rest).
    pub bootstrap_of: Option<Arc<BootstrapReadFn>>,
}

impl Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("connector", &self.connector.info())
            .field("foreign", &self.foreign.info())
            .field("size", &self.size)
            .field("image", &self.image)
            .field("network", &self.network)
            .field("network_spec", &self.network_spec.is_some())
            .field("extra_network", &self.extra_network)
            .field("bootstrap_of", &self.bootstrap_of.is_some())
            .finish()
    }
}

/// Closing ends the session and is not an error the second time (run last: on clouds with
/// sessions, a later call has to log in again).
pub async fn close(t: &Target) {
    t.connector.close().await.must("close the connector");
    t.connector.close().await.must("close the connector again");
}

/// Runs every check the target's capabilities call for, one after the other, then checks that
/// nothing leaked. Panics at the first failure, naming the check.
pub async fn run_all(target: &Target) {
    let info = target.connector.info();
    eprintln!(
        "conformance: {} (account {:?}, region {:?}, owner {}): {:?}",
        info.kind,
        info.account,
        info.region,
        info.owner,
        target.connector.capabilities()
    );
    macro_rules! check {
        ($name:ident) => {
            eprintln!("conformance: check {}", stringify!($name));
            $name(target).await;
        };
    }
    check!(vm_lifecycle);
    check!(idempotent_create);
    check!(list_paging);
    check!(error_kinds);
    check!(ownership);
    check!(networks);
    check!(nic_attach_detach);
    check!(nics_at_create);
    check!(bootstrap);
    check!(vips);
    check!(groups);
    check!(hosts);
    check!(nothing_leaked);
    check!(close);
    eprintln!("conformance: {} passed", info.kind);
}

/// Like [`run_all`], but runs the independent checks at the same time (faster on a slow
/// backend, and a test of the connector under concurrent use), then checks that nothing leaked.
pub async fn run_concurrently(target: &Target) {
    use futures::future::{LocalBoxFuture, join_all};
    let info = target.connector.info();
    eprintln!(
        "conformance: {} (owner {}): all checks at once",
        info.kind, info.owner
    );
    macro_rules! checks {
        ($($name:ident),*) => {
            vec![$(Box::pin(async move {
                eprintln!("conformance: check {} started", stringify!($name));
                $name(target).await;
                eprintln!("conformance: check {} passed", stringify!($name));
            }) as LocalBoxFuture<'_, ()>),*]
        };
    }
    join_all(checks!(
        vm_lifecycle,
        idempotent_create,
        list_paging,
        error_kinds,
        ownership,
        networks,
        nic_attach_detach,
        nics_at_create,
        bootstrap,
        vips,
        groups,
        hosts
    ))
    .await;
    eprintln!("conformance: check nothing_leaked");
    nothing_leaked(target).await;
    eprintln!("conformance: check close");
    close(target).await;
    eprintln!("conformance: {} passed", info.kind);
}
