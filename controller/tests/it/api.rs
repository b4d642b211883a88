//! The REST API and the agent protocol over real HTTP (real time, short waits).

use crate::common::*;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::{HttpTransport, LoadModel, SimulatedDataPlane, run_agent};
use strato_controller::api::ApiOptions;
use strato_controller::se_protocol::{ReportedHealth, SeReport};
use strato_controller::secret::Secret;
use strato_controller::store::StateStore;
use strato_controller::{Controller, ControllerError, ControllerOptions};
use strato_memory::{MemoryConfig, MemoryConnector};

const TOKEN: &str = "test-token-123";

/// A controller on the memory cloud with its API on a loopback port, the admin token
/// [`TOKEN`] required everywhere (`/metrics` included).
async fn start() -> (Controller, String) {
    start_on(memory_store(), ApiOptions::with_token(TOKEN)).await
}

/// Like [`start`], on `store`, the API authenticating as `api` says.
async fn start_on(store: Arc<dyn StateStore>, api: ApiOptions) -> (Controller, String) {
    let settings = MemoryConfig {
        boot_latency: Duration::from_millis(50),
        ..MemoryConfig::default()
    };
    let cloud = Arc::new(MemoryConnector::from_settings(settings, owner()).unwrap());
    let clouds = BTreeMap::from([(
        "mem".to_owned(),
        cloud as Arc<dyn strato_core::CloudConnector>,
    )]);
    let opts = ControllerOptions {
        resync: Duration::from_millis(200),
        long_poll: Duration::from_millis(500),
        ..ControllerOptions::default()
    };
    let ctl = Controller::new(store, clouds, opts).await.unwrap();
    tokio::spawn(ctl.clone().run(std::future::pending()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    strato_controller::api::serve(ctl.clone(), listener, api);
    (ctl, base)
}

/// The credential of `se`'s agent, handed out by the admin endpoint.
async fn credential(base: &str, se: &str) -> String {
    let r = Api::new(base)
        .post(&format!("/ses/{se}/credentials"), &json!({}))
        .await;
    r.assert_status(200);
    assert_eq!(r.header("cache-control"), Some("no-store"), "{}", r.request);
    assert_eq!(r.json()["se"], se);
    r.json()["credential"]
        .as_str()
        .unwrap_or_else(|| panic!("no credential: {}", r.body))
        .to_owned()
}

/// The controller's HTTP server at one base address, called with one bearer token or none.
struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// The server at `base`, called with [`TOKEN`].
    fn new(base: &str) -> Self {
        Self::with_token(base, Some(TOKEN))
    }

    /// The server at `base`, called with `token` (`None`: no `Authorization` header).
    fn with_token(base: &str, token: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.map(str::to_owned),
        }
    }

    /// Sends `method` to `path` (from the server's root), with `body` as JSON if any.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let request = format!("{method} {path}");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let r = req.send().await.unwrap_or_else(|e| {
            panic!("{request}: no answer (a connection closed by a panic?): {e}")
        });
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        Answer {
            request,
            status,
            headers,
            body,
        }
    }

    /// `GET /api/v1{path}`.
    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, &format!("/api/v1{path}"), None)
            .await
    }

    /// `DELETE /api/v1{path}`.
    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, &format!("/api/v1{path}"), None)
            .await
    }

    /// `POST /api/v1{path}` with `body` as JSON.
    async fn post(&self, path: &str, body: &impl Serialize) -> Answer {
        let body = serde_json::to_value(body).unwrap();
        self.call(Method::POST, &format!("/api/v1{path}"), Some(&body))
            .await
    }

    /// `PUT /api/v1{path}` with `body` as JSON.
    async fn put(&self, path: &str, body: &impl Serialize) -> Answer {
        let body = serde_json::to_value(body).unwrap();
        self.call(Method::PUT, &format!("/api/v1{path}"), Some(&body))
            .await
    }
}

