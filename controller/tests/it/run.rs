//! `controller run --config FILE`: configuration, registry, redb store, API and DNS wired up.

use std::sync::Arc;
use std::time::Duration;
use strato_core::registry::Registry;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn run_serves_the_bootstrapped_state_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (api, dns) = (free_port(), free_port());
    let owner = format!("run{}", std::process::id());
    let cfg = format!(
        r#"
default_profile = "lab"

[controller]
api_listen = "127.0.0.1:{api}"
dns_listen = "127.0.0.1:{dns}"
token = "tok"
store = "state/controller.redb"
report_interval = "1s"

[profiles.lab]
kind = "memory"
owner = "{owner}"
boot_latency = "100ms"

[[ipam_pools]]
name = "vips"
network = "default"
cidr = "10.0.200.0/24"

[[dns_zones]]
name = "apps.example.com"

[[se_groups]]
name = "web"
cloud = "lab"
max_ses = 2
template = {{ size = "1x1g", image = "se-1" }}
capacity = {{ rps = 100.0, connections = 1000 }}

[[virtual_services]]
name = "shop"
fqdn = "shop.apps.example.com"
se_group = "web"
ports = [{{ port = 80, protocol = "http" }}]
"#
    );
    let path = dir.path().join("controller.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(strato_memory::MemoryFactory));
    let p = path.clone();
    let server = tokio::spawn(async move { strato_controller::cli::run(&p, &registry).await });

    let c = reqwest::Client::new();
    let mut status = serde_json::Value::Null;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(r) = c
            .get(format!("http://127.0.0.1:{api}/api/v1/status"))
            .bearer_auth("tok")
            .send()
            .await
            && r.status() == 200
        {
            status = r.json().await.unwrap();
            if status["virtual_services"][0]["address"].is_string()
                && status["groups"][0]["current"].as_u64() == Some(1)
            {
                break;
            }
        }
    }
    assert!(
        status["virtual_services"][0]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("10.0.200.")),
        "{status}"
    );
    let r = c
        .get(format!("http://127.0.0.1:{api}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the token is required");
    assert!(
        dir.path().join("state/controller.redb").exists(),
        "the redb store was created next to the config"
    );
    server.abort();
}
