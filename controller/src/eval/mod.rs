//! `strato autoscale eval`: replays a load trace under each autoscaling policy and scores them
//! against the oracle (what each interval needs, with no boot time), so a policy is judged on
//! real traffic rather than on how it reads.

pub mod metrics;
pub mod plot;
pub mod replay;
pub mod sim;

use crate::forecast::policy::PredictivePolicy;
use crate::model::AutoscalePolicy;
use crate::trace::Trace;
use anyhow::Context;
pub use metrics::Metrics;
use serde::Serialize;
pub use sim::{PolicyKind, SimConfig, Tick};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Which policies to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// Every policy.
    All,
    /// max(reactive, forecast).
    Predictive,
    /// The controller's reactive path.
    Reactive,
    /// Seasonal-naive upper quantile.
    SeasonalNaive,
    /// The peak, always.
    Static,
    /// Exactly the need, no lag.
    Oracle,
}

/// What replays the predictive and reactive policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The controller's decision code (autoscaler, forecaster, stabiliser) on a simulated
    /// fleet whose boot times vary: about a second a trace, so curves are cheap.
    Fast,
    /// The whole controller on the memory cloud ([`replay::replay_controller`]): agents'
    /// reports, reconcile passes, connector calls, boot times spread as `--boot-jitter` says. About 15 s per month of
    /// trace and policy in a release build.
    Controller,
}

/// Options of `strato autoscale eval`.
#[derive(Clone, Debug, clap::Args)]
pub struct EvalOptions {
    /// CSV with the header `timestamp,value` (`YYYY-MM-DD HH:MM:SS`); missing rows are gaps.
    #[arg(long)]
    pub trace: PathBuf,
    /// Policy to run, or all of them.
    #[arg(long, value_enum, default_value = "all")]
    pub policy: PolicyArg,
    /// An SE is sized so that the trace's peak needs this many.
    #[arg(long, default_value_t = 20)]
    pub peak_ses: u32,
    /// Median SE boot time.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    pub boot: Duration,
    /// Boot times spread over boot * (1 ± jitter).
    #[arg(long, default_value_t = 0.2)]
    pub boot_jitter: f64,
    /// Margin of the predictive forecast over its quantile (fraction).
    #[arg(long, default_value_t = PredictivePolicy::default().forecast.margin)]
    pub margin: f64,
    /// Upper quantile of the forecasters.
    #[arg(long, default_value_t = PredictivePolicy::default().forecast.quantile)]
    pub quantile: f64,
    /// Target utilisation of the reactive path inside the predictive policy.
    #[arg(long, default_value_t = PredictivePolicy::default().reactive_target)]
    pub reactive_target: f64,
    /// Also print the trade-off curve: the predictive policy at these margins.
    #[arg(long, value_delimiter = ',')]
    pub curve: Vec<f64>,
    /// What replays predictive and reactive (the other policies need no controller).
    #[arg(long, value_enum, default_value = "fast")]
    pub engine: Engine,
    /// Where the plot goes (SVG).
    #[arg(long, default_value = "autoscale-eval.svg")]
    pub plot: PathBuf,
}

/// One policy's result.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyResult {
    /// Its name.
    pub policy: &'static str,
    /// Its scores.
    pub metrics: Metrics,
    /// SE-hours over the oracle's.
    pub vs_oracle: f64,
    #[serde(skip)]
    /// The replay.
    pub ticks: Vec<Tick>,
}

/// What an evaluation found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Days in the trace.
    pub days: f64,
    /// Load one SE serves.
    pub per_se: f64,
    /// SEs the peak needs.
    pub peak_ses: u32,
    /// Median boot time, seconds.
    pub boot_secs: u64,
    /// Boot times spread over `boot_secs * (1 ± boot_jitter)`.
    pub boot_jitter: f64,
    /// Seconds per tick.
    pub tick_secs: i64,
    /// What replayed predictive and reactive.
    pub engine: &'static str,
    /// Per policy.
    pub results: Vec<PolicyResult>,
    /// (margin, under-provisioned %, SE-hours vs oracle) of the predictive policy.
    pub curve: Vec<(f64, f64, f64)>,
}

