//! The SE agent as the controller runs it in simulations. The agent itself (its loop
//! [`run_agent`], the [`AgentTransport`] and [`DataPlane`] traits) lives in `strato_agent` and
//! is re-exported here; the transport is HTTP against a controller's API ([`HttpTransport`])
//! or a direct call into a controller in the same process ([`LocalTransport`], for
//! simulations at accelerated time).
//!
//! [`SimulatedDataPlane`] stands in for the real data plane: it takes its share of the load
//! offered to each virtual service it carries (1/serving for primaries and secondaries,
//! nothing for a standby). [`SimFleet`] runs one simulated agent per running SE of a cloud.

use crate::controller::Controller;
use crate::error::Result;
use crate::se_protocol::{ReportedHealth, Role, SeConfig, SeReport, VsLoad};
use crate::secret::Secret;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use strato_agent::Credential;
pub use strato_agent::{AgentError, AgentTransport, DataPlane, run_agent};
use strato_core::{CloudConnector, CloudConnectorExt, VmQuery, VmState};
use tokio::task::JoinHandle;

/// The agent protocol over HTTP to one controller, with the controller's [`Secret`] and
/// errors: a thin face of [`strato_agent::HttpTransport`] (which the real agent uses, with
/// every controller of its bootstrap) for the controller's own tests and simulations.
#[derive(Clone)]
pub struct HttpTransport {
    inner: Arc<strato_agent::HttpTransport>,
}

impl Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The inner transport's Debug redacts the credential.
        Debug::fmt(&self.inner, f)
    }
}

impl HttpTransport {
    /// A transport to `base` (like `http://127.0.0.1:8080`), sending `credential`, the SE's
    /// own (`POST /api/v1/ses/{id}/credentials` hands it out), as a bearer token; `None` only
    /// for a controller that runs `--insecure`.
    pub fn new(base: impl Into<String>, credential: Option<Secret>) -> Self {
        Self::with_client(
            base,
            credential,
            reqwest::Client::builder().build().expect("reqwest client"),
        )
    }

    /// Like [`HttpTransport::new`] with a client of the caller's (a CA of its own for TLS).
    pub fn with_client(
        base: impl Into<String>,
        credential: Option<Secret>,
        client: reqwest::Client,
    ) -> Self {
        let inner = strato_agent::HttpTransport::with_client(
            &[base.into()],
            credential.map(|c| Credential::new(c.expose())),
            client,
        )
        .expect("one controller URL");
        Self {
            inner: Arc::new(inner),
        }
    }

    /// [`AgentTransport::poll_config`] with the controller's errors.
    pub async fn poll_config(&self, se: &str, after: Option<u64>) -> Result<Option<SeConfig>> {
        Ok(self.inner.poll_config(se, after).await?)
    }

    /// [`AgentTransport::report`] with the controller's errors.
    pub async fn report(&self, se: &str, report: &SeReport) -> Result<()> {
        Ok(self.inner.report(se, report).await?)
    }
}

#[async_trait]
impl AgentTransport for HttpTransport {
    async fn poll_config(
        &self,
        se: &str,
        after: Option<u64>,
    ) -> std::result::Result<Option<SeConfig>, AgentError> {
        self.inner.poll_config(se, after).await
    }

    async fn report(&self, se: &str, report: &SeReport) -> std::result::Result<(), AgentError> {
        self.inner.report(se, report).await
    }
}

/// The agent protocol as direct calls into a controller of the same process.
#[derive(Clone, Debug)]
pub struct LocalTransport {
    ctl: Controller,
}

impl LocalTransport {
    /// A transport into `ctl`.
    pub fn new(ctl: Controller) -> Self {
        Self { ctl }
    }
}

#[async_trait]
impl AgentTransport for LocalTransport {
    async fn poll_config(
        &self,
        se: &str,
        after: Option<u64>,
    ) -> std::result::Result<Option<SeConfig>, AgentError> {
        let t = self.ctl.options().long_poll;
        match self.ctl.hub().wait(se, after, t).await {
            Ok(c) => Ok(c.map(|c| (*c).clone())),
            Err(()) => Err(AgentError::NotFound(format!("SE {se}"))),
        }
    }

    async fn report(&self, se: &str, report: &SeReport) -> std::result::Result<(), AgentError> {
        self.ctl
            .report(se, report.clone())
            .map_err(AgentError::from)
    }
}

/// Load offered to each virtual service, shared by all simulated SEs.
#[derive(Debug, Default)]
pub struct LoadModel {
    rps: RwLock<HashMap<String, f64>>,
    /// Open connections per request per second (average request duration, seconds).
    pub connections_per_rps: f64,
}

impl LoadModel {
    /// An empty model with 0.05 s requests.
    pub fn new() -> Self {
        Self {
            rps: RwLock::new(HashMap::new()),
            connections_per_rps: 0.05,
        }
    }

    /// Sets the requests per second offered to a virtual service.
    pub fn set(&self, vs: &str, rps: f64) {
        self.rps
            .write()
            .expect("load lock")
            .insert(vs.to_owned(), rps);
    }

    /// The load offered to a virtual service.
    pub fn get(&self, vs: &str) -> f64 {
        self.rps
            .read()
            .expect("load lock")
            .get(vs)
            .copied()
            .unwrap_or(0.0)
    }
}

/// A data plane that serves its share of the offered load.
#[derive(Debug)]
pub struct SimulatedDataPlane {
    load: Arc<LoadModel>,
    config: Mutex<Option<SeConfig>>,
    health: Mutex<ReportedHealth>,
}

