//! The demo: the controller on the memory cloud serving one virtual service whose load replays
//! eight days of the bundled NASA-HTTP trace through simulated agents, at accelerated time (a
//! paused tokio clock in a runtime of its own, so days of trace take seconds). It runs twice,
//! with predictive and with reactive autoscaling, each through the real controller (reports,
//! scaling decisions, connector calls), and shows the last day side by side: the predictive
//! run has learned the days before and boots SEs ahead of the morning ramp. It writes a CSV,
//! an SVG plot and a JSON summary.

use crate::controller::Controller;
use crate::eval::replay::{ReplaySpec, Sample, replay_controller, replay_controller_kept};
use crate::eval::{Tick, metrics};
use crate::trace::{NASA_1995_07_05_12, Trace};
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

mod plot;
mod report;
pub mod serve;

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
    /// After the replay, keep the predictive run's controller serving its API and web console
    /// (its history and events of the replayed days) until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Where `--serve` listens (a loopback address: the demo is for this machine).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
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
            serve: false,
            listen: ([127, 0, 0, 1], 8080).into(),
        }
    }
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
    Ok(demo_kept(opts).await?.0)
}

/// Runs the demo and returns the predictive run's controller too, stopped after the replay
/// with its state, history and events (what `--serve` serves).
pub async fn demo_kept(opts: DemoOptions) -> anyhow::Result<(DemoSummary, Controller)> {
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

async fn compare(opts: DemoOptions) -> anyhow::Result<(DemoSummary, Controller)> {
    let wall = std::time::Instant::now();
    let trace = Trace::parse(NASA_1995_07_05_12)?;
    let days = opts.days.clamp(1, (trace.span_secs() / 86_400) as usize);
    let minutes = days * 1440;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let spec = |predictive| ReplaySpec {
        minutes,
        per_se: opts.rps_per_se,
        max_ses: 30,
        load_scale: opts.load_scale,
        boot: opts.boot,
        boot_jitter: 0.2,
        report_interval: opts.report_interval,
        predictive,
        progress: !opts.quiet,
    };
    let (pred, pred_leaked, ctl) = replay_controller_kept(&trace, &spec(true)).await?;
    let (reac, reac_leaked) = replay_controller(&trace, &spec(false)).await?;

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
    Ok((summary, ctl))
}