/// What the server answered to one request.
struct Answer {
    /// The method and path, for failure messages.
    request: String,
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    /// The body as JSON; panics if it is not JSON.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answered {} with no JSON body ({e}): {}",
                self.request, self.status, self.body
            )
        })
    }

    /// Asserts the answer's status, naming the request and showing the body if it differs.
    #[track_caller]
    fn assert_status(&self, want: u16) {
        assert_eq!(self.status, want, "{}: {}", self.request, self.body);
    }

    /// The header `name`, if the answer has it (and it is text).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the answer says its path is deprecated, and that `successor` replaces it.
    #[track_caller]
    fn assert_deprecated_for(&self, successor: &str) {
        assert_eq!(self.header("deprecation"), Some("true"), "{}", self.request);
        assert_eq!(
            self.header("link"),
            Some(format!("<{successor}>; rel=\"successor-version\"").as_str()),
            "{}",
            self.request
        );
    }

    /// Asserts the request was refused with `status` by a JSON error naming `field`.
    #[track_caller]
    fn assert_refused(&self, status: u16, field: &str) {
        self.assert_status(status);
        assert_eq!(
            self.json()["field"],
            field,
            "{}: {}",
            self.request,
            self.body
        );
    }
}

#[tokio::test]
async fn crud_validation_auth_status_openapi_and_metrics() {
    let (_ctl, base) = start().await;
    let api = Api::new(&base);

    // No token, wrong token: 401.
    let anonymous = Api::with_token(&base, None);
    anonymous.get("/se-groups").await.assert_status(401);
    let wrong = Api::with_token(&base, Some("nope"));
    wrong.get("/se-groups").await.assert_status(401);

    let group = serde_json::to_value(group("web", 1, 3)).unwrap();
    api.post("/se-groups", &group).await.assert_status(201);
    api.post("/se-groups", &group).await.assert_status(409);

    // 400: malformed shape, naming the JSON path.
    let mut bad = group.clone();
    bad["capacity"]["rps"] = json!("lots");
    let r = api.put("/se-groups/web", &bad).await;
    r.assert_refused(400, "capacity.rps");
    let mut missing = group.clone();
    missing.as_object_mut().unwrap().remove("max_ses");
    let r = api.put("/se-groups/web", &missing).await;
    r.assert_refused(400, "max_ses");

    // 422: a value the model refuses, naming the field.
    let mut bad = group.clone();
    bad["min_ses"] = json!(7);
    let r = api.put("/se-groups/web", &bad).await;
    r.assert_refused(422, "min_ses");
    let mut bad = group.clone();
    bad["cloud"] = json!("elsewhere");
    let r = api.put("/se-groups/web", &bad).await;
    r.assert_refused(422, "cloud");

    api.post("/ipam-pools", &pool()).await.assert_status(201);
    let zone = json!({"name": "apps.example.com"});
    api.post("/dns-zones", &zone).await.assert_status(201);
    let mut v = serde_json::to_value(vs("shop", "nosuch")).unwrap();
    let r = api.post("/virtual-services", &v).await;
    r.assert_refused(422, "se_group");
    v["se_group"] = json!("web");
    // An algorithm the proxy has not: 400 naming the field and the choices.
    let mut bad = v.clone();
    bad["algorithm"] = json!("fastest");
    let r = api.post("/virtual-services", &bad).await;
    r.assert_refused(400, "algorithm");
    let msg = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        msg.contains("fastest") && msg.contains("least_connections"),
        "{msg}"
    );
    v["ports"][0]["port"] = json!(0);
    let r = api.post("/virtual-services", &v).await;
    r.assert_refused(422, "ports[0].port");
    v["ports"][0]["port"] = json!(443);
    api.post("/virtual-services", &v).await.assert_status(201);
    let list = api.get("/virtual-services").await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let got = api.get("/virtual-services/shop").await.json();
    assert_eq!(got["ports"][0]["port"], 443);
    // A group in use cannot go.
    api.delete("/se-groups/web").await.assert_status(409);

    // Status shows the group and the service's address.
    let mut addr = Value::Null;
    for _ in 0..100 {
        let s = api.get("/status").await.json();
        addr = s["virtual_services"][0]["address"].clone();
        if !addr.is_null() && s["groups"][0]["current"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        addr.as_str().is_some_and(|a| a.starts_with("10.0.200.")),
        "{addr}"
    );

    // The OpenAPI document is public and describes every route.
    let doc = served_document(&base).await;
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/se-groups",
        "/api/v1/se-groups/{name}",
        "/api/v1/virtual-services",
        "/api/v1/virtual-services/{name}",
        "/api/v1/ipam-pools",
        "/api/v1/ipam-pools/{name}",
        "/api/v1/dns-zones",
        "/api/v1/dns-zones/{name}",
        "/api/v1/status",
        "/api/v1/ses/{id}/config",
        "/api/v1/ses/{id}/report",
        "/api/v1/ses/{id}/credentials",
        "/api/v1/engines/{id}/config",
        "/api/v1/engines/{id}/report",
        "/metrics",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} is not documented");
    }
    // The metrics name every service: they need the token like the rest.
    let r = anonymous.call(Method::GET, "/metrics", None).await;
    r.assert_status(401);
    assert_eq!(r.json()["error"], "unauthenticated");
    let metrics = api.call(Method::GET, "/metrics", None).await.body;
    assert!(
        metrics.contains("strato_controller_reconcile_total"),
        "{metrics}"
    );
    // State gauges: per-service SEs and capacity, SEs by health.
    assert!(
        metrics.contains("strato_controller_vs_ses{vs=\"shop\",se_group=\"web\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE strato_controller_vs_capacity_rps gauge"),
        "{metrics}"
    );
    assert!(
        metrics.contains("strato_controller_ses_by_state{se_group=\"web\",state=\"healthy\"}"),
        "{metrics}"
    );

    api.delete("/virtual-services/shop")
        .await
        .assert_status(204);
    api.delete("/virtual-services/shop")
        .await
        .assert_status(404);
}

