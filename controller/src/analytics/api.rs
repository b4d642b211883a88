//! The analytics paths of the API: `GET /api/v1/analytics/{kind}/{name}?from=&to=&step=`
//! (a time series) and `GET /api/v1/events?object=&since=&limit=` (the event log).

use crate::api::{ApiError, AppState};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Most buckets one answer holds.
pub const MAX_BUCKETS: i64 = 10_000;

/// The routes (inside the admin's authentication).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/analytics/virtual-services/{name}", get(vs_history))
        .route("/analytics/se-groups/{name}", get(group_history))
        .route("/analytics/ses/{name}", get(se_history))
        .route("/events", get(list_events))
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_request",
        message,
        Some(field.into()),
    )
}

/// Parses an optional integer query parameter, naming it when it is not one.
fn int(q: &HashMap<String, String>, field: &str) -> Result<Option<i64>, ApiError> {
    q.get(field)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| bad(field, format!("{field} must be an integer, not {v:?}")))
        })
        .transpose()
}

/// `from`, `to` and `step`: unix seconds (a negative `from`: seconds before `to`), defaulting
/// to the last hour in about 360 steps.
fn window(now: i64, q: &HashMap<String, String>) -> Result<(i64, i64, i64), ApiError> {
    let to = int(q, "to")?.unwrap_or(now);
    // A negative `from` counts back from `to`: a client that does not know the controller's
    // clock (a replay's virtual time) can still ask for "the last day".
    let from = match int(q, "from")? {
        Some(f) if f < 0 => to.saturating_add(f),
        Some(f) => f,
        None => to - 3600,
    };
    if from > to {
        return Err(bad("from", format!("from {from} is after to {to}")));
    }
    let step = match int(q, "step")? {
        Some(s) if s <= 0 => return Err(bad("step", "step must be a positive number of seconds")),
        Some(s) => s,
        None => ((to - from) / 360).max(10),
    };
    if (to - from) / step > MAX_BUCKETS {
        return Err(bad(
            "step",
            format!("from..to in steps of {step} s is more than {MAX_BUCKETS} points"),
        ));
    }
    Ok((from, to, step))
}

async fn history(
    s: AppState,
    object: String,
    q: HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    let (from, to, step) = window(s.ctl.unix_now(), &q)?;
    let p = s.ctl.history(&object, from, to, step).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no history of {object}"),
            None,
        )
    })?;
    let points: Vec<Value> = p
        .points
        .iter()
        .map(|(t, vals)| {
            let mut o = serde_json::Map::new();
            o.insert("t".into(), json!(t));
            for (f, v) in p.fields.iter().zip(vals) {
                o.insert(f.clone(), json!(v));
            }
            Value::Object(o)
        })
        .collect();
    Ok(Json(json!({
        "object": object, "from": from, "to": to, "step": p.step,
        "fields": p.fields, "points": points,
    })))
}

async fn vs_history(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    history(s, format!("virtual_service/{name}"), q).await
}

async fn group_history(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    history(s, format!("se_group/{name}"), q).await
}

async fn se_history(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    history(s, format!("se/{name}"), q).await
}

#[derive(Deserialize)]
struct EventQuery {
    object: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

async fn list_events(
    State(s): State<AppState>,
    Query(q): Query<EventQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut m = HashMap::new();
    if let Some(v) = q.since {
        m.insert("since".to_owned(), v);
    }
    if let Some(v) = q.limit {
        m.insert("limit".to_owned(), v);
    }
    let since = int(&m, "since")?;
    let limit = match int(&m, "limit")? {
        Some(l) if !(1..=super::events::MAX_EVENTS as i64).contains(&l) => {
            return Err(bad(
                "limit",
                format!("limit must be from 1 to {}", super::events::MAX_EVENTS),
            ));
        }
        Some(l) => l as usize,
        None => 100,
    };
    Ok(Json(
        json!({"events": s.ctl.events(q.object.as_deref(), since, limit)}),
    ))
}
