//! `GET /api/v1/clouds`: each configured cloud profile and what its connector declares it
//! can do (the console's clouds page).

use crate::api::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub(crate) async fn list(State(s): State<AppState>) -> Json<Value> {
    Json(Value::Array(
        s.ctl
            .clouds()
            .iter()
            .map(|(name, c)| json!({"name": name, "capabilities": c.capabilities()}))
            .collect(),
    ))
}

/// Its OpenAPI path item.
pub fn openapi_path() -> Value {
    json!({"get": {"tags": ["status"], "operationId": "list_clouds",
        "summary": "The cloud profiles and the capabilities each connector declares.",
        "responses": {
            "200": {"description": "the clouds", "content": {"application/json": {"schema": {"type": "array",
                "items": {"type": "object", "required": ["name", "capabilities"], "properties": {
                    "name": {"type": "string"}, "capabilities": {"type": "object"}}}}}}},
            "401": {"$ref": "#/components/responses/Unauthorized"}}}})
}
