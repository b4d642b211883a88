//! Shared harness of the end-to-end tests: the real controller on the memory cloud, with
//! simulated agents, at paused (accelerated) tokio time.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use strato_controller::agent::{LoadModel, LocalTransport, SimFleet};
use strato_controller::model::*;
use strato_controller::store::{MemoryStore, StateStore};
use strato_controller::{Controller, ControllerOptions, ControllerStatus};
use strato_core::layers::{Around, Call, Layered};
use strato_core::{
    CloudConnector, CloudConnectorExt, CloudInfo, Error, ErrorKind, Operation, OwnerId, Size, Vm,
    VmQuery,
};
use strato_memory::{MemoryCloud, MemorySettings};
use tokio::task::JoinHandle;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// An owner id unique to this test.
pub fn owner() -> OwnerId {
    OwnerId::new(format!(
        "ctl{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
    .unwrap()
}

/// A memory cloud with a short boot latency.
pub fn memory_cloud(owner: &OwnerId) -> MemoryCloud {
    let settings = MemorySettings {
        boot_latency: Duration::from_secs(3),
        ..MemorySettings::default()
    };
    MemoryCloud::from_settings(settings, owner.clone()).unwrap()
}

/// Makes `list_vms` fail as throttled while the switch is on (a cloud that throttles reads).
#[derive(Debug, Clone, Default)]
pub struct ThrottleReads(pub Arc<AtomicBool>);

impl Around for ThrottleReads {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> futures::future::BoxFuture<'a, strato_core::Result<T>> {
        Box::pin(async move {
            if op == Operation::ListVms && self.0.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Throttled {
                        retry_after: Some(Duration::from_secs(1)),
                    },
                    op,
                    "test: reads are throttled",
                ));
            }
            call().await
        })
    }
}

pub fn group(name: &str, min: u32, max: u32) -> SeGroup {
    SeGroup {
        name: name.into(),
        cloud: "mem".into(),
        template: SeTemplate {
            size: Size::shape(2, 4096),
            image: "se-1".into(),
            network: None,
        },
        min_ses: min,
        max_ses: max,
        capacity: SeCapacity {
            rps: 100.0,
            connections: 100_000,
        },
        ha: HaMode::Elastic { buffer: 0 },
        placement: Placement::default(),
        autoscale: AutoscalePolicy {
            target_utilisation: 0.5,
            tolerance: 0.1,
            scale_down_window: Duration::from_secs(60),
        },
    }
}

pub fn vs(name: &str, group: &str) -> VirtualService {
    VirtualService {
        name: name.into(),
        fqdn: format!("{name}.apps.example.com"),
        ports: vec![ServicePort {
            port: 80,
            protocol: Protocol::Http,
        }],
        members: vec![Member {
            address: "192.168.1.10".parse().unwrap(),
            port: 8080,
            weight: 1,
        }],
        se_group: group.into(),
        min_ses: 1,
        max_ses: 10,
        vip: None,
    }
}

pub fn pool() -> IpamPool {
    IpamPool {
        name: "vips".into(),
        network: DEFAULT_NETWORK.into(),
        cidr: "10.0.200.0/24".parse().unwrap(),
        reserved: vec![IpRange {
            start: "10.0.200.1".parse().unwrap(),
            end: "10.0.200.9".parse().unwrap(),
        }],
    }
}

/// A running controller with its simulated agents.
pub struct Harness {
    pub ctl: Controller,
    pub cloud: Arc<dyn CloudConnector>,
    pub store: Arc<dyn StateStore>,
    pub fleet: Arc<SimFleet>,
    pub load: Arc<LoadModel>,
    tasks: Vec<JoinHandle<()>>,
}

impl Harness {
    pub async fn start(cloud: Arc<dyn CloudConnector>, store: Arc<dyn StateStore>) -> Self {
        Self::start_with(cloud, store, Arc::new(LoadModel::new())).await
    }

    pub async fn start_with(
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> Self {
        let clouds = BTreeMap::from([("mem".to_owned(), cloud.clone())]);
        let ctl = Controller::new(store.clone(), clouds, ControllerOptions::default())
            .await
            .unwrap();
        let runner = tokio::spawn(ctl.clone().run(std::future::pending()));
        let fleet = Arc::new(SimFleet::new(
            ctl.clone(),
            cloud.clone(),
            Arc::new(LocalTransport::new(ctl.clone())),
            load.clone(),
        ));
        let ft = fleet.spawn(Duration::from_secs(1));
        Self {
            ctl,
            cloud,
            store,
            fleet,
            load,
            tasks: vec![runner, ft],
        }
    }

    /// Stops the controller and its agents (a crash: nothing is cleaned up).
    pub fn crash(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.fleet.stop();
    }

    pub fn status(&self) -> ControllerStatus {
        self.ctl.status()
    }

    /// The owned VMs of a group in the cloud.
    pub async fn vms(&self, group: &str) -> Vec<Vm> {
        self.cloud
            .list_all_vms(&VmQuery {
                group: Some(group.into()),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    /// Healthy SEs of a group.
    pub fn healthy(&self, group: &str) -> usize {
        self.status().group(group).map_or(0, |g| g.healthy)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Waits (in paused time) until `cond` holds, checking every second; panics after `limit`.
pub async fn wait_for<F: FnMut() -> Fut, Fut: Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut cond: F,
) {
    let start = tokio::time::Instant::now();
    loop {
        if cond().await {
            return;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub fn memory_store() -> Arc<dyn StateStore> {
    Arc::new(MemoryStore::new())
}

pub fn layered(cloud: MemoryCloud, switch: ThrottleReads) -> Arc<dyn CloudConnector> {
    Layered::wrap(Arc::new(cloud), switch)
}