/// The first SE of `group` that has a configuration to poll.
async fn configured_se(ctl: &Controller, group: &str) -> String {
    for _ in 0..200 {
        if let Some(s) = ctl
            .status()
            .group(group)
            .and_then(|g| g.ses.first().cloned())
            && ctl.hub().contains(&s.name)
        {
            return s.name;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no SE of {group} got a configuration")
}

#[tokio::test]
async fn an_http_agent_long_polls_its_config_and_reports() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    ctl.apply_se_group(group("web", 1, 2)).await.unwrap();
    ctl.apply_virtual_service(vs("shop", "web")).await.unwrap();
    let se = configured_se(&ctl, "web").await;
    let own = credential(&base, &se).await;
    let t = HttpTransport::new(&base, Some(Secret::new(&own)));

    // First poll answers at once; polling with that version waits and then says "unchanged".
    let cfg = t.poll_config(&se, None).await.unwrap().unwrap();
    assert_eq!(cfg.se, se);
    let started = std::time::Instant::now();
    let again = t.poll_config(&se, Some(cfg.version)).await.unwrap();
    assert!(again.is_none() || again.as_ref().is_some_and(|c| c.version != cfg.version));
    if again.is_none() {
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "the long poll did not wait"
        );
    }
    // Another SE's paths refuse this one's credential (what the agent makes of it: a
    // configuration error, not a missing SE). Bad report: 400 naming the field.
    assert!(matches!(
        t.poll_config("nope-1", None).await,
        Err(ControllerError::Config(m)) if m.contains("403")
    ));
    let report = json!({"rps": 1.0, "connections": 1, "health": "sleepy"});
    let r = Api::with_token(&base, Some(&own))
        .post(&format!("/ses/{se}/report"), &report)
        .await;
    r.assert_refused(400, "health");

    // A real agent over HTTP: gets the VS with its VIP, reports, and the SE turns healthy.
    let load = Arc::new(LoadModel::new());
    load.set("shop", 10.0);
    let plane = Arc::new(SimulatedDataPlane::new(load));
    let agent = tokio::spawn(run_agent(se.clone(), Arc::new(t.clone()), plane.clone()));
    let mut ok = false;
    for _ in 0..200 {
        let s = ctl.status();
        let g = s.group("web").unwrap();
        let has_vs = plane.config().is_some_and(|c| {
            c.virtual_services
                .iter()
                .any(|v| v.name == "shop" && v.vip.is_some())
        });
        if g.healthy == 1 && has_vs && g.ses[0].rps == Some(10.0) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    agent.abort();
    assert!(
        ok,
        "agent never became healthy with its config: {:?}",
        ctl.status().group("web")
    );
    // The report the controller kept is the agent's.
    t.report(&se, &SeReport::new(3.0, 1, ReportedHealth::Up))
        .await
        .unwrap();
    assert_eq!(ctl.status().group("web").unwrap().ses[0].rps, Some(3.0));
}

/// The OpenAPI document as served (to no token: it is public).
async fn served_document(base: &str) -> Value {
    let doc = Api::with_token(base, None).get("/openapi.json").await;
    doc.assert_status(200);
    doc.json()
}

#[tokio::test]
async fn every_secured_operation_refuses_no_token_with_401_as_documented() {
    let (_ctl, base) = start().await;
    let doc = served_document(&base).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" || op["security"] == json!([]) {
                continue;
            }
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} does not document 401"
            );
            let at = path.replace("{name}", "x").replace("{id}", "x");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for token in [None, Some("wrong")] {
                let api = Api::with_token(&base, token);
                let r = api.call(m.clone(), &at, Some(&json!({}))).await;
                assert_eq!(r.status, 401, "{method} {path} with token {token:?}");
                assert_eq!(r.json()["error"], "unauthenticated", "{method} {path}");
            }
            checked += 1;
        }
    }
    // 24 operations (the credentials of an SE's agent among them), the SE agent's two under
    // their old paths too, the metrics (the token is required there by default), and the
    // four analytics reads, and the clouds' capabilities.
    assert_eq!(checked, 34, "secured operations in the document");
}

