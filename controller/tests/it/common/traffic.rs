//! What the real-traffic test drives: the binaries it needs, real HTTP servers, a bounded
//! load generator resolving through the controller's DNS, the controller's API, and the
//! HAProxy processes of an SE.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use strato_testkit::dns_query_within;
use tokio::task::JoinHandle;

pub fn haproxy_bin() -> PathBuf {
    std::env::var_os("STRATO_TEST_HAPROXY_BIN").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "STRATO_TEST_HAPROXY_BIN is not set: start it with `fixtures/haproxy/up DIR && . DIR/env` \
             (scripts/test does)"
        )
    })
}

pub fn agent_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATO_TEST_AGENT_BIN") {
        return p.into();
    }
    // target/debug/deps/it-HASH -> target/debug/strato-agent
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("strato-agent"))
        .unwrap();
    assert!(
        p.is_file(),
        "no strato-agent at {}: build it with `cargo build -p strato-agent`, or set \
         STRATO_TEST_AGENT_BIN",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real HTTP server on loopback answering its name; aborting the task closes it.
pub async fn backend(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || async move { name });
    let h = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (addr, h)
}

/// Requests sent and failed by the load generator.
#[derive(Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    /// The last failure, to say what failed.
    pub last_error: std::sync::Mutex<Option<String>>,
}

impl Tally {
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// Sends `rps` requests a second to the address DNS answers for `fqdn` (asked again every
/// second, as a client honouring a short TTL would), until aborted.
pub fn load(
    dns: SocketAddr,
    fqdn: &'static str,
    port: u16,
    rps: u32,
    tally: Arc<Tally>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let mut vip: Option<IpAddr> = None;
        let mut asked = Instant::now() - Duration::from_secs(10);
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rps);
        loop {
            tick.tick().await;
            if asked.elapsed() >= Duration::from_secs(1) {
                asked = Instant::now();
                if let Some(a) = dns_query_within(dns, fqdn, Duration::from_secs(1))
                    .await
                    .first()
                {
                    vip = Some(*a);
                }
            }
            let Some(vip) = vip else { continue };
            let (c, t) = (client.clone(), tally.clone());
            tokio::spawn(async move {
                let ok = match c.get(format!("http://{vip}:{port}/")).send().await {
                    Ok(r) if r.status().is_success() => true,
                    Ok(r) => {
                        *t.last_error.lock().unwrap() = Some(format!("{vip}: {}", r.status()));
                        false
                    }
                    Err(e) => {
                        *t.last_error.lock().unwrap() = Some(format!("{vip}: {e:?}"));
                        false
                    }
                };
                let n = if ok { &t.ok } else { &t.failed };
                n.fetch_add(1, Ordering::Relaxed);
            });
        }
    })
}

pub struct Api {
    pub c: reqwest::Client,
    pub base: String,
}

impl Api {
    pub async fn status(&self) -> serde_json::Value {
        match self
            .c
            .get(format!("{}/api/v1/status", self.base))
            .bearer_auth("tok")
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => r.json().await.unwrap(),
            _ => serde_json::Value::Null,
        }
    }

    pub async fn wait(
        &self,
        what: &str,
        limit: Duration,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let s = self.status().await;
            if cond(&s) {
                println!("{what}: after {:.1}s", start.elapsed().as_secs_f64());
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn shop(s: &serde_json::Value) -> &serde_json::Value {
    &s["virtual_services"][0]
}

pub fn healthy(s: &serde_json::Value) -> Vec<String> {
    s["groups"][0]["ses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|se| se["health"] == "healthy" && se["phase"] == "active")
        .map(|se| se["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The pids of the HAProxy processes running from `run_dir` (by their command line).
pub fn haproxy_pids(run_dir: &Path) -> Vec<u32> {
    let dir = run_dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("haproxy") && c.contains(&dir) && !c.contains("strato-agent")
            })
        })
        .collect()
}
