//! A deadline on each attempt of each call.

use super::{Around, Call};
use crate::connector::CloudInfo;
use crate::error::{Error, ErrorKind, Operation, Result};
use futures::future::BoxFuture;
use std::time::Duration;

/// Fails an attempt that takes longer than its deadline with `Timeout` (whose effect is
/// unknown: the retry layer repeats it only because every operation is idempotent or
/// token-protected).
#[derive(Clone, Copy, Debug)]
pub struct Timeout {
    limit: Duration,
}

impl Timeout {
    /// A deadline of `limit` per attempt.
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl Around for Timeout {
    fn around<'a, T: Send + 'a>(
        &'a self,
        info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            match tokio::time::timeout(self.limit, call()).await {
                Ok(r) => r,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    op,
                    format!("no answer within {:?}", self.limit),
                )
                .with_cloud(info.kind)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    use super::super::test_info as info;

    /// Runs `op` through a 5 s timeout with a call that answers `answer` after `delay`, or
    /// never when `delay` is `None`. Returns the result, the calls made and the time taken.
    async fn run(
        op: Operation,
        delay: Option<Duration>,
        answer: Result<u32>,
    ) -> (Result<u32>, u32, Duration) {
        let timeout = Timeout::new(Duration::from_secs(5));
        let calls = AtomicU32::new(0);
        let info = info();
        let start = Instant::now();
        let call = || -> BoxFuture<'_, Result<u32>> {
            calls.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            Box::pin(async move {
                match delay {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
                answer
            })
        };
        // A guard far past the limit, so a layer that never fires fails the test instead of
        // hanging it.
        let r = tokio::time::timeout(Duration::from_secs(600), timeout.around(&info, op, &call))
            .await
            .expect("the timeout layer answered within its limit");
        (r, calls.load(Ordering::SeqCst), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_fails_with_timeout_at_the_limit() {
        for op in [
            Operation::CreateVm,
            Operation::ListVips,
            Operation::ScaleGroup,
        ] {
            let (r, calls, elapsed) = run(op, None, Ok(1)).await;
            let e = r.unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
            assert_eq!(e.operation(), op, "{e}");
            assert_eq!(e.cloud(), Some("test"), "{e}");
            assert!(e.message().contains("5s"), "{e}");
            assert!(
                e.is_retryable(),
                "a timeout is retried by the retry layer: {e}"
            );
            // Exactly one attempt, abandoned at the deadline: no retry inside this layer.
            assert_eq!(calls, 1);
            assert_eq!(elapsed, Duration::from_secs(5));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_within_the_limit_pass_through_unchanged() {
        let (r, calls, elapsed) = run(Operation::GetVm, Some(Duration::ZERO), Ok(7)).await;
        assert_eq!((r.unwrap(), calls), (7, 1));
        assert_eq!(elapsed, Duration::ZERO);

        // Just inside the deadline is still an answer.
        let just_inside = Duration::from_secs(5) - Duration::from_millis(1);
        let (r, _, elapsed) = run(Operation::GetVm, Some(just_inside), Ok(8)).await;
        assert_eq!(r.unwrap(), 8);
        assert_eq!(elapsed, just_inside);

        // The cloud's own error is the caller's, not turned into a timeout.
        let refused = Error::new(ErrorKind::QuotaExceeded, Operation::CreateVm, "vcpu quota");
        let (r, _, _) = run(
            Operation::CreateVm,
            Some(Duration::from_secs(1)),
            Err(refused),
        )
        .await;
        let e = r.unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (&ErrorKind::QuotaExceeded, "vcpu quota")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_past_the_limit_is_dropped() {
        let (r, _, elapsed) = run(Operation::DeleteVm, Some(Duration::from_secs(6)), Ok(1)).await;
        assert_eq!(r.unwrap_err().kind(), &ErrorKind::Timeout);
        assert_eq!(
            elapsed,
            Duration::from_secs(5),
            "the layer does not wait for the answer"
        );
    }
}
