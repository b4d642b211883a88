//! The autoscaling evaluation on the real traces of `../shared/data/traces` (when present):
//! every policy on each trace, with the predictive policy's ratios to the oracle and to the
//! reactive policy measured in the same process and its trade-off curve; then predictive and
//! reactive again through the whole controller on the memory cloud.
//!
//! `cargo bench -p strato-controller --bench autoscale_eval` (`STRATO_TRACES=DIR` for another
//! folder of traces).

use std::path::PathBuf;
use strato_controller::eval::{Engine, EvalOptions, PolicyArg, run};

fn main() {
    // `shared/` sits beside the repository; STRATO_TRACES points elsewhere (a worktree).
    let dir = std::env::var_os("STRATO_TRACES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/traces"),
        PathBuf::from,
    );
    let mut found = false;
    for name in ["nyc_taxi_30min.csv", "nasa_http_1min.csv"] {
        let trace = dir.join(name);
        if !trace.exists() {
            continue;
        }
        found = true;
        let fast = EvalOptions {
            trace,
            policy: PolicyArg::All,
            peak_ses: 20,
            boot: std::time::Duration::from_secs(180),
            boot_jitter: 0.2,
            margin: 0.2,
            quantile: 0.8,
            reactive_target: 0.9,
            curve: vec![0.0, 0.1, 0.2, 0.3, 0.5],
            engine: Engine::Fast,
            plot: std::env::temp_dir().join(format!("strato-eval-{name}.svg")),
        };
        let whole = EvalOptions {
            engine: Engine::Controller,
            curve: vec![],
            ..fast.clone()
        };
        for opts in [&fast, &whole] {
            let start = std::time::Instant::now();
            match run(opts) {
                Ok((_, text)) => {
                    print!("{text}");
                    println!(
                        "eval of {name} took {:.2}s\n",
                        start.elapsed().as_secs_f64()
                    );
                }
                Err(e) => eprintln!("{name}: {e:#}"),
            }
        }
    }
    if !found {
        println!("no traces under {}: nothing to evaluate", dir.display());
    }
}
