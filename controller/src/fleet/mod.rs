//! The agents of the memory cloud's SEs, so that `controller run` on it serves out of the box.
//!
//! A real SE boots from its first-boot document (`VmSpec::bootstrap`); the memory cloud keeps
//! each VM's document where its simulated metadata service serves it
//! ([`MemoryBackend::bootstrap_of`]). [`BootedFleet`] plays the part of the SEs' guests: for
//! every running VM of a managed SE group it reads that document, as the VM's guest would,
//! and starts the agent it names, with the SE's own credential, against the controllers it
//! names, over HTTP. The agent is simulated ([`SimulatedDataPlane`], serving what a
//! [`LoadModel`] offers; nothing by default), or in the process mode a real `strato-agent`
//! process running HAProxy on the VM's own address ([`process`]). It stops when the VM stops
//! running or goes.
//!
//! Without a document (an SE recorded before SEs had one, or a controller that gives none) a
//! VM gets no agent, as a real one would not.

pub mod process;

use crate::agent::{LoadModel, SimulatedDataPlane, run_agent};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_agent::bootstrap::AgentBootstrap;
use strato_core::{CloudConnectorExt, VmId, VmQuery, VmState};
use strato_memory::{MemoryBackend, MemoryConnector};
use tokio::task::JoinHandle;

/// What runs on the memory cloud's SEs (`[controller] memory_agents`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryAgents {
    /// A simulated agent per SE, over HTTP with the SE's own credential (the default).
    #[default]
    Simulated,
    /// A real `strato-agent` process (and its HAProxy) per SE, on the SE's own address: give
    /// the memory profile a `network_cidr` in 127.0.0.0/8 so that every SE and VIP has a
    /// loopback address of its own.
    Process,
    /// Nothing: the SEs' agents run elsewhere (or not at all, and the SEs are replaced).
    Off,
}

/// One SE's running agent.
#[derive(Debug)]
enum Agent {
    Simulated(JoinHandle<()>),
    Process(Box<process::AgentProcess>),
}

impl Agent {
    fn ended(&mut self) -> bool {
        match self {
            Agent::Simulated(h) => h.is_finished(),
            Agent::Process(p) => p.exited(),
        }
    }

    fn stop(&mut self) {
        match self {
            Agent::Simulated(h) => h.abort(),
            Agent::Process(p) => p.kill(),
        }
    }
}

/// Agents started from the first-boot documents of one memory account's SEs.
#[derive(Debug)]
pub struct BootedFleet {
    backend: MemoryBackend,
    cloud: MemoryConnector,
    /// The load the simulated agents serve.
    pub load: Arc<LoadModel>,
    /// Real agent processes instead of simulated ones.
    processes: Option<process::ProcessOptions>,
    agents: Mutex<HashMap<VmId, (String, Agent)>>,
}

