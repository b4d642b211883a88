//! Waiting for Compute operations: every change answers an operation (zonal, regional or
//! global) that goes PENDING -> RUNNING -> DONE; strato waits for DONE with a deadline and
//! surfaces the operation's own error. The client library's poller is not used: it returns an
//! operation that ended DONE with an error as success, and polls on its own schedule.

use crate::CLOUD;
use crate::client::GcpConnector;
use crate::error::{map_gax, map_operation_error};
use google_cloud_compute_v1::model::Operation as GceOperation;
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation, Result};
use tokio::time::Instant;

/// Where an operation lives, so it is read from the right collection (strato makes no global
/// resources: VPCs are the profile's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Zone,
    Region,
}

/// Longest wait between two reads of one operation.
const MAX_POLL: Duration = Duration::from_secs(10);

/// Whether an operation is DONE.
pub(crate) fn is_done(o: &GceOperation) -> bool {
    o.status.as_ref().and_then(|s| s.name()) == Some("DONE")
}

/// A request id Compute accepts (a UUID, not all zero) derived from a strato client token, so
/// a retried create carries the same id and Compute answers the first operation again.
pub fn request_id(token: &str) -> String {
    let mut h: Vec<u8> = token
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .chain(std::iter::repeat(b'0'))
        .take(32)
        .collect();
    h[12] = b'4'; // version 4 layout
    h[16] = b'8'; // RFC 4122 variant
    let s = String::from_utf8(h).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..]
    )
}

impl GcpConnector {
    /// Waits for `first` (the answer of a change) to end, then returns its error if it has one.
    pub(crate) async fn wait_op(
        &self,
        first: GceOperation,
        scope: Scope,
        op: Operation,
        resource: &str,
    ) -> Result<GceOperation> {
        let deadline = Instant::now() + self.config.operation_timeout();
        let mut interval = self.config.poll_interval();
        let mut cur = first;
        loop {
            if is_done(&cur) {
                return match map_operation_error(&cur, op, resource) {
                    Some(e) => Err(e),
                    None => Ok(cur),
                };
            }
            let name = cur.name.clone().unwrap_or_default();
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    op,
                    format!(
                        "{resource}: operation {name} did not finish within {:?} (last status {})",
                        self.config.operation_timeout(),
                        cur.status
                            .as_ref()
                            .and_then(|s| s.name())
                            .unwrap_or("unknown")
                    ),
                )
                .with_cloud(CLOUD)
                .with_resource(resource));
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(MAX_POLL);
            let read = match scope {
                Scope::Zone => {
                    self.zone_ops
                        .get()
                        .set_project(self.project())
                        .set_zone(self.zone())
                        .set_operation(&name)
                        .send()
                        .await
                }
                Scope::Region => {
                    self.region_ops
                        .get()
                        .set_project(self.project())
                        .set_region(self.region())
                        .set_operation(&name)
                        .send()
                        .await
                }
            };
            cur = read.map_err(|e| map_gax(e, op, resource))?;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_uuids_derived_from_the_token() {
        let a = super::request_id("0123456789abcdef0123456789abcdef");
        assert_eq!(a, "01234567-89ab-4def-8123-456789abcdef");
        assert_eq!(a, super::request_id("0123456789abcdef0123456789abcdef"));
        assert_ne!(a, super::request_id("f123456789abcdef0123456789abcdef"));
    }
}
