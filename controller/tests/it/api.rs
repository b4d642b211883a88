//! The REST API and the agent protocol over real HTTP (real time, short waits).

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::{
    AgentTransport, HttpTransport, LoadModel, SimulatedDataPlane, run_agent,
};
use strato_controller::engines::{EngineHealth, EngineReport};
use strato_controller::{Controller, ControllerOptions};
use strato_memory::{MemoryCloud, MemorySettings};

const TOKEN: &str = "test-token-123";

async fn start() -> (Controller, String) {
    let settings = MemorySettings {
        boot_latency: Duration::from_millis(50),
        ..MemorySettings::default()
    };
    let cloud = Arc::new(MemoryCloud::from_settings(settings, owner()).unwrap());
    let clouds = BTreeMap::from([(
        "mem".to_owned(),
        cloud as Arc<dyn strato_core::CloudConnector>,
    )]);
    let opts = ControllerOptions {
        resync: Duration::from_millis(200),
        long_poll: Duration::from_millis(500),
        ..ControllerOptions::default()
    };
    let ctl = Controller::new(memory_store(), clouds, opts).await.unwrap();
    tokio::spawn(ctl.clone().run(std::future::pending()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    strato_controller::api::serve(ctl.clone(), listener, Some(TOKEN.into()));
    (ctl, base)
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn crud_validation_auth_status_openapi_and_metrics() {
    let (_ctl, base) = start().await;
    let c = client();
    let url = |p: &str| format!("{base}/api/v1{p}");

    // No token, wrong token: 401.
    assert_eq!(c.get(url("/se-groups")).send().await.unwrap().status(), 401);
    assert_eq!(
        c.get(url("/se-groups"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let group = serde_json::to_value(group("web", 1, 3)).unwrap();
    let r = c
        .post(url("/se-groups"))
        .bearer_auth(TOKEN)
        .json(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(url("/se-groups"))
        .bearer_auth(TOKEN)
        .json(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // 400: malformed shape, naming the JSON path.
    let mut bad = group.clone();
    bad["capacity"]["rps"] = json!("lots");
    let r = c
        .put(url("/se-groups/web"))
        .bearer_auth(TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["field"], "capacity.rps", "{body}");
    let mut missing = group.clone();
    missing.as_object_mut().unwrap().remove("max_ses");
    let body: Value = c
        .put(url("/se-groups/web"))
        .bearer_auth(TOKEN)
        .json(&missing)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["field"], "max_ses", "{body}");

    // 422: a value the model refuses, naming the field.
    let mut bad = group.clone();
    bad["min_ses"] = json!(7);
    let r = c
        .put(url("/se-groups/web"))
        .bearer_auth(TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "min_ses");
    let mut bad = group.clone();
    bad["cloud"] = json!("elsewhere");
    let body: Value = c
        .put(url("/se-groups/web"))
        .bearer_auth(TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["field"], "cloud", "{body}");

    let r = c
        .post(url("/ipam-pools"))
        .bearer_auth(TOKEN)
        .json(&pool())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(url("/dns-zones"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "apps.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut v = serde_json::to_value(vs("shop", "nosuch")).unwrap();
    let r = c
        .post(url("/virtual-services"))
        .bearer_auth(TOKEN)
        .json(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "se_group");
    v["se_group"] = json!("web");
    v["ports"][0]["port"] = json!(0);
    let body: Value = c
        .post(url("/virtual-services"))
        .bearer_auth(TOKEN)
        .json(&v)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["field"], "ports[0].port", "{body}");
    v["ports"][0]["port"] = json!(443);
    assert_eq!(
        c.post(url("/virtual-services"))
            .bearer_auth(TOKEN)
            .json(&v)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let list: Vec<Value> = c
        .get(url("/virtual-services"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let got: Value = c
        .get(url("/virtual-services/shop"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["ports"][0]["port"], 443);
    // A group in use cannot go.
    assert_eq!(
        c.delete(url("/se-groups/web"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );

    // Status shows the group and the service's address.
    let mut addr = Value::Null;
    for _ in 0..100 {
        let s: Value = c
            .get(url("/status"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
    let doc: Value = c
        .get(url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        "/api/v1/engines/{id}/config",
        "/api/v1/engines/{id}/report",
        "/metrics",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} is not documented");
    }
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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

    assert_eq!(
        c.delete(url("/virtual-services/shop"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.delete(url("/virtual-services/shop"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn an_http_agent_long_polls_its_config_and_reports() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    ctl.apply_se_group(group("web", 1, 2)).await.unwrap();
    ctl.apply_virtual_service(vs("shop", "web")).await.unwrap();
    let mut engine = None;
    for _ in 0..200 {
        if let Some(se) = ctl
            .status()
            .group("web")
            .and_then(|g| g.ses.first().cloned())
            && ctl.hub().contains(&se.name)
        {
            engine = Some(se.name);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let engine = engine.expect("an SE");
    let t = HttpTransport::new(&base, Some(TOKEN.into()));

    // First poll answers at once; polling with that version waits and then says "unchanged".
    let cfg = t.poll_config(&engine, None).await.unwrap().unwrap();
    assert_eq!(cfg.engine, engine);
    let started = std::time::Instant::now();
    let again = t.poll_config(&engine, Some(cfg.version)).await.unwrap();
    assert!(again.is_none() || again.as_ref().is_some_and(|c| c.version != cfg.version));
    if again.is_none() {
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "the long poll did not wait"
        );
    }
    // Unknown engine: 404. Bad report: 400 naming the field.
    assert!(matches!(
        t.poll_config("nope-1", None).await,
        Err(strato_controller::ControllerError::NotFound(_))
    ));
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/engines/{engine}/report"))
        .bearer_auth(TOKEN)
        .json(&json!({"rps": 1.0, "connections": 1, "health": "sleepy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "health");

    // A real agent over HTTP: gets the VS with its VIP, reports, and the SE turns healthy.
    let load = Arc::new(LoadModel::new());
    load.set("shop", 10.0);
    let plane = Arc::new(SimulatedDataPlane::new(load));
    let agent = tokio::spawn(run_agent(
        engine.clone(),
        Arc::new(t.clone()),
        plane.clone(),
    ));
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
    t.report(&engine, &EngineReport::new(3.0, 1, EngineHealth::Up))
        .await
        .unwrap();
    assert_eq!(ctl.status().group("web").unwrap().ses[0].rps, Some(3.0));
}

/// The OpenAPI document as served.
async fn served_document(base: &str) -> Value {
    client()
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_secured_operation_refuses_no_token_with_401_as_documented() {
    let (_ctl, base) = start().await;
    let doc = served_document(&base).await;
    let c = client();
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
            let url = format!("{base}{}", path.replace("{name}", "x").replace("{id}", "x"));
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for token in [None, Some("wrong")] {
                let mut req = c.request(m.clone(), &url).json(&json!({}));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await.unwrap();
                assert_eq!(r.status(), 401, "{method} {path} with token {token:?}");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["error"], "unauthenticated", "{method} {path}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 25, "secured operations in the document");
}

#[tokio::test]
async fn a_bad_after_on_the_long_poll_is_a_json_400_naming_after() {
    let (_ctl, base) = start().await;
    for after in ["abc", "-1", "18446744073709551616", ""] {
        let r = client()
            .get(format!("{base}/api/v1/engines/nope-1/config?after={after}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "after={after}");
        let body: Value = r.json().await.expect("a JSON error body");
        assert_eq!(body["field"], "after", "{body}");
        assert_eq!(body["error"], "bad_request", "{body}");
    }
    let doc = served_document(&base).await;
    assert!(doc["paths"]["/api/v1/engines/{id}/config"]["get"]["responses"]["400"].is_object());
}

#[tokio::test]
async fn the_document_refuses_unknown_fields_like_the_api_does() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    ctl.apply_se_group(group("web", 1, 2)).await.unwrap();
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
        let r = client()
            .post(format!("{base}/api/v1{path}"))
            .bearer_auth(TOKEN)
            .json(&extra)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "colour");
        // Nested objects too (the template of a group, a port of a service).
        let r = client()
            .post(format!("{base}/api/v1{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{path}: {}", r.text().await.unwrap());
    }
    for nested in ["template", "capacity", "placement", "autoscale"] {
        assert_eq!(
            doc["components"]["schemas"]["SeGroup"]["properties"][nested]["additionalProperties"],
            false,
            "SeGroup.{nested}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["EngineReport"]["additionalProperties"],
        false
    );
}

#[tokio::test]
async fn the_document_names_the_configured_clouds_and_the_nullable_fields() {
    let (ctl, base) = start().await;
    ctl.apply_ipam_pool(pool()).await.unwrap();
    let doc = served_document(&base).await;
    let schemas = &doc["components"]["schemas"];
    // Only configured profiles are accepted as `cloud` (anything else is a 422).
    assert_eq!(
        schemas["SeGroup"]["properties"]["cloud"]["enum"],
        json!(["mem"])
    );
    let mut g = serde_json::to_value(group("web", 1, 2)).unwrap();
    g["cloud"] = json!("elsewhere");
    let r = client()
        .post(format!("{base}/api/v1/se-groups"))
        .bearer_auth(TOKEN)
        .json(&g)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

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
        let r = client()
            .post(format!("{base}/api/v1{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{path}: {}", r.text().await.unwrap());
    }

    // One active and one standby SE need max_ses >= 2: said by the document and the API.
    assert_eq!(
        schemas["SeGroup"]["then"]["properties"]["max_ses"]["minimum"],
        2
    );
    let mut g = serde_json::to_value(group("pair", 1, 1)).unwrap();
    g["ha"] = json!({"mode": "active_standby"});
    let r = client()
        .post(format!("{base}/api/v1/se-groups"))
        .bearer_auth(TOKEN)
        .json(&g)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "max_ses");
}

#[tokio::test]
async fn a_size_whose_memory_overflows_is_a_400_not_a_dropped_connection() {
    let (_ctl, base) = start().await;
    let mut g = serde_json::to_value(group("web", 1, 2)).unwrap();
    g["template"]["size"] = json!("1x99999999999999999g");
    let r = client()
        .post(format!("{base}/api/v1/se-groups"))
        .bearer_auth(TOKEN)
        .json(&g)
        .send()
        .await
        .expect("an answer, not a connection closed by a panic");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "template.size");
}