#[tokio::test]
async fn a_bad_after_on_the_long_poll_is_a_json_400_naming_after() {
    let (ctl, base) = start().await;
    ctl.apply_se_group(group("web", 1, 2)).await.unwrap();
    let se = configured_se(&ctl, "web").await;
    let agent = Api::with_token(&base, Some(&credential(&base, &se).await));
    for after in ["abc", "-1", "18446744073709551616", ""] {
        for path in ["ses", "engines"] {
            let r = agent
                .get(&format!("/{path}/{se}/config?after={after}"))
                .await;
            r.assert_refused(400, "after");
            assert_eq!(r.json()["error"], "bad_request", "{}", r.body);
        }
    }
    let doc = served_document(&base).await;
    for path in ["ses", "engines"] {
        let p = format!("/api/v1/{path}/{{id}}/config");
        assert!(doc["paths"][&p]["get"]["responses"]["400"].is_object());
    }
}

#[tokio::test]
async fn the_document_refuses_unknown_fields_like_the_api_does() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    ctl.apply_se_group(group("web", 1, 2)).await.unwrap();
    let api = Api::new(&base);
    let doc = served_document(&base).await;
    let bodies = [
        (
            "/se-groups",
            "SeGroup",
            serde_json::to_value(group("db", 1, 2)).unwrap(),
        ),
        (
            "/virtual-services",
            "VirtualService",
            serde_json::to_value(vs("shop", "web")).unwrap(),
        ),
        (
            "/ipam-pools",
            "IpamPool",
            json!({"name": "p2", "network": "other", "cidr": "10.9.0.0/24"}),
        ),
        ("/dns-zones", "DnsZone", json!({"name": "apps.example.org"})),
    ];
    for (path, schema, body) in bodies {
        // The document says extra fields are refused...
        let s = &doc["components"]["schemas"][schema];
        assert_eq!(s["additionalProperties"], false, "{schema}");
        // ...because the API refuses them, naming the field.
        let mut extra = body.clone();
        extra["colour"] = json!("blue");
        api.post(path, &extra).await.assert_refused(400, "colour");
        // Nested objects too (the template of a group, a port of a service).
        api.post(path, &body).await.assert_status(201);
    }
    for nested in ["template", "capacity", "placement", "autoscale"] {
        assert_eq!(
            doc["components"]["schemas"]["SeGroup"]["properties"][nested]["additionalProperties"],
            false,
            "SeGroup.{nested}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["SeReport"]["additionalProperties"],
        false
    );
}

