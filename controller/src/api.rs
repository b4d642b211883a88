//! The REST API (axum): CRUD of the desired state, status, the agent protocol, the OpenAPI
//! document and Prometheus metrics.
//!
//! Errors are JSON `{"error": KIND, "message": ..., "field": ...}`: 400 for a body that is not
//! valid JSON of the right shape (the field is the JSON path serde stopped at), 422 for a value
//! the model refuses (the field it names), 401 without a valid bearer token, 403 for a valid
//! credential on paths it is not for, 404, 409.
//!
//! Who may call what: every `/api/v1` path but the OpenAPI document needs the admin token,
//! except an SE's agent paths (`/ses/{id}/config`, `/ses/{id}/report`), which take only that
//! SE's own credential (issued by `POST /ses/{id}/credentials`, for the admin): the admin
//! token is no agent credential, and one agent cannot speak for another SE. `/metrics` needs
//! the admin token too unless [`ApiOptions::metrics_auth`] is off. Without a token (only
//! `controller run --insecure`, on a loopback address) nothing is checked.
//!
//! Paths are versioned by their `/api/v1` prefix. A renamed path keeps its old name for one
//! release, served by the same handler, and every answer there says it is deprecated
//! (`Deprecation: true`) and names its successor (`Link: <NEW>; rel="successor-version"`):
//! the SE agent paths `/ses/{id}/...` were `/engines/{id}/...`.

use crate::controller::{AgentCredential, Controller};
use crate::error::ControllerError;
use crate::model::{DnsZone, IpamPool, SeGroup, VirtualService};
use crate::se_protocol::SeReport;
use crate::secret::Secret;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// An API error with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
        field: Option<String>,
    ) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            field,
        }
    }
}

impl From<ControllerError> for ApiError {
    fn from(e: ControllerError) -> Self {
        let status = match &e {
            ControllerError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ControllerError::NotFound(_) => StatusCode::NOT_FOUND,
            ControllerError::Conflict(_) | ControllerError::Exhausted(_) => StatusCode::CONFLICT,
            ControllerError::Unknown(_) | ControllerError::Cloud(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ControllerError::Store(_) | ControllerError::Config(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &e {
            ControllerError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        Self::new(status, e.kind(), message, e.field().map(str::to_owned))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.kind, "message": self.message});
        if let Some(f) = self.field {
            body["field"] = json!(f);
        }
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body, naming the path of the first problem (400).
fn parse<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A missing or doubled field (`members` beside `servers`, its new name) is reported
        // at its parent; name the field itself.
        let msg = inner.to_string();
        let field = match msg
            .strip_prefix("missing field `")
            .or_else(|| msg.strip_prefix("duplicate field `"))
            .and_then(|r| r.split('`').next())
        {
            Some(f) if path == "." => f.to_owned(),
            Some(f) => format!("{path}.{f}"),
            None => path,
        };
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", msg, Some(field))
    })
}

/// How the API authenticates its callers.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// The admin bearer token. `None` checks nothing (agents' credentials neither): only for
    /// `controller run --insecure` on a loopback address, which the caller enforces.
    pub token: Option<Secret>,
    /// `/metrics` needs the admin token too (it names every service). No effect without a
    /// token.
    pub metrics_auth: bool,
}

impl ApiOptions {
    /// The admin token `token`, also required by `/metrics` (the configuration's default).
    pub fn with_token(token: impl Into<String>) -> Self {
        Self {
            token: Some(Secret::new(token)),
            metrics_auth: true,
        }
    }

    /// No authentication at all (see [`ApiOptions::token`]).
    pub fn insecure() -> Self {
        Self {
            token: None,
            metrics_auth: false,
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) ctl: Controller,
    pub(crate) token: Option<Arc<Secret>>,
    metrics_auth: bool,
    /// The web console's sessions ([`crate::console`]).
    pub(crate) console: Arc<crate::console::Console>,
}

/// The metrics handle, installing the Prometheus recorder on first use (once per process).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            // Another recorder is installed (a host program's): render ours empty rather than fail.
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
    })
}

/// Builds the API router (with the web console at `/`), for plain HTTP.
pub fn router(ctl: Controller, opts: ApiOptions) -> Router {
    router_with(ctl, opts, false)
}