/// The simulation settings the options give for a trace.
pub fn sim_config(trace: &Trace, opts: &EvalOptions) -> SimConfig {
    let mut predictive = PredictivePolicy::default();
    predictive.forecast.margin = opts.margin;
    predictive.forecast.quantile = opts.quantile;
    predictive.reactive_target = opts.reactive_target;
    SimConfig {
        per_se: (trace.peak() / f64::from(opts.peak_ses.max(1))).max(f64::MIN_POSITIVE),
        max_ses: opts.peak_ses.max(1),
        min_ses: 1,
        boot: opts.boot,
        boot_jitter: opts.boot_jitter,
        autoscale: AutoscalePolicy::default(),
        predictive,
        seed: 7,
    }
}

/// Runs the evaluation on a parsed trace.
pub fn evaluate(trace: &Trace, opts: &EvalOptions) -> Report {
    let cfg = sim_config(trace, opts);
    let ts = sim::tick_secs(trace);
    // The controller replays minute by minute.
    let opts = &EvalOptions {
        engine: if ts == 60 { opts.engine } else { Engine::Fast },
        ..opts.clone()
    };
    let kinds: Vec<PolicyKind> = match opts.policy {
        PolicyArg::All => PolicyKind::ALL.to_vec(),
        PolicyArg::Predictive => vec![PolicyKind::Predictive],
        PolicyArg::Reactive => vec![PolicyKind::Reactive],
        PolicyArg::SeasonalNaive => vec![PolicyKind::SeasonalNaive],
        PolicyArg::Static => vec![PolicyKind::Static],
        PolicyArg::Oracle => vec![PolicyKind::Oracle],
    };
    let oracle = sim::replay(trace, PolicyKind::Oracle, &cfg);
    let ramps = metrics::ramps(&oracle, ts, trace.start_unix);
    let oracle_hours = metrics::score(&oracle, ts, cfg.per_se, &ramps).se_hours;
    let result = |kind: PolicyKind, cfg: &SimConfig| {
        let whole = opts.engine == Engine::Controller
            && matches!(kind, PolicyKind::Predictive | PolicyKind::Reactive);
        let ticks = if kind == PolicyKind::Oracle {
            oracle.clone()
        } else if whole {
            controller_ticks(trace, kind, cfg, oracle.len())
        } else {
            sim::replay(trace, kind, cfg)
        };
        let m = metrics::score(&ticks, ts, cfg.per_se, &ramps);
        PolicyResult {
            policy: kind.name(),
            vs_oracle: m.se_hours / oracle_hours.max(f64::MIN_POSITIVE),
            metrics: m,
            ticks,
        }
    };
    let results = kinds.iter().map(|k| result(*k, &cfg)).collect();
    let curve = opts
        .curve
        .iter()
        .map(|&margin| {
            let mut c = cfg.clone();
            c.predictive.forecast.margin = margin;
            let r = result(PolicyKind::Predictive, &c);
            (margin, r.metrics.under_pct, r.vs_oracle)
        })
        .collect();
    let known = oracle.iter().filter(|t| t.load.is_some()).count();
    Report {
        days: known as f64 * ts as f64 / 86_400.0,
        per_se: cfg.per_se,
        peak_ses: cfg.max_ses,
        boot_secs: cfg.boot.as_secs(),
        boot_jitter: cfg.boot_jitter,
        tick_secs: ts,
        engine: match opts.engine {
            Engine::Fast => "the controller's decision code on a simulated fleet",
            Engine::Controller => "the whole controller on the memory cloud",
        },
        results,
        curve,
    }
}

