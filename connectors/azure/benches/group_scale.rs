//! Scales a group 0 -> N -> 0 against the in-process ARM fake, three ways in the same run, and
//! prints ARM requests (counted by the connector's transport), wall time, and their ratios:
//! - strato: `scale_group`, members created `max_parallel_creates` (8) at a time;
//! - sequential: the same calls one at a time (`max_parallel_creates = 1`);
//! - naive: a loop of `create_vm` / `delete_vm`, what a caller without groups does (each create
//!   first lists the VMs and NICs to find an earlier VM of the name).
//!
//! Run:
//!
//!     cargo bench -p strato-azure --bench group_scale            # N = 50
//!     STRATO_BENCH_N=200 cargo bench -p strato-azure --bench group_scale
//!
//! The fake answers every request after 20 ms and provisions at once, so the time is round
//! trips, not Azure's provisioning; on Azure a member's create is dominated by the VM PUT's allocation,
//! which the parallel creates overlap.

use std::sync::Arc;
use std::time::{Duration, Instant};
use strato_azure::{Auth, AzureConfig, AzureConnector};
use strato_azure_fake::{FakeArm, SUBSCRIPTION};
use strato_core::{CloudConnector, GroupSpec, OwnerId, Size, VmSpec};

const RG: &str = "bench";
const VNET: &str = "bench-vnet";
const IMAGE: &str = "Canonical:ubuntu-24_04-lts:server:latest";

struct Run {
    up_calls: u64,
    up_time: Duration,
    down_calls: u64,
    down_time: Duration,
}

async fn fake() -> (String, FakeArm) {
    let (url, fake) = strato_azure_fake::start_with(strato_azure_fake::Options {
        create_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        page_size: 100,
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    fake.seed_vnet(RG, VNET, "10.0.0.0/8", &[("default", "10.0.0.0/16")]);
    (url, fake)
}

fn connector(url: &str, owner: &str, parallel: u32) -> Arc<AzureConnector> {
    let mut cfg = AzureConfig::new(SUBSCRIPTION, RG, "westeurope", VNET);
    cfg.endpoint = Some(url.to_owned());
    cfg.auth = Auth::Anonymous;
    cfg.max_parallel_creates = parallel;
    let c = futures::executor::block_on(AzureConnector::connect(OwnerId::new(owner).unwrap(), cfg));
    Arc::new(c.expect("connector"))
}

fn spec() -> GroupSpec {
    GroupSpec {
        name: "bench".into(),
        size: Size::shape(1, 1024),
        image: IMAGE.into(),
        network: None,
        tags: Default::default(),
    }
}

async fn grouped(n: u32, parallel: u32) -> Run {
    let (url, fake) = fake().await;
    let c = connector(&url, "bench", parallel);
    let t = Instant::now();
    let g = c.scale_group(&spec(), n).await.expect("scale up");
    assert_eq!(g.members.len(), n as usize);
    let (up_calls, up_time) = (c.calls().get(), t.elapsed());
    let t = Instant::now();
    let g = c.scale_group(&spec(), 0).await.expect("scale down");
    assert!(g.members.is_empty());
    let down_time = t.elapsed();
    assert!(
        fake.vms().is_empty() && fake.nics().is_empty(),
        "the bench leaked"
    );
    Run {
        up_calls,
        up_time,
        down_calls: c.calls().get() - up_calls,
        down_time,
    }
}

async fn naive(n: u32) -> Run {
    let (url, fake) = fake().await;
    let c = connector(&url, "naive", 1);
    let t = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        let s = VmSpec::new(format!("naive-{i}"), Size::shape(1, 1024), IMAGE);
        ids.push(c.create_vm(&s).await.expect("create").id);
    }
    let (up_calls, up_time) = (c.calls().get(), t.elapsed());
    let t = Instant::now();
    for id in &ids {
        c.delete_vm(id).await.expect("delete");
    }
    let down_time = t.elapsed();
    drop(fake);
    Run {
        up_calls,
        up_time,
        down_calls: c.calls().get() - up_calls,
        down_time,
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
        .unwrap_or(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = grouped(n, 8).await;
        let q = grouped(n, 1).await;
        let b = naive(n).await;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
        println!("group 0 -> {n} -> 0 on the ARM fake (ARM requests, wall time)");
        println!("{:<11} {:>10} {:>12} {:>10} {:>12} {:>15}", "", "up calls", "up time", "down calls", "down time", "calls/member up");
        for (name, r) in [("strato", &s), ("sequential", &q), ("naive", &b)] {
            println!(
                "{name:<11} {:>10} {:>11.2}s {:>10} {:>11.2}s {:>15.2}",
                r.up_calls,
                r.up_time.as_secs_f64(),
                r.down_calls,
                r.down_time.as_secs_f64(),
                r.up_calls as f64 / n.max(1) as f64
            );
        }
        let calls = |r: &Run| (r.up_calls + r.down_calls) as f64;
        let time = |r: &Run| (r.up_time + r.down_time).as_secs_f64();
        println!(
            "naive/strato: {:.1}x the ARM requests ({} vs {}), {:.1}x the wall time; sequential/strato: {:.1}x the wall time",
            ratio(calls(&b), calls(&s)),
            calls(&b),
            calls(&s),
            ratio(time(&b), time(&s)),
            ratio(time(&q), time(&s)),
        );
    });
}