impl SimulatedDataPlane {
    /// A data plane drawing from `load`.
    pub fn new(load: Arc<LoadModel>) -> Self {
        Self {
            load,
            config: Mutex::new(None),
            health: Mutex::new(ReportedHealth::Up),
        }
    }

    /// Sets the health it reports.
    pub fn set_health(&self, h: ReportedHealth) {
        *self.health.lock().expect("health lock") = h;
    }

    /// The configuration applied last.
    pub fn config(&self) -> Option<SeConfig> {
        self.config.lock().expect("config lock").clone()
    }
}

#[async_trait]
impl DataPlane for SimulatedDataPlane {
    async fn apply(&self, config: &SeConfig) -> std::result::Result<(), String> {
        *self.config.lock().expect("config lock") = Some(config.clone());
        Ok(())
    }

    async fn sample(&self) -> SeReport {
        let per_vs: BTreeMap<String, VsLoad> = self
            .config
            .lock()
            .expect("config lock")
            .as_ref()
            .map(|c| {
                c.virtual_services
                    .iter()
                    .filter(|v| v.role != Role::Standby)
                    .map(|v| {
                        let rps = self.load.get(&v.name) / f64::from(v.serving.max(1));
                        let connections = (rps * self.load.connections_per_rps).round() as u64;
                        (v.name.clone(), VsLoad { rps, connections })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut r = SeReport::new(
            per_vs.values().map(|l| l.rps).sum(),
            per_vs.values().map(|l| l.connections).sum(),
            *self.health.lock().expect("health lock"),
        );
        r.virtual_services = per_vs;
        r
    }
}

/// A running simulated agent: its task and its data plane.
type Agent = (JoinHandle<()>, Arc<SimulatedDataPlane>);

/// Simulated agents for every running SE of a cloud: starts one when an SE's VM runs, stops it
/// when the VM goes, and can kill one (its agent stops reporting, as a crashed SE would).
#[derive(Debug)]
pub struct SimFleet {
    ctl: Controller,
    cloud: Arc<dyn CloudConnector>,
    transport: Arc<dyn AgentTransport>,
    /// The load the SEs serve.
    pub load: Arc<LoadModel>,
    agents: Mutex<HashMap<String, Agent>>,
    killed: Mutex<HashSet<String>>,
}

impl SimFleet {
    /// A fleet for the SEs `ctl` runs on `cloud`, talking over `transport`.
    pub fn new(
        ctl: Controller,
        cloud: Arc<dyn CloudConnector>,
        transport: Arc<dyn AgentTransport>,
        load: Arc<LoadModel>,
    ) -> Self {
        Self {
            ctl,
            cloud,
            transport,
            load,
            agents: Mutex::new(HashMap::new()),
            killed: Mutex::new(HashSet::new()),
        }
    }

    /// Starts and stops agents to match the running SEs. Returns the number running.
    pub async fn sync(&self) -> usize {
        let Ok(vms) = self.cloud.list_all_vms(&VmQuery::default()).await else {
            return self.agents.lock().expect("fleet lock").len();
        };
        let running: HashSet<String> = vms
            .into_iter()
            .filter(|v| v.state == VmState::Running && v.group().is_some())
            .map(|v| v.name)
            .filter(|n| self.ctl.hub().contains(n))
            .collect();
        let killed = self.killed.lock().expect("fleet lock").clone();
        let mut agents = self.agents.lock().expect("fleet lock");
        agents.retain(|name, (h, _)| {
            let keep = running.contains(name) && !killed.contains(name);
            if !keep {
                h.abort();
            }
            keep
        });
        for name in running {
            if killed.contains(&name) || agents.contains_key(&name) {
                continue;
            }
            let plane = Arc::new(SimulatedDataPlane::new(self.load.clone()));
            let h = tokio::spawn(run_agent(
                name.clone(),
                self.transport.clone(),
                plane.clone(),
            ));
            agents.insert(name, (h, plane));
        }
        agents.len()
    }

    /// Stops an SE's agent for good (the SE stops reporting).
    pub fn kill(&self, se: &str) {
        self.killed
            .lock()
            .expect("fleet lock")
            .insert(se.to_owned());
        if let Some((h, _)) = self.agents.lock().expect("fleet lock").remove(se) {
            h.abort();
        }
    }

    /// Lets a killed SE's agent run again from the next sync (a partition that heals: the
    /// agent starts afresh, polls its configuration and reports).
    pub fn revive(&self, se: &str) {
        self.killed.lock().expect("fleet lock").remove(se);
    }

    /// The data plane of a running agent.
    pub fn plane(&self, se: &str) -> Option<Arc<SimulatedDataPlane>> {
        self.agents
            .lock()
            .expect("fleet lock")
            .get(se)
            .map(|(_, p)| p.clone())
    }

    /// Names of the SEs with a running agent.
    pub fn running(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .agents
            .lock()
            .expect("fleet lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Syncs every `every` until the task is aborted.
    pub fn spawn(self: &Arc<Self>, every: Duration) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                me.sync().await;
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Stops every agent.
    pub fn stop(&self) {
        for (_, (h, _)) in self.agents.lock().expect("fleet lock").drain() {
            h.abort();
        }
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        if let Ok(mut a) = self.agents.lock() {
            for (_, (h, _)) in a.drain() {
                h.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_transport_never_shows_its_credential() {
        let t = HttpTransport::new("http://h:1", Some(Secret::new("cred-sekrit-7")));
        let shown = format!("{t:?}");
        assert!(!shown.contains("cred-sekrit-7"), "{shown}");
        assert!(shown.contains("http://h:1"), "{shown}");
    }
}
