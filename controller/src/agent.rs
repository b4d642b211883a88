//! The SE agent: long-polls its configuration, applies it to a data plane, and reports load
//! and health every report interval. [`run_agent`] is the library entry; the transport is
//! HTTP against a controller's API ([`HttpTransport`]) or a direct call into a controller in
//! the same process ([`LocalTransport`], for simulations at accelerated time).
//!
//! [`SimulatedDataPlane`] stands in for the real data plane: it takes its share of the load
//! offered to each virtual service it carries (1/serving for primaries and secondaries,
//! nothing for a standby). [`SimFleet`] runs one simulated agent per running SE of a cloud.

use crate::controller::Controller;
use crate::error::{ControllerError, Result};
use crate::se_protocol::{ReportedHealth, Role, SeConfig, SeReport, VsLoad};
use crate::secret::Secret;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use strato_core::{CloudConnector, CloudConnectorExt, VmQuery, VmState};
use tokio::task::JoinHandle;

/// How an agent talks to the controller.
#[async_trait]
pub trait AgentTransport: Send + Sync + Debug + 'static {
    /// Long-polls the configuration: `Ok(None)` when nothing changed before the poll timed out.
    async fn poll_config(&self, se: &str, after: Option<u64>) -> Result<Option<SeConfig>>;
    /// Sends a report.
    async fn report(&self, se: &str, report: &SeReport) -> Result<()>;
}

/// The agent protocol over HTTP, for one SE: its credential opens that SE's paths only.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
    credential: Option<Secret>,
}

impl Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the credential (nor the client, whose headers could hold it).
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
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
        Self {
            client,
            base: base.into().trim_end_matches('/').to_owned(),
            credential,
        }
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(m, format!("{}{path}", self.base));
        match &self.credential {
            Some(c) => r.bearer_auth(c.expose()),
            None => r,
        }
    }
}

fn http_err(e: impl std::fmt::Display) -> ControllerError {
    ControllerError::Unknown(format!("agent http: {e}"))
}

/// What a refused credential means for an agent: its configuration is wrong (a credential
/// revoked, or another SE's), and retrying will not fix it.
fn refused(request: &str, se: &str, status: u16) -> ControllerError {
    ControllerError::Config(format!(
        "{request}: status {status}: the controller refused this agent's credential for SE {se}"
    ))
}

#[async_trait]
impl AgentTransport for HttpTransport {
    async fn poll_config(&self, se: &str, after: Option<u64>) -> Result<Option<SeConfig>> {
        let path = match after {
            Some(v) => format!("/api/v1/ses/{se}/config?after={v}"),
            None => format!("/api/v1/ses/{se}/config"),
        };
        let resp = self
            .req(reqwest::Method::GET, &path)
            .send()
            .await
            .map_err(http_err)?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp.json().await.map_err(http_err)?)),
            304 => Ok(None),
            404 => Err(ControllerError::NotFound(format!("SE {se}"))),
            s @ (401 | 403) => Err(refused(&format!("GET {path}"), se, s)),
            s => Err(http_err(format!("GET {path}: status {s}"))),
        }
    }

    async fn report(&self, se: &str, report: &SeReport) -> Result<()> {
        let path = format!("/api/v1/ses/{se}/report");
        let resp = self
            .req(reqwest::Method::POST, &path)
            .json(report)
            .send()
            .await
            .map_err(http_err)?;
        match resp.status().as_u16() {
            200 | 204 => Ok(()),
            404 => Err(ControllerError::NotFound(format!("SE {se}"))),
            s @ (401 | 403) => Err(refused(&format!("POST {path}"), se, s)),
            s => Err(http_err(format!("POST {path}: status {s}"))),
        }
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
    async fn poll_config(&self, se: &str, after: Option<u64>) -> Result<Option<SeConfig>> {
        let t = self.ctl.options().long_poll;
        match self.ctl.hub().wait(se, after, t).await {
            Ok(c) => Ok(c.map(|c| (*c).clone())),
            Err(()) => Err(ControllerError::NotFound(format!("SE {se}"))),
        }
    }

    async fn report(&self, se: &str, report: &SeReport) -> Result<()> {
        self.ctl.report(se, report.clone())
    }
}

/// Where an agent applies its configuration and reads its load from.
pub trait DataPlane: Send + Sync + Debug + 'static {
    /// Applies a configuration.
    fn apply(&self, config: &SeConfig);
    /// Current load (in total and per virtual service) and health; the agent fills in the
    /// configuration version.
    fn sample(&self) -> SeReport;
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

impl DataPlane for SimulatedDataPlane {
    fn apply(&self, config: &SeConfig) {
        *self.config.lock().expect("config lock") = Some(config.clone());
    }

    fn sample(&self) -> SeReport {
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

/// Runs an agent until the task is aborted: one loop long-polls and applies the
/// configuration, the other reports every interval (the interval the configuration names).
pub async fn run_agent(se: String, transport: Arc<dyn AgentTransport>, plane: Arc<dyn DataPlane>) {
    let interval = Arc::new(std::sync::atomic::AtomicU64::new(10));
    let version = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // A new configuration is reported at once, so the controller learns its version quickly.
    let applied = Arc::new(tokio::sync::Notify::new());
    let poll = {
        let (se, transport, plane, interval, version, applied) = (
            se.clone(),
            transport.clone(),
            plane.clone(),
            interval.clone(),
            version.clone(),
            applied.clone(),
        );
        async move {
            let mut after = None;
            loop {
                match transport.poll_config(&se, after).await {
                    Ok(Some(cfg)) => {
                        plane.apply(&cfg);
                        after = Some(cfg.version);
                        version.store(cfg.version, std::sync::atomic::Ordering::Relaxed);
                        interval.store(
                            cfg.report_interval_secs.max(1),
                            std::sync::atomic::Ordering::Relaxed,
                        );
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
            let mut r = plane.sample();
            r.config_version = version.load(std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = transport.report(&se, &r).await {
                tracing::debug!(se = %se, error = %e, "report failed");
            }
            let every = Duration::from_secs(interval.load(std::sync::atomic::Ordering::Relaxed));
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = applied.notified() => {}
            }
        }
    };
    tokio::join!(poll, report);
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
