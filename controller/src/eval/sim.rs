//! The replay: a trace in virtual time, one tick a minute (or the trace's interval when
//! shorter), through a policy's decisions to a simulated fleet whose SEs take the cloud's boot
//! time to serve. Predictive and reactive decide with the controller's own code
//! ([`crate::autoscale::Autoscaler`], [`crate::forecast`]); the fast policies (oracle, static,
//! seasonal-naive) need nothing more.

use crate::autoscale::{Autoscaler, Observation};
use crate::forecast::policy::{PredictivePolicy, Sizes, Stabiliser, ses_for};
use crate::forecast::{Forecaster, History, profile};
use crate::model::AutoscalePolicy;
use crate::trace::Trace;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// A policy of the evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum PolicyKind {
    /// max(reactive, forecast over the lead time): the controller's predictive path.
    Predictive,
    /// The controller's reactive (HPA-like) path alone.
    Reactive,
    /// The same time of day over the past days and weeks, upper quantile, booted a lead time
    /// ahead: the simple baseline.
    SeasonalNaive,
    /// The trace's peak all the time.
    Static,
    /// Exactly what each interval needs, with no boot time.
    Oracle,
}

impl PolicyKind {
    /// Every policy, in report order.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::Predictive,
        PolicyKind::Reactive,
        PolicyKind::SeasonalNaive,
        PolicyKind::Static,
        PolicyKind::Oracle,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Predictive => "predictive",
            PolicyKind::Reactive => "reactive",
            PolicyKind::SeasonalNaive => "seasonal-naive",
            PolicyKind::Static => "static",
            PolicyKind::Oracle => "oracle",
        }
    }
}

/// The simulated cloud and the policies' settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Load one SE serves (the trace's unit per interval).
    pub per_se: f64,
    /// Most SEs (the trace's peak needs this many).
    pub max_ses: u32,
    /// Fewest SEs.
    pub min_ses: u32,
    /// Median SE boot time of the cloud.
    pub boot: Duration,
    /// Boot times spread uniformly over `boot * (1 ± jitter)`.
    pub boot_jitter: f64,
    /// The reactive path's policy (the controller's default unless told).
    pub autoscale: AutoscalePolicy,
    /// The predictive path's policy.
    pub predictive: PredictivePolicy,
    /// Seed of the boot times.
    pub seed: u64,
}

/// One tick of a replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tick {
    /// Seconds since the trace's start.
    pub t: i64,
    /// Offered load (None in a gap).
    pub load: Option<f64>,
    /// SEs wanted.
    pub desired: u32,
    /// SEs serving.
    pub ready: u32,
    /// SEs existing (serving or booting: what is paid for).
    pub existing: u32,
    /// The forecast over the lead time, when the policy has one.
    pub forecast: Option<f64>,
}

/// Seconds per tick for a trace.
pub fn tick_secs(trace: &Trace) -> i64 {
    trace.step_secs.clamp(1, 60)
}

/// The load at every tick (the value of the interval holding it; None in a gap).
pub fn loads(trace: &Trace) -> Vec<(i64, Option<f64>)> {
    let ts = tick_secs(trace);
    let mut out = Vec::with_capacity((trace.span_secs() / ts) as usize);
    let mut i = 0;
    let mut t = 0;
    while t < trace.span_secs() {
        while i + 1 < trace.points.len() && trace.points[i + 1].0 <= t {
            i += 1;
        }
        let (start, v) = trace.points[i];
        let v = (t >= start && t < start + trace.step_secs).then_some(v);
        out.push((t, v));
        t += ts;
    }
    out
}

/// A policy's decision each tick.
trait Decide {
    /// SEs wanted at unix time `now` with `load` measured (None: unknown).
    fn decide(
        &mut self,
        now: i64,
        load: Option<f64>,
        ready: u32,
        existing: u32,
        boot: Duration,
    ) -> (u32, Option<f64>);
}

/// The controller's reactive path, as its group reconcile drives it.
struct Reactive {
    scaler: Autoscaler,
    base: Instant,
    t0: i64,
    last: u32,
    cfg: SimConfig,
}

