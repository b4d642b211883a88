//! Captures what connectors log while the suite runs, so a check can assert that a secret never
//! reaches a log line.
//!
//! A process-wide subscriber (installed once, by the first check that asks) formats every event
//! at DEBUG and above, and every strato event at TRACE, with its span fields, as a log file
//! would show it; the lines that contain [`SECRET_PREFIX`] are kept. A test binary that installed
//! its own global subscriber first cannot be captured: [`capture`] then says so.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Every secret a check plants starts with this, so only the lines that may leak one are kept.
pub(crate) const SECRET_PREFIX: &str = "cfsecret";

static KEPT: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Installs the capturing subscriber once; false when another global subscriber came first.
pub(crate) fn capture() -> bool {
    *INSTALLED.get_or_init(|| {
        let keep = |meta: &tracing::Metadata<'_>| {
            *meta.level() <= tracing::Level::DEBUG || meta.target().starts_with("strato")
        };
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Lines)
            .with_filter(filter_fn(keep));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).is_ok()
    })
}

/// The captured lines that contain `needle`.
pub(crate) fn lines_with(needle: &str) -> Vec<String> {
    let kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

/// One formatted event per write, kept when it may hold a secret.
#[derive(Debug, Clone, Copy)]
struct Lines;

#[derive(Debug, Default)]
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let line = String::from_utf8_lossy(&self.0);
        if line.contains(SECRET_PREFIX) {
            let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
            kept.push(line.into_owned());
        }
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_secret_is_caught_in_events_and_span_fields() {
        assert!(capture(), "no other subscriber in this test binary");
        tracing::info!(doc = %format!("{SECRET_PREFIX}-event"), "creating");
        let span = tracing::debug_span!("create", body = %format!("{SECRET_PREFIX}-span"));
        span.in_scope(|| tracing::debug!("inside"));
        assert_eq!(lines_with(&format!("{SECRET_PREFIX}-event")).len(), 1);
        assert_eq!(lines_with(&format!("{SECRET_PREFIX}-span")).len(), 1);
        assert!(lines_with("never-logged").is_empty());
    }
}
