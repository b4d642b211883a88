//! Three `strato controller run` processes on one etcd (fixtures/etcd/up) and one memory cloud
//! (a state file the three share): one leads; the leader killed in the middle of a scale-out,
//! another finishes it with no duplicate SE and the service keeps its VIP; a leader paused
//! (SIGSTOP) past its lease is replaced, and once resumed it neither writes nor calls the cloud
//! but stops. A standby answers reads (the API's GETs, and DNS, asked with hickory-client) with
//! the leader's data and refuses writes naming the leader.

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::op::ResponseCode;
use hickory_client::proto::rr::{DNSClass, Name, RecordType};
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::udp::UdpClientStream;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

const TTL: &str = "2s";
const SES: usize = 4;

fn etcd_endpoints() -> String {
    std::env::var("STRATO_TEST_ETCD_ENDPOINTS").unwrap_or_else(|_| {
        panic!(
            "STRATO_TEST_ETCD_ENDPOINTS is not set: start etcd with \
             `fixtures/etcd/up DIR && . DIR/env` (scripts/test does)"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Controller {
    port: u16,
    dns: std::net::SocketAddr,
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, i: usize, prefix: &str, endpoints: &str) -> Controller {
    let port = free_port();
    let dns: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let eps: Vec<String> = endpoints.split(',').map(|e| format!("\"{e}\"")).collect();
    let cfg = format!(
        r#"
default_profile = "lab"

[controller]
api_listen = "127.0.0.1:{port}"
dns_listen = "{dns}"
token = "tok"
store = {{ kind = "etcd", endpoints = [{eps}], prefix = "{prefix}", lease_ttl = "{TTL}" }}
report_interval = "1s"
creates_per_pass = 1

[profiles.lab]
kind = "memory"
owner = "ha"
boot_latency = "400ms"

[[ipam_pools]]
name = "vips"
network = "default"
cidr = "10.0.200.0/24"

[[dns_zones]]
name = "apps.example.com"
ttl = 5

[[se_groups]]
name = "web"
cloud = "lab"
min_ses = {SES}
max_ses = {SES}
template = {{ size = "1x1g", image = "se-1" }}
capacity = {{ rps = 100.0, connections = 1000 }}

[[virtual_services]]
name = "shop"
fqdn = "shop.apps.example.com"
se_group = "web"
ports = [{{ port = 80, protocol = "http" }}]
"#,
        eps = eps.join(",")
    );
    let path = dir.join(format!("controller-{i}.toml"));
    std::fs::write(&path, cfg).unwrap();
    let log = dir.join(format!("controller-{i}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(["controller", "run", "--config"])
        .arg(&path)
        .env("STRATO_DATA_DIR", dir.join("data"))
        .env_remove("STRATO_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Controller {
        port,
        dns,
        child,
        log,
    }
}

/// The status of the leader (standbys answer reads too, marked `x-strato-role: standby`).
async fn leader_status(cs: &[&Controller]) -> Option<(u16, Value)> {
    let c = reqwest::Client::new();
    for ctl in cs {
        if let Ok(r) = c
            .get(format!("http://127.0.0.1:{}/api/v1/status", ctl.port))
            .bearer_auth("tok")
            .timeout(Duration::from_millis(300))
            .send()
            .await
            && r.status() == 200
            && !r.headers().contains_key("x-strato-role")
        {
            return Some((ctl.port, r.json().await.ok()?));
        }
    }
    None
}

/// Polls until `ok` holds of a leader's status.
async fn until(
    cs: &[&Controller],
    what: &str,
    limit: Duration,
    ok: impl Fn(&Value) -> bool,
) -> (u16, Value) {
    let t = Instant::now();
    loop {
        if let Some((port, s)) = leader_status(cs).await
            && ok(&s)
        {
            return (port, s);
        }
        assert!(
            t.elapsed() < limit,
            "no leader with {what} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn current(s: &Value) -> u64 {
    s["groups"][0]["current"].as_u64().unwrap_or(0)
}

/// SE VMs in the shared memory cloud (its own gateway VM aside).
fn vms(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join("data")) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            // A controller may be writing it: read until it parses.
            let w: Value = (0..50)
                .find_map(|_| {
                    let w = std::fs::read(&p)
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    if w.is_none() {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    w
                })
                .expect("the memory cloud's state file parses");
            n += w["vms"].as_object().map_or(0, |m| {
                m.values()
                    .filter(|v| v["tags"]["role"] != "gateway")
                    .count()
            });
        }
    }
    n
}

fn signal(c: &Controller, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &c.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn three_controllers_one_leads_a_dead_leader_is_replaced_and_a_paused_one_stops() {
    let endpoints = etcd_endpoints();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("/strato-ha/{}-{}", std::process::id(), free_port());
    let mut cs: Vec<Controller> = (0..3)
        .map(|i| start(dir.path(), i, &prefix, &endpoints))
        .collect();

    // One leads and starts the scale-out; kill it as soon as its first SE VM exists.
    let all: Vec<&Controller> = cs.iter().collect();
    let t = Instant::now();
    while vms(dir.path()) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no SE VM within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (first, s) = until(&all, "the VIP", Duration::from_secs(5), |s| {
        s["virtual_services"][0]["address"].is_string()
    })
    .await;
    let vip = s["virtual_services"][0]["address"].clone();
    let at_kill = vms(dir.path());
    // A standby refuses, naming the leader.
    let standby = cs.iter().find(|c| c.port != first).unwrap();
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/v1/virtual-services",
            standby.port
        ))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["leader"],
        format!("http://127.0.0.1:{first}"),
        "{body}"
    );
    let i = cs.iter().position(|c| c.port == first).unwrap();
    let mut dead = cs.remove(i);
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let killed = Instant::now();

    // Another takes over and finishes: every SE once, the VIP kept.
    let rest: Vec<&Controller> = cs.iter().collect();
    let (second, s) = until(&rest, "all SEs", Duration::from_secs(10), |s| {
        current(s) == SES as u64 && s["virtual_services"][0]["address"].is_string()
    })
    .await;
    eprintln!(
        "killed at {at_kill} SEs; the new leader had {SES} after {:?}",
        killed.elapsed()
    );
    assert_eq!(
        s["virtual_services"][0]["address"], vip,
        "the service keeps its VIP"
    );
    // The cloud's state file may trail the status by a write: every SE's VM, once, no more.
    let t = Instant::now();
    loop {
        let n = vms(dir.path());
        assert!(n <= SES, "{n} SE VMs for {SES} SEs: a duplicate or a leak");
        if n == SES {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{n} SE VMs, not {SES}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    standby_serves_reads(&cs, second, &vip).await;

    // Pause the new leader past its lease: the third leads; resumed, the paused one stops.
    let i = cs.iter().position(|c| c.port == second).unwrap();
    let paused = cs.remove(i);
    signal(&paused, "-STOP");
    let third: Vec<&Controller> = cs.iter().collect();
    until(&third, "a third leader", Duration::from_secs(8), |s| {
        current(s) == SES as u64
    })
    .await;
    signal(&paused, "-CONT");
    let mut paused = paused;
    let t = Instant::now();
    let status = loop {
        if let Some(st) = paused.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the resumed old leader did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(&paused.log).unwrap();
    assert!(
        !status.success() && log.contains("lost the leadership"),
        "{status}: {log}"
    );
    assert_eq!(
        vms(dir.path()),
        SES,
        "the resumed old leader created nothing"
    );
    let (_, s) = until(&third, "the same state", Duration::from_secs(3), |_| true).await;
    assert_eq!(current(&s), SES as u64);
    assert_eq!(s["virtual_services"][0]["address"], vip);
}

/// The A records `ctl`'s DNS answers for the service, asked with hickory-client.
async fn dns_answer(ctl: &Controller) -> (ResponseCode, bool, Vec<String>) {
    let conn = UdpClientStream::builder(ctl.dns, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(1)))
        .build();
    let (mut client, bg) = Client::connect(conn).await.unwrap();
    let bg = tokio::spawn(bg);
    let r = client
        .query(
            Name::from_str("shop.apps.example.com.").unwrap(),
            DNSClass::IN,
            RecordType::A,
        )
        .await
        .unwrap();
    bg.abort();
    let a = r
        .answers()
        .iter()
        .filter_map(|r| r.data().as_a().map(|a| a.to_string()))
        .collect();
    (r.response_code(), r.authoritative(), a)
}

/// A standby (any controller but `leader`) answers a GET and a DNS query with the leader's
/// data, marked as a standby's, and refuses a write naming the leader.
async fn standby_serves_reads(cs: &[Controller], leader: u16, vip: &Value) {
    let standby = cs.iter().find(|c| c.port != leader).unwrap();
    let leader_url = format!("http://127.0.0.1:{leader}");
    let c = reqwest::Client::new();
    let t = Instant::now();
    loop {
        let r = c
            .get(format!(
                "http://127.0.0.1:{}/api/v1/virtual-services/shop",
                standby.port
            ))
            .bearer_auth("tok")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "a standby serves reads");
        assert_eq!(r.headers()["x-strato-role"], "standby");
        let named = r.headers().get("x-strato-leader").cloned();
        let body: Value = r.json().await.unwrap();
        if body["fqdn"] == "shop.apps.example.com"
            && named.as_ref().is_some_and(|l| *l == leader_url)
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the standby's view never caught up: {body}, leader {named:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its status shows the leader's VIP; without the token, nothing.
    let r = c
        .get(format!("http://127.0.0.1:{}/api/v1/status", standby.port))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["virtual_services"][0]["address"], *vip, "{s}");
    let r = c
        .get(format!("http://127.0.0.1:{}/api/v1/status", standby.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // DNS: the standby answers as the leader does, from the zone and records in etcd. (No
    // agent reports to `controller run` on the memory cloud, so no SE serves and neither
    // publishes shop's A record: the A record itself is checked in process, in the
    // controller's tests/it/standby.rs.)
    let t = Instant::now();
    loop {
        let led = dns_answer(cs_by_port(cs, leader)).await;
        let stood = dns_answer(standby).await;
        if led == stood && stood.1 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "DNS: leader {led:?}, standby {stood:?}, VIP {vip}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A write: refused, naming the leader (and nothing else answers it).
    let r = c
        .put(format!(
            "http://127.0.0.1:{}/api/v1/virtual-services/shop",
            standby.port
        ))
        .bearer_auth("tok")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "standby");
    assert_eq!(body["leader"], leader_url, "{body}");
}

fn cs_by_port(cs: &[Controller], port: u16) -> &Controller {
    cs.iter().find(|c| c.port == port).unwrap()
}
