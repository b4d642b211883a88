//! A standby next to a leader on one etcd (fixtures/etcd/up): the leader runs the real
//! controller with simulated agents on the memory cloud; the standby, with its own connection
//! to etcd, answers the API's reads and DNS (asked with hickory-client) with the leader's data,
//! follows the leader's changes, and refuses writes naming the leader.

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::op::ResponseCode;
use hickory_client::proto::rr::{DNSClass, Name, RecordType};
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::udp::UdpClientStream;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strato_controller::ControllerOptions;
use strato_controller::agent::LoadModel;
use strato_controller::api::ApiOptions;
use strato_controller::standby::{self, StandbyOptions};
use strato_controller::store::{EtcdOptions, EtcdStore};
use strato_memory::{MemoryConfig, MemoryConnector};
use strato_testkit::HarnessConfig;

const LEADER: &str = "http://leader.test:8080";

fn etcd_options() -> EtcdOptions {
    let endpoints = std::env::var("STRATO_TEST_ETCD_ENDPOINTS").unwrap_or_else(|_| {
        panic!(
            "STRATO_TEST_ETCD_ENDPOINTS is not set: start etcd with \
             `fixtures/etcd/up DIR && . DIR/env` (scripts/test does)"
        )
    });
    let owner = strato_testkit::unique_owner("standby");
    EtcdOptions {
        endpoints: endpoints.split(',').map(str::to_owned).collect(),
        prefix: format!("/strato-test/{owner}"),
        timeout: Duration::from_secs(5),
        ..EtcdOptions::default()
    }
}

/// Second-scale options: real time, since etcd is a real process.
fn options() -> ControllerOptions {
    ControllerOptions {
        report_interval: Duration::from_secs(1),
        missed_reports: 3,
        resync: Duration::from_secs(1),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        long_poll: Duration::from_secs(2),
        ..ControllerOptions::default()
    }
}

/// (rcode, AA, the A records) `server` answers for `name`, asked with hickory-client.
async fn ask(server: SocketAddr, name: &str) -> (ResponseCode, bool, Vec<IpAddr>) {
    let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(2)))
        .build();
    let (mut client, bg) = Client::connect(conn).await.unwrap();
    let bg = tokio::spawn(bg);
    let r = client
        .query(Name::from_str(name).unwrap(), DNSClass::IN, RecordType::A)
        .await
        .unwrap();
    bg.abort();
    let a = r
        .answers()
        .iter()
        .filter_map(|r| r.data().as_a().map(|a| IpAddr::V4(a.0)))
        .collect();
    (r.response_code(), r.authoritative(), a)
}

/// Polls `f` every 100 ms until it holds, for at most `limit`.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> F,
) {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_answers_reads_and_dns_with_the_leaders_data_and_refuses_writes() {
    let opts = etcd_options();
    let store = Arc::new(EtcdStore::connect(&opts).await.unwrap());
    let _leadership = strato_controller::leader::campaign(&store, LEADER, Duration::from_secs(5))
        .await
        .unwrap();
    let cloud = Arc::new(
        MemoryConnector::from_settings(
            MemoryConfig {
                boot_latency: Duration::from_millis(200),
                ..MemoryConfig::default()
            },
            strato_testkit::unique_owner("standby"),
        )
        .unwrap(),
    );
    let h = HarnessConfig {
        options: options(),
        fleet_sync: Duration::from_millis(200),
        poll: Duration::from_millis(100),
        ..HarnessConfig::new("lab")
    }
    .start(cloud, store.clone(), Arc::new(LoadModel::new()))
    .await;
    h.setup(
        strato_testkit::group("lab", "se-1", "web", 2, 4),
        Some(strato_testkit::pool("10.0.200.0/24", &[])),
    )
    .await;
    h.ctl
        .apply_virtual_service(strato_testkit::vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for(
        "shop's VIP bound and in DNS",
        Duration::from_secs(15),
        || async {
            h.status()
                .vs("shop")
                .is_some_and(|v| v.bound_to.is_some() && v.dns.is_some())
        },
    )
    .await;
    let vip = h.status().vs("shop").unwrap().address.unwrap();
    let leader_dns = h.serve_dns().await;

    // The standby: its own etcd connection, its own API and DNS addresses.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sb = standby::start(
        Arc::new(EtcdStore::connect(&opts).await.unwrap()),
        listener,
        StandbyOptions {
            api: ApiOptions::with_token("tok"),
            controller: options(),
            refresh: Duration::from_millis(200),
            dns_listen: Some("127.0.0.1:0".parse().unwrap()),
        },
    )
    .await
    .unwrap();
    let sb_dns = sb.dns_addr().unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{base}/api/v1{path}"))
            .bearer_auth("tok")
            .send()
    };

    // A read: the leader's data, marked as a standby's and naming the leader.
    eventually(
        "the standby's status shows shop's VIP",
        Duration::from_secs(5),
        || async {
            let r = get("/status").await.unwrap();
            if r.status() != 200 {
                return false;
            }
            assert_eq!(r.headers()["x-strato-role"], "standby");
            assert_eq!(r.headers()["x-strato-leader"], LEADER);
            let s: Value = r.json().await.unwrap();
            s["virtual_services"][0]["address"] == vip.to_string()
        },
    )
    .await;
    let r = http
        .get(format!("{base}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the same authentication as the leader's");

    // DNS: the same answer as the leader's, authoritative.
    assert_eq!(
        ask(leader_dns.addr, "shop.apps.example.com.").await,
        (ResponseCode::NoError, true, vec![vip])
    );
    eventually(
        "the standby's DNS answers shop",
        Duration::from_secs(5),
        || async {
            ask(sb_dns, "shop.apps.example.com.").await == (ResponseCode::NoError, true, vec![vip])
        },
    )
    .await;
    assert_eq!(
        ask(sb_dns, "nope.apps.example.com.").await.0,
        ResponseCode::NXDomain
    );

    // A write: refused, naming the leader; and the reads that need the leader's cloud too.
    for r in [
        http.post(format!("{base}/api/v1/virtual-services"))
            .bearer_auth("tok")
            .json(&serde_json::json!({"name": "cart"}))
            .send()
            .await
            .unwrap(),
        get("/orphans").await.unwrap(),
    ] {
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "standby", "{body}");
        assert_eq!(body["leader"], LEADER, "{body}");
    }

    // The leader's changes reach the standby.
    h.ctl
        .apply_virtual_service(strato_testkit::vs("cart", "web"))
        .await
        .unwrap();
    eventually("the standby sees cart", Duration::from_secs(5), || async {
        get("/virtual-services/cart").await.unwrap().status() == 200
    })
    .await;
    sb.stop().await;
    h.crash().await;
}
