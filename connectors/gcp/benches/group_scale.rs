//! Scales a group 0 -> N -> 0 against the in-process Compute fake, with strato (one bulkInsert
//! per `batch_size` members, then per-instance deletes: Compute has no bulk delete) and with a
//! naive loop of one insert per VM, in the same run, and prints Compute API calls (counted by
//! the fake: changes, operation polls, reads), wall time, and their ratios.
//!
//!     cargo bench -p strato-gcp --bench group_scale            # N = 200
//!     STRATO_BENCH_N=500 cargo bench -p strato-gcp --bench group_scale
//!
//! Each approach gets its own fake. Operations take 60 ms (20 PENDING, 40 RUNNING) and are
//! polled every 10 ms, so wall time here measures round trips, not Compute's real latency.

use std::time::{Duration, Instant};
use strato_core::{CloudConnector, GroupSpec, OwnerId, Size, VmId, VmSpec};
use strato_gcp::{GcpConfig, GcpConnector};
use strato_gcp_fake::FakeGce;

const IMAGE: &str = "projects/debian-cloud/global/images/family/debian-12";

#[derive(Default)]
struct Calls {
    changes: usize,
    polls: usize,
    reads: usize,
}

impl Calls {
    fn of(fake: &FakeGce) -> Self {
        let mut c = Calls::default();
        for r in fake.requests() {
            if !r.starts_with("GET ") {
                c.changes += 1;
            } else if r.contains("/operations/") {
                c.polls += 1;
            } else {
                c.reads += 1;
            }
        }
        fake.clear_requests();
        c
    }
    fn total(&self) -> usize {
        self.changes + self.polls + self.reads
    }
}

struct Run {
    up: Calls,
    up_time: Duration,
    down: Calls,
    down_time: Duration,
}

async fn connector(fake: &FakeGce) -> GcpConnector {
    let (project, zone) = fake.project_zone();
    let cfg = GcpConfig {
        project: Some(project),
        zone: Some(zone),
        endpoint: Some(fake.url.clone()),
        anonymous: true,
        poll_interval: Some(Duration::from_millis(10)),
        ..Default::default()
    };
    GcpConnector::connect(OwnerId::new("bench").unwrap(), cfg)
        .await
        .expect("connect")
}

async fn strato(n: u32) -> Run {
    let fake = strato_gcp_fake::start().await;
    let c = connector(&fake).await;
    let spec = GroupSpec {
        name: "bench".into(),
        size: Size::shape(1, 512),
        image: IMAGE.into(),
        network: None,
        tags: Default::default(),
    };
    fake.clear_requests();
    let t = Instant::now();
    let g = c.scale_group(&spec, n).await.expect("scale up");
    assert_eq!(g.members.len(), n as usize);
    let up_time = t.elapsed();
    let up = Calls::of(&fake);
    let t = Instant::now();
    let g = c.scale_group(&spec, 0).await.expect("scale down");
    assert!(g.members.is_empty());
    let down_time = t.elapsed();
    Run {
        up,
        up_time,
        down: Calls::of(&fake),
        down_time,
    }
}

/// What a connector without batching does: one insert (and its operation) per VM.
async fn naive(n: u32) -> Run {
    let fake = strato_gcp_fake::start().await;
    let c = connector(&fake).await;
    fake.clear_requests();
    let t = Instant::now();
    for i in 0..n {
        c.create_vm(&VmSpec::new(
            format!("naive-{i}"),
            Size::shape(1, 512),
            IMAGE,
        ))
        .await
        .expect("create");
    }
    let up_time = t.elapsed();
    let up = Calls::of(&fake);
    let t = Instant::now();
    for i in 0..n {
        c.delete_vm(&VmId::new(format!("naive-{i}")))
            .await
            .expect("delete");
    }
    Run {
        up,
        up_time,
        down: Calls::of(&fake),
        down_time: t.elapsed(),
    }
}

fn main() {
    // `cargo nextest run --all-targets` lists every target's tests: this bench has none.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u32 = std::env::var("STRATO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = strato(n).await;
        let b = naive(n).await;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
        println!("group 0 -> {n} -> 0 on the Compute fake (API calls: changes + operation polls + reads)");
        println!("{:<8} {:>22} {:>10} {:>22} {:>10}", "", "scale-out calls", "time", "scale-in calls", "time");
        for (name, r) in [("strato", &s), ("naive", &b)] {
            println!(
                "{name:<8} {:>5} ({:>4} + {:>4} + {:>4}) {:>9.2}s {:>5} ({:>4} + {:>4} + {:>4}) {:>9.2}s",
                r.up.total(), r.up.changes, r.up.polls, r.up.reads, r.up_time.as_secs_f64(),
                r.down.total(), r.down.changes, r.down.polls, r.down.reads, r.down_time.as_secs_f64()
            );
        }
        println!(
            "calls per scale-out of {n}: strato {} ({} insert call(s)), naive {} ({} inserts)",
            s.up.total(), s.up.changes, b.up.total(), b.up.changes
        );
        let (ts, tb) = ((s.up.total() + s.down.total()) as f64, (b.up.total() + b.down.total()) as f64);
        let (ws, wb) = ((s.up_time + s.down_time).as_secs_f64(), (b.up_time + b.down_time).as_secs_f64());
        println!(
            "naive/strato: {:.1}x the scale-out calls, {:.1}x the calls overall ({tb} vs {ts}), {:.1}x the wall time ({wb:.2}s vs {ws:.2}s)",
            ratio(b.up.total() as f64, s.up.total() as f64),
            ratio(tb, ts),
            ratio(wb, ws)
        );
    });
}
