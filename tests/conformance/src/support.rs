//! What every check uses: unwrapping and asserting results, polling reads until they settle,
//! unique names, queries, and the helpers on [`Target`] that make and delete test resources.

use crate::Target;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use strato_core::{
    CloudConnectorExt, Error, ErrorKind, Network, NetworkId, NetworkQuery, Operation, Vip,
    VipQuery, Vm, VmId, VmQuery, VmSpec, WaitOptions,
};

/// How long a read may lag behind a write before a check fails.
pub(crate) const SETTLE: Duration = Duration::from_secs(180);
/// Poll interval while waiting for a read to settle.
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// How long VMs may take to boot, stop and start.
pub(crate) fn wait_opts() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(900),
        interval: Duration::from_millis(250),
        max_interval: Duration::from_secs(5),
    }
}

/// Unwraps a result or panics naming the step.
pub(crate) trait Must<T> {
    fn must(self, step: &str) -> T;
}

impl<T> Must<T> for Result<T, Error> {
    #[track_caller]
    fn must(self, step: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("conformance: {step}: unexpected error: {e}\n{e:?}"),
        }
    }
}

/// Asserts an error of `kind`.
#[track_caller]
pub(crate) fn expect_kind<T: Debug>(step: &str, r: Result<T, Error>, kind: &ErrorKind) -> Error {
    match r {
        Err(e) if std::mem::discriminant(e.kind()) == std::mem::discriminant(kind) => e,
        Err(e) => panic!(
            "conformance: {step}: expected {} but got {}: {e}",
            kind.name(),
            e.kind().name()
        ),
        Ok(v) => panic!(
            "conformance: {step}: expected {} but the call succeeded with {v:?}",
            kind.name()
        ),
    }
}

/// Asserts `NotFound` (a missing or foreign resource).
#[track_caller]
pub(crate) fn expect_not_found<T: Debug>(step: &str, r: Result<T, Error>) -> Error {
    expect_kind(step, r, &ErrorKind::NotFound)
}

/// Asserts `InvalidSpec` naming the field (as its field or in its message) and the bad value.
#[track_caller]
pub(crate) fn expect_invalid_naming<T: Debug>(
    step: &str,
    r: Result<T, Error>,
    field: &str,
    value: &str,
) {
    let e = expect_kind(step, r, &ErrorKind::InvalidSpec);
    assert!(
        e.field() == Some(field) || e.to_string().contains(field),
        "conformance: error does not name the field: {e}"
    );
    assert!(
        e.to_string().contains(value),
        "conformance: error does not name the value: {e}"
    );
}

/// Owned VMs named exactly `name`.
pub(crate) fn vms_named_exactly(name: impl Into<String>) -> VmQuery {
    VmQuery {
        name: Some(name.into()),
        ..Default::default()
    }
}

/// Owned VMs that are members of `group`.
pub(crate) fn vms_in_group(group: impl Into<String>) -> VmQuery {
    VmQuery {
        group: Some(group.into()),
        ..Default::default()
    }
}

/// Owned VIPs bound to `vm`.
pub(crate) fn vips_on(vm: VmId) -> VipQuery {
    VipQuery {
        vm: Some(vm),
        ..Default::default()
    }
}

/// Asserts `Unsupported` naming the operation.
#[track_caller]
pub(crate) fn expect_unsupported<T: Debug>(r: Result<T, Error>, op: Operation) {
    let e = expect_kind(
        &format!("{op} on a cloud that lacks it"),
        r,
        &ErrorKind::Unsupported,
    );
    assert!(
        e.operation() == op || e.to_string().contains(op.name()),
        "conformance: Unsupported error for {op} does not name the operation: {e}"
    );
}

