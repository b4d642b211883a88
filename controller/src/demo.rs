//! The demo: the controller on the memory cloud serving one virtual service whose load replays
//! eight days of the bundled NASA-HTTP trace through simulated agents, at accelerated time (a
//! paused tokio clock in a runtime of its own, so days of trace take seconds). It runs twice,
//! with predictive and with reactive autoscaling, each through the real controller (reports,
//! scaling decisions, connector calls), and shows the last day side by side: the predictive
//! run has learned the days before and boots SEs ahead of the morning ramp. It writes a CSV,
//! an SVG plot and a JSON summary.

use crate::agent::{LoadModel, LocalTransport, SimFleet};
use crate::controller::{Controller, ControllerOptions};
use crate::eval::{Tick, metrics};
use crate::forecast::policy::PredictivePolicy;
use crate::model::*;
use crate::store::MemoryStore;
use crate::trace::{NASA_1995_07_05_12, Trace};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use strato_core::{CloudConnector, CloudConnectorExt, OwnerId, Size, VmQuery};
use strato_memory::{MemoryConfig, MemoryConnector};

mod plot;
mod report;

/// Options of the demo.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoOptions {
    /// Where the CSV, SVG and summary go.
    #[arg(long, default_value = "strato-demo")]
    pub out: PathBuf,
    /// Days of the trace to replay (at most its 8); the last is the one compared.
    #[arg(long, default_value_t = 8)]
    pub days: usize,
    /// Requests per second one SE serves at 100 %.
    #[arg(long, default_value_t = 25.0)]
    pub rps_per_se: f64,
    /// Offered rps per trace unit (the trace counts requests per minute).
    #[arg(long, default_value_t = 1.0)]
    pub load_scale: f64,
    /// SE boot time of the memory cloud.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    pub boot: Duration,
    /// How often the simulated agents report (the controller decides on the reports of the
    /// last two intervals).
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub report_interval: Duration,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            out: "strato-demo".into(),
            days: 8,
            rps_per_se: 25.0,
            load_scale: 1.0,
            boot: Duration::from_secs(180),
            report_interval: Duration::from_secs(15),
            quiet: false,
        }
    }
}

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

/// One policy's run, scored on the last day.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// `predictive` or `reactive`.
    pub policy: String,
    /// Most serving SEs seen on the last day.
    pub max_ses: usize,
    /// Times the desired count went up on the last day.
    pub scale_outs: usize,
    /// Times it went down.
    pub scale_ins: usize,
    /// Minutes of the last day in which the load exceeded the serving SEs' capacity.
    pub under_minutes: f64,
    /// SE-hours of the last day (serving and booting).
    pub se_hours: f64,
    /// Serving SEs when the morning ramp began, and how many it needed.
    pub ramp_ready: (u32, u32),
    /// Minutes the needed capacity was serving before the ramp (negative: late).
    pub ramp_lead_min: f64,
    /// VMs left in the cloud that the controller has no record of (must be 0).
    pub leaked_vms: usize,
}

/// What the demo did.
#[derive(Clone, Debug, Serialize)]
pub struct DemoSummary {
    /// Days replayed.
    pub days: usize,
    /// Highest offered load of the last day, rps.
    pub peak_rps: f64,
    /// Wall-clock time of the morning ramp of the last day (`HH:MM`).
    pub ramp_at: Option<String>,
    /// The predictive run.
    pub predictive: RunSummary,
    /// The reactive run.
    pub reactive: RunSummary,
    /// Wall-clock seconds both replays took.
    pub wall_secs: f64,
    /// The CSV file.
    pub csv: PathBuf,
    /// The SVG plot.
    pub svg: PathBuf,
    /// The JSON summary.
    pub summary: PathBuf,
}

/// Runs the demo (see the module docs).
pub async fn demo(opts: DemoOptions) -> anyhow::Result<DemoSummary> {
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()?;
        rt.block_on(compare(opts))
    })
    .await
    .context("demo task")?
}

