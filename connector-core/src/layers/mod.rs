//! Layers: wrappers that take any connector and forward every method, adding one concern each.
//!
//! [`stack`] composes them in the documented order, outermost first:
//! observe (spans and metrics of the logical call) -> retry (backoff, Retry-After, budget) ->
//! rate limit (per account and region, per attempt) -> timeout (per attempt) -> fault injection
//! (innermost, so injected faults look exactly like the cloud's) -> the connector.

mod fault;
mod forward;
mod observe;
mod rate_limit;
mod retry;
mod timeout;

/// The identity the layers' unit tests call with.
#[cfg(test)]
pub(crate) fn test_info() -> crate::CloudInfo {
    crate::CloudInfo {
        kind: "test",
        account: String::new(),
        region: String::new(),
        owner: crate::model::OwnerId::new("t").unwrap(),
    }
}

pub use fault::{FaultConfig, FaultInjector, InjectedFault};
pub use forward::{Around, Call, Layered};
pub use observe::Observe;
pub use rate_limit::{RateLimit, RateLimitConfig, TokenBucket};
pub use retry::{Retry, RetryConfig};
pub use timeout::Timeout;

use crate::CloudConnector;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The layer settings of a profile (`[profiles.NAME.retry]`, `rate_limit`, `timeout`, `faults`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    /// Retry settings.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Client-side rate limits.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Deadline of one attempt of one call.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Fault injection, for tests and drills only.
    #[serde(default)]
    pub faults: Option<FaultConfig>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for LayerConfig {
    fn default() -> Self {
        Self {
            retry: RetryConfig::default(),
            rate_limit: RateLimitConfig::default(),
            timeout: default_timeout(),
            faults: None,
        }
    }
}

/// Wraps a connector in every layer, in the documented order.
pub fn stack(inner: Arc<dyn CloudConnector>, cfg: &LayerConfig) -> Arc<dyn CloudConnector> {
    let mut c = inner;
    if let Some(f) = &cfg.faults {
        c = Arc::new(FaultInjector::new(c, f.clone()));
    }
    c = Layered::wrap(c, Timeout::new(cfg.timeout));
    if let Some(rl) = RateLimit::for_connector(&*c, &cfg.rate_limit) {
        c = Layered::wrap(c, rl);
    }
    c = Layered::wrap(c, Retry::new(cfg.retry.clone()));
    Layered::wrap(c, Observe)
}
