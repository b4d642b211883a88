//! Three `strato controller run` processes on one etcd (fixtures/etcd/up) and one memory cloud
//! (a state file the three share): one leads; the leader killed in the middle of a scale-out,
//! another finishes it with no duplicate SE and the service keeps its VIP; a leader paused
//! (SIGSTOP) past its lease is replaced, and once resumed it neither writes nor calls the cloud
//! but stops. A standby answers reads (the API's GETs, and DNS, asked with hickory-client) with
//! the leader's data and refuses writes naming the leader.
//!
//! With `--features aws`, the same kill in the middle of a scale-out on moto, checked in EC2
//! itself: exactly the wanted instances of the test's owner, the VIP address kept, and a
//! teardown that leaves no instance and no secondary address on an ENI.

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

/// The memory cloud, its pool, zone, group and service (everything after `[controller]`).
fn memory_cloud() -> String {
    format!(
        r#"
default_profile = "lab"

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
"#
    )
}

fn start(dir: &Path, i: usize, prefix: &str, endpoints: &str) -> Controller {
    start_on(dir, i, prefix, endpoints, &memory_cloud(), "", &[])
}

/// Controller `i` on etcd at `endpoints` under `prefix`, with `cloud` (profiles, pools,
/// zones, groups and services) before its `[controller]` table, `more` in that table and
/// `env` in its environment.
fn start_on(
    dir: &Path,
    i: usize,
    prefix: &str,
    endpoints: &str,
    cloud: &str,
    more: &str,
    env: &[(&str, &str)],
) -> Controller {
    let port = free_port();
    let dns: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let eps: Vec<String> = endpoints.split(',').map(|e| format!("\"{e}\"")).collect();
    let cfg = format!(
        r#"{cloud}
[controller]
api_listen = "127.0.0.1:{port}"
dns_listen = "{dns}"
token = "tok"
store = {{ kind = "etcd", endpoints = [{eps}], prefix = "{prefix}", lease_ttl = "{TTL}" }}
report_interval = "1s"
creates_per_pass = 1
{more}
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
        .envs(env.iter().copied())
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

    // DNS: the standby answers as the leader does, from the zone and records in etcd: shop's
    // A record is the VIP (`controller run` on the memory cloud runs an agent per SE, so the
    // new leader's SEs serve and the record is published).
    let vip_s = vip.as_str().expect("the VIP is an address").to_owned();
    let t = Instant::now();
    loop {
        let led = dns_answer(cs_by_port(cs, leader)).await;
        let stood = dns_answer(standby).await;
        if led == stood && stood.1 && stood.2 == [vip_s.clone()] {
            break;
        }
        // The new leader's SEs must report healthy through their agents before the record is
        // published: seconds when the machine is loaded (a whole test suite beside it).
        assert!(
            t.elapsed() < Duration::from_secs(20),
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

/// The same failover on AWS: three controllers on etcd drive moto (`fixtures/moto/up`); the
/// leader is killed in the middle of the scale-out of 3 SEs, another finishes it, and what is
/// checked is EC2 itself (raw queries, by this test's owner tag), not only the status.
#[cfg(feature = "aws")]
mod aws {
    use super::*;

    /// This test's moto region (no other suite uses it: see strato-testkit's `moto::region`).
    const REGION: &str = "ap-northeast-3";
    /// A default AMI moto ships.
    const AMI: &str = "ami-12c6146b";
    const AWS_SES: usize = 3;

    fn moto_url() -> String {
        match std::env::var("STRATO_TEST_MOTO_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => panic!(
                "STRATO_TEST_MOTO_URL is not set: start moto with \
                 `fixtures/moto/up DIR && . DIR/env` (scripts/test does)"
            ),
        }
    }

    /// One EC2 query API call to moto, raw (moto reads the region from the credential scope
    /// and checks no signature): the XML it answers.
    async fn ec2(url: &str, params: &[(&str, &str)]) -> String {
        let mut form = vec![("Version", "2016-11-15")];
        form.extend_from_slice(params);
        let r = reqwest::Client::new()
            .post(format!("{url}/"))
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{params:?}: {}", r.status());
        r.text().await.unwrap()
    }

    /// The texts of every `<tag>` element of `xml`.
    fn texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        xml.split(&open)
            .skip(1)
            .filter_map(|s| s.split(&close).next())
            .collect()
    }

    /// The ids of `owner`'s instances that are pending or running.
    async fn live_instances(url: &str, owner: &str) -> Vec<String> {
        let xml = ec2(
            url,
            &[
                ("Action", "DescribeInstances"),
                ("Filter.1.Name", "tag:strato-owner"),
                ("Filter.1.Value.1", owner),
                ("Filter.2.Name", "instance-state-name"),
                ("Filter.2.Value.1", "pending"),
                ("Filter.2.Value.2", "running"),
            ],
        )
        .await;
        // An instance's own id comes first in its item; its ENIs' attachments name it again.
        let mut ids: Vec<String> = texts(&xml, "instanceId")
            .into_iter()
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The XML of `owner`'s ENIs: those attached to its instances `ids`, and those its VIPs
    /// are on (tagged `strato-vip-owner`; moto drops the owner tag a launch asks for on them).
    async fn enis(url: &str, owner: &str, ids: &[String]) -> String {
        let mut xml = ec2(
            url,
            &[
                ("Action", "DescribeNetworkInterfaces"),
                ("Filter.1.Name", "tag:strato-vip-owner"),
                ("Filter.1.Value.1", owner),
            ],
        )
        .await;
        let keys: Vec<String> = (1..=ids.len())
            .map(|i| format!("Filter.1.Value.{i}"))
            .collect();
        let mut q = vec![
            ("Action", "DescribeNetworkInterfaces"),
            ("Filter.1.Name", "attachment.instance-id"),
        ];
        q.extend(
            keys.iter()
                .map(String::as_str)
                .zip(ids.iter().map(String::as_str)),
        );
        if !ids.is_empty() {
            xml += &ec2(url, &q).await;
        }
        xml
    }

    /// The default subnet of the region's first zone, and its CIDR.
    async fn subnet(url: &str) -> (String, String) {
        let xml = ec2(
            url,
            &[
                ("Action", "DescribeSubnets"),
                ("Filter.1.Name", "availability-zone"),
                ("Filter.1.Value.1", &format!("{REGION}a")),
                ("Filter.2.Name", "default-for-az"),
                ("Filter.2.Value.1", "true"),
            ],
        )
        .await;
        (
            texts(&xml, "subnetId")[0].to_owned(),
            texts(&xml, "cidrBlock")[0].to_owned(),
        )
    }

    fn cloud(url: &str, owner: &str, subnet: &str, cidr: &str) -> String {
        // The pool is the subnet's top half: moto gives primary addresses from the bottom.
        let net: ipnet::Ipv4Net = cidr.parse().unwrap();
        let top = ipnet::Ipv4Net::new(net.network(), net.prefix_len() + 1)
            .unwrap()
            .broadcast();
        format!(
            r#"
default_profile = "moto"

[profiles.moto]
kind = "aws"
owner = "{owner}"
region = "{REGION}"
endpoint_url = "{url}"

[profiles.moto.retry]
max_attempts = 3

[[ipam_pools]]
name = "vips"
network = "{subnet}"
cidr = "{cidr}"
reserved = [{{ start = "{bottom}", end = "{top}" }}]

[[dns_zones]]
name = "apps.example.com"
ttl = 5

[[se_groups]]
name = "web"
cloud = "moto"
min_ses = {AWS_SES}
max_ses = {AWS_SES}
template = {{ size = "t3.micro", image = "{AMI}", network = "{subnet}" }}
capacity = {{ rps = 100.0, connections = 1000 }}

[[virtual_services]]
name = "shop"
fqdn = "shop.apps.example.com"
se_group = "web"
ports = [{{ port = 80, protocol = "http" }}]
"#,
            bottom = net.network(),
        )
    }

    /// No agent runs on moto's SEs: none is ever report-less long enough to be judged
    /// unreachable and replaced (a fourth instance, on purpose).
    const QUIET: &str = "missed_reports = 600";

    const CREDENTIALS: [(&str, &str); 3] = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];

    #[tokio::test]
    async fn on_moto_a_dead_leaders_scale_out_is_finished_once_and_the_vip_kept() {
        let (endpoints, url) = (etcd_endpoints(), moto_url());
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("/strato-ha-aws/{}-{}", std::process::id(), free_port());
        let owner = format!("ha-p{}-{}", std::process::id(), free_port());
        let (subnet, cidr) = subnet(&url).await;
        let cloud = cloud(&url, &owner, &subnet, &cidr);
        let mut cs: Vec<Controller> = (0..3)
            .map(|i| {
                start_on(
                    dir.path(),
                    i,
                    &prefix,
                    &endpoints,
                    &cloud,
                    QUIET,
                    &CREDENTIALS,
                )
            })
            .collect();

        // One leads and starts the scale-out; kill it as soon as EC2 has its first SE.
        let t = Instant::now();
        while live_instances(&url, &owner).await.is_empty() {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "no SE instance within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all: Vec<&Controller> = cs.iter().collect();
        let (first, s) = until(&all, "the VIP", Duration::from_secs(5), |s| {
            s["virtual_services"][0]["address"].is_string()
        })
        .await;
        let vip = s["virtual_services"][0]["address"].clone();
        let at_kill = live_instances(&url, &owner).await.len();
        let i = cs.iter().position(|c| c.port == first).unwrap();
        let mut dead = cs.remove(i);
        dead.child.kill().unwrap();
        dead.child.wait().unwrap();
        let killed = Instant::now();

        // Another takes over and finishes: every SE once, the VIP kept.
        let rest: Vec<&Controller> = cs.iter().collect();
        let (second, s) = until(&rest, "all SEs", Duration::from_secs(20), |s| {
            current(s) == AWS_SES as u64 && s["virtual_services"][0]["address"].is_string()
        })
        .await;
        eprintln!(
            "killed at {at_kill} instances; the new leader had {AWS_SES} SEs after {:?}",
            killed.elapsed()
        );
        assert_eq!(
            s["virtual_services"][0]["address"], vip,
            "the service keeps its VIP"
        );
        // EC2 may trail the status (an SE being created counts): every SE's instance, once.
        let t = Instant::now();
        let ids = loop {
            let ids = live_instances(&url, &owner).await;
            assert!(
                ids.len() <= AWS_SES,
                "{ids:?} for {AWS_SES} SEs: a duplicate or a leak"
            );
            if ids.len() == AWS_SES {
                break ids;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{ids:?}, not {AWS_SES} instances"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // DNS: the new leader and a standby (which answers from the store) agree, and both
        // say what is true: no agent reports on moto, so no SE serves, the VIP stays unbound
        // and the name is not published (NXDOMAIN, authoritative). The A record across a
        // failover is checked on the memory cloud, whose SEs run agents.
        let vip_s = vip.as_str().unwrap().to_owned();
        let standby = cs.iter().find(|c| c.port != second).unwrap();
        let t = Instant::now();
        loop {
            let led = dns_answer(cs_by_port(&cs, second)).await;
            let stood = dns_answer(standby).await;
            if led == stood && stood.1 && stood.0 == ResponseCode::NXDomain {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "DNS: leader {led:?}, standby {stood:?}, VIP {vip_s}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (_, s) = until(&rest, "the same VIP", Duration::from_secs(3), |_| true).await;
        assert_eq!(s["virtual_services"][0]["address"], vip, "{s}");
        // Nothing more comes later either (a create the dead leader left in flight, say).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let logs: Vec<String> = cs
            .iter()
            .chain([&dead])
            .map(|c| std::fs::read_to_string(&c.log).unwrap_or_default())
            .collect();
        assert_eq!(
            live_instances(&url, &owner).await,
            ids,
            "nothing more made; the controllers' logs: {logs:#?}"
        );

        // Teardown through the leader: no instance, no ENI and no address of ours is left.
        let c = reqwest::Client::new();
        for what in ["virtual-services/shop", "se-groups/web"] {
            let r = c
                .delete(format!("http://127.0.0.1:{second}/api/v1/{what}"))
                .bearer_auth("tok")
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "DELETE {what}: {}", r.status());
        }
        // No instance of ours is left, and no secondary address on any ENI of ours (each has
        // its primary alone). moto keeps a terminated instance's primary ENI, attached to it
        // (EC2 deletes it with the instance): those are the only ENIs left, none live.
        let t = Instant::now();
        loop {
            let left = live_instances(&url, &owner).await;
            let nics = enis(&url, &owner, &ids).await;
            let mut nic_ids = texts(&nics, "networkInterfaceId");
            let mut addrs = texts(&nics, "privateIpAddress");
            let mut on = texts(&nics, "instanceId");
            for v in [&mut nic_ids, &mut addrs, &mut on] {
                v.sort();
                v.dedup();
            }
            if left.is_empty()
                && addrs.len() == nic_ids.len()
                && !addrs.contains(&&*vip_s)
                && on.iter().all(|i| ids.iter().any(|x| x == i))
            {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "after the teardown: instances {left:?}, ENIs {nic_ids:?} with {addrs:?} on {on:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