impl BootedFleet {
    /// A fleet of simulated agents for the VMs `owner` has in the account of `backend`.
    pub fn new(backend: MemoryBackend, owner: strato_core::OwnerId) -> Self {
        Self {
            cloud: MemoryConnector::new(backend.clone(), owner),
            backend,
            load: Arc::new(LoadModel::new()),
            processes: None,
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// A fleet of agent processes ([`process`]) for the VMs `owner` has in the account.
    pub fn processes(
        backend: MemoryBackend,
        owner: strato_core::OwnerId,
        opts: process::ProcessOptions,
    ) -> Self {
        let mut f = Self::new(backend, owner);
        f.processes = Some(opts);
        f
    }

    /// The directory of SE `se`'s agent process (process mode).
    pub fn process_dir(&self, se: &str) -> Option<std::path::PathBuf> {
        self.processes.as_ref().map(|o| o.dir.join(se))
    }

    /// Starts an agent for every running SE VM that has none, and stops those of VMs that no
    /// longer run. Returns how many run.
    pub async fn sync(&self) -> usize {
        let Ok(vms) = self.cloud.list_all_vms(&VmQuery::default()).await else {
            // Unknown is not gone: keep what runs.
            return self.running().len();
        };
        let running: HashMap<VmId, (String, Option<std::net::IpAddr>)> = vms
            .into_iter()
            .filter(|v| v.state == VmState::Running && v.group().is_some())
            .map(|v| (v.id, (v.name, v.private_ip)))
            .collect();
        let mut agents = self.agents.lock().expect("fleet lock");
        agents.retain(|id, (name, a)| {
            // An agent that exited is started again (a supervisor's restart on a real SE).
            let ended = a.ended();
            let keep = running.contains_key(id) && !ended;
            if !keep {
                if ended {
                    tracing::warn!(se = %name, "the SE's agent exited; starting it again");
                }
                a.stop();
            }
            keep
        });
        for (id, (name, address)) in running {
            if agents.contains_key(&id) {
                continue;
            }
            let doc = match self.backend.bootstrap_of(&id) {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(se = %name, error = %e, "no first-boot document yet");
                    continue;
                }
            };
            let started = match &self.processes {
                Some(opts) => process::AgentProcess::start(opts, &name, &doc, address)
                    .map(|p| Agent::Process(Box::new(p)))
                    .map_err(anyhow::Error::from),
                None => match AgentBootstrap::from_user_data(doc.expose()) {
                    // The error never quotes the document.
                    Ok(boot) => start_simulated(&boot, self.load.clone()).map(Agent::Simulated),
                    Err(e) => Err(e.into()),
                },
            };
            match started {
                Ok(a) => {
                    agents.insert(id, (name, a));
                }
                Err(e) => tracing::warn!(se = %name, error = %e, "starting the SE's agent"),
            }
        }
        agents.len()
    }

    /// The SEs whose agent runs, by name.
    pub fn running(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .agents
            .lock()
            .expect("fleet lock")
            .values()
            .map(|(n, _)| n.clone())
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
        for (_, (_, mut a)) in self.agents.lock().expect("fleet lock").drain() {
            a.stop();
        }
    }
}

impl Drop for BootedFleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A simulated agent for the SE `boot` names, speaking to its controllers as the real agent
/// does (the same transport: its CA, failing over between controllers, following a standby
/// to the leader).
fn start_simulated(boot: &AgentBootstrap, load: Arc<LoadModel>) -> anyhow::Result<JoinHandle<()>> {
    let transport = strato_agent::HttpTransport::from_bootstrap(boot)?;
    let plane = Arc::new(SimulatedDataPlane::new(load));
    Ok(tokio::spawn(run_agent(
        boot.se.clone(),
        Arc::new(transport),
        plane,
    )))
}

/// A fleet for each memory profile of `cfg`, as `[controller] memory_agents` asks.
pub fn memory_fleets(
    cfg: &crate::config::ControllerConfig,
    ctx: &strato_core::registry::ConnectContext,
) -> anyhow::Result<Vec<Arc<BootedFleet>>> {
    if cfg.controller.memory_agents == MemoryAgents::Off {
        return Ok(Vec::new());
    }
    let mut fleets = Vec::new();
    for (name, profile) in &cfg.strato.profiles {
        if profile.kind != strato_memory::CLOUD {
            continue;
        }
        let settings = strato_memory::MemoryFactory::config(profile, ctx)?;
        if settings.state_file.is_none() {
            // An account in the connector's memory only: another handle would see another
            // world. (`controller run` always has a data directory, so this is unreachable.)
            tracing::warn!(profile = %name, "no agents: the memory account has no state file");
            continue;
        }
        let backend = MemoryBackend::new(settings)?;
        let owner = profile.owner.clone();
        let fleet = match cfg.controller.memory_agents {
            MemoryAgents::Process => {
                let opts = process::ProcessOptions {
                    agent_bin: cfg.controller.memory_agent_bin.clone(),
                    haproxy_bin: cfg.controller.memory_haproxy_bin.clone(),
                    dir: ctx.data_dir.join("agents").join(name),
                };
                eprintln!(
                    "memory cloud {name}: a strato-agent process with HAProxy runs on every SE (files in {})",
                    opts.dir.display()
                );
                BootedFleet::processes(backend, owner, opts)
            }
            _ => {
                eprintln!("memory cloud {name}: a simulated agent runs on every SE");
                BootedFleet::new(backend, owner)
            }
        };
        fleets.push(Arc::new(fleet));
    }
    Ok(fleets)
}