/// Builds the API router; `tls` marks the console's cookies `Secure`.
pub fn router_with(ctl: Controller, opts: ApiOptions, tls: bool) -> Router {
    let _ = metrics_handle();
    let state = AppState {
        ctl,
        metrics_auth: opts.metrics_auth && opts.token.is_some(),
        token: opts.token.map(Arc::new),
        console: Arc::new(crate::console::Console {
            secure: tls,
            ..Default::default()
        }),
    };
    // The agent paths: each SE's own credential, nothing else.
    let agent = Router::new()
        .route("/ses/{id}/config", get(se_config))
        .route("/ses/{id}/report", post(se_report))
        .route(
            &format!("{DEPRECATED_SE_PATHS}{{id}}/config"),
            get(se_config),
        )
        .route(
            &format!("{DEPRECATED_SE_PATHS}{{id}}/report"),
            post(se_report),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), agent_auth));
    let api = Router::new()
        .route("/se-groups", get(list_groups).post(create_group))
        .route(
            "/se-groups/{name}",
            get(get_group).put(put_group).delete(delete_group),
        )
        .route("/virtual-services", get(list_vss).post(create_vs))
        .route(
            "/virtual-services/{name}",
            get(get_vs).put(put_vs).delete(delete_vs),
        )
        .route("/ipam-pools", get(list_pools).post(create_pool))
        .route(
            "/ipam-pools/{name}",
            get(get_pool).put(put_pool).delete(delete_pool),
        )
        .route("/dns-zones", get(list_zones).post(create_zone))
        .route(
            "/dns-zones/{name}",
            get(get_zone).put(put_zone).delete(delete_zone),
        )
        .route("/status", get(status))
        .route("/orphans", get(list_orphans))
        .route("/orphans/sweep", post(sweep_orphans))
        .route("/ses/{id}/credentials", post(se_credentials))
        .merge(crate::analytics::api::routes())
        .route("/clouds", get(crate::console::clouds::list))
        // Layered before the merge, so that it covers the admin's paths (and the fallback)
        // only.
        .layer(middleware::from_fn_with_state(state.clone(), admin_auth))
        .merge(agent)
        // Outside the authentication, so that a refusal on an old path says it is old too.
        .layer(middleware::from_fn(deprecation));
    Router::new()
        .nest(API, api)
        .route(&format!("{API}/openapi.json"), get(openapi))
        .route("/metrics", get(prometheus))
        .route("/healthz", get(|| async { "ok" }))
        .merge(crate::console::routes())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route", None)
        })
        .with_state(state)
}

/// Serves the API over plain HTTP on `listener` until the task is aborted.
pub fn serve(
    ctl: Controller,
    listener: tokio::net::TcpListener,
    opts: ApiOptions,
) -> tokio::task::JoinHandle<()> {
    let app = router(ctl, opts);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "api server stopped");
        }
    })
}

/// Serves the API over TLS on `listener` until the task is aborted.
pub fn serve_tls(
    ctl: Controller,
    listener: crate::tls::TlsListener,
    opts: ApiOptions,
) -> tokio::task::JoinHandle<()> {
    let app = router_with(ctl, opts, true);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "api server stopped");
        }
    })
}

/// The prefix of every versioned path.
const API: &str = "/api/v1";

/// The old prefix of the SE agent paths (below [`API`]): `/engines/{id}/config` and
/// `/engines/{id}/report` answer like `/ses/{id}/...`, for one release.
const DEPRECATED_SE_PATHS: &str = "/engines/";

/// Marks every answer on a deprecated path: `Deprecation: true`, and a `Link` to the path
/// that replaces it (`rel="successor-version"`, RFC 5829).
async fn deprecation(req: Request, next: Next) -> Response {
    // Inside the nest the path has lost its `/api/v1` prefix.
    let successor = req
        .uri()
        .path()
        .strip_prefix(DEPRECATED_SE_PATHS)
        .map(|rest| format!("<{API}/ses/{rest}>; rel=\"successor-version\""));
    let mut resp = next.run(req).await;
    if let Some(link) = successor.and_then(|l| HeaderValue::from_str(&l).ok()) {
        let h = resp.headers_mut();
        h.insert("deprecation", HeaderValue::from_static("true"));
        h.insert(header::LINK, link);
    }
    resp
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn unauthenticated() -> Response {
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "a valid bearer token is required",
        None,
    )
    .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

fn forbidden(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message, None).into_response()
}

