//! The proxy's overhead: a bounded load (N concurrent keep-alive clients for a few seconds)
//! sent to an HTTP backend directly, then through HAProxy as the agent configures it, in the
//! same process. Prints requests/s, p50 and p99 of both and their ratio.
//!
//! `cargo bench -p strato-agent --bench proxy_overhead`, with STRATO_TEST_HAPROXY_BIN set
//! (fixtures/haproxy/up); STRATO_BENCH_CLIENTS (default 16) and STRATO_BENCH_SECS (default 3)
//! change the load.

use axum::Router;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strato_agent::DataPlane;
use strato_agent::haproxy::{HaproxyOptions, HaproxyPlane};
use strato_agent::protocol::{
    Algorithm, Protocol, Role, SeConfig, SeVsConfig, Server, ServicePort,
};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one load run measured.
struct Run {
    requests: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

/// `clients` tasks, each on its own kept-alive connection, sending GETs for `secs`.
async fn load(url: &str, clients: u64, secs: u64) -> Run {
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let c = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let (mut lat, mut failed) = (Vec::new(), 0);
                while Instant::now() < until {
                    let t = Instant::now();
                    let ok = match c.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    let mut run = Run {
        requests: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (lat, failed) = t.await.unwrap();
        run.latencies.extend(lat);
        run.failed += failed;
    }
    run.elapsed = started.elapsed();
    run.requests = run.latencies.len();
    run.latencies.sort();
    run
}

fn show(what: &str, r: &Run) {
    println!(
        "{what:<16} {:>9.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} requests, {} failed)",
        r.rps(),
        r.pct(0.50).as_secs_f64() * 1e3,
        r.pct(0.99).as_secs_f64() * 1e3,
        r.requests,
        r.failed
    );
}

fn main() {
    let bin = std::env::var_os("STRATO_TEST_HAPROXY_BIN").unwrap_or_else(|| {
        panic!("STRATO_TEST_HAPROXY_BIN is not set: run `fixtures/haproxy/up DIR && . DIR/env`")
    });
    let (clients, secs) = (
        env_or("STRATO_BENCH_CLIENTS", 16),
        env_or("STRATO_BENCH_SECS", 3),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The backend on a runtime of its own (one thread), so the load generator does not
    // starve it: a small fixed answer, as cheap as a server gets.
    let backend_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let l = backend_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let backend = l.local_addr().unwrap();
    backend_rt.spawn(async move {
        let app = Router::new().fallback(|| async { "hello from the backend\n" });
        axum::serve(l, app).await.unwrap()
    });
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let plane = Arc::new(
            HaproxyPlane::start(HaproxyOptions {
                bin: bin.into(),
                run_dir: dir.path().to_owned(),
                vip_interface: None,
                listen: None,
            })
            .await
            .unwrap(),
        );
        let port = std::net::TcpListener::bind("127.0.4.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = SeConfig {
            se: "bench-1".into(),
            group: "bench".into(),
            version: 1,
            report_interval_secs: 1,
            virtual_services: vec![SeVsConfig {
                name: "bench".into(),
                fqdn: "bench.example.com".into(),
                vip: Some("127.0.4.1".parse().unwrap()),
                configure_vip: false,
                role: Role::Primary,
                serving: 1,
                ports: vec![ServicePort {
                    port,
                    protocol: Protocol::Http,
                }],
                servers: vec![Server {
                    address: backend.ip(),
                    port: backend.port(),
                    weight: 1,
                }],
                algorithm: Algorithm::RoundRobin,
                interface: None,
            }],
        };
        plane.apply(&cfg).await.unwrap();

        println!("{clients} keep-alive clients for {secs} s each way, same process");
        // A short warm-up of both paths (connections, HAProxy's first check).
        load(&format!("http://{backend}/"), clients, 1).await;
        load(&format!("http://127.0.4.1:{port}/"), clients, 1).await;
        // Two rounds, alternating, so a burst of load from elsewhere on the machine shows
        // as a disagreement between rounds rather than as the proxy's cost.
        for round in 1..=2 {
            let direct = load(&format!("http://{backend}/"), clients, secs).await;
            show(&format!("{round}: direct"), &direct);
            let proxied = load(&format!("http://127.0.4.1:{port}/"), clients, secs).await;
            show(&format!("{round}: via HAProxy"), &proxied);
            println!(
                "{round}: ratio (via HAProxy / direct): {:.2} of the requests/s, p50 x{:.2}, p99 x{:.2}",
                proxied.rps() / direct.rps(),
                proxied.pct(0.5).as_secs_f64() / direct.pct(0.5).as_secs_f64(),
                proxied.pct(0.99).as_secs_f64() / direct.pct(0.99).as_secs_f64()
            );
        }
        let stats = plane.sample().await;
        println!(
            "agent's report after the run: {} open connections, server health {:?}",
            stats.connections,
            stats.server_health.get("bench")
        );
        plane.stop().await;
    });
}
