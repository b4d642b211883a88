//! Tracing spans and metrics for every logical call.
//!
//! Metrics (through the `metrics` facade; the controller installs a Prometheus recorder):
//! `strato_cloud_calls_total{cloud,op,outcome}`, `strato_cloud_call_seconds{cloud,op}`,
//! `strato_cloud_errors_total{cloud,op,kind}`.

use super::{Around, Call};
use crate::connector::CloudInfo;
use crate::error::{Operation, Result};
use futures::future::BoxFuture;
use tracing::Instrument;

/// Records a span, a latency and an outcome per call.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observe;

impl Around for Observe {
    fn around<'a, T: Send + 'a>(
        &'a self,
        info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        let span = tracing::debug_span!("cloud_call", cloud = info.kind, op = op.name(), region = %info.region);
        Box::pin(
            async move {
                let start = tokio::time::Instant::now();
                let result = call().await;
                let secs = start.elapsed().as_secs_f64();
                let (cloud, opn) = (info.kind, op.name());
                metrics::histogram!("strato_cloud_call_seconds", "cloud" => cloud, "op" => opn).record(secs);
                match &result {
                    Ok(_) => {
                        metrics::counter!("strato_cloud_calls_total", "cloud" => cloud, "op" => opn, "outcome" => "ok")
                            .increment(1);
                        tracing::debug!(secs, "ok");
                    }
                    Err(e) => {
                        metrics::counter!("strato_cloud_calls_total", "cloud" => cloud, "op" => opn, "outcome" => "error")
                            .increment(1);
                        metrics::counter!("strato_cloud_errors_total", "cloud" => cloud, "op" => opn, "kind" => e.kind().name())
                            .increment(1);
                        tracing::debug!(secs, error = %e, "failed");
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}