impl Reactive {
    fn new(cfg: &SimConfig, t0: i64) -> Self {
        Self {
            scaler: Autoscaler::new(),
            base: Instant::now(),
            t0,
            last: cfg.min_ses,
            cfg: cfg.clone(),
        }
    }

    fn decide_with(
        &mut self,
        now: i64,
        load: Option<f64>,
        ready: u32,
        existing: u32,
        policy: &AutoscalePolicy,
    ) -> u32 {
        let at = self.base + Duration::from_secs((now - self.t0).max(0) as u64);
        let d = match load {
            // The controller holds what it wanted when no SE serves or a report is missing.
            Some(l) if ready > 0 => {
                let obs = Observation::Known {
                    current: ready,
                    utilisation: l / (f64::from(ready) * self.cfg.per_se),
                };
                self.scaler
                    .decide(
                        at,
                        &obs,
                        policy,
                        self.cfg.min_ses,
                        self.cfg.max_ses,
                        existing,
                    )
                    .desired
            }
            _ => self.last,
        };
        self.last = d;
        d
    }
}

impl Decide for Reactive {
    fn decide(
        &mut self,
        now: i64,
        load: Option<f64>,
        ready: u32,
        existing: u32,
        _: Duration,
    ) -> (u32, Option<f64>) {
        let p = self.cfg.autoscale.clone();
        (self.decide_with(now, load, ready, existing, &p), None)
    }
}

/// The controller's predictive path: max(reactive, forecast over the lead time).
struct Predictive {
    reactive: Reactive,
    forecaster: Forecaster,
    stabiliser: Stabiliser,
}

impl Decide for Predictive {
    fn decide(
        &mut self,
        now: i64,
        load: Option<f64>,
        ready: u32,
        existing: u32,
        boot: Duration,
    ) -> (u32, Option<f64>) {
        let cfg = self.reactive.cfg.clone();
        if let Some(l) = load {
            self.forecaster.observe(now, l);
        }
        let lead = boot + cfg.predictive.lead_margin;
        let f = self
            .forecaster
            .predict_window(now, now + lead.as_secs() as i64);
        let policy = AutoscalePolicy {
            target_utilisation: if f.is_some() {
                cfg.predictive.reactive_target
            } else {
                cfg.autoscale.target_utilisation
            },
            ..cfg.autoscale.clone()
        };
        let r = self
            .reactive
            .decide_with(now, load, ready, existing, &policy);
        let sizes = Sizes {
            reactive: r,
            existing,
            min: cfg.min_ses,
            max: cfg.max_ses,
        };
        let c = self
            .stabiliser
            .choose(now, cfg.autoscale.scale_down_window, sizes, f, cfg.per_se);
        (c.desired, f)
    }
}

/// The baseline: an upper quantile of the same time of day on every past day and week.
struct SeasonalNaive {
    history: History,
    cfg: SimConfig,
    fallback: Reactive,
}

impl Decide for SeasonalNaive {
    fn decide(
        &mut self,
        now: i64,
        load: Option<f64>,
        ready: u32,
        existing: u32,
        boot: Duration,
    ) -> (u32, Option<f64>) {
        if let Some(l) = load {
            self.history.observe(now, l);
        }
        let fc = &self.cfg.predictive.forecast;
        let lead = (boot + self.cfg.predictive.lead_margin).as_secs() as i64;
        let f = (self.history.bucket(now)..=self.history.bucket(now + lead))
            .filter_map(|b| {
                let mut s = profile::samples(&self.history, b, fc.days, fc.weeks, false);
                (s.len() >= fc.min_samples)
                    .then(|| profile::quantile(&mut s, fc.quantile))
                    .flatten()
            })
            .reduce(f64::max);
        // Until a day was seen it has nothing to say: the reactive path stands in.
        let p = self.cfg.autoscale.clone();
        let r = self.fallback.decide_with(now, load, ready, existing, &p);
        match f {
            Some(f) => (
                ses_for(f, self.cfg.per_se).clamp(self.cfg.min_ses, self.cfg.max_ses),
                Some(f),
            ),
            None => (r, None),
        }
    }
}

