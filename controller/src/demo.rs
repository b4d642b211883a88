//! The demo: the controller on the memory cloud serving one virtual service whose load replays
//! the bundled NASA-HTTP trace through simulated agents, at accelerated time (a paused tokio
//! clock in a runtime of its own, so twelve hours of trace take seconds). It prints a line
//! whenever the SE count changes and writes a CSV, an SVG plot and a JSON summary.

use crate::agent::{LoadModel, LocalTransport, SimFleet};
use crate::controller::{Controller, ControllerOptions};
use crate::model::*;
use crate::store::MemoryStore;
use crate::trace::{NASA_1995_07_13, Trace};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use strato_core::{CloudConnector, CloudConnectorExt, OwnerId, Size, VmQuery};
use strato_memory::{MemoryConfig, MemoryConnector};

/// Options of the demo.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoOptions {
    /// Where the CSV, SVG and summary go.
    #[arg(long, default_value = "strato-demo")]
    pub out: PathBuf,
    /// Minutes of the trace to replay (at most its 720).
    #[arg(long, default_value_t = 720)]
    pub minutes: usize,
    /// Requests per second one SE serves at 100 %.
    #[arg(long, default_value_t = 100.0)]
    pub rps_per_se: f64,
    /// Offered rps per trace unit (the trace counts requests per minute).
    #[arg(long, default_value_t = 1.0)]
    pub load_scale: f64,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            out: "strato-demo".into(),
            minutes: 720,
            rps_per_se: 100.0,
            load_scale: 1.0,
            quiet: false,
        }
    }
}

/// One minute of the replay.
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

/// What the demo did.
#[derive(Clone, Debug, Serialize)]
pub struct DemoSummary {
    /// Minutes replayed.
    pub minutes: usize,
    /// Highest offered load, rps.
    pub peak_rps: f64,
    /// Fewest and most serving SEs seen.
    pub min_ses: usize,
    /// Most serving SEs seen.
    pub max_ses: usize,
    /// Serving SEs at the end.
    pub final_ses: usize,
    /// Times the desired count went up.
    pub scale_outs: usize,
    /// Times the desired count went down.
    pub scale_ins: usize,
    /// Minutes in which some SE was over 100 % of its capacity.
    pub overloaded_minutes: usize,
    /// VMs left in the cloud that the controller has no record of (must be 0).
    pub leaked_vms: usize,
    /// Wall-clock seconds the replay took.
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
        rt.block_on(replay(opts))
    })
    .await
    .context("demo task")?
}

async fn replay(opts: DemoOptions) -> anyhow::Result<DemoSummary> {
    let wall = std::time::Instant::now();
    let trace = Trace::parse(NASA_1995_07_13)?;
    let minutes = opts.minutes.min(trace.points.len());
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;

    let settings = MemoryConfig {
        boot_latency: Duration::from_secs(30),
        ..MemoryConfig::default()
    };
    let cloud: Arc<dyn CloudConnector> = Arc::new(MemoryConnector::from_settings(
        settings,
        OwnerId::new("strato-demo")?,
    )?);
    let clouds = BTreeMap::from([("memory".to_owned(), cloud.clone())]);
    let ctl = Controller::new(
        Arc::new(MemoryStore::new()),
        clouds,
        ControllerOptions::default(),
    )
    .await?;
    let runner = tokio::spawn(ctl.clone().run(std::future::pending()));
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
        max_ses: 12,
        capacity: SeCapacity {
            rps: opts.rps_per_se,
            connections: 1_000_000,
        },
        ha: HaMode::Elastic { buffer: 0 },
        placement: Placement::default(),
        autoscale: AutoscalePolicy {
            target_utilisation: 0.6,
            tolerance: 0.1,
            scale_down_window: Duration::from_secs(300),
            predictive: None,
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
        max_ses: 12,
        vip: None,
    })
    .await?;
    let load = Arc::new(LoadModel::new());
    let fleet = Arc::new(SimFleet::new(
        ctl.clone(),
        cloud.clone(),
        Arc::new(LocalTransport::new(ctl.clone())),
        load.clone(),
    ));
    let fleet_task = fleet.spawn(Duration::from_secs(5));

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
    if !opts.quiet {
        let v = ctl.status().vs("shuttle").cloned();
        println!(
            "demo: virtual service shuttle.demo.example has VIP {} on {}",
            v.as_ref()
                .and_then(|v| v.address)
                .map_or("-".into(), |a| a.to_string()),
            v.and_then(|v| v.bound_to).unwrap_or_default()
        );
    }

    let mut samples = Vec::with_capacity(minutes);
    let mut last_value = 0.0;
    let mut last_desired = None;
    let (mut outs, mut ins, mut overloaded) = (0, 0, 0);
    for (minute, (offset, _)) in trace.points.iter().enumerate().take(minutes) {
        let value = trace.at(*offset);
        if let Some(v) = value {
            last_value = v;
        }
        let rps = last_value * opts.load_scale;
        load.set("shuttle", rps);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let s = ctl.status();
        let g = s.group("edge").context("group status")?;
        let desired = g.desired.unwrap_or(0);
        let vms = cloud
            .list_all_vms(&VmQuery {
                group: Some("edge".into()),
                ..Default::default()
            })
            .await?
            .len();
        if g.healthy > 0 && rps / g.healthy as f64 > opts.rps_per_se {
            overloaded += 1;
        }
        if let Some(prev) = last_desired {
            if desired > prev {
                outs += 1;
            } else if desired < prev {
                ins += 1;
            }
            if desired != prev && !opts.quiet {
                println!(
                    "demo: minute {minute:>3} ({}): offered {rps:>6.1} rps -> {} SEs {} -> {desired} ({} serving)",
                    clock(minute),
                    if desired > prev {
                        "scale out"
                    } else {
                        "scale in "
                    },
                    prev,
                    g.healthy
                );
            }
        }
        last_desired = Some(desired);
        if !opts.quiet && minute % 60 == 0 {
            println!(
                "demo: minute {minute:>3} ({}): offered {rps:>6.1} rps, {} serving SEs, {vms} VMs",
                clock(minute),
                g.healthy
            );
        }
        samples.push(Sample {
            minute,
            offered_rps: value.map(|v| v * opts.load_scale),
            desired,
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
    let leaked_vms = cloud
        .list_all_vms(&VmQuery::default())
        .await?
        .iter()
        .filter(|v| !recorded.contains(&v.name))
        .count();

    let csv = opts.out.join("demo.csv");
    let mut text = String::from("minute,offered_rps,desired_ses,serving_ses,vms\n");
    for s in &samples {
        let _ = writeln!(
            text,
            "{},{},{},{},{}",
            s.minute,
            s.offered_rps.map_or(String::new(), |v| format!("{v:.1}")),
            s.desired,
            s.healthy,
            s.vms
        );
    }
    std::fs::write(&csv, text)?;
    let svg = opts.out.join("demo.svg");
    std::fs::write(&svg, plot(&samples, opts.rps_per_se))?;
    let summary_path = opts.out.join("summary.json");
    let serving: Vec<usize> = samples.iter().map(|s| s.healthy).collect();
    let summary = DemoSummary {
        minutes,
        peak_rps: samples
            .iter()
            .filter_map(|s| s.offered_rps)
            .fold(0.0, f64::max),
        min_ses: serving.iter().copied().min().unwrap_or(0),
        max_ses: serving.iter().copied().max().unwrap_or(0),
        final_ses: serving.last().copied().unwrap_or(0),
        scale_outs: outs,
        scale_ins: ins,
        overloaded_minutes: overloaded,
        leaked_vms,
        wall_secs: wall.elapsed().as_secs_f64(),
        csv,
        svg,
        summary: summary_path.clone(),
    };
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)?)?;
    if !opts.quiet {
        println!(
            "demo: {} minutes in {:.1}s: peak {:.0} rps, SEs {}..{}, {} scale-outs, {} scale-ins, {} overloaded minutes; wrote {}, {}, {}",
            summary.minutes,
            summary.wall_secs,
            summary.peak_rps,
            summary.min_ses,
            summary.max_ses,
            summary.scale_outs,
            summary.scale_ins,
            summary.overloaded_minutes,
            summary.csv.display(),
            summary.svg.display(),
            summary.summary.display()
        );
    }
    Ok(summary)
}