/// A replay through the whole controller, in a paused runtime of its own (on its own thread, so
/// that it can be called from inside another runtime), as ticks of a minute.
fn controller_ticks(trace: &Trace, kind: PolicyKind, cfg: &SimConfig, ticks: usize) -> Vec<Tick> {
    let spec = replay::ReplaySpec {
        minutes: ticks,
        per_se: cfg.per_se,
        max_ses: cfg.max_ses,
        load_scale: 1.0,
        boot: cfg.boot,
        boot_jitter: cfg.boot_jitter,
        report_interval: Duration::from_secs(15),
        predictive: kind == PolicyKind::Predictive,
        progress: false,
    };
    let trace = trace.clone();
    let run = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .ok()?;
        rt.block_on(replay::replay_controller(&trace, &spec)).ok()
    });
    let samples = run
        .join()
        .ok()
        .flatten()
        .map(|(s, _)| s)
        .unwrap_or_default();
    samples
        .iter()
        .map(|s| Tick {
            t: s.minute as i64 * 60,
            load: s.offered_rps,
            desired: s.desired,
            ready: s.healthy as u32,
            existing: s.vms as u32,
            forecast: None,
        })
        .collect()
}

/// Reads, evaluates, prints and plots; returns the printed text.
pub fn run(opts: &EvalOptions) -> anyhow::Result<(Report, String)> {
    let text = std::fs::read_to_string(&opts.trace)
        .with_context(|| format!("reading {}", opts.trace.display()))?;
    let trace = Trace::parse(&text).with_context(|| format!("parsing {}", opts.trace.display()))?;
    let report = evaluate(&trace, opts);
    let title = format!(
        "{}: load and serving SEs, last 7 days",
        opts.trace
            .file_name()
            .map_or("trace".into(), |n| n.to_string_lossy())
    );
    plot::write(&opts.plot, &report, &title)?;
    let mut out = render(&report, &opts.trace.display().to_string());
    let _ = writeln!(out, "plot: {}", opts.plot.display());
    Ok((report, out))
}

/// The report as the command prints it.
pub fn render(r: &Report, name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {name}: {:.1} days, one SE serves {:.1} per interval (the peak needs {} SEs), \
         SE boot time {}s ±{:.0}%, decisions every {}s; predictive and reactive replayed by {}",
        r.days,
        r.per_se,
        r.peak_ses,
        r.boot_secs,
        r.boot_jitter * 100.0,
        r.tick_secs,
        r.engine
    );
    let reactive = r
        .results
        .iter()
        .find(|p| p.policy == "reactive")
        .map(|p| p.metrics.clone());
    let _ = writeln!(
        out,
        "{:<15} {:>10} {:>9} {:>13} {:>10} {:>11} {:>13} {:>12}",
        "policy",
        "SE-hours",
        "vs oracle",
        "under-prov",
        "unserved",
        "ramps met",
        "ramp lead",
        "actions/day"
    );
    for p in &r.results {
        let m = &p.metrics;
        let _ = writeln!(
            out,
            "{:<15} {:>10.0} {:>8.3}x {:>7.0} min {:>4.2}% {:>9.3}% {:>5}/{:<5} {:>9.0} min {:>12.1}",
            p.policy,
            m.se_hours,
            p.vs_oracle,
            m.under_minutes,
            m.under_pct,
            m.unserved_pct,
            m.ramps_met,
            m.ramps,
            m.ramp_lead_min,
            m.actions_per_day
        );
    }
    if let (Some(re), Some(pr)) = (
        reactive,
        r.results.iter().find(|p| p.policy == "predictive"),
    ) {
        let _ = writeln!(
            out,
            "predictive vs reactive: SE-hours {:.3}x, under-provisioned time {:.3}x",
            pr.metrics.se_hours / re.se_hours.max(f64::MIN_POSITIVE),
            pr.metrics.under_pct / re.under_pct.max(f64::MIN_POSITIVE)
        );
    }
    if !r.curve.is_empty() {
        let _ = writeln!(
            out,
            "trade-off of the predictive policy (margin: under-provisioned %, SE-hours vs oracle):"
        );
        for (m, u, h) in &r.curve {
            let _ = writeln!(out, "  margin {m:>5.2}: {u:>6.2}% {h:>6.3}x");
        }
    }
    out
}
