//! The timeout layer inside the full stack: a deadline on each attempt, which the retry layer
//! outside it retries.

use super::{memory, vm_spec};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use strato_core::layers::{Around, Call, LayerConfig, Layered, RetryConfig, stack};
use strato_core::{
    CloudConnector, CloudConnectorExt, CloudInfo, ErrorKind, Operation, Result, VmQuery,
};
use tokio::time::Instant;

/// A cloud that never answers the first `hangs` attempts of `op` (they never reach it either);
/// every other call goes through.
#[derive(Debug)]
struct Hang {
    op: Operation,
    hangs: AtomicU32,
    seen: Arc<AtomicU32>,
}

impl Around for Hang {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            if op == self.op {
                self.seen.fetch_add(1, Ordering::SeqCst);
                let hang = self
                    .hangs
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if hang {
                    std::future::pending::<()>().await;
                }
            }
            call().await
        })
    }
}

/// The memory cloud behind a [`Hang`] of `op`, in the full layer stack of `layers`; and the
/// count of attempts of `op` that reached the hanging cloud.
fn stacked(
    op: Operation,
    hangs: u32,
    layers: &LayerConfig,
) -> (Arc<dyn CloudConnector>, Arc<AtomicU32>) {
    let seen = Arc::new(AtomicU32::new(0));
    let hang = Hang {
        op,
        hangs: AtomicU32::new(hangs),
        seen: seen.clone(),
    };
    let cloud = Layered::wrap(memory(Duration::ZERO), hang);
    (stack(cloud, layers), seen)
}

fn layers(toml: &str, max_attempts: u32) -> LayerConfig {
    let mut l: LayerConfig = toml::from_str(toml).unwrap();
    l.retry = RetryConfig {
        max_attempts,
        seed: Some(1),
        ..RetryConfig::default()
    };
    l
}

#[test]
fn the_deadline_is_the_profiles_timeout_and_60s_by_default() {
    assert_eq!(layers("", 1).timeout, Duration::from_secs(60));
    assert_eq!(LayerConfig::default().timeout, Duration::from_secs(60));
    assert_eq!(
        layers("timeout = \"2s\"", 1).timeout,
        Duration::from_secs(2)
    );
    // One deadline for every operation: there is no per-operation table.
    assert!(toml::from_str::<LayerConfig>("[timeout]\ncreate_vm = \"1s\"").is_err());
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_hangs_is_abandoned_at_the_deadline_and_retried() {
    let (conn, seen) = stacked(Operation::CreateVm, 2, &layers("timeout = \"2s\"", 6));
    let start = Instant::now();
    let vm = conn.create_vm(&vm_spec("hang-1")).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "two attempts timed out, the third answered"
    );
    // Each attempt had its own 2 s, not one 2 s for the whole call.
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
    let all = conn.list_all_vms(&VmQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|v| &v.id).collect::<Vec<_>>(), [&vm.id]);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_answers_ends_in_timeout_naming_the_operation() {
    let (conn, seen) = stacked(Operation::GetVm, u32::MAX, &layers("timeout = \"2s\"", 3));
    let vm = conn.create_vm(&vm_spec("hang-2")).await.unwrap();

    let start = Instant::now();
    let e = conn.get_vm(&vm.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
    assert_eq!(e.operation(), Operation::GetVm, "{e}");
    assert_eq!(e.cloud(), Some("memory"), "{e}");
    assert_eq!(e.attempts(), 3, "{e}");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert!(
        start.elapsed() >= Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );

    // Other operations are not held up by it.
    let start = Instant::now();
    let page = conn.list_vms(&VmQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}
