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