#[tokio::test]
async fn the_document_names_the_configured_clouds_and_the_nullable_fields() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    let api = Api::new(&base);
    let doc = served_document(&base).await;
    let schemas = &doc["components"]["schemas"];
    // Only configured profiles are accepted as `cloud` (anything else is a 422).
    assert_eq!(
        schemas["SeGroup"]["properties"]["cloud"]["enum"],
        json!(["mem"])
    );
    let mut g = serde_json::to_value(group("web", 1, 2)).unwrap();
    g["cloud"] = json!("elsewhere");
    api.post("/se-groups", &g).await.assert_status(422);

    // `null` means absent for the optional network and VIP: the API takes it, so must the
    // document.
    let null_ok = |s: &Value| {
        s["anyOf"]
            .as_array()
            .is_some_and(|a| a.iter().any(|b| b["type"] == "null"))
    };
    assert!(null_ok(
        &schemas["SeGroup"]["properties"]["template"]["properties"]["network"]
    ));
    assert!(null_ok(&schemas["VirtualService"]["properties"]["vip"]));
    g["cloud"] = json!("mem");
    g["template"]["network"] = Value::Null;
    let mut v = serde_json::to_value(vs("shop", "web")).unwrap();
    v["vip"] = Value::Null;
    for (path, body) in [("/se-groups", g), ("/virtual-services", v)] {
        api.post(path, &body).await.assert_status(201);
    }

    // One active and one standby SE need max_ses >= 2: said by the document and the API.
    assert_eq!(
        schemas["SeGroup"]["then"]["properties"]["max_ses"]["minimum"],
        2
    );
    let mut g = serde_json::to_value(group("pair", 1, 1)).unwrap();
    g["ha"] = json!({"mode": "active_standby"});
    api.post("/se-groups", &g)
        .await
        .assert_refused(422, "max_ses");
}

#[tokio::test]
async fn a_size_whose_memory_overflows_is_a_400_not_a_dropped_connection() {
    let (_ctl, base) = start().await;
    let mut g = serde_json::to_value(group("web", 1, 2)).unwrap();
    g["template"]["size"] = json!("1x99999999999999999g");
    // `Api::call` panics if the connection closes without an answer.
    let r = Api::new(&base).post("/se-groups", &g).await;
    r.assert_refused(400, "template.size");
}