/// SEs of the simulated cloud: when each serves.
struct Fleet {
    ready_at: Vec<i64>,
    rng: StdRng,
    boots: VecDeque<i64>,
}

impl Fleet {
    fn boot_time(&self, cfg: &SimConfig) -> Duration {
        // The lead time uses the slowest of the recent boots, not their mean.
        let mut b: Vec<f64> = self.boots.iter().map(|v| *v as f64).collect();
        match profile::quantile(&mut b, 0.9) {
            Some(q) if self.boots.len() >= 3 => Duration::from_secs(q.ceil() as u64),
            _ => cfg.boot,
        }
    }

    fn resize(&mut self, now: i64, desired: u32, cfg: &SimConfig) {
        let n = desired as usize;
        // A scale-in stops the SEs still booting first, then the newest.
        self.ready_at.sort_unstable();
        self.ready_at.truncate(n);
        while self.ready_at.len() < n {
            let j = cfg.boot_jitter.clamp(0.0, 0.99);
            let f = 1.0 + j * (2.0 * self.rng.random::<f64>() - 1.0);
            let boot = (cfg.boot.as_secs_f64() * f).round() as i64;
            self.boots.push_back(boot);
            if self.boots.len() > 20 {
                self.boots.pop_front();
            }
            self.ready_at.push(now + boot);
        }
    }
}

/// Replays `trace` under `kind`.
pub fn replay(trace: &Trace, kind: PolicyKind, cfg: &SimConfig) -> Vec<Tick> {
    let loads = loads(trace);
    let t0 = trace.start_unix;
    let need = |l: Option<f64>| {
        l.map_or(0, |l| ses_for(l, cfg.per_se))
            .clamp(cfg.min_ses, cfg.max_ses)
    };
    let mut decider: Option<Box<dyn Decide>> = match kind {
        PolicyKind::Oracle | PolicyKind::Static => None,
        PolicyKind::Reactive => Some(Box::new(Reactive::new(cfg, t0))),
        PolicyKind::Predictive => Some(Box::new(Predictive {
            reactive: Reactive::new(cfg, t0),
            forecaster: Forecaster::new(crate::forecast::ForecastConfig {
                bucket_secs: cfg.predictive.forecast.bucket_secs.max(trace.step_secs),
                ..cfg.predictive.forecast.clone()
            }),
            stabiliser: Stabiliser::default(),
        })),
        PolicyKind::SeasonalNaive => Some(Box::new(SeasonalNaive {
            history: History::new(cfg.predictive.forecast.bucket_secs.max(trace.step_secs)),
            cfg: cfg.clone(),
            fallback: Reactive::new(cfg, t0),
        })),
    };
    // Every policy starts with what the first interval needs, serving.
    let first = loads.iter().find_map(|(_, l)| *l);
    let start = if kind == PolicyKind::Static {
        cfg.max_ses
    } else {
        need(first)
    };
    let mut fleet = Fleet {
        ready_at: vec![t0 - 1; start as usize],
        rng: StdRng::seed_from_u64(cfg.seed),
        boots: VecDeque::new(),
    };
    let mut out = Vec::with_capacity(loads.len());
    for (t, load) in loads {
        let now = t0 + t;
        let ready = fleet.ready_at.iter().filter(|r| **r <= now).count() as u32;
        let existing = fleet.ready_at.len() as u32;
        let (desired, forecast) = match (&mut decider, kind) {
            (_, PolicyKind::Static) => (cfg.max_ses, None),
            (_, PolicyKind::Oracle) => {
                let n = if load.is_some() { need(load) } else { existing };
                (n, None)
            }
            (Some(d), _) => d.decide(now, load, ready, existing, fleet.boot_time(cfg)),
            (None, _) => (existing, None),
        };
        if kind == PolicyKind::Oracle {
            // Zero lag: what it wants serves at once.
            fleet.ready_at = vec![now; desired as usize];
        } else {
            fleet.resize(now, desired, cfg);
        }
        let ready = fleet.ready_at.iter().filter(|r| **r <= now).count() as u32;
        out.push(Tick {
            t,
            load,
            desired,
            ready,
            existing: fleet.ready_at.len() as u32,
            forecast,
        });
    }
    out
}
