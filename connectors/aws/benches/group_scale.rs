//! Scales a group 0 -> N -> 0 against moto, with strato (batched RunInstances /
//! TerminateInstances) and with a naive loop of one call per VM, in the same run, and prints EC2
//! API calls (counted by an SDK interceptor), wall time, and their ratios.
//!
//!     fixtures/moto/up /tmp/moto && . /tmp/moto/env
//!     cargo bench -p strato-aws --bench group_scale            # N = 200
//!     STRATO_BENCH_N=500 cargo bench -p strato-aws --bench group_scale
//!
//! Each approach runs in its own moto region (moto keeps one state per region and gets slower
//! with every instance it holds, terminated ones included), so neither pays for the other's
//! instances. STRATO_BENCH_RESET=1 empties moto first (never while tests share the server).

use std::time::{Duration, Instant};
use strato_aws::ApiCallCounter;
use strato_core::{CloudConnector, GroupSpec, Size};
// The moto setup the tests use (endpoint, credentials, owners, connectors, VPCs).
use strato_testkit::moto::{self, AMI, region::bench as region};
use strato_testkit::unique_owner;

/// VPC and subnet of each side: a /20 holds the largest N (a /24 only 251 instances).
const VPC_CIDR: &str = "10.9.0.0/16";
const SUBNET_CIDR: &str = "10.9.0.0/20";

struct Run {
    up_calls: u64,
    up_time: Duration,
    down_calls: u64,
    down_time: Duration,
}

async fn strato(url: &str, n: u32) -> Run {
    let (_, subnet) = moto::vpc_and_subnet_in(url, region::STRATO, VPC_CIDR, SUBNET_CIDR).await;
    let (c, counter) = moto::counted(
        url,
        region::STRATO,
        unique_owner("bench"),
        moto::settings(&subnet),
    );
    let spec = GroupSpec {
        name: "bench".into(),
        size: Size::Native("t3.micro".into()),
        image: AMI.into(),
        network: None,
        tags: Default::default(),
    };
    let t = Instant::now();
    let g = c.scale_group(&spec, n).await.expect("scale up");
    assert_eq!(g.members.len(), n as usize);
    let up_time = t.elapsed();
    let up_calls = counter.total();
    eprintln!("strato up:   {:?}", counter.snapshot());
    counter.reset();
    let t = Instant::now();
    let g = c.scale_group(&spec, 0).await.expect("scale down");
    assert!(g.members.is_empty());
    let down_time = t.elapsed();
    eprintln!("strato down: {:?}", counter.snapshot());
    Run {
        up_calls,
        up_time,
        down_calls: counter.total(),
        down_time,
    }
}

/// What a connector without batching does: one RunInstances and one TerminateInstances per VM.
async fn naive(url: &str, n: u32) -> Run {
    let (_, subnet) = moto::vpc_and_subnet_in(url, region::NAIVE, VPC_CIDR, SUBNET_CIDR).await;
    let counter = ApiCallCounter::new();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        moto::conf(url, region::NAIVE)
            .interceptor(counter.clone())
            .build(),
    );
    let t = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        let tag = aws_sdk_ec2::types::Tag::builder()
            .key("Name")
            .value(format!("naive-{i}"))
            .build();
        let out = ec2
            .run_instances()
            .image_id(AMI)
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnet)
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                    .tags(tag)
                    .build(),
            )
            .send()
            .await
            .expect("run");
        ids.extend(
            out.instances()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_owned)),
        );
    }
    let up_time = t.elapsed();
    let up_calls = counter.total();
    counter.reset();
    let t = Instant::now();
    for id in &ids {
        ec2.terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("terminate");
    }
    Run {
        up_calls,
        up_time,
        down_calls: counter.total(),
        down_time: t.elapsed(),
    }
}

fn main() {
    // `cargo nextest run --all-targets` lists every target's tests: this bench has none.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(url) = moto::moto_url_from_env() else {
        eprintln!(
            "group_scale: STRATO_TEST_MOTO_URL is not set; run fixtures/moto/up DIR and source DIR/env"
        );
        std::process::exit(2);
    };
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
        if std::env::var("STRATO_BENCH_RESET").as_deref() == Ok("1") {
            let raw = moto_reset(&url).await;
            eprintln!("moto reset: {raw}");
        }
        let s = strato(&url, n).await;
        let b = naive(&url, n).await;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
        println!("group 0 -> {n} -> 0 on moto (EC2 API calls, wall time)");
        println!("{:<8} {:>10} {:>12} {:>10} {:>12}", "", "up calls", "up time", "down calls", "down time");
        for (name, r) in [("strato", &s), ("naive", &b)] {
            println!(
                "{name:<8} {:>10} {:>11.2}s {:>10} {:>11.2}s",
                r.up_calls,
                r.up_time.as_secs_f64(),
                r.down_calls,
                r.down_time.as_secs_f64()
            );
        }
        let calls_s = (s.up_calls + s.down_calls) as f64;
        let calls_b = (b.up_calls + b.down_calls) as f64;
        let time_s = (s.up_time + s.down_time).as_secs_f64();
        let time_b = (b.up_time + b.down_time).as_secs_f64();
        println!(
            "naive/strato: {:.1}x the API calls ({calls_b} vs {calls_s}), {:.1}x the wall time ({time_b:.2}s vs {time_s:.2}s)",
            ratio(calls_b, calls_s),
            ratio(time_b, time_s)
        );
    });
}

/// POST /moto-api/reset with a plain HTTP/1.0 request (no HTTP client dependency for one call).
async fn moto_reset(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .expect("connect to moto");
    let req = format!("POST /moto-api/reset HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out.lines().next().unwrap_or("").to_owned()
}