/// Wall-clock time of the trace at `minute` (the slice starts at 04:00).
fn clock(minute: usize) -> String {
    let m = 4 * 60 + minute;
    format!("{:02}:{:02}", (m / 60) % 24, m % 60)
}

/// An SVG with the offered load (line, left axis) and the serving SEs (steps, right axis).
fn plot(samples: &[Sample], rps_per_se: f64) -> String {
    let (w, h, pad) = (960.0, 400.0, 50.0);
    let n = samples.len().max(2) as f64;
    let max_rps = samples
        .iter()
        .filter_map(|s| s.offered_rps)
        .fold(1.0, f64::max);
    let max_se = samples
        .iter()
        .map(|s| s.healthy.max(s.desired as usize))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let top = max_rps.max(max_se * rps_per_se);
    let x = |i: f64| pad + i / (n - 1.0) * (w - 2.0 * pad);
    let y = |v: f64| h - pad - v / top * (h - 2.0 * pad);
    let mut load = String::new();
    for s in samples {
        if let Some(v) = s.offered_rps {
            let _ = write!(load, "{:.1},{:.1} ", x(s.minute as f64), y(v));
        }
    }
    let mut ses = String::new();
    let mut capacity = String::new();
    for (i, s) in samples.iter().enumerate() {
        let xi = x(i as f64);
        let xn = x((i + 1).min(samples.len() - 1) as f64);
        let c = s.healthy as f64 * rps_per_se;
        let _ = write!(ses, "{xi:.1},{:.1} {xn:.1},{:.1} ", y(c), y(c));
        let _ = write!(capacity, "{xi:.1},{:.1} ", y(c * 0.6));
    }
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20">strato controller demo: NASA-HTTP 1995-07-13 04:00-16:00, load (blue) vs serving SE capacity (orange; dashed: 60% target)</text>
<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/>
<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="black"/>
"##,
        b = h - pad,
        r = w - pad
    );
    for k in 0..=4 {
        let v = top * k as f64 / 4.0;
        let _ = writeln!(out, r#"<text x="5" y="{:.1}">{v:.0}</text>"#, y(v) + 4.0);
    }
    for hr in 0..=12 {
        let i = (hr * 60) as f64;
        if i < n {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}">{:02}:00</text>"#,
                x(i) - 15.0,
                h - pad + 18.0,
                4 + hr
            );
        }
    }
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="steelblue" stroke-width="1.5" points="{load}"/>"#
    );
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="darkorange" stroke-width="2" points="{ses}"/>"#
    );
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="darkorange" stroke-dasharray="4 3" points="{capacity}"/>"#
    );
    out.push_str("</svg>\n");
    out
}
