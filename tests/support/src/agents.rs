//! Simulated agents over the controller's HTTP API, each speaking with its own SE's
//! credential, got the way an operator gets one today: the admin's
//! `POST /api/v1/ses/{id}/credentials`.

use async_trait::async_trait;
use std::collections::HashMap;
use strato_controller::agent::{AgentError, AgentTransport, HttpTransport};
use strato_controller::se_protocol::{SeConfig, SeReport};
use strato_controller::secret::Secret;
use strato_controller::{ControllerError, Result};
use tokio::sync::Mutex;

/// One [`HttpTransport`] per SE, each with that SE's credential, fetched with the admin token
/// when the SE's agent first speaks. Hand it to a `SimFleet` as its transport.
#[derive(Debug)]
pub struct HttpAgents {
    base: String,
    admin: Secret,
    http: reqwest::Client,
    agents: Mutex<HashMap<String, HttpTransport>>,
}

impl HttpAgents {
    /// Agents of the controller at `base` (like `http://127.0.0.1:8080`), whose admin token is
    /// `admin`.
    pub fn new(base: impl Into<String>, admin: Secret) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            admin,
            http: reqwest::Client::new(),
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// The SE's credential, from the admin endpoint.
    pub async fn credential(&self, se: &str) -> Result<Secret> {
        let err = |e: &dyn std::fmt::Display| {
            ControllerError::Unknown(format!("issuing the credential of SE {se}: {e}"))
        };
        let resp = self
            .http
            .post(format!("{}/api/v1/ses/{se}/credentials", self.base))
            .bearer_auth(self.admin.expose())
            .send()
            .await
            .map_err(|e| err(&e))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(ControllerError::NotFound(format!("SE {se}"))),
            s => return Err(err(&format!("status {s}"))),
        }
        let body: serde_json::Value = resp.json().await.map_err(|e| err(&e))?;
        body["credential"]
            .as_str()
            .map(Secret::new)
            .ok_or_else(|| err(&"no credential in the answer"))
    }

    /// The SE's transport, issuing its credential the first time. The lock is held across
    /// the issue: an agent's poll and report loops start together, and two issues would
    /// revoke each other's credential.
    async fn agent(&self, se: &str) -> Result<HttpTransport> {
        let mut agents = self.agents.lock().await;
        if let Some(t) = agents.get(se) {
            return Ok(t.clone());
        }
        let t = HttpTransport::new(&self.base, Some(self.credential(se).await?));
        agents.insert(se.to_owned(), t.clone());
        Ok(t)
    }

    /// A refused credential (revoked by a newer one) is dropped, so the next call issues
    /// another.
    async fn forget_if_refused<T>(&self, se: &str, r: Result<T>) -> Result<T> {
        if matches!(r, Err(ControllerError::Config(_))) {
            self.agents.lock().await.remove(se);
        }
        r
    }
}

#[async_trait]
impl AgentTransport for HttpAgents {
    async fn poll_config(
        &self,
        se: &str,
        after: Option<u64>,
    ) -> std::result::Result<Option<SeConfig>, AgentError> {
        let r = self.agent(se).await?.poll_config(se, after).await;
        Ok(self.forget_if_refused(se, r).await?)
    }

    async fn report(&self, se: &str, report: &SeReport) -> std::result::Result<(), AgentError> {
        let r = self.agent(se).await?.report(se, report).await;
        Ok(self.forget_if_refused(se, r).await?)
    }
}
