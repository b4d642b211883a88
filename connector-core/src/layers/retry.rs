//! Retry with exponential backoff and decorrelated jitter, honouring Retry-After, bounded by
//! attempts, elapsed time and a shared retry budget.
//!
//! Only retryable errors are retried (see [`crate::RetryClass`]), and only for operations that
//! are idempotent or token-protected ([`Operation::is_retry_safe`]). The budget (after smithy-rs:
//! 500 tokens, 5 per retry, 10 per retry after a timeout, refunded on success) keeps a storm of
//! failures from multiplying itself into a storm of retries.

use super::{Around, Call};
use crate::connector::CloudInfo;
use crate::error::{Operation, Result, RetryClass};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Retry settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// First backoff.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest backoff.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Give up rather than sleep past this much time since the first attempt.
    #[serde(with = "humantime_serde")]
    pub max_elapsed: Duration,
    /// Retry budget in tokens.
    pub budget: u32,
    /// Seed of the jitter, for reproducible tests (random when absent).
    pub seed: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(120),
            budget: 500,
            seed: None,
        }
    }
}

const RETRY_COST: u32 = 5;
const TIMEOUT_RETRY_COST: u32 = 10;

#[derive(Debug)]
struct State {
    rng: StdRng,
    tokens: u32,
}

/// The retry layer.
#[derive(Debug)]
pub struct Retry {
    cfg: RetryConfig,
    state: Mutex<State>,
}

impl Retry {
    /// A retry layer with its own budget.
    pub fn new(cfg: RetryConfig) -> Self {
        let rng = match cfg.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let tokens = cfg.budget;
        Self {
            cfg,
            state: Mutex::new(State { rng, tokens }),
        }
    }

    /// Tokens left in the budget.
    pub fn budget_left(&self) -> u32 {
        self.state.lock().expect("retry state").tokens
    }

    /// Decorrelated jitter: a random delay between the first backoff and three times the
    /// previous one, capped.
    fn next_delay(&self, previous: Duration) -> Duration {
        let lo = self.cfg.initial_backoff.as_secs_f64();
        let hi = (previous.as_secs_f64() * 3.0).max(lo);
        let mut st = self.state.lock().expect("retry state");
        let d = if hi > lo {
            st.rng.random_range(lo..hi)
        } else {
            lo
        };
        Duration::from_secs_f64(d).min(self.cfg.max_backoff)
    }

    fn take(&self, cost: u32) -> bool {
        let mut st = self.state.lock().expect("retry state");
        if st.tokens >= cost {
            st.tokens -= cost;
            true
        } else {
            false
        }
    }

    fn refund(&self, cost: u32) {
        let mut st = self.state.lock().expect("retry state");
        st.tokens = (st.tokens + cost).min(self.cfg.budget);
    }
}

