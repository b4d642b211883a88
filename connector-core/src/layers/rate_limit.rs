//! Client-side rate limits: token buckets per account and region, one for mutating calls, one
//! for reads and one for VMs created, defaulting to the cloud's documented limits.
//!
//! The bucket is our own (a few lines) rather than `governor`'s because it runs on tokio's clock:
//! tests with paused time then see exactly the waits the limiter imposes.

use super::{Around, Call};
use crate::connector::{CloudConnector, CloudInfo};
use crate::error::{Operation, Result};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Rate-limit settings. Rates of zero mean "no limit"; absent values take the connector's
/// documented defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Turn the limiter off entirely.
    pub enabled: bool,
    /// Mutating calls per second.
    pub mutating_per_sec: Option<f64>,
    /// Mutating burst.
    pub mutating_burst: Option<u32>,
    /// Reads per second.
    pub read_per_sec: Option<f64>,
    /// Read burst.
    pub read_burst: Option<u32>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            mutating_per_sec: None,
            mutating_burst: None,
            read_per_sec: None,
            read_burst: None,
        }
    }
}

/// A token bucket on tokio's clock.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// `rate` tokens per second, holding at most `burst` (full at start).
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `n` tokens, waiting until they are there. Tokens are reserved at once, so waiters
    /// are served in order and a burst of callers does not stampede.
    pub async fn acquire(&self, n: f64) {
        let wait = {
            let mut st = self.state.lock().expect("bucket");
            let now = Instant::now();
            let (tokens, at) = *st;
            let tokens =
                (tokens + now.duration_since(at).as_secs_f64() * self.rate).min(self.burst) - n;
            *st = (tokens, now);
            if tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-tokens / self.rate)
            }
        };
        if !wait.is_zero() {
            metrics::counter!("strato_rate_limit_waits_total").increment(1);
            tokio::time::sleep(wait).await;
        }
    }
}

#[derive(Debug)]
struct Buckets {
    mutating: Option<TokenBucket>,
    read: Option<TokenBucket>,
    vm_creates: Option<TokenBucket>,
}

/// Buckets are shared by every connector of the same cloud, account and region in the process,
/// because that is the scope the cloud throttles at, and that asks for the same rates: keyed by
/// place alone, the first connector built would set the rates of every later profile of the
/// account (one without limits would switch them off for all).
type BucketKey = (String, String, String, [u64; 6]);
static SHARED: LazyLock<Mutex<HashMap<BucketKey, Arc<Buckets>>>> = LazyLock::new(Default::default);

/// The rate-limit layer.
#[derive(Debug, Clone)]
pub struct RateLimit {
    buckets: Arc<Buckets>,
}

fn bucket(rate: f64, burst: u32) -> Option<TokenBucket> {
    (rate > 0.0).then(|| TokenBucket::new(rate, burst))
}

impl RateLimit {
    /// The limiter for `conn`'s cloud, account and region, or `None` when nothing is limited.
    pub fn for_connector(conn: &dyn CloudConnector, cfg: &RateLimitConfig) -> Option<Self> {
        if !cfg.enabled {
            return None;
        }
        let d = conn.capabilities().rate_limits;
        let info = conn.info();
        let mutating = (
            cfg.mutating_per_sec.unwrap_or(d.mutating_per_sec),
            cfg.mutating_burst.unwrap_or(d.mutating_burst),
        );
        let read = (
            cfg.read_per_sec.unwrap_or(d.read_per_sec),
            cfg.read_burst.unwrap_or(d.read_burst),
        );
        let creates = (d.vm_creates_per_sec, d.vm_create_burst);
        let key = (
            info.kind.to_owned(),
            info.account.clone(),
            info.region.clone(),
            [
                mutating.0.to_bits(),
                u64::from(mutating.1),
                read.0.to_bits(),
                u64::from(read.1),
                creates.0.to_bits(),
                u64::from(creates.1),
            ],
        );
        let buckets = SHARED
            .lock()
            .expect("rate limit registry")
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Buckets {
                    mutating: bucket(mutating.0, mutating.1),
                    read: bucket(read.0, read.1),
                    vm_creates: bucket(creates.0, creates.1),
                })
            })
            .clone();
        if buckets.mutating.is_none() && buckets.read.is_none() && buckets.vm_creates.is_none() {
            return None;
        }
        Some(Self { buckets })
    }
}

impl Around for RateLimit {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            let b = if op.is_mutating() {
                &self.buckets.mutating
            } else {
                &self.buckets.read
            };
            if let Some(b) = b {
                b.acquire(1.0).await;
            }
            if op == Operation::CreateVm
                && let Some(b) = &self.buckets.vm_creates
            {
                b.acquire(1.0).await;
            }
            call().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_spaces_calls_after_the_burst() {
        let b = TokenBucket::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..7 {
            b.acquire(1.0).await;
        }
        // 3 from the burst, then 4 more at 2 per second.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
