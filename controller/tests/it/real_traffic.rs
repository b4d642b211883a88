//! Proof with real traffic: `controller run` on the memory cloud in its process mode, where
//! every SE is a real `strato-agent` process running HAProxy on a loopback address of its
//! own, real HTTP servers behind them, and a bounded load generator that asks the
//! controller's DNS for the service's address and sends real HTTP requests to it.
//!
//! Needs HAProxy (`STRATO_TEST_HAPROXY_BIN`, exported by `fixtures/haproxy/up`) and the agent
//! binary (`STRATO_TEST_AGENT_BIN`, else `strato-agent` in this test's target directory:
//! `cargo build -p strato-agent`).

use crate::common::traffic::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strato_core::registry::Registry;
use strato_testkit::dns_query_within;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_agents_and_haproxy_serve_scale_reload_fail_over_and_drop_a_bad_server() {
    let (haproxy, agent) = (haproxy_bin(), agent_bin());
    let dir = tempfile::tempdir().unwrap();
    let (api_port, dns_port) = (free_port(), free_port());
    let (b1, _b1) = backend("b1").await;
    let (b2, b2_task) = backend("b2").await;
    let (b3, _b3) = backend("b3").await;
    let owner = format!("traffic{}", std::process::id());
    let cfg = format!(
        r#"
default_profile = "lab"

[controller]
api_listen = "127.0.0.1:{api_port}"
dns_listen = "127.0.0.1:{dns_port}"
token = "tok"
store = "state/controller.redb"
report_interval = "1s"
missed_reports = 3
memory_agents = "process"
memory_agent_bin = "{agent}"
memory_haproxy_bin = "{haproxy}"

[profiles.lab]
kind = "memory"
owner = "{owner}"
boot_latency = "200ms"
network_cidr = "127.77.0.0/16"

[[ipam_pools]]
name = "vips"
network = "default"
cidr = "127.77.200.0/24"

[[dns_zones]]
name = "apps.example.com"
ttl = 1

[[se_groups]]
name = "web"
cloud = "lab"
min_ses = 1
max_ses = 3
template = {{ size = "1x1g", image = "se-1" }}
capacity = {{ rps = 20.0, connections = 1000 }}
ha = {{ mode = "elastic", buffer = 0 }}
autoscale = {{ target_utilisation = 0.6, tolerance = 0.1, scale_down_window = "5m" }}

[[virtual_services]]
name = "shop"
fqdn = "shop.apps.example.com"
se_group = "web"
ports = [{{ port = 8080, protocol = "http" }}]
servers = [{{ address = "{b1ip}", port = {b1p} }}, {{ address = "{b2ip}", port = {b2p} }}]
"#,
        agent = agent.display(),
        haproxy = haproxy.display(),
        b1ip = b1.ip(),
        b1p = b1.port(),
        b2ip = b2.ip(),
        b2p = b2.port(),
    );
    let path = dir.path().join("controller.toml");
    std::fs::write(&path, cfg).unwrap();
    let args = strato_controller::cli::RunArgs {
        config: path.clone(),
        insecure: false,
    };
    let server = tokio::spawn(async move {
        let mut registry = Registry::new();
        registry.register(Arc::new(strato_memory::MemoryFactory));
        strato_controller::cli::run(&args, &registry).await
    });
    let api = Api {
        c: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{api_port}"),
    };
    let dns: SocketAddr = format!("127.0.0.1:{dns_port}").parse().unwrap();
    let fqdn = "shop.apps.example.com.";

    // 1. The SE's agent serves: DNS answers the VIP and HTTP through it reaches a server.
    api.wait("one SE serving shop", Duration::from_secs(15), |s| {
        healthy(s).len() == 1 && shop(s)["dns"].is_string()
    })
    .await;
    let vip = dns_query_within(dns, fqdn, Duration::from_secs(2)).await[0];
    assert!(vip.to_string().starts_with("127.77.200."), "{vip}");
    // DNS answers once the VIP is bound; the agent's HAProxy binds it at its next reload.
    let start = Instant::now();
    let body = loop {
        match reqwest::get(format!("http://{vip}:8080/")).await {
            Ok(r) => break r.text().await.unwrap(),
            Err(e) => assert!(
                start.elapsed() < Duration::from_secs(10),
                "nothing serves {vip}:8080: {e}; agent log: {}",
                std::fs::read_to_string(dir.path().join("state/agents/lab/web-1/agent.log"))
                    .unwrap_or_default()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "first answer through the VIP after {:.1}s",
        start.elapsed().as_secs_f64()
    );
    assert!(body == "b1" || body == "b2", "{body}");

    // 2. Load measured by the agents scales the group out: 40 rps on 20-rps SEs at 60 %.
    let tally = Arc::new(Tally::default());
    let gen_task = load(dns, fqdn, 8080, 40, tally.clone());
    let s = api
        .wait(
            "the measured load asks for more SEs",
            Duration::from_secs(15),
            |s| s["groups"][0]["desired"].as_u64().is_some_and(|d| d >= 2),
        )
        .await;
    let why = s["groups"][0]["recommendation"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    println!("scale-out: {why}");
    assert!(
        why.contains("utilisation"),
        "driven by the measured load: {why}"
    );
    api.wait(
        "shop spread over the new SEs",
        Duration::from_secs(15),
        |s| {
            healthy(s).len() >= 2
                && shop(s)["placement"]
                    .as_array()
                    .is_some_and(|p| p.len() >= 2)
        },
    )
    .await;
    let s = api
        .wait(
            "every SE carrying shop reported its load",
            Duration::from_secs(10),
            |s| shop(s)["load"]["rps"].as_f64().is_some_and(|r| r > 10.0),
        )
        .await;
    println!("load the agents measured: {}", shop(&s)["load"]);

    // 3. A server added: every SE reloads, no request fails.
    let before = tally.snapshot();
    let mut v: serde_json::Value = api
        .c
        .get(format!("{}/api/v1/virtual-services/shop", api.base))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["servers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"address": b3.ip(), "port": b3.port()}));
    let r = api
        .c
        .put(format!("{}/api/v1/virtual-services/shop", api.base))
        .bearer_auth("tok")
        .json(&v)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    api.wait(
        "the third server checked up on every SE",
        Duration::from_secs(10),
        |s| {
            shop(s)["servers"]
                .as_array()
                .is_some_and(|l| l.len() == 3 && l.iter().all(|x| x["health"] == "up"))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = tally.snapshot();
    println!(
        "reload: {} requests, {} failed",
        after.0 + after.1 - before.0 - before.1,
        after.1 - before.1
    );
    assert!(after.0 > before.0, "requests were served meanwhile");
    assert_eq!(after.1, before.1, "no request failed across the reload");

    // 4. A server that fails its checks is taken out.
    b2_task.abort();
    let b2s = b2.to_string();
    api.wait("b2 down in the status", Duration::from_secs(10), |s| {
        shop(s)["servers"].as_array().is_some_and(|l| {
            l.iter().any(|x| {
                format!("{}:{}", x["address"].as_str().unwrap_or(""), x["port"]) == b2s
                    && x["health"] == "down"
            })
        })
    })
    .await;
    // Out of the rotation: no request sent once its checks failed fails. (Requests sent to
    // it before may still time out: the window opens after the client's 2 s timeout.)
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = tally.snapshot();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = tally.snapshot();
    println!(
        "with b2 down: {} requests, {} failed",
        after.0 + after.1 - before.0 - before.1,
        after.1 - before.1
    );
    assert!(after.0 > before.0, "requests were served meanwhile");
    assert_eq!(
        after.1,
        before.1,
        "no request goes to the server that is down: {:?}",
        tally.last_error.lock().unwrap()
    );

    // 5. The primary's HAProxy killed: it is unhealthy, the VIP moves and it is replaced.
    let s = api.status().await;
    let primary = shop(&s)["bound_to"].as_str().unwrap().to_owned();
    let run_dir = dir.path().join("state/agents/lab").join(&primary);
    let pids = haproxy_pids(&run_dir);
    assert!(
        !pids.is_empty(),
        "no HAProxy of {primary} under {}",
        run_dir.display()
    );
    let before = tally.snapshot();
    let killed = Instant::now();
    for pid in &pids {
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", &pid.to_string()])
            .status();
    }
    let s = api
        .wait(
            "the VIP moved off the failed SE",
            Duration::from_secs(10),
            |s| {
                shop(s)["bound_to"].as_str().is_some_and(|b| b != primary)
                    && shop(s)["dns"].is_string()
            },
        )
        .await;
    println!(
        "VIP moved to {} after {:.1}s",
        shop(&s)["bound_to"],
        killed.elapsed().as_secs_f64()
    );
    api.wait("the failed SE replaced", Duration::from_secs(15), |s| {
        let names: Vec<&str> = s["groups"][0]["ses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["name"].as_str())
            .collect();
        !names.contains(&primary.as_str()) && healthy(s).len() >= 2
    })
    .await;
    let replaced = tally.snapshot();
    // Requests sent during the failover may still be timing out (2 s): wait them out, then
    // count; the service serves on meanwhile.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = tally.snapshot();
    println!(
        "failover ({:.1}s from the kill to the replacement): {} requests, {} failed",
        killed.elapsed().as_secs_f64() - 2.1,
        replaced.0 + replaced.1 - before.0 - before.1,
        after.1 - before.1
    );
    assert!(
        after.0 > replaced.0,
        "the service serves after the failover"
    );
    gen_task.abort();
    server.abort();
    let _ = server.await;
}
