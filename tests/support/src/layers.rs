//! Test layers: what a real cloud does now and then (throttle, answer slowly), on a switch the
//! test flips, and a log of what reached the cloud. Each is an [`Around`]; wrap a connector in
//! one with `strato_core::layers::Layered::wrap`.

use futures::future::BoxFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_core::layers::{Around, Call};
use strato_core::{CloudInfo, Error, ErrorKind, Operation, Result};

/// Makes `list_vms` fail as throttled (retry after 1 s) while the switch is on: a cloud that
/// throttles reads.
#[derive(Debug, Clone, Default)]
pub struct ThrottleReads(pub Arc<AtomicBool>);

impl Around for ThrottleReads {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            if op == Operation::ListVms && self.0.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Throttled {
                        retry_after: Some(Duration::from_secs(1)),
                    },
                    op,
                    "test: reads are throttled",
                ));
            }
            call().await
        })
    }
}

/// Holds every VM create for `before` ahead of the call and `after` once it answered, while the
/// switch is on: creates are in flight long enough for a crash to land between recording an SE
/// and the cloud answering (or before the call went out at all).
#[derive(Debug, Clone)]
pub struct SlowCreates {
    /// The switch.
    pub on: Arc<AtomicBool>,
    /// The hold before the call goes out.
    pub before: Duration,
    /// The hold after the cloud answered.
    pub after: Duration,
}

impl SlowCreates {
    /// Switched off, with these holds.
    pub fn new(before: Duration, after: Duration) -> Self {
        Self {
            on: Arc::new(AtomicBool::new(false)),
            before,
            after,
        }
    }
}

impl Around for SlowCreates {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let slow = op == Operation::CreateVm && self.on.load(Ordering::Relaxed);
            if slow {
                tokio::time::sleep(self.before).await;
            }
            let r = call().await;
            if slow {
                tokio::time::sleep(self.after).await;
            }
            r
        })
    }
}

/// Calls of the given operations never answer while the switch is on: a cloud API that
/// hangs (a black-holed connection, a stuck control plane). Put a `Timeout` layer (or the
/// production stack) outside it: that deadline is what ends such a call.
#[derive(Debug, Clone)]
pub struct Hang {
    /// The switch.
    pub on: Arc<AtomicBool>,
    /// The operations that hang.
    pub ops: Vec<Operation>,
}

impl Hang {
    /// Switched off, hanging `ops` once on.
    pub fn new(ops: &[Operation]) -> Self {
        Self {
            on: Arc::default(),
            ops: ops.to_vec(),
        }
    }
}

impl Around for Hang {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            if self.ops.contains(&op) && self.on.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            call().await
        })
    }
}

/// Records every mutating call that reaches the cloud, with whether it succeeded, while
/// switched on.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    /// The switch.
    pub on: Arc<AtomicBool>,
    /// The calls recorded: operation and success.
    pub calls: Arc<Mutex<Vec<(Operation, bool)>>>,
}

impl CallLog {
    /// The calls recorded so far.
    pub fn calls(&self) -> Vec<(Operation, bool)> {
        self.calls.lock().expect("call log").clone()
    }
}

impl Around for CallLog {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let r = call().await;
            if op.is_mutating() && self.on.load(Ordering::Relaxed) {
                self.calls.lock().expect("call log").push((op, r.is_ok()));
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unique_owner;
    use strato_core::layers::Layered;
    use strato_core::{CloudConnector, Size, VmQuery, VmSpec};
    use strato_memory::{MemoryConfig, MemoryConnector};

    fn cloud() -> Arc<dyn CloudConnector> {
        let settings = MemoryConfig {
            boot_latency: Duration::ZERO,
            ..MemoryConfig::default()
        };
        Arc::new(MemoryConnector::from_settings(settings, unique_owner("layers")).unwrap())
    }

    fn spec(name: &str) -> VmSpec {
        VmSpec::new(name, Size::shape(1, 512), "img")
    }

    #[tokio::test]
    async fn throttled_reads_fail_only_while_switched_on() {
        let switch = ThrottleReads::default();
        let c = Layered::wrap(cloud(), switch.clone());
        c.create_vm(&spec("a")).await.unwrap();
        switch.0.store(true, Ordering::Relaxed);
        let err = c.list_vms(&VmQuery::default()).await.unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Throttled { .. }), "{err:?}");
        c.create_vm(&spec("b")).await.expect("writes go through");
        switch.0.store(false, Ordering::Relaxed);
        assert_eq!(
            c.list_vms(&VmQuery::default()).await.unwrap().items.len(),
            2
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_creates_hold_creates_only_while_switched_on() {
        let slow = SlowCreates::new(Duration::from_secs(2), Duration::from_secs(3));
        let c = Layered::wrap(cloud(), slow.clone());
        let t = tokio::time::Instant::now();
        c.create_vm(&spec("a")).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "off: no hold");
        slow.on.store(true, Ordering::Relaxed);
        let t = tokio::time::Instant::now();
        c.create_vm(&spec("b")).await.unwrap();
        assert!(t.elapsed() >= Duration::from_secs(5), "on: held 2 + 3 s");
        let t = tokio::time::Instant::now();
        c.list_vms(&VmQuery::default()).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "reads are not held");
    }

    #[tokio::test(start_paused = true)]
    async fn hung_calls_end_only_at_the_timeout_and_only_while_switched_on() {
        use strato_core::layers::Timeout;
        let hang = Hang::new(&[Operation::GetVm]);
        let c = Layered::wrap(
            Layered::wrap(cloud(), hang.clone()),
            Timeout::new(Duration::from_secs(30)),
        );
        let vm = c.create_vm(&spec("a")).await.unwrap();
        hang.on.store(true, Ordering::Relaxed);
        let t = tokio::time::Instant::now();
        let err = c.get_vm(&vm.id).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Timeout, "{err:?}");
        assert!(
            t.elapsed() >= Duration::from_secs(30),
            "ended by the timeout"
        );
        c.list_vms(&VmQuery::default())
            .await
            .expect("other calls answer");
        hang.on.store(false, Ordering::Relaxed);
        assert_eq!(c.get_vm(&vm.id).await.unwrap().name, "a");
    }

    #[tokio::test]
    async fn the_call_log_keeps_mutating_calls_and_their_outcome_while_on() {
        let log = CallLog::default();
        let c = Layered::wrap(cloud(), log.clone());
        c.create_vm(&spec("before")).await.unwrap();
        log.on.store(true, Ordering::Relaxed);
        let vm = c.create_vm(&spec("a")).await.unwrap();
        c.list_vms(&VmQuery::default()).await.unwrap();
        let other = VmSpec::new("a", Size::shape(2, 1024), "img");
        c.create_vm(&other)
            .await
            .expect_err("a different spec under an existing name");
        c.delete_vm(&vm.id).await.unwrap();
        assert_eq!(
            log.calls(),
            vec![
                (Operation::CreateVm, true),
                (Operation::CreateVm, false),
                (Operation::DeleteVm, true)
            ]
        );
    }
}