/// True when the request carries the admin token (or there is none to carry).
fn is_admin(s: &AppState, headers: &HeaderMap) -> bool {
    match &s.token {
        None => true,
        Some(want) => bearer(headers).is_some_and(|got| want.matches(got)),
    }
}

async fn admin_auth(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if !is_admin(&s, req.headers()) {
        // The console's session stands for the token; a change needs its CSRF header too.
        let change = !matches!(
            *req.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        match s.console.sessions.check(req.headers(), change) {
            crate::console::SessionCheck::Valid => {}
            crate::console::SessionCheck::BadCsrf => return crate::console::csrf_refused(),
            crate::console::SessionCheck::None => return unauthenticated(),
        }
    }
    next.run(req).await
}

/// An SE's agent paths take that SE's credential and nothing else.
async fn agent_auth(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request,
    next: Next,
) -> Response {
    let Some(admin) = &s.token else {
        return next.run(req).await;
    };
    let Some(got) = bearer(req.headers()) else {
        return unauthenticated();
    };
    if admin.matches(got) {
        return forbidden(
            "the admin token is not an agent credential: the SE's agent uses its own \
             (POST /api/v1/ses/{id}/credentials)",
        );
    }
    match s.ctl.check_se_credential(&id, got) {
        AgentCredential::ThisSe => next.run(req).await,
        AgentCredential::OtherSe => forbidden("this credential is another SE's"),
        AgentCredential::Unknown => unauthenticated(),
    }
}

async fn openapi(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(crate::openapi::document_for(
        s.ctl.clouds().keys().map(String::as_str),
        s.metrics_auth,
    ))
}

async fn prometheus(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if s.metrics_auth && !is_admin(&s, &headers) {
        return unauthenticated();
    }
    let h = metrics_handle();
    h.run_upkeep();
    let mut body = h.render();
    body.push_str(&crate::state_metrics::render(&s.ctl));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn status(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.ctl.status())
}

async fn list_orphans(
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<crate::controller::Orphan>>> {
    Ok(Json(s.ctl.orphans().await?))
}

async fn sweep_orphans(
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<crate::controller::Orphan>>> {
    Ok(Json(s.ctl.sweep_orphans().await?))
}

fn name_matches(path: &str, body: &str) -> ApiResult<()> {
    if path != body {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("name {body:?} in the body differs from {path:?} in the path"),
            Some("name".into()),
        ));
    }
    Ok(())
}

fn exists(what: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("{what} {name} already exists (use PUT to replace it)"),
        Some("name".into()),
    )
}

fn missing(what: &str, name: &str) -> ApiError {
    ControllerError::NotFound(format!("{what} {name}")).into()
}

// ----- SE groups -----

