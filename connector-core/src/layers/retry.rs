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
