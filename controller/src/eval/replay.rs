//! The replay through the real controller: a trace's load, minute by minute in virtual time
//! (a paused tokio clock), reported by simulated agents of SEs on the memory cloud, the
//! controller's own scaling decisions, and the connector calls they make. The demo and
//! `strato autoscale eval --engine controller` run it.

use crate::agent::{LoadModel, LocalTransport, SimFleet};
use crate::controller::{Controller, ControllerOptions};
use crate::forecast::policy::PredictivePolicy;
use crate::model::*;
use crate::store::MemoryStore;
use crate::trace::Trace;
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_core::{CloudConnector, CloudConnectorExt, OwnerId, Size, VmQuery};
use strato_memory::{MemoryConfig, MemoryConnector};

/// One minute of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Minutes since the start of the replay.
    pub minute: usize,
    /// Offered load, rps (`None` in a gap of the trace: the last value is held).
    pub offered_rps: Option<f64>,
    /// SEs the controller wants.
    pub desired: u32,
    /// SEs serving.
    pub healthy: usize,
    /// VMs of the group in the cloud.
    pub vms: usize,
}

/// What to replay and how.
#[derive(Clone, Debug)]
pub struct ReplaySpec {
    /// Minutes of the trace.
    pub minutes: usize,
    /// Load one SE serves at 100 % (the trace's unit times `load_scale`).
    pub per_se: f64,
    /// Most SEs of the group and of the service.
    pub max_ses: u32,
    /// Offered rps per trace unit.
    pub load_scale: f64,
    /// Median SE boot time of the memory cloud.
    pub boot: Duration,
    /// Boot times spread over `boot * (1 ± boot_jitter)`.
    pub boot_jitter: f64,
    /// How often agents report.
    pub report_interval: Duration,
    /// With `autoscale.predictive` (default policy), else reactive only.
    pub predictive: bool,
    /// Print a line per day replayed.
    pub progress: bool,
}

/// One replay through a fresh controller (call it in a runtime with a paused clock); returns
/// the samples and the VMs left in the cloud without a record.
pub async fn replay_controller(
    trace: &Trace,
    spec: &ReplaySpec,
) -> anyhow::Result<(Vec<Sample>, usize)> {
    let (samples, leaked, _) = replay_controller_kept(trace, spec).await?;
    Ok((samples, leaked))
}