async fn list_groups(State(s): State<AppState>) -> Json<Vec<SeGroup>> {
    Json(s.ctl.desired().se_groups)
}
async fn get_group(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<SeGroup>> {
    s.ctl
        .desired()
        .se_groups
        .into_iter()
        .find(|g| g.name == name)
        .map(Json)
        .ok_or_else(|| missing("se group", &name))
}
async fn create_group(
    State(s): State<AppState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<SeGroup>)> {
    let g: SeGroup = parse(&body)?;
    if s.ctl.desired().se_groups.iter().any(|o| o.name == g.name) {
        return Err(exists("se group", &g.name));
    }
    s.ctl.apply_se_group(g.clone()).await?;
    Ok((StatusCode::CREATED, Json(g)))
}
async fn put_group(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<SeGroup>> {
    let g: SeGroup = parse(&body)?;
    name_matches(&name, &g.name)?;
    s.ctl.apply_se_group(g.clone()).await?;
    Ok(Json(g))
}
async fn delete_group(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    s.ctl.delete_se_group(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- virtual services -----

async fn list_vss(State(s): State<AppState>) -> Json<Vec<VirtualService>> {
    Json(s.ctl.desired().virtual_services)
}
async fn get_vs(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<VirtualService>> {
    s.ctl
        .desired()
        .virtual_services
        .into_iter()
        .find(|g| g.name == name)
        .map(Json)
        .ok_or_else(|| missing("virtual service", &name))
}
async fn create_vs(
    State(s): State<AppState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<VirtualService>)> {
    let v: VirtualService = parse(&body)?;
    if s.ctl
        .desired()
        .virtual_services
        .iter()
        .any(|o| o.name == v.name)
    {
        return Err(exists("virtual service", &v.name));
    }
    s.ctl.apply_virtual_service(v.clone()).await?;
    Ok((StatusCode::CREATED, Json(v)))
}
async fn put_vs(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<VirtualService>> {
    let v: VirtualService = parse(&body)?;
    name_matches(&name, &v.name)?;
    s.ctl.apply_virtual_service(v.clone()).await?;
    Ok(Json(v))
}
async fn delete_vs(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    s.ctl.delete_virtual_service(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- IPAM pools -----

async fn list_pools(State(s): State<AppState>) -> Json<Vec<IpamPool>> {
    Json(s.ctl.desired().ipam_pools)
}
async fn get_pool(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<IpamPool>> {
    s.ctl
        .desired()
        .ipam_pools
        .into_iter()
        .find(|g| g.name == name)
        .map(Json)
        .ok_or_else(|| missing("ipam pool", &name))
}
async fn create_pool(
    State(s): State<AppState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<IpamPool>)> {
    let p: IpamPool = parse(&body)?;
    if s.ctl.desired().ipam_pools.iter().any(|o| o.name == p.name) {
        return Err(exists("ipam pool", &p.name));
    }
    s.ctl.apply_ipam_pool(p.clone()).await?;
    Ok((StatusCode::CREATED, Json(p)))
}
async fn put_pool(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<IpamPool>> {
    let p: IpamPool = parse(&body)?;
    name_matches(&name, &p.name)?;
    s.ctl.apply_ipam_pool(p.clone()).await?;
    Ok(Json(p))
}
async fn delete_pool(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    s.ctl.delete_ipam_pool(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- DNS zones -----

async fn list_zones(State(s): State<AppState>) -> Json<Vec<DnsZone>> {
    Json(s.ctl.desired().dns_zones)
}
async fn get_zone(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<DnsZone>> {
    let key = crate::model::normalise_fqdn(&name);
    s.ctl
        .desired()
        .dns_zones
        .into_iter()
        .find(|z| z.key() == key)
        .map(Json)
        .ok_or_else(|| missing("dns zone", &name))
}
async fn create_zone(
    State(s): State<AppState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<DnsZone>)> {
    let z: DnsZone = parse(&body)?;
    if s.ctl.desired().dns_zones.iter().any(|o| o.key() == z.key()) {
        return Err(exists("dns zone", &z.name));
    }
    s.ctl.apply_dns_zone(z.clone()).await?;
    Ok((StatusCode::CREATED, Json(z)))
}
async fn put_zone(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<DnsZone>> {
    let z: DnsZone = parse(&body)?;
    name_matches(&crate::model::normalise_fqdn(&name), &z.key())?;
    s.ctl.apply_dns_zone(z.clone()).await?;
    Ok(Json(z))
}
async fn delete_zone(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    s.ctl.delete_dns_zone(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- SE agents -----

#[derive(Deserialize)]
struct After {
    after: Option<u64>,
}

async fn se_config(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<After>, QueryRejection>,
) -> ApiResult<Response> {
    // axum's rejection is plain text; answer like every other bad input (JSON naming the field).
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            e.body_text(),
            Some("after".into()),
        )
    })?;
    match s
        .ctl
        .hub()
        .wait(&id, q.after, s.ctl.options().long_poll)
        .await
    {
        Ok(Some(cfg)) => Ok(Json(&*cfg).into_response()),
        Ok(None) => Ok(StatusCode::NOT_MODIFIED.into_response()),
        Err(()) => Err(missing("SE", &id)),
    }
}

async fn se_report(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let r: SeReport = parse(&body)?;
    s.ctl.report(&id, r)?;
    Ok(Json(
        json!({"accepted": true, "report_interval_secs": s.ctl.options().report_interval.as_secs()}),
    ))
}

/// Hands out an SE agent's credential (admin only): the one minted with the SE, once, or else
/// a new one that revokes the previous. The answer is the only copy: it must not be cached.
async fn se_credentials(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let c = s.ctl.issue_se_credential(&id).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"se": id, "credential": c.expose()})),
    )
        .into_response())
}