impl Around for Retry {
    fn around<'a, T: Send + 'a>(
        &'a self,
        info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let start = Instant::now();
            let mut attempt = 1;
            let mut delay = self.cfg.initial_backoff;
            let mut last_cost = 0;
            loop {
                let err = match call().await {
                    Ok(v) => {
                        self.refund(if attempt == 1 { 1 } else { last_cost });
                        return Ok(v);
                    }
                    Err(e) => e,
                };
                let class = err.retry_class();
                if class == RetryClass::Permanent
                    || !op.is_retry_safe()
                    || attempt >= self.cfg.max_attempts
                {
                    return Err(err.with_attempts(attempt));
                }
                delay = self.next_delay(delay);
                if let Some(after) = err.retry_after() {
                    delay = delay.max(after);
                }
                if start.elapsed() + delay > self.cfg.max_elapsed {
                    return Err(err.with_attempts(attempt));
                }
                last_cost = if class == RetryClass::Timeout {
                    TIMEOUT_RETRY_COST
                } else {
                    RETRY_COST
                };
                if !self.take(last_cost) {
                    tracing::warn!(cloud = info.kind, op = op.name(), "retry budget exhausted");
                    return Err(err.with_attempts(attempt));
                }
                metrics::counter!("strato_cloud_retries_total", "cloud" => info.kind, "op" => op.name(), "kind" => err.kind().name())
                    .increment(1);
                tracing::debug!(cloud = info.kind, op = op.name(), attempt, ?delay, error = %err, "retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::super::test_info as info;

    /// Runs `op` through a retry layer with a call that fails with `errors` in turn, then succeeds.
    async fn run(
        cfg: RetryConfig,
        op: Operation,
        errors: Vec<ErrorKind>,
    ) -> (Result<u32>, u32, Duration) {
        let retry = Retry::new(RetryConfig {
            seed: Some(7),
            ..cfg
        });
        let calls = AtomicU32::new(0);
        let info = info();
        let start = Instant::now();
        let call = || -> BoxFuture<'_, Result<u32>> {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let e = errors.get(n as usize).cloned();
            Box::pin(async move {
                match e {
                    Some(k) => Err(Error::new(k, op, "scripted")),
                    None => Ok(n),
                }
            })
        };
        let r = retry.around(&info, op, &call).await;
        (r, calls.load(Ordering::SeqCst), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_absorbed() {
        let (r, calls, _) = run(
            RetryConfig::default(),
            Operation::CreateVm,
            vec![ErrorKind::Transient; 3],
        )
        .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(calls, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let (r, calls, _) = run(
            RetryConfig::default(),
            Operation::GetVm,
            vec![ErrorKind::QuotaExceeded],
        )
        .await;
        assert_eq!(r.unwrap_err().kind(), &ErrorKind::QuotaExceeded);
        assert_eq!(calls, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let throttled = ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(7)),
        };
        let (r, _, elapsed) =
            run(RetryConfig::default(), Operation::ListVms, vec![throttled]).await;
        assert!(r.is_ok());
        assert!(elapsed >= Duration::from_secs(7), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded_and_reported() {
        let cfg = RetryConfig {
            max_attempts: 3,
            ..Default::default()
        };
        let (r, calls, _) = run(cfg, Operation::GetVm, vec![ErrorKind::Transient; 10]).await;
        let e = r.unwrap_err();
        assert_eq!((calls, e.attempts()), (3, 3));
        assert!(e.to_string().contains("after 3 attempts"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn elapsed_time_is_bounded() {
        let cfg = RetryConfig {
            max_attempts: 100,
            max_elapsed: Duration::from_secs(10),
            ..Default::default()
        };
        let throttled = ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(4)),
        };
        let (r, calls, elapsed) = run(cfg, Operation::GetVm, vec![throttled; 100]).await;
        assert!(r.is_err());
        assert!(elapsed <= Duration::from_secs(10), "{elapsed:?}");
        assert!(calls <= 3, "{calls}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_stops_a_retry_storm() {
        let retry = Retry::new(RetryConfig {
            budget: 20,
            seed: Some(1),
            ..Default::default()
        });
        let info = info();
        let call = || -> BoxFuture<'_, Result<()>> {
            Box::pin(async { Err(Error::new(ErrorKind::Transient, Operation::GetVm, "down")) })
        };
        let mut calls = 0;
        for _ in 0..5 {
            let e = retry
                .around(&info, Operation::GetVm, &call)
                .await
                .unwrap_err();
            calls += e.attempts();
        }
        // 20 tokens pay for 4 retries of 5 each; after that every call is tried once.
        assert_eq!(calls, 5 + 4);
        assert_eq!(retry.budget_left(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_but_stays_capped() {
        let retry = Retry::new(RetryConfig {
            seed: Some(3),
            ..Default::default()
        });
        let mut d = retry.cfg.initial_backoff;
        for _ in 0..50 {
            let next = retry.next_delay(d);
            assert!(next >= retry.cfg.initial_backoff && next <= retry.cfg.max_backoff);
            d = next;
        }
    }
}
