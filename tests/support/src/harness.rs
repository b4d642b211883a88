//! The real controller on any cloud connector and state store, with simulated agents.
//!
//! The pace is the suite's: on the memory cloud at tokio's paused clock, the controller's
//! default options and a one-second fleet sync cost nothing; against a real backend over HTTP
//! (real time, since a paused clock fires timeouts around sockets that never happened) a suite
//! passes second-scale options and shorter intervals in its [`HarnessConfig`].

use crate::builders::zone;
use crate::reads::vms;
use crate::wait::{describe, wait_until};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::{AgentTransport, LoadModel, LocalTransport, SimFleet};
use strato_controller::api::ApiOptions;
use strato_controller::model::{IpamPool, SeGroup};
use strato_controller::secret::Secret;
use strato_controller::store::{MemoryStore, StateStore};
use strato_controller::{Controller, ControllerOptions, ControllerStatus};
use strato_core::{CloudConnector, Vm};
use tokio::task::JoinHandle;

/// An empty in-memory state store.
pub fn memory_store() -> Arc<dyn StateStore> {
    Arc::new(MemoryStore::new())
}

/// How a [`Harness`] runs the controller and its agents.
#[derive(Clone, Debug)]
pub struct HarnessConfig {
    /// The profile name the controller knows the cloud by (SE groups name it in `cloud`).
    pub profile: String,
    /// The controller's options.
    pub options: ControllerOptions,
    /// How often the simulated fleet starts and stops agents to match the running SEs.
    pub fleet_sync: Duration,
    /// How often [`Harness::wait_for`] checks its condition.
    pub poll: Duration,
}

impl HarnessConfig {
    /// The cloud under the profile name `profile`, the controller's default options, fleet sync
    /// and polling every second: the pace of tokio's paused clock.
    pub fn new(profile: &str) -> Self {
        Self {
            profile: profile.to_owned(),
            options: ControllerOptions::default(),
            fleet_sync: Duration::from_secs(1),
            poll: Duration::from_secs(1),
        }
    }

