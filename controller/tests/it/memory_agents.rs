//! `controller run` on the memory cloud, as a new user runs it: every SE boots from its
//! first-boot document and runs an agent, so the SE stays and DNS answers the service's VIP;
//! the document's credential opens that SE's agent paths and no other's, and is in no log line
//! and no status.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strato_agent::bootstrap::AgentBootstrap;
use strato_core::VmId;
use strato_core::registry::Registry;
use strato_memory::{MemoryBackend, MemoryConfig};
use strato_testkit::dns_query_within;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Log lines, written where a test can read them.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// The issue's reproduction: one SE group, one service, reports every second. `extra` goes in
/// the `[controller]` section.
fn write_config(dir: &Path, api: u16, dns: u16, min_ses: u32, extra: &str) -> std::path::PathBuf {
    let owner = format!("boot{}-{api}", std::process::id());
    let cfg = format!(
        r#"
default_profile = "lab"

[controller]
api_listen = "127.0.0.1:{api}"
dns_listen = "127.0.0.1:{dns}"
token = "tok"
store = "state/controller.redb"
report_interval = "1s"
{extra}

[profiles.lab]
kind = "memory"
owner = "{owner}"
boot_latency = "200ms"

[[ipam_pools]]
name = "vips"
network = "default"
cidr = "10.0.200.0/24"

[[dns_zones]]
name = "apps.example.com"

[[se_groups]]
name = "web"
cloud = "lab"
min_ses = {min_ses}
max_ses = 4
template = {{ size = "1x1g", image = "se-1" }}
capacity = {{ rps = 100.0, connections = 1000 }}

[[virtual_services]]
name = "shop"
fqdn = "shop.apps.example.com"
se_group = "web"
ports = [{{ port = 80, protocol = "http" }}]
servers = [{{ address = "192.168.1.10", port = 8080 }}]
"#
    );
    let path = dir.join("controller.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn run(path: &Path) -> impl Future<Output = anyhow::Result<()>> + 'static {
    let args = strato_controller::cli::RunArgs {
        config: path.to_owned(),
        insecure: false,
    };
    async move {
        let mut registry = Registry::new();
        registry.register(Arc::new(strato_memory::MemoryFactory));
        strato_controller::cli::run(&args, &registry).await
    }
}

async fn status(c: &reqwest::Client, api: u16) -> serde_json::Value {
    match c
        .get(format!("http://127.0.0.1:{api}/api/v1/status"))
        .bearer_auth("tok")
        .send()
        .await
    {
        Ok(r) if r.status() == 200 => r.json().await.unwrap(),
        _ => serde_json::Value::Null,
    }
}

fn healthy_ses(s: &serde_json::Value) -> Vec<String> {
    s["groups"][0]["ses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|se| se["health"] == "healthy")
        .map(|se| se["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn controller_run_on_the_memory_cloud_serves_and_its_ses_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (api, dns) = (free_port(), free_port());
    let path = write_config(dir.path(), api, dns, 1, "");
    let server = tokio::spawn(run(&path));
    let c = reqwest::Client::new();
    let dns_addr = format!("127.0.0.1:{dns}").parse().unwrap();
    let start = Instant::now();
    let vip = loop {
        assert!(!server.is_finished(), "run stopped: {:?}", server.await);
        let s = status(&c, api).await;
        let answer =
            dns_query_within(dns_addr, "shop.apps.example.com.", Duration::from_secs(2)).await;
        if healthy_ses(&s) == ["web-1"] && !answer.is_empty() {
            assert_eq!(
                answer[0].to_string(),
                s["virtual_services"][0]["address"].as_str().unwrap()
            );
            break answer[0];
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no healthy SE serving shop with DNS after 10 s: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Longer than 6 missed reports at 1 s: an SE without an agent is replaced by now (the
    // issue saw web-1 to web-10 in 25 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let s = status(&c, api).await;
    let names: Vec<&str> = s["groups"][0]["ses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|se| se["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1"], "the SE stayed, none was replaced: {s}");
    assert_eq!(healthy_ses(&s), ["web-1"], "{s}");
    let answer = dns_query_within(dns_addr, "shop.apps.example.com.", Duration::from_secs(2)).await;
    assert_eq!(answer, [vip], "DNS still answers the VIP");
    server.abort();
}

#[tokio::test]
async fn each_se_boots_with_a_credential_for_its_own_paths_only_and_never_shown() {
    let logs = Logs::default();
    // The test's runtime has one thread: the spawned `run` logs through this subscriber too.
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (api, dns) = (free_port(), free_port());
    // Two SEs, and no agents: the test reads the documents and speaks for the SEs itself.
    let path = write_config(dir.path(), api, dns, 2, "memory_agents = \"off\"");
    let server = tokio::spawn(run(&path));
    let c = reqwest::Client::new();
    let start = Instant::now();
    let vms: Vec<(String, String)> = loop {
        assert!(!server.is_finished(), "run stopped: {:?}", server.await);
        let s = status(&c, api).await;
        let vms: Vec<(String, String)> = s["groups"][0]["ses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|se| {
                Some((
                    se["name"].as_str()?.to_owned(),
                    se["vm_id"].as_str()?.to_owned(),
                ))
            })
            .collect();
        if vms.len() == 2 {
            break vms;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no two SE VMs: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The guest's view: the memory account's metadata service, in its state file next to the
    // store.
    let backend = MemoryBackend::new(MemoryConfig {
        state_file: Some(dir.path().join("state/memory-memory.json")),
        ..MemoryConfig::default()
    })
    .unwrap();
    let mut boots = Vec::new();
    for (se, vm) in &vms {
        let doc = backend
            .bootstrap_of(&VmId::new(vm.clone()))
            .unwrap()
            .unwrap_or_else(|| panic!("{se} was created without a first-boot document"));
        let b = AgentBootstrap::from_user_data(doc.expose()).unwrap();
        assert_eq!(&b.se, se);
        assert_eq!(b.controllers, [format!("http://127.0.0.1:{api}")]);
        assert_eq!(b.ca_pem, None, "plain HTTP: no CA");
        boots.push(b);
    }
    let (a, b) = (&boots[0], &boots[1]);
    assert_ne!(a.credential, b.credential, "one credential per SE");
    let get = |se: &str, cred: &str| {
        c.get(format!("http://127.0.0.1:{api}/api/v1/ses/{se}/config"))
            .bearer_auth(cred)
            .send()
    };
    assert_eq!(get(&a.se, &a.credential).await.unwrap().status(), 200);
    assert_eq!(get(&b.se, &b.credential).await.unwrap().status(), 200);
    assert_eq!(
        get(&b.se, &a.credential).await.unwrap().status(),
        403,
        "one SE's credential opens no other SE's paths"
    );
    let report = serde_json::json!({"rps": 0.0, "connections": 0, "health": "up"});
    let r = c
        .post(format!("http://127.0.0.1:{api}/api/v1/ses/{}/report", a.se))
        .bearer_auth(&a.credential)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = c
        .get(format!("http://127.0.0.1:{api}/api/v1/status"))
        .bearer_auth(&a.credential)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an SE's credential is no admin token");

    let s = status(&c, api).await.to_string();
    server.abort();
    let _ = server.await;
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("creating SE"),
        "the logs were captured: {logs}"
    );
    for boot in &boots {
        assert!(
            !s.contains(&boot.credential),
            "the status shows a credential"
        );
        assert!(
            !logs.contains(&boot.credential),
            "a log line shows a credential"
        );
    }
    assert!(
        !logs.contains("cloud-config"),
        "a log line shows a document"
    );
}