/// [`replay_controller`], also returning the controller after the replay (its runner and
/// agents stopped, its state, history and events kept), for `controller demo --serve`.
pub async fn replay_controller_kept(
    trace: &Trace,
    spec: &ReplaySpec,
) -> anyhow::Result<(Vec<Sample>, usize, Controller)> {
    let minutes = spec.minutes;
    let settings = MemoryConfig {
        boot_latency: spec.boot,
        boot_jitter: spec.boot_jitter,
        ..MemoryConfig::default()
    };
    let cloud: Arc<dyn CloudConnector> = Arc::new(MemoryConnector::from_settings(
        settings,
        OwnerId::new("strato-demo")?,
    )?);
    let clouds = BTreeMap::from([("memory".to_owned(), cloud.clone())]);
    // Agents report every 15 s by default: fewer passes than the controller's 10 s, so eight
    // days replay twice in seconds, and still well inside the minute each sample is taken at.
    let ctl = Controller::new(
        Arc::new(MemoryStore::new()),
        clouds,
        ControllerOptions {
            report_interval: spec.report_interval,
            resync: spec.report_interval,
            ..ControllerOptions::default()
        },
    )
    .await?;
    let runner = tokio::spawn(ctl.clone().run(std::future::pending()));
    setup(&ctl, spec).await?;
    let load = Arc::new(LoadModel::new());
    let fleet = Arc::new(SimFleet::new(
        ctl.clone(),
        cloud.clone(),
        Arc::new(LocalTransport::new(ctl.clone())),
        load.clone(),
    ));
    let fleet_task = fleet.spawn(Duration::from_secs(7));
    // Warm up: the first SE and the VIP.
    for _ in 0..600 {
        if ctl
            .status()
            .vs("shuttle")
            .is_some_and(|v| v.bound_to.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The forecaster learns the trace's own times of day.
    ctl.set_unix_time(trace.start_unix);
    let policy = if spec.predictive {
        "predictive"
    } else {
        "reactive"
    };
    let mut samples = Vec::with_capacity(minutes);
    let mut last_value = 0.0;
    for minute in 0..minutes {
        let offset = minute as i64 * 60;
        let value = trace.at(offset - offset.rem_euclid(trace.step_secs));
        if let Some(v) = value {
            last_value = v;
        }
        let rps = last_value * spec.load_scale;
        load.set("shuttle", rps);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let s = ctl.status();
        let g = s.group("edge").context("group status")?;
        let vms = cloud
            .list_all_vms(&VmQuery {
                group: Some("edge".into()),
                ..Default::default()
            })
            .await?
            .len();
        if spec.progress && minute % 1440 == 1439 {
            println!(
                "demo: {policy}: day {} replayed, {} serving SEs",
                minute / 1440 + 1,
                g.healthy
            );
        }
        samples.push(Sample {
            minute,
            offered_rps: value.map(|v| v * spec.load_scale),
            desired: g.desired.unwrap_or(0),
            healthy: g.healthy,
            vms,
        });
    }
    fleet_task.abort();
    fleet.stop();
    runner.abort();
    // Whoever keeps the controller reads it on another clock: hold its unix time at the
    // replay's end (later instants of the paused clock are never reached there).
    ctl.set_unix_time(ctl.unix_now());
    // Leaks: VMs in the cloud without a record.
    let recorded: std::collections::HashSet<String> = ctl
        .status()
        .groups
        .iter()
        .flat_map(|g| g.ses.iter().map(|s| s.name.clone()))
        .collect();
    let leaked = cloud
        .list_all_vms(&VmQuery::default())
        .await?
        .iter()
        .filter(|v| !recorded.contains(&v.name))
        .count();
    Ok((samples, leaked, ctl))
}

/// The pool, zone, SE group and virtual service of the demo.
async fn setup(ctl: &Controller, spec: &ReplaySpec) -> anyhow::Result<()> {
    ctl.apply_ipam_pool(IpamPool {
        name: "vips".into(),
        network: DEFAULT_NETWORK.into(),
        cidr: "10.0.200.0/24".parse()?,
        reserved: vec![],
    })
    .await?;
    ctl.apply_dns_zone(DnsZone {
        name: "demo.example".into(),
        ttl: 30,
    })
    .await?;
    ctl.apply_se_group(SeGroup {
        name: "edge".into(),
        cloud: "memory".into(),
        template: SeTemplate {
            size: Size::shape(2, 4096),
            image: "se-2025.1".into(),
            network: None,
        },
        min_ses: 1,
        max_ses: spec.max_ses,
        capacity: SeCapacity {
            rps: spec.per_se,
            connections: 1_000_000,
        },
        ha: HaMode::Elastic { buffer: 0 },
        placement: Placement::default(),
        autoscale: AutoscalePolicy {
            predictive: spec.predictive.then(PredictivePolicy::default),
            ..AutoscalePolicy::default()
        },
        max_unavailable: 1,
        max_unhealthy: Share::default(),
        networks: Vec::new(),
    })
    .await?;
    ctl.apply_virtual_service(VirtualService {
        name: "shuttle".into(),
        fqdn: "shuttle.demo.example".into(),
        ports: vec![ServicePort {
            port: 443,
            protocol: Protocol::Https,
        }],
        servers: vec![Server {
            address: "192.168.10.11".parse()?,
            port: 8443,
            weight: 1,
        }],
        se_group: "edge".into(),
        min_ses: 1,
        max_ses: spec.max_ses,
        vip: None,
        algorithm: Default::default(),
        network: None,
        server_networks: Vec::new(),
    })
    .await?;
    Ok(())
}