    /// Starts the controller on `cloud` and `store` and the agents of its SEs, serving `load`.
    /// The agents call the controller in process.
    pub async fn start(
        &self,
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> Harness {
        self.start_with(cloud.clone(), cloud, store, load, false)
            .await
    }

    /// Like [`HarnessConfig::start`], with the controller's API served on a loopback port
    /// (with an admin token of its own, [`Harness::api`]) and the agents speaking to it over
    /// HTTP, each with its own SE's credential ([`crate::HttpAgents`]). Real time only.
    pub async fn start_over_http(
        &self,
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> Harness {
        self.start_with(cloud.clone(), cloud, store, load, true)
            .await
    }

    /// [`HarnessConfig::start`] with the controller seeing the cloud through `view` (a faulty
    /// view of `cloud`: lists that miss VMs, calls that hang), while the agents and the test's
    /// reads ([`Harness::cloud`]) see `cloud` as it is: a fault between the controller and the
    /// cloud does not stop the SEs themselves.
    pub async fn start_with_view(
        &self,
        cloud: Arc<dyn CloudConnector>,
        view: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> Harness {
        self.start_with(cloud, view, store, load, false).await
    }

    async fn start_with(
        &self,
        cloud: Arc<dyn CloudConnector>,
        view: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
        over_http: bool,
    ) -> Harness {
        let clouds = BTreeMap::from([(self.profile.clone(), view)]);
        let ctl = Controller::new(store.clone(), clouds, self.options.clone())
            .await
            .expect("controller");
        let mut tasks = vec![tokio::spawn(ctl.clone().run(std::future::pending()))];
        let (transport, api): (Arc<dyn AgentTransport>, _) = if over_http {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port for the API");
            let base = format!("http://{}", listener.local_addr().expect("its address"));
            let token = Secret::mint();
            let opts = ApiOptions::with_token(token.expose());
            tasks.push(strato_controller::api::serve(ctl.clone(), listener, opts));
            let agents = crate::HttpAgents::new(&base, token.clone());
            (Arc::new(agents), Some(HarnessApi { base, token }))
        } else {
            (Arc::new(LocalTransport::new(ctl.clone())), None)
        };
        let fleet = Arc::new(SimFleet::new(
            ctl.clone(),
            cloud.clone(),
            transport,
            load.clone(),
        ));
        tasks.push(fleet.spawn(self.fleet_sync));
        Harness {
            ctl,
            cloud,
            store,
            fleet,
            load,
            api,
            poll: self.poll,
            tasks,
        }
    }
}

/// Where a harness started with [`HarnessConfig::start_over_http`] serves its API.
#[derive(Clone, Debug)]
pub struct HarnessApi {
    /// Like `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin token.
    pub token: Secret,
}

/// A running controller with its simulated agents; dropping it stops both.
#[derive(Debug)]
pub struct Harness {
    /// The controller.
    pub ctl: Controller,
    /// The cloud the controller runs on, as the agents see it (with whatever layers the test
    /// chose; without the controller's own faulty view, if it was started with one).
    pub cloud: Arc<dyn CloudConnector>,
    /// The controller's state store.
    pub store: Arc<dyn StateStore>,
    /// The simulated agents of the running SEs.
    pub fleet: Arc<SimFleet>,
    /// The load the agents report.
    pub load: Arc<LoadModel>,
    /// The API, when the agents speak HTTP ([`HarnessConfig::start_over_http`]).
    pub api: Option<HarnessApi>,
    poll: Duration,
    tasks: Vec<JoinHandle<()>>,
}

impl Harness {
    /// The controller's DNS table served over UDP and TCP on a free loopback port.
    pub async fn serve_dns(&self) -> strato_controller::dns::DnsServer {
        strato_controller::dns::DnsServer::start(
            self.ctl.dns_table(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .expect("dns server on loopback")
    }

    /// Applies the DNS zone, `pool` if any, and the group `g`.
    pub async fn setup(&self, g: SeGroup, pool: Option<IpamPool>) {
        if let Some(pool) = pool {
            self.ctl.apply_ipam_pool(pool).await.unwrap();
        }
        self.ctl.apply_dns_zone(zone()).await.unwrap();
        self.ctl.apply_se_group(g).await.unwrap();
    }

    /// Stops the controller and its agents (a crash: nothing is cleaned up), and lets the
    /// aborted tasks unwind, so that the store and the controller they hold are released.
    pub async fn crash(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.fleet.stop();
        for t in &self.tasks {
            while !t.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// The controller's status.
    pub fn status(&self) -> ControllerStatus {
        self.ctl.status()
    }

    /// Healthy SEs of a group.
    pub fn healthy(&self, group: &str) -> usize {
        self.status().group(group).map_or(0, |g| g.healthy)
    }

    /// Whether the virtual service `vs` has its VIP bound to an SE.
    pub fn vip_bound(&self, vs: &str) -> bool {
        self.status().vs(vs).is_some_and(|v| v.bound_to.is_some())
    }

    /// The names of the SEs the controller has recorded for a group; panics if it has no
    /// such group.
    pub fn se_names(&self, group: &str) -> BTreeSet<String> {
        let s = self.status();
        let g = s
            .group(group)
            .unwrap_or_else(|| panic!("the controller has no group {group}"));
        g.ses.iter().map(|s| s.name.clone()).collect()
    }

    /// The live owned VMs of a group in [`Harness::cloud`], sorted by name.
    pub async fn vms(&self, group: &str) -> Vec<Vm> {
        vms(&*self.cloud, group).await
    }

    /// A short account of the controller's view, for failure messages.
    pub fn describe(&self) -> String {
        describe(&self.status())
    }

    /// Waits until `cond` holds, checking at the configured pace; after `limit` panics naming
    /// `what`, with the controller's status.
    pub async fn wait_for<F, Fut>(&self, what: &str, limit: Duration, cond: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let status = || format!("; controller status:{}", self.describe());
        wait_until(what, limit, self.poll, status, cond).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.fleet.stop();
    }
}
