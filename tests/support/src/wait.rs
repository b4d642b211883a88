//! Bounded waits, and the controller's status as text for the message when one gives up.

use std::future::Future;
use std::time::Duration;
use strato_controller::ControllerStatus;

/// Waits until `cond` holds, checking every second; panics naming `what` after `limit`.
///
/// Made for tokio's paused clock, where a second of polling costs nothing.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until(what, limit, Duration::from_secs(1), String::new, cond).await
}

/// Waits until `cond` holds, checking every `every`; after `limit` panics naming `what`,
/// followed by `context()` (say, the controller's status).
pub async fn wait_until<F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    context: impl Fn() -> String,
    mut cond: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        if cond().await {
            return;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}{}", context());
        }
        tokio::time::sleep(every).await;
    }
}

/// The status, one line per group, SE and virtual service.
pub fn describe(s: &ControllerStatus) -> String {
    let mut out = String::new();
    for g in &s.groups {
        out.push_str(&format!(
            "\n  group {} desired={:?} healthy={} current={} error={:?} rec={:?}",
            g.name,
            g.desired,
            g.healthy,
            g.current,
            g.last_error,
            g.recommendation.as_ref().map(|r| &r.reason)
        ));
        for se in &g.ses {
            out.push_str(&format!(
                "\n    se {} vm={:?} phase={:?} health={:?} rps={:?} vss={}",
                se.name, se.vm_id, se.phase, se.health, se.rps, se.virtual_services
            ));
        }
    }
    for v in &s.virtual_services {
        out.push_str(&format!(
            "\n  vs {} address={:?} bound_to={:?} placement={:?} dns={:?} vip_error={:?} error={:?}",
            v.name, v.address, v.bound_to, v.placement, v.dns, v.vip_error, v.last_error
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn returns_once_the_condition_holds() {
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        wait_for("the third check", Duration::from_secs(10), || async {
            calls.fetch_add(1, Ordering::Relaxed) == 2
        })
        .await;
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(3),
            "checked every second: {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "waiting for never; status: seen")]
    async fn gives_up_after_the_limit_with_the_context() {
        wait_until(
            "never",
            Duration::from_secs(3),
            Duration::from_millis(100),
            || "; status: seen".to_owned(),
            || async { false },
        )
        .await;
    }
}
