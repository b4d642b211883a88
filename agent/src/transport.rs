//! How an agent talks to its controllers: the [`AgentTransport`] trait and its HTTP form,
//! [`HttpTransport`], which fails over between the controllers its bootstrap names.

use crate::error::{AgentError, Credential};
use crate::protocol::{SeConfig, SeReport};
use async_trait::async_trait;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

/// How an agent talks to the controller.
#[async_trait]
pub trait AgentTransport: Send + Sync + Debug + 'static {
    /// Long-polls the configuration: `Ok(None)` when nothing changed before the poll timed out.
    async fn poll_config(
        &self,
        se: &str,
        after: Option<u64>,
    ) -> Result<Option<SeConfig>, AgentError>;
    /// Sends a report.
    async fn report(&self, se: &str, report: &SeReport) -> Result<(), AgentError>;
}

/// The agent protocol over HTTP, for one SE: its credential opens that SE's paths only.
///
/// It holds every controller URL of the SE's bootstrap. A request goes to the controller that
/// answered last; on a connection error it goes to the next URL, and a standby's 503
/// (`{"error":"standby","leader":URL}`) sends it to the named leader first.
pub struct HttpTransport {
    client: reqwest::Client,
    controllers: Vec<String>,
    /// The controller that answered last (possibly a leader the bootstrap did not name).
    current: Mutex<String>,
    credential: Option<Credential>,
}

impl Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the credential (nor the client, whose headers could hold it).
        f.debug_struct("HttpTransport")
            .field("controllers", &self.controllers)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

/// Connections to a controller that is down fail fast, so the next one is tried soon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole request, long poll included (the controller ends a poll after 30 s): past this the
/// connection is taken for dead (a controller gone without a reset) and the next one is tried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

fn trim(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

impl HttpTransport {
    /// A transport to `controllers` (like `https://10.0.0.5:8443`), sending `credential` as
    /// a bearer token and trusting `ca_pem` (PEM) besides the system's roots when given.
    pub fn new(
        controllers: &[String],
        credential: Option<Credential>,
        ca_pem: Option<&str>,
    ) -> Result<Self, AgentError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                AgentError::Unavailable(format!("the CA of the bootstrap does not parse: {e}"))
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b
            .build()
            .map_err(|e| AgentError::Unavailable(format!("HTTP client: {e}")))?;
        Self::with_client(controllers, credential, client)
    }

    /// A transport for an SE's bootstrap: its controllers, CA and credential.
    pub fn from_bootstrap(b: &crate::bootstrap::AgentBootstrap) -> Result<Self, AgentError> {
        Self::new(
            &b.controllers,
            Some(Credential::new(b.credential.clone())),
            b.ca_pem.as_deref(),
        )
    }

    /// Like [`HttpTransport::new`] with a client of the caller's.
    pub fn with_client(
        controllers: &[String],
        credential: Option<Credential>,
        client: reqwest::Client,
    ) -> Result<Self, AgentError> {
        let controllers: Vec<String> = controllers.iter().map(|u| trim(u)).collect();
        let first = controllers
            .first()
            .cloned()
            .ok_or_else(|| AgentError::Unavailable("no controller URL".into()))?;
        Ok(Self {
            client,
            controllers,
            current: Mutex::new(first),
            credential,
        })
    }

    /// The controller that answered last.
    pub fn current(&self) -> String {
        self.current.lock().expect("transport lock").clone()
    }

    /// The bootstrap's next URL after `after` not tried yet, in the bootstrap's order.
    fn next_untried(&self, after: &str, tried: &[String]) -> Option<String> {
        let start = self
            .controllers
            .iter()
            .position(|u| u == after)
            .map_or(0, |i| i + 1);
        let n = self.controllers.len();
        (0..n)
            .map(|k| &self.controllers[(start + k) % n])
            .find(|u| !tried.contains(u))
            .cloned()
    }

    /// Sends one request, failing over between controllers; returns the first answer that
    /// is not a standby's.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&SeReport>,
    ) -> Result<reqwest::Response, AgentError> {
        let mut tried: Vec<String> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        let mut next = Some(self.current());
        while let Some(base) = next.take() {
            tried.push(base.clone());
            let mut r = self.client.request(method.clone(), format!("{base}{path}"));
            if let Some(c) = &self.credential {
                r = r.bearer_auth(c.expose());
            }
            if let Some(b) = body {
                r = r.json(b);
            }
            match r.send().await {
                Ok(resp) if resp.status().as_u16() == 503 => {
                    let answer: serde_json::Value = resp.json().await.unwrap_or_default();
                    if answer["error"] != "standby" {
                        failures.push(format!("{base}: status 503"));
                        next = self.next_untried(&base, &tried);
                        continue;
                    }
                    let leader = answer["leader"].as_str().map(trim);
                    failures.push(format!(
                        "{base}: standby (leader {})",
                        leader.as_deref().unwrap_or("unknown")
                    ));
                    next = leader
                        .filter(|l| !l.is_empty() && !tried.contains(l))
                        .or_else(|| self.next_untried(&base, &tried));
                }
                Ok(resp) => {
                    *self.current.lock().expect("transport lock") = base;
                    return Ok(resp);
                }
                Err(e) => {
                    // reqwest's messages name the URL, never the headers.
                    failures.push(format!("{base}: {}", with_causes(&e)));
                    next = self.next_untried(&base, &tried);
                }
            }
        }
        Err(AgentError::Unavailable(failures.join("; ")))
    }
}

/// An error and its causes (reqwest's own message only says "error sending request"; the
/// cause says connection refused, or an unknown certificate issuer).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s = format!("{s}: {c}");
        cause = c.source();
    }
    s
}

/// What a refused credential means for an agent: its configuration is wrong (a credential
/// revoked, or another SE's), and retrying will not fix it.
fn refused(request: &str, se: &str, status: u16) -> AgentError {
    AgentError::Refused(format!(
        "{request}: status {status}: the controller refused this agent's credential for SE {se}"
    ))
}

#[async_trait]
impl AgentTransport for HttpTransport {
    async fn poll_config(
        &self,
        se: &str,
        after: Option<u64>,
    ) -> Result<Option<SeConfig>, AgentError> {
        let path = match after {
            Some(v) => format!("/api/v1/ses/{se}/config?after={v}"),
            None => format!("/api/v1/ses/{se}/config"),
        };
        let resp = self.send(reqwest::Method::GET, &path, None).await?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp.json().await.map_err(|e| {
                AgentError::Unavailable(format!(
                    "GET {path}: the configuration does not parse: {e}"
                ))
            })?)),
            304 => Ok(None),
            404 => Err(AgentError::NotFound(format!("SE {se}"))),
            s @ (401 | 403) => Err(refused(&format!("GET {path}"), se, s)),
            s => Err(AgentError::Unavailable(format!("GET {path}: status {s}"))),
        }
    }

    async fn report(&self, se: &str, report: &SeReport) -> Result<(), AgentError> {
        let path = format!("/api/v1/ses/{se}/report");
        let resp = self
            .send(reqwest::Method::POST, &path, Some(report))
            .await?;
        match resp.status().as_u16() {
            200 | 204 => Ok(()),
            404 => Err(AgentError::NotFound(format!("SE {se}"))),
            s @ (401 | 403) => Err(refused(&format!("POST {path}"), se, s)),
            s => Err(AgentError::Unavailable(format!("POST {path}: status {s}"))),
        }
    }
}
