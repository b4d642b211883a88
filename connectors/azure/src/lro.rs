//! Following ARM long-running operations, which azure_mgmt 0.21 does not do (its `await` re-sends
//! the PUT and takes a 200 saying `Creating` as finished): `Azure-AsyncOperation` first, else
//! `Location`, at the interval each answer asks for (`retry-after-ms`, `Retry-After`; the
//! profile's `poll_interval` when it names none), until a terminal status or the profile's
//! `operation_timeout`.
//!
//! Only the calls whose next step needs the result follow an operation (a NIC before the VM that
//! uses it, a VM update before the NIC it dropped is deleted, a deallocate before a NIC change,
//! a VIP's address). Creates, deletes, starts and stops return once Azure accepted them, so a
//! controller pass never waits on a VM's allocation: the VM's state shows it.

use crate::client::AzureConnector;
use crate::error::from_arm;
use crate::wire::{ArmError, retry_after};
use azure_core::headers::{HeaderName, Headers};
use azure_core::{Method, Request, Url};
use serde_json::Value;
use std::time::Duration;
use strato_core::{Error, ErrorKind, Operation, Result};
use tokio::time::Instant;

/// What the first answer of an operation said.
#[derive(Clone, Debug)]
pub struct Started {
    /// HTTP status.
    pub status: u16,
    /// `Azure-AsyncOperation`.
    pub async_operation: Option<String>,
    /// `Location`.
    pub location: Option<String>,
    /// The interval the answer asked for.
    pub retry_after: Option<Duration>,
    /// The answer's `properties.provisioningState`, if it had a body.
    pub provisioning_state: Option<String>,
}

impl Started {
    /// Reads the first answer (its body, if any, was parsed by the SDK already).
    pub fn of(status: u16, h: &Headers, body: Option<&Value>) -> Self {
        let get = |n: &'static str| h.get_optional_string(&HeaderName::from(n));
        Self {
            status,
            async_operation: get("azure-asyncoperation"),
            location: get("location"),
            retry_after: retry_after(h),
            provisioning_state: body
                .and_then(|b| b["properties"]["provisioningState"].as_str())
                .map(str::to_owned),
        }
    }

    /// Whether the first answer already says the operation ended well.
    fn finished(&self) -> bool {
        match self.provisioning_state.as_deref() {
            Some(s) => s.eq_ignore_ascii_case("Succeeded"),
            // No body: a 200/204 with nothing to follow is done.
            None => self.async_operation.is_none() && self.location.is_none(),
        }
    }
}

fn failed(code: Option<String>, message: Option<String>, op: Operation) -> Error {
    from_arm(
        &ArmError {
            status: 0,
            code: code.or_else(|| Some("OperationFailed".into())),
            message,
            retry_after: None,
            request_id: None,
        },
        op,
    )
}

impl AzureConnector {
    /// One authenticated GET of an operation URL through the connector's transport.
    async fn poll_get(&self, url: &str, op: Operation) -> Result<(u16, Headers, Value)> {
        let url = Url::parse(url).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                op,
                format!("operation URL {url:?}: {e}"),
            )
            .with_cloud(crate::CLOUD)
        })?;
        let mut req = Request::new(url, Method::Get);
        let token = self.bearer(op).await?;
        req.insert_header("authorization", format!("Bearer {token}"));
        let rsp = self
            .wire
            .execute(&req)
            .await
            .map_err(|e| crate::error::map_error(e, op))?;
        let (status, headers, body) = rsp.deconstruct();
        let bytes = body.collect().await.unwrap_or_default();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((u16::from(status), headers, v))
    }

    /// Follows an operation until it ends; a failed operation is the error its ARM code maps to.
    pub(crate) async fn follow(&self, started: Started, op: Operation) -> Result<()> {
        if started
            .provisioning_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("Failed"))
        {
            return Err(failed(
                None,
                Some("the resource is in the Failed state".into()),
                op,
            ));
        }
        if started.finished() {
            return Ok(());
        }
        let deadline = Instant::now() + self.config.operation_timeout;
        let mut wait = started.retry_after.unwrap_or(self.config.poll_interval);
        loop {
            if Instant::now() + wait > deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    op,
                    format!(
                        "the operation did not end within operation_timeout ({:?})",
                        self.config.operation_timeout
                    ),
                )
                .with_cloud(crate::CLOUD));
            }
            tokio::time::sleep(wait).await;
            if let Some(url) = &started.async_operation {
                let (_, h, v) = self.poll_get(url, op).await?;
                match v["status"].as_str().unwrap_or("") {
                    s if s.eq_ignore_ascii_case("Succeeded") => return Ok(()),
                    s if s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled") => {
                        let e = &v["error"];
                        return Err(failed(
                            e["code"].as_str().map(str::to_owned),
                            e["message"]
                                .as_str()
                                .map(str::to_owned)
                                .or(Some(format!("operation {s}"))),
                            op,
                        ));
                    }
                    _ => wait = retry_after(&h).unwrap_or(self.config.poll_interval),
                }
            } else if let Some(url) = &started.location {
                // 202 while running; 200/204 when done; a failure comes back as an error status.
                let (status, h, _) = self.poll_get(url, op).await?;
                if status != 202 {
                    return Ok(());
                }
                wait = retry_after(&h).unwrap_or(self.config.poll_interval);
            } else {
                return Ok(());
            }
        }
    }
}

/// Reads the first answer of an operation: its headers, and its body parsed as the SDK's model
/// `T` (so the SDK checks the wire format) and handed back as JSON.
pub async fn started<T>(
    rsp: azure_core::Response,
    op: Operation,
) -> Result<(Started, Option<Value>)>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let (status, headers, body) = rsp.deconstruct();
    let bytes = body
        .collect()
        .await
        .map_err(|e| crate::error::map_error(e, op))?;
    let value = if bytes.is_empty() {
        None
    } else {
        let model: T = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                op,
                format!("unreadable ARM answer: {e}"),
            )
            .with_cloud(crate::CLOUD)
        })?;
        Some(crate::convert::json(&model))
    };
    Ok((
        Started::of(u16::from(status), &headers, value.as_ref()),
        value,
    ))
}
