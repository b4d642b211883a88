//! The analytics paths and schemas of the OpenAPI document.

use serde_json::{Value, json};

fn param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
        "schema": {"type": "integer"}})
}

fn series(tag_object: &str, operation_id: &str) -> Value {
    json!({"get": {"tags": ["analytics"], "operationId": operation_id,
        "summary": format!("The history of one {tag_object}: the mean of each field per step, read from the finest ring (10 s for 10 minutes, 1 minute for 3 hours, 10 minutes for 7 days) that reaches back to `from`."),
        "parameters": [
            {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
            param("from", "unix seconds, or negative: that many seconds before `to` (default: -3600)"),
            param("to", "unix seconds (default: now on the controller's clock)"),
            param("step", "seconds per point, at least 1 (default: about 360 points); the answer's `step` is coarser when the ring reaching `from` is")],
        "responses": {
            "200": {"description": "the series", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Series"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": {"$ref": "#/components/responses/NotFound"}}}})
}

/// The paths, by path.
pub fn paths() -> Value {
    json!({
        "/api/v1/analytics/virtual-services/{name}": series("virtual service (fields: rps, connections, ses, capacity_rps, desired_ses)", "vs_history"),
        "/api/v1/analytics/se-groups/{name}": series("SE group (fields: desired, current, healthy)", "se_group_history"),
        "/api/v1/analytics/ses/{name}": series("SE (fields: rps, healthy, active, virtual_services)", "se_history"),
        "/api/v1/events": {"get": {"tags": ["analytics"], "operationId": "list_events",
            "summary": "Scale-outs, scale-ins, failovers, VIP moves, upgrade steps and errors, newest first (the last 2000 kept).",
            "parameters": [
                {"name": "object", "in": "query", "required": false, "schema": {"type": "string"},
                    "description": "`virtual_service/NAME`, `se_group/NAME`, `se/NAME`, or a prefix ending in `/`"},
                param("since", "unix seconds"),
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 2000}}],
            "responses": {
                "200": {"description": "the events", "content": {"application/json": {"schema": {"type": "object", "required": ["events"],
                    "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}}}}},
                "400": {"$ref": "#/components/responses/BadRequest"},
                "401": {"$ref": "#/components/responses/Unauthorized"}}}}
    })
}

/// The schemas, by name.
pub fn schemas() -> Value {
    json!({
        "Series": {"type": "object", "required": ["object", "from", "to", "step", "fields", "points"], "properties": {
            "object": {"type": "string"}, "from": {"type": "integer"}, "to": {"type": "integer"},
            "step": {"type": "integer"}, "fields": {"type": "array", "items": {"type": "string"}},
            "points": {"type": "array", "items": {"type": "object", "required": ["t"],
                "properties": {"t": {"type": "integer", "description": "unix seconds at the step's start"}},
                "additionalProperties": {"type": ["number", "null"]}}}}},
        "Event": {"type": "object", "required": ["time", "kind", "object", "reason"], "properties": {
            "time": {"type": "integer"},
            "kind": {"enum": ["scale_out", "scale_in", "failover", "vip_move", "upgrade_step", "error"]},
            "object": {"type": "string"}, "reason": {"type": "string"}}}
    })
}