#[tokio::test]
async fn the_old_se_agent_paths_answer_the_same_and_say_they_are_deprecated() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    ctl.apply_se_group(group("web", 1, 2)).await.unwrap();
    ctl.apply_virtual_service(vs("shop", "web")).await.unwrap();
    let se = configured_se(&ctl, "web").await;
    let api = Api::with_token(&base, Some(&credential(&base, &se).await));

    // The configuration: the same under both paths; only the old one says it is old.
    let new = api.get(&format!("/ses/{se}/config")).await;
    new.assert_status(200);
    assert_eq!(new.json()["se"], se.as_str());
    assert_eq!(new.header("deprecation"), None);
    assert_eq!(new.header("link"), None);
    let old = api.get(&format!("/engines/{se}/config")).await;
    old.assert_status(200);
    old.assert_deprecated_for(&format!("/api/v1/ses/{se}/config"));
    assert_eq!(old.json(), new.json());

    // A report is taken under both paths.
    let rps = |ctl: &Controller| {
        let s = ctl.status();
        s.group("web")
            .and_then(|g| g.ses.iter().find(|s| s.name == se))
            .and_then(|s| s.rps)
    };
    let report = |rps: f64| json!({"rps": rps, "connections": 1, "health": "up"});
    let new = api.post(&format!("/ses/{se}/report"), &report(2.0)).await;
    new.assert_status(200);
    assert_eq!(new.header("deprecation"), None);
    assert_eq!(rps(&ctl), Some(2.0));
    let old = api
        .post(&format!("/engines/{se}/report"), &report(7.0))
        .await;
    old.assert_status(200);
    old.assert_deprecated_for(&format!("/api/v1/ses/{se}/report"));
    assert_eq!(old.json(), new.json());
    assert_eq!(rps(&ctl), Some(7.0));

    // Refusals on the old paths say it too: another SE's paths, the admin token, no token.
    let r = api.get("/engines/nope-1/config").await;
    r.assert_status(403);
    r.assert_deprecated_for("/api/v1/ses/nope-1/config");
    let r = Api::new(&base).get(&format!("/engines/{se}/config")).await;
    r.assert_status(403);
    r.assert_deprecated_for(&format!("/api/v1/ses/{se}/config"));
    let r = Api::with_token(&base, None)
        .post(&format!("/engines/{se}/report"), &report(1.0))
        .await;
    r.assert_status(401);
    r.assert_deprecated_for(&format!("/api/v1/ses/{se}/report"));

    // The document lists both, the old ones deprecated.
    let doc = served_document(&base).await;
    for (what, method) in [("config", "get"), ("report", "post")] {
        let old = &doc["paths"][format!("/api/v1/engines/{{id}}/{what}")][method];
        let new = &doc["paths"][format!("/api/v1/ses/{{id}}/{what}")][method];
        assert_eq!(old["deprecated"], true, "{what}");
        assert!(old["responses"]["200"]["headers"]["Deprecation"].is_object());
        assert!(new["deprecated"].is_null(), "{what}");
        assert_eq!(old["responses"], {
            let mut r = new["responses"].clone();
            for (name, answer) in r.as_object_mut().unwrap() {
                if let Some(shared) = answer["$ref"].as_str() {
                    let shared = shared.rsplit('/').next().unwrap();
                    *answer = doc["components"]["responses"][shared].clone();
                }
                answer["headers"] = old["responses"][name]["headers"].clone();
            }
            r
        });
    }
}

#[tokio::test]
async fn a_service_given_members_the_old_name_of_servers_is_taken_and_shown_with_servers() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    ctl.apply_se_group(group("web", 1, 2)).await.unwrap();
    let api = Api::new(&base);
    let mut v = serde_json::to_value(vs("shop", "web")).unwrap();
    let servers = v.as_object_mut().unwrap().remove("servers").unwrap();
    assert_eq!(servers.as_array().map(Vec::len), Some(1), "{v}");
    v["members"] = servers.clone();
    api.post("/virtual-services", &v).await.assert_status(201);
    let got = api.get("/virtual-services/shop").await.json();
    assert_eq!(got["servers"], servers);
    assert!(got.get("members").is_none(), "{got}");
    // Both names at once: refused, naming the field.
    v["servers"] = servers;
    let r = api.put("/virtual-services/shop", &v).await;
    r.assert_refused(400, "servers");
}