/// Polls `$body` (an expression yielding `Result<Option<T>, Error>`) until it is `Ok(Some(_))`.
/// Retryable errors are polled through; others fail the check.
macro_rules! eventually {
    ($what:expr, $body:expr) => {{
        let deadline = tokio::time::Instant::now() + $crate::support::SETTLE;
        loop {
            let r: Result<Option<_>, strato_core::Error> = async { $body }.await;
            match r {
                Ok(Some(v)) => break v,
                Ok(None) => {}
                Err(e) if e.is_retryable() => {}
                Err(e) => panic!("conformance: {}: unexpected error: {e}", $what),
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "conformance: {}: still not true after {:?}",
                    $what,
                    $crate::support::SETTLE
                );
            }
            tokio::time::sleep($crate::support::POLL).await;
        }
    }};
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `PREFIX-RANDOM`, a valid label on every cloud.
pub(crate) fn unique(prefix: &str) -> String {
    static RUN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| rand::random::<u32>() & 0xffff);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{run:04x}{seq:02x}")
}

impl Target {
    pub(crate) fn vm_spec(&self, name: &str) -> VmSpec {
        let mut spec = VmSpec::new(name, self.size.clone(), self.image.clone());
        spec.network = self.network.clone();
        spec
    }

    pub(crate) fn owner(&self) -> &strato_core::OwnerId {
        &self.connector.info().owner
    }

    /// Owned live VMs whose names start with `prefix`.
    pub(crate) async fn vms_named(&self, prefix: &str) -> Result<Vec<Vm>, Error> {
        let all = self.connector.list_all_vms(&VmQuery::default()).await?;
        Ok(all
            .into_iter()
            .filter(|v| v.name.starts_with(prefix))
            .collect())
    }

    /// All owned networks (a failed list fails the check).
    pub(crate) async fn owned_networks(&self) -> Vec<Network> {
        self.connector
            .list_all_networks(&NetworkQuery::default())
            .await
            .must("list networks")
    }

    /// All owned VIPs (a failed list fails the check).
    pub(crate) async fn owned_vips(&self) -> Vec<Vip> {
        self.connector
            .list_vips(&VipQuery::default())
            .await
            .must("list vips")
    }

    /// Creates a VM and waits until it runs.
    pub(crate) async fn running_vm(&self, name: &str) -> Vm {
        let vm = self
            .connector
            .create_vm(&self.vm_spec(name))
            .await
            .must(&format!("create vm {name}"));
        self.connector
            .wait_running(&vm.id, wait_opts())
            .await
            .must(&format!("wait for vm {name} to run"))
    }

    /// Deletes VMs and waits until reads no longer show them alive.
    pub(crate) async fn delete_vms(&self, ids: &[VmId]) {
        for id in ids {
            self.connector
                .delete_vm(id)
                .await
                .must(&format!("delete vm {id}"));
        }
        for id in ids {
            eventually!(
                format!("vm {id} gone after delete"),
                match self.connector.get_vm(id).await {
                    Err(e) if e.is_not_found() => Ok(Some(())),
                    Ok(vm) if !vm.state.is_live() => Ok(Some(())),
                    Ok(_) => Ok(None),
                    Err(e) => Err(e),
                }
            );
        }
    }

    /// A network for NIC and VIP checks: created (returned as `Some` for deletion) when the
    /// cloud can, else the target's extra network.
    pub(crate) async fn second_network(&self, name: &str, index: u8) -> Option<(NetworkId, bool)> {
        match (
            &self.network_spec,
            self.connector.capabilities().network_create,
        ) {
            (Some(make), true) => {
                let spec = make(name, index);
                let net = self
                    .connector
                    .create_network(&spec)
                    .await
                    .must(&format!("create network {name}"));
                Some((net.id, true))
            }
            _ => self.extra_network.clone().map(|id| (id, false)),
        }
    }

    /// Deletes a network, waiting out dependencies that are still being torn down.
    pub(crate) async fn delete_network(&self, id: &NetworkId) {
        eventually!(
            format!("delete network {id}"),
            match self.connector.delete_network(id).await {
                Ok(()) => Ok(Some(())),
                Err(e) if *e.kind() == ErrorKind::Conflict => Ok(None),
                Err(e) => Err(e),
            }
        );
        eventually!(
            format!("network {id} gone after delete"),
            match self.connector.get_network(id).await {
                Err(e) if e.is_not_found() => Ok(Some(())),
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            }
        );
    }
}