async fn compare(opts: DemoOptions) -> anyhow::Result<DemoSummary> {
    let wall = std::time::Instant::now();
    let trace = Trace::parse(NASA_1995_07_05_12)?;
    let days = opts.days.clamp(1, (trace.span_secs() / 86_400) as usize);
    let minutes = days * 1440;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let (pred, pred_leaked) = replay(&opts, &trace, minutes, true).await?;
    let (reac, reac_leaked) = replay(&opts, &trace, minutes, false).await?;

    // The last day, scored as the evaluation scores a policy.
    let last = minutes - 1440;
    let day_start = trace.start_unix + last as i64 * 60;
    let ticks = |s: &[Sample]| -> Vec<Tick> {
        s[last..]
            .iter()
            .map(|s| Tick {
                t: (s.minute - last) as i64 * 60,
                load: s.offered_rps,
                desired: s.desired,
                ready: s.healthy as u32,
                existing: s.vms as u32,
                forecast: None,
            })
            .collect()
    };
    let (tp, tr) = (ticks(&pred), ticks(&reac));
    let ramps = metrics::ramps(&tp, 60, day_start);
    let summarise = |policy: &str, t: &[Tick], leaked_vms: usize| {
        let m = metrics::score(t, 60, opts.rps_per_se, &ramps);
        let ramp_ready = ramps.first().map_or((0, 0), |&r| {
            let need = crate::forecast::policy::ses_for(t[r].load.unwrap_or(0.0), opts.rps_per_se);
            (t[r].ready, need)
        });
        let changes = |up: bool| {
            t.windows(2)
                .filter(|w| {
                    if up {
                        w[1].desired > w[0].desired
                    } else {
                        w[1].desired < w[0].desired
                    }
                })
                .count()
        };
        RunSummary {
            policy: policy.into(),
            max_ses: t.iter().map(|t| t.ready as usize).max().unwrap_or(0),
            scale_outs: changes(true),
            scale_ins: changes(false),
            under_minutes: m.under_minutes,
            se_hours: m.se_hours,
            ramp_ready,
            ramp_lead_min: m.ramp_lead_min,
            leaked_vms,
        }
    };
    let predictive = summarise("predictive", &tp, pred_leaked);
    let reactive = summarise("reactive", &tr, reac_leaked);

    let csv = opts.out.join("demo.csv");
    let mut text = String::from(
        "minute,offered_rps,predictive_desired,predictive_serving,reactive_desired,reactive_serving\n",
    );
    for (p, r) in pred.iter().zip(&reac) {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{}",
            p.minute,
            p.offered_rps.map_or(String::new(), |v| format!("{v:.1}")),
            p.desired,
            p.healthy,
            r.desired,
            r.healthy
        );
    }
    std::fs::write(&csv, text)?;
    let svg = opts.out.join("demo.svg");
    plot::write(&svg, &tp, &tr, opts.rps_per_se)?;
    let summary_path = opts.out.join("summary.json");
    let summary = DemoSummary {
        days,
        peak_rps: tp.iter().filter_map(|t| t.load).fold(0.0, f64::max),
        ramp_at: ramps
            .first()
            .map(|r| format!("{:02}:{:02}", r / 60, r % 60)),
        predictive,
        reactive,
        wall_secs: wall.elapsed().as_secs_f64(),
        csv,
        svg,
        summary: summary_path.clone(),
    };
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)?)?;
    if !opts.quiet {
        print!("{}", report::render(&summary, &tp, &tr));
    }
    Ok(summary)
}

/// One replay through a fresh controller; returns the samples and the leaked VMs.
async fn replay(
    opts: &DemoOptions,
    trace: &Trace,
    minutes: usize,
    predictive: bool,
) -> anyhow::Result<(Vec<Sample>, usize)> {
    let settings = MemoryConfig {
        boot_latency: opts.boot,
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
            report_interval: opts.report_interval,
            resync: opts.report_interval,
            ..ControllerOptions::default()
        },
    )
    .await?;
    let runner = tokio::spawn(ctl.clone().run(std::future::pending()));
    setup(&ctl, opts, predictive).await?;
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
    let policy = if predictive { "predictive" } else { "reactive" };
    let mut samples = Vec::with_capacity(minutes);
    let mut last_value = 0.0;
    for minute in 0..minutes {
        let offset = minute as i64 * 60;
        let value = trace.at(offset - offset.rem_euclid(trace.step_secs));
        if let Some(v) = value {
            last_value = v;
        }
        let rps = last_value * opts.load_scale;
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
        if !opts.quiet && minute % 1440 == 1439 {
            println!(
                "demo: {policy}: day {} replayed, {} serving SEs",
                minute / 1440 + 1,
                g.healthy
            );
        }
        samples.push(Sample {
            minute,
            offered_rps: value.map(|v| v * opts.load_scale),
            desired: g.desired.unwrap_or(0),
            healthy: g.healthy,
            vms,
        });
    }
    fleet_task.abort();
    fleet.stop();
    runner.abort();
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
    Ok((samples, leaked))
}

/// The pool, zone, SE group and virtual service of the demo.
async fn setup(ctl: &Controller, opts: &DemoOptions, predictive: bool) -> anyhow::Result<()> {
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
        max_ses: 30,
        capacity: SeCapacity {
            rps: opts.rps_per_se,
            connections: 1_000_000,
        },
        ha: HaMode::Elastic { buffer: 0 },
        placement: Placement::default(),
        autoscale: AutoscalePolicy {
            predictive: predictive.then(PredictivePolicy::default),
            ..AutoscalePolicy::default()
        },
        max_unavailable: 1,
        max_unhealthy: Share::default(),
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
        max_ses: 30,
        vip: None,
    })
    .await?;
    Ok(())
}