/// The first two SEs of `group` that have a configuration to poll.
async fn two_configured_ses(ctl: &Controller, group: &str) -> (String, String) {
    for _ in 0..200 {
        let names: Vec<String> = ctl
            .status()
            .group(group)
            .map(|g| g.ses.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        let ready: Vec<&String> = names.iter().filter(|n| ctl.hub().contains(n)).collect();
        if let [a, b, ..] = ready[..] {
            return (a.clone(), b.clone());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{group} never had two configured SEs: {:?}",
        ctl.status().group(group)
    )
}

/// The agent paths of `se`, new and deprecated: `(method, path below /api/v1)`.
fn agent_paths(se: &str) -> Vec<(Method, String)> {
    ["ses", "engines"]
        .into_iter()
        .flat_map(|p| {
            [
                (Method::GET, format!("/{p}/{se}/config")),
                (Method::POST, format!("/{p}/{se}/report")),
            ]
        })
        .collect()
}

fn a_report() -> Value {
    json!({"rps": 1.0, "connections": 1, "health": "up"})
}

/// `method` on `/api/v1{path}`, with a report as the body of a POST.
async fn call(api: &Api, method: &Method, path: &str) -> Answer {
    let body = (*method == Method::POST).then(a_report);
    api.call(method.clone(), &format!("/api/v1{path}"), body.as_ref())
        .await
}

#[tokio::test]
async fn an_agent_credential_opens_its_own_se_s_paths_and_nothing_else() {
    let (ctl, base) = start().await;
    ctl.apply_se_group(group("web", 2, 2)).await.unwrap();
    let (a, b) = two_configured_ses(&ctl, "web").await;
    let cred_a = credential(&base, &a).await;
    let cred_b = credential(&base, &b).await;
    assert_ne!(cred_a, cred_b);
    let agent_a = Api::with_token(&base, Some(&cred_a));
    for (m, path) in agent_paths(&a) {
        call(&agent_a, &m, &path).await.assert_status(200);
    }
    // One agent cannot speak for another SE: 403, under both paths.
    for (m, path) in agent_paths(&b) {
        let r = call(&agent_a, &m, &path).await;
        r.assert_status(403);
        assert_eq!(r.json()["error"], "forbidden", "{}", r.body);
    }
    // The admin token is no agent credential.
    for (m, path) in agent_paths(&a) {
        let r = call(&Api::new(&base), &m, &path).await;
        r.assert_status(403);
        assert!(r.body.contains("admin token"), "{}", r.body);
    }
    // A wrong credential, or none: 401.
    for token in [None, Some("0123456789abcdef")] {
        for (m, path) in agent_paths(&a) {
            call(&Api::with_token(&base, token), &m, &path)
                .await
                .assert_status(401);
        }
    }
    // An agent credential is no admin token.
    for path in ["/status", "/se-groups", &format!("/ses/{a}/credentials")] {
        let m = if path.ends_with("credentials") {
            Method::POST
        } else {
            Method::GET
        };
        call(&agent_a, &m, path).await.assert_status(401);
    }
    // Issued again, A's credential is a new one and the old one stops working; B's is
    // untouched.
    let cred_a2 = credential(&base, &a).await;
    assert_ne!(cred_a2, cred_a);
    for (m, path) in agent_paths(&a) {
        call(&agent_a, &m, &path).await.assert_status(401);
        call(&Api::with_token(&base, Some(&cred_a2)), &m, &path)
            .await
            .assert_status(200);
        call(&Api::with_token(&base, Some(&cred_b)), &m, &path)
            .await
            .assert_status(403);
    }
    // An unknown SE has no credential to issue.
    Api::new(&base)
        .post("/ses/nope-1/credentials", &json!({}))
        .await
        .assert_status(404);
}

#[tokio::test]
async fn a_deleted_se_s_credential_is_refused() {
    let (ctl, base) = start().await;
    ctl.apply_se_group(group("web", 1, 1)).await.unwrap();
    let se = configured_se(&ctl, "web").await;
    let cred = credential(&base, &se).await;
    let agent = Api::with_token(&base, Some(&cred));
    agent
        .get(&format!("/ses/{se}/config"))
        .await
        .assert_status(200);
    // The group goes, its SE with it: the record, and with it the credential.
    Api::new(&base)
        .delete("/se-groups/web")
        .await
        .assert_status(204);
    let mut gone = false;
    for _ in 0..200 {
        if ctl.status().group("web").is_none_or(|g| g.ses.is_empty()) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        gone,
        "the SE was never deleted: {:?}",
        ctl.status().group("web")
    );
    for (m, path) in agent_paths(&se) {
        call(&agent, &m, &path).await.assert_status(401);
    }
    Api::new(&base)
        .post(&format!("/ses/{se}/credentials"), &json!({}))
        .await
        .assert_status(404);
}

#[tokio::test]
async fn the_store_holds_the_credential_s_digest_never_the_credential() {
    let store = memory_store();
    let (ctl, base) = start_on(store.clone(), ApiOptions::with_token(TOKEN)).await;
    ctl.apply_se_group(group("web", 1, 1)).await.unwrap();
    let se = configured_se(&ctl, "web").await;
    let key = format!("se/web/{se}");
    let stored = |store: Arc<dyn StateStore>| {
        let key = key.clone();
        async move {
            let e = store.get(&key).await.unwrap().expect("the SE's record");
            String::from_utf8(e.value).unwrap()
        }
    };
    let digest = |r: &str| {
        serde_json::from_str::<Value>(r).unwrap()["credential_sha256"]
            .as_str()
            .map(str::to_owned)
    };
    // Minted with the SE: its record holds a digest from the start...
    let at_creation = digest(&stored(store.clone()).await).expect("a digest at creation");
    // ...and the first credential handed out is the one minted then.
    let first = credential(&base, &se).await;
    assert_eq!(
        strato_controller::secret::sha256_hex(&first),
        at_creation,
        "the credential minted with the SE is handed out first"
    );
    let second = credential(&base, &se).await;
    let record = stored(store.clone()).await;
    assert_eq!(
        digest(&record).as_deref(),
        Some(strato_controller::secret::sha256_hex(&second).as_str())
    );
    for c in [&first, &second] {
        assert!(
            !record.contains(c.as_str()),
            "a credential in the store: {record}"
        );
    }
}

#[tokio::test]
async fn metrics_need_the_token_unless_metrics_auth_is_off() {
    for metrics_auth in [true, false] {
        let opts = ApiOptions {
            metrics_auth,
            ..ApiOptions::with_token(TOKEN)
        };
        let (_ctl, base) = start_on(memory_store(), opts).await;
        let anonymous = Api::with_token(&base, None);
        let r = anonymous.call(Method::GET, "/metrics", None).await;
        r.assert_status(if metrics_auth { 401 } else { 200 });
        let r = Api::new(&base).call(Method::GET, "/metrics", None).await;
        r.assert_status(200);
        assert!(r.body.contains("# TYPE"), "{}", r.body);
        // The document says which.
        let doc = served_document(&base).await;
        let security = &doc["paths"]["/metrics"]["get"]["security"];
        if metrics_auth {
            assert_eq!(security, &json!([{"bearer": []}]));
        } else {
            assert_eq!(security, &json!([]));
        }
        // The rest of the API needs the token either way.
        anonymous.get("/status").await.assert_status(401);
    }
}

#[tokio::test]
async fn a_fleet_of_http_agents_each_with_its_own_credential_serves() {
    // Real time: the agents speak HTTP.
    let config = HarnessConfig {
        options: ControllerOptions {
            resync: Duration::from_millis(200),
            long_poll: Duration::from_millis(500),
            report_interval: Duration::from_secs(1),
            ..ControllerOptions::default()
        },
        fleet_sync: Duration::from_millis(100),
        poll: Duration::from_millis(50),
        ..HarnessConfig::new(CLOUD)
    };
    let settings = MemoryConfig {
        boot_latency: Duration::from_millis(50),
        ..MemoryConfig::default()
    };
    let cloud = Arc::new(MemoryConnector::from_settings(settings, owner()).unwrap());
    let h = config
        .start_over_http(cloud, memory_store(), Arc::new(LoadModel::new()))
        .await;
    h.setup(group("web", 3, 3), Some(pool())).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    // Healthy means reporting: every agent's reports were taken, on its own credential.
    h.wait_for("3 healthy SEs", Duration::from_secs(20), || async {
        h.healthy("web") == 3
    })
    .await;
    let api = h.api.as_ref().unwrap();
    for se in h.se_names("web") {
        let r = Api::with_token(&api.base, Some(api.token.expose()))
            .get(&format!("/ses/{se}/config"))
            .await;
        r.assert_status(403);
    }
}
