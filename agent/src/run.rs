//! The agent's loop: long-poll the configuration and apply it to a [`DataPlane`], report load
//! and health every report interval.

use crate::protocol::{SeConfig, SeReport};
use crate::transport::AgentTransport;
use async_trait::async_trait;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where an agent applies its configuration and reads its load from.
#[async_trait]
pub trait DataPlane: Send + Sync + Debug + 'static {
    /// Applies a configuration. `Err` carries why the proxy refused it (its own message);
    /// the configuration applied before keeps serving.
    async fn apply(&self, config: &SeConfig) -> Result<(), String>;
    /// Current load (in total and per virtual service) and health; the agent fills in the
    /// configuration version and error.
    async fn sample(&self) -> SeReport;
}

/// Runs an agent until the task is aborted: one loop long-polls and applies the
/// configuration, the other reports every interval (the interval the configuration names).
pub async fn run_agent(se: String, transport: Arc<dyn AgentTransport>, plane: Arc<dyn DataPlane>) {
    let interval = Arc::new(AtomicU64::new(10));
    // The version applied last, and why the newest one was refused (if it was).
    let version = Arc::new(AtomicU64::new(0));
    let refused: Arc<Mutex<Option<String>>> = Arc::default();
    // A new configuration is reported at once, so the controller learns its version quickly.
    let applied = Arc::new(tokio::sync::Notify::new());
    let poll = {
        let (se, transport, plane, interval, version, refused, applied) = (
            se.clone(),
            transport.clone(),
            plane.clone(),
            interval.clone(),
            version.clone(),
            refused.clone(),
            applied.clone(),
        );
        async move {
            let mut after = None;
            loop {
                match transport.poll_config(&se, after).await {
                    Ok(Some(cfg)) => {
                        // Polled past even when refused: the same configuration would be
                        // refused again; the controller sees why in the report.
                        after = Some(cfg.version);
                        interval.store(cfg.report_interval_secs.max(1), Ordering::Relaxed);
                        match plane.apply(&cfg).await {
                            Ok(()) => {
                                version.store(cfg.version, Ordering::Relaxed);
                                *refused.lock().expect("agent lock") = None;
                            }
                            Err(e) => {
                                tracing::warn!(se = %se, version = cfg.version, error = %e,
                                    "configuration refused; the last good one keeps serving");
                                *refused.lock().expect("agent lock") = Some(e);
                            }
                        }
                        applied.notify_one();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(se = %se, error = %e, "config poll failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    };
    let report = async move {
        loop {
            let mut r = plane.sample().await;
            r.config_version = version.load(Ordering::Relaxed);
            r.config_error = refused.lock().expect("agent lock").clone();
            if let Err(e) = transport.report(&se, &r).await {
                tracing::debug!(se = %se, error = %e, "report failed");
            }
            let every = Duration::from_secs(interval.load(Ordering::Relaxed));
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = applied.notified() => {}
            }
        }
    };
    tokio::join!(poll, report);
}
