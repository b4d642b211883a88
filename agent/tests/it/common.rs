//! What the agent's tests share: HAProxy's location, HTTP backends, a stub of the
//! controller's two agent endpoints, and configurations.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_agent::haproxy::{HaproxyOptions, HaproxyPlane};
use strato_agent::protocol::{
    Algorithm, Protocol, Role, SeConfig, SeReport, SeVsConfig, Server, ServicePort,
};
use tokio::sync::watch;

/// The haproxy binary of fixtures/haproxy.
pub fn haproxy_bin() -> std::path::PathBuf {
    std::env::var_os("STRATO_TEST_HAPROXY_BIN")
        .unwrap_or_else(|| {
            panic!(
                "STRATO_TEST_HAPROXY_BIN is not set: run `fixtures/haproxy/up DIR && . DIR/env` \
                 (scripts/test does) so the agent's tests have a real HAProxy"
            )
        })
        .into()
}

/// A HAProxy plane under a fresh temporary run directory (kept alive by the returned guard).
pub async fn plane() -> (Arc<HaproxyPlane>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let p = HaproxyPlane::start(HaproxyOptions {
        bin: haproxy_bin(),
        run_dir: dir.path().to_owned(),
        vip_interface: None,
        listen: None,
    })
    .await
    .unwrap();
    (Arc::new(p), dir)
}

/// An HTTP backend on `ip` answering its name, until the returned task is dropped/aborted.
pub async fn backend(ip: &str, name: &'static str) -> (Server, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let a = l.local_addr().unwrap();
    let app = Router::new().fallback(move || async move { name });
    let h = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (server(a), h)
}

/// The server for an address.
pub fn server(a: SocketAddr) -> Server {
    Server {
        address: a.ip(),
        port: a.port(),
        weight: 1,
    }
}

/// A port free on `ip` now.
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP virtual service, primary on this SE.
pub fn http_vs(name: &str, vip: &str, port: u16, servers: Vec<Server>) -> SeVsConfig {
    SeVsConfig {
        name: name.into(),
        fqdn: format!("{name}.example.com"),
        vip: Some(vip.parse().unwrap()),
        configure_vip: false,
        role: Role::Primary,
        serving: 1,
        ports: vec![ServicePort {
            port,
            protocol: Protocol::Http,
        }],
        servers,
        algorithm: Algorithm::RoundRobin,
        interface: None,
    }
}

/// An SE configuration.
pub fn se_config(version: u64, vss: Vec<SeVsConfig>) -> SeConfig {
    SeConfig {
        se: "web-1".into(),
        group: "web".into(),
        version,
        report_interval_secs: 1,
        virtual_services: vss,
    }
}

/// A fresh-connection GET (no pool), so every request goes through the listener.
pub async fn get_fresh(url: &str) -> Result<String, reqwest::Error> {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    c.get(url).send().await?.error_for_status()?.text().await
}

/// Waits until `f` holds, or panics with `what`.
pub async fn until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within {secs} s: {what}");
}

/// A stub of the controller's agent endpoints: hands out the configuration it holds
/// (long-polled), keeps every report, and checks the bearer credential.
#[derive(Clone)]
pub struct Stub {
    pub config: Arc<watch::Sender<Option<SeConfig>>>,
    pub reports: Arc<Mutex<Vec<SeReport>>>,
    credential: String,
}

impl Stub {
    /// Serves on 127.0.0.1; returns the stub and its base URL.
    pub async fn start(credential: &str) -> (Self, String) {
        let stub = Self {
            config: Arc::new(watch::channel(None).0),
            reports: Arc::default(),
            credential: credential.into(),
        };
        let app = Router::new()
            .route("/api/v1/ses/{id}/config", get(poll))
            .route("/api/v1/ses/{id}/report", post(report))
            .with_state(stub.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (stub, base)
    }

    /// The last report received.
    pub fn last(&self) -> Option<SeReport> {
        self.reports.lock().unwrap().last().cloned()
    }

    fn authorised(&self, h: &HeaderMap) -> bool {
        h.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {}", self.credential))
    }
}

async fn poll(
    State(s): State<Stub>,
    Path(_id): Path<String>,
    Query(q): Query<HashMap<String, u64>>,
    h: HeaderMap,
) -> Response {
    if !s.authorised(&h) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut rx = s.config.subscribe();
    let after = q.get("after").copied();
    let fresh = |c: &Option<SeConfig>| c.as_ref().filter(|c| Some(c.version) != after).cloned();
    if let Some(c) = fresh(&rx.borrow_and_update()) {
        return axum::Json(c).into_response();
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
    match fresh(&rx.borrow()) {
        Some(c) => axum::Json(c).into_response(),
        None => StatusCode::NOT_MODIFIED.into_response(),
    }
}

async fn report(
    State(s): State<Stub>,
    Path(_id): Path<String>,
    h: HeaderMap,
    axum::Json(r): axum::Json<SeReport>,
) -> StatusCode {
    if !s.authorised(&h) {
        return StatusCode::FORBIDDEN;
    }
    s.reports.lock().unwrap().push(r);
    StatusCode::NO_CONTENT
}

/// A standby controller: 503 naming `leader` to every request.
pub async fn standby(leader: &str) -> String {
    let body =
        serde_json::json!({"error": "standby", "message": "not the leader", "leader": leader});
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)) }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    base
}

/// `ip:port` as a URL.
pub fn url(ip: &str, port: u16) -> String {
    let ip: IpAddr = ip.parse().unwrap();
    format!("http://{}/", SocketAddr::new(ip, port))
}
